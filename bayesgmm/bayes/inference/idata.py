"""Reading what :mod:`bayesgmm.bayes.inference` wrote into an InferenceData.

One place that knows the layout (variable names, dims, the JSON config in the attrs), so
that the diagnostics, the comparison, the plots and the estimator read draws alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import arviz as az
import numpy as np
import xarray as xr

from bayesgmm.mixture import draws as draw_math
from bayesgmm.mixture.structures import structure_from_model_dims

__all__ = ["PosteriorDraws", "check_idata", "idata_config", "posterior_draws", "thin_indices"]


def thin_indices(n_draws: int, max_draws: int | None) -> np.ndarray:
    """Evenly spaced draw indices, at most ``max_draws`` of them (all when ``None``)."""
    if max_draws is None or n_draws <= max_draws:
        return np.arange(n_draws)
    if isinstance(max_draws, bool) or int(max_draws) < 1:
        raise ValueError(f"max_draws must be a positive integer; got {max_draws!r}.")
    return np.unique(np.linspace(0, n_draws - 1, int(max_draws)).round().astype(np.intp))


class PosteriorDraws(NamedTuple):
    """Mixture parameters of every posterior draw, chains flattened (``S = C * T``).

    Attributes
    ----------
    weights : ndarray of shape (S, K)
    means : ndarray of shape (S, K, D)
    covariances : ndarray of shape (S, K, D, D)
        Full matrices whatever the covariance type.
    n_chains, n_draws_per_chain : int
        ``C`` and ``T``; draw ``s`` is chain ``s // T``, iteration ``s % T`` (``n_draws``
        is the total ``C T``, as everywhere in the package).
    covariance_type : str
    feature_names : list of str
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    n_chains: int
    n_draws_per_chain: int
    covariance_type: str
    feature_names: list[str]

    @property
    def n_draws(self) -> int:
        """All draws, ``n_chains * n_draws_per_chain``."""
        return self.n_chains * self.n_draws_per_chain


def check_idata(idata: object) -> az.InferenceData:
    if not isinstance(idata, az.InferenceData):
        raise TypeError(f"expected an arviz.InferenceData, got {type(idata).__name__}.")
    if "posterior" not in idata.groups():
        raise ValueError("the InferenceData has no posterior group.")
    post = idata.posterior
    missing = [name for name in ("weights", "means") if name not in post]
    if missing:
        raise ValueError(
            f"the posterior lacks {missing}; expected the output of bayesgmm.bayes.inference "
            "(sample_nuts, fit_advi or map_idata)."
        )
    return idata


def idata_config(idata: az.InferenceData) -> dict[str, Any]:
    """The model configuration stored by :mod:`bayesgmm.bayes.inference` (empty if absent)."""
    for attrs in (getattr(idata, "attrs", None) or {}, idata.posterior.attrs):
        raw = attrs.get("bayesgmm_config")
        if raw is None:
            continue
        try:
            return json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (TypeError, ValueError):
            continue
    return {}


def _stack(post: xr.Dataset, name: str, dims: tuple[str, ...]) -> np.ndarray:
    """``post[name]`` as float64 with axes (chain*draw, *dims)."""
    da = post[name]
    if set(da.dims) != {"chain", "draw", *dims}:
        raise ValueError(
            f"posterior variable {name!r} has dims {da.dims}; expected {('chain', 'draw', *dims)}."
        )
    values = np.asarray(da.transpose("chain", "draw", *dims).values, dtype=np.float64)
    return values.reshape(-1, *values.shape[2:])


def _covariance_type(post: xr.Dataset, config: Mapping[str, Any]) -> str:
    if config.get("covariance_type"):
        return str(config["covariance_type"])
    # Files without the config (older ones): from the dims of the variables.
    if "stds" not in post:
        return "full"
    dims = set(post["stds"].dims) - {"chain", "draw"}
    pcu = post.get("partial_corr_unit")
    structure = structure_from_model_dims(dims, pcu is not None and "component" in pcu.dims)
    return "full" if structure is None else structure.name


def posterior_draws(idata: az.InferenceData) -> PosteriorDraws:
    """Weights, means and full covariances of every draw, chains flattened.

    Uses the ``covariances`` variable when present; otherwise rebuilds the matrices from
    ``stds`` (and ``partial_corr_unit``) with :func:`bayesgmm.mixture.draws.covariances_from_draws`.

    Parameters
    ----------
    idata : arviz.InferenceData
        Output of :mod:`bayesgmm.bayes.inference` (or :func:`relabel_idata`).

    Returns
    -------
    PosteriorDraws
    """
    idata = check_idata(idata)
    post = idata.posterior
    config = idata_config(idata)
    weights = _stack(post, "weights", ("component",))
    means = _stack(post, "means", ("component", "feature"))
    _, n_comp, n_features = means.shape
    cov_type = _covariance_type(post, config)
    if "covariances" in post:
        cov = _stack(post, "covariances", ("component", "feature", "feature_bis"))
    elif "stds" in post:
        std_dims = tuple(d for d in post["stds"].dims if d not in ("chain", "draw"))
        std_dims = tuple(d for d in ("component", "feature") if d in std_dims)
        stds = _stack(post, "stds", std_dims)
        unit = None
        if "partial_corr_unit" in post:
            unit_dims = tuple(
                d for d in ("component", "corr_pair") if d in post["partial_corr_unit"].dims
            )
            unit = _stack(post, "partial_corr_unit", unit_dims)
        cov, _ = draw_math.covariances_from_draws(stds, unit, cov_type, n_comp, n_features)
    else:
        raise ValueError("the posterior has neither 'covariances' nor 'stds'.")
    if "feature" in post.coords:
        names = [str(v) for v in post["feature"].values]
    else:
        names = list(config.get("feature_names") or [f"x{i}" for i in range(n_features)])
    return PosteriorDraws(
        weights,
        means,
        np.asarray(cov, dtype=np.float64),
        int(post.sizes["chain"]),
        int(post.sizes["draw"]),
        cov_type,
        names,
    )
