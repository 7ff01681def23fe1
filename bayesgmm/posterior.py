"""Posterior post-processing of mixture fits: relabeling, label-switching diagnostics, collapse.

Everything here takes the ``arviz.InferenceData`` returned by :mod:`bayesgmm.inference`
(``posterior`` with ``weights``, ``means``, ``stds`` [, ``partial_corr_unit``],
``covariances``, ``correlations``; ``log_likelihood``; ``observed_data``). The maths lives in
:mod:`bayesgmm.relabel` and :mod:`bayesgmm.draws` (pure numpy on a leading draw axis ``S``);
this module flattens chains x draws into ``S`` draws, calls them, and puts the result back.

Three jobs:

* :func:`relabel_idata` permutes the components of every draw so that a label means the
  same component in every draw and every chain (Stephens, ECR, pivot or ordering).
* :func:`label_switching_report` says in plain words whether chains switched labels and
  whether relabeling fixed it, from R-hat / ESS before and after relabeling and from
  label-invariant quantities (:func:`label_invariant_summary`).
* :func:`collapse_report` finds draws in which a component collapsed onto a few points or
  onto a near-singular covariance, and :func:`occupied_components` gives the posterior of
  the number of components the data actually use (overfitted mixtures).

See ``docs/posterior-diagnostics.md`` for the thresholds and how to read the reports.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayesgmm import draws as draw_math
from bayesgmm import relabel
from bayesgmm.covariance import as_full
from bayesgmm.exceptions import (
    ConvergenceWarning,
    DegenerateComponentWarning,
    LabelSwitchingWarning,
)
from bayesgmm.idata import PosteriorDraws, check_idata, idata_config, posterior_draws

__all__ = [
    "RELABEL_METHODS",
    "CollapseFlags",
    "CollapseReport",
    "LabelSwitchingReport",
    "PosteriorDraws",
    "chains_in_different_modes",
    "collapse_flags",
    "collapse_report",
    "count_switches",
    "data_covariance",
    "label_invariant_summary",
    "label_switching_report",
    "occupied_components",
    "posterior_draws",
    "relabel_idata",
    "relabeling_diagnostics",
    "unrelabel_idata",
    "warn_if_collapsed",
    "warn_if_unresolved",
]

RELABEL_METHODS = ("stephens", "ecr", "pivot", "ordering")

#: Name of the InferenceData group holding the permutations applied by :func:`relabel_idata`.
PERMUTATION_GROUP = "relabel_permutations"

#: Default R-hat above which label switching counts as unresolved.
RHAT_THRESHOLD = 1.01

# Largest (S, N, K) membership-probability array (in float64 values, 256 MB) held in memory
# for Stephens' algorithm; above it the algorithm streams over blocks of draws instead.
_PROBABILITY_BUDGET = 2**25
# Block size (in float64 values) of the streamed computations.
_BLOCK_BUDGET = 2**22
# Rows of observed_data that Stephens and ECR use at most (see _relabel_points).
RELABEL_POINTS = 2000
# Floor of Q inside log(Q) in the streamed Stephens algorithm (as in bayesgmm.relabel).
_LOG_FLOOR = 1e-12
# Data quantiles at which label_invariant_summary evaluates the mixture density by default.
_DEFAULT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


# ---------------------------------------------------------------------------------------
# Reading draws out of an InferenceData
# ---------------------------------------------------------------------------------------


def _observed(idata: az.InferenceData, what: str) -> np.ndarray:
    """The observed data matrix (N, D); ``what`` names the caller for the error message."""
    if "observed_data" not in idata.groups():
        raise ValueError(
            f"{what} needs the data: the InferenceData has no observed_data group "
            "(sample_nuts and fit_advi store it as observed_data.x)."
        )
    obs = idata.observed_data
    name = "x" if "x" in obs else next(iter(obs.data_vars), None)
    if name is None:
        raise ValueError(f"{what} needs the data, but observed_data holds no variable.")
    da = obs[name]
    values = np.asarray(da.values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    elif values.ndim == 2 and da.dims[0] == "feature":
        values = values.T
    if values.ndim != 2:
        raise ValueError(f"observed_data.{name} must be 2-D (obs, feature); got {da.dims}.")
    return values


def _total_log_likelihood(
    idata: az.InferenceData, draws: PosteriorDraws, X: np.ndarray | None
) -> np.ndarray:
    """Sum over observations of the pointwise log-likelihood, per draw: shape (S,).

    The stored log-likelihood when it covers every draw; else computed on ``X`` (default
    all of ``observed_data``).
    """
    ll = idata.log_likelihood if "log_likelihood" in idata.groups() else None
    # A log-likelihood thinned for memory (bayesgmm.inference) does not cover every draw.
    if ll is not None and len(ll.data_vars) and ll.sizes.get("draw") == draws.n_draws:
        da = ll["x"] if "x" in ll else ll[next(iter(ll.data_vars))]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        total = da.sum(dim=other).transpose("chain", "draw").values
        return np.asarray(total, dtype=np.float64).reshape(-1)
    if X is None:
        X = _observed(idata, "the total log-likelihood")
    return draw_math.pointwise_log_likelihood(X, draws.weights, draws.means, draws.covariances).sum(
        axis=1
    )


def _blocks(draws: PosteriorDraws, n_obs: int) -> list[slice]:
    n_comp = draws.weights.shape[1]
    return list(draw_math.chunked_draws(draws.weights.shape[0], n_obs, n_comp, _BLOCK_BUDGET))


def _probability_fn(X: np.ndarray, draws: PosteriorDraws) -> Callable[[slice], np.ndarray]:
    def block(part: slice) -> np.ndarray:
        return draw_math.responsibilities(
            X, draws.weights[part], draws.means[part], draws.covariances[part]
        )

    return block


# ---------------------------------------------------------------------------------------
# Relabeling
# ---------------------------------------------------------------------------------------


def _reference_params(
    reference: Any, n_comp: int, n_features: int
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(weights or None, means (K, D), covariances (K, D, D)) of a reference fit."""
    if isinstance(reference, Mapping):
        if "means" not in reference or "covariances" not in reference:
            raise ValueError(
                "a reference mapping needs 'means' and 'covariances' (and 'weights' for "
                f"ECR); got keys {sorted(reference)}."
            )
        weights = reference.get("weights")
        means = reference["means"]
        cov = reference["covariances"]
        cov_type = reference.get("covariance_type")
    elif all(hasattr(reference, a) for a in ("means", "covariances", "covariance_type")):
        weights = getattr(reference, "weights", None)
        means, cov, cov_type = reference.means, reference.covariances, reference.covariance_type
    else:
        raise TypeError(
            "reference must be an EMResult, a GMMParams or a dict with 'weights', 'means' "
            f"and 'covariances'; got {type(reference).__name__}."
        )
    means = np.asarray(means, dtype=np.float64)
    if means.shape != (n_comp, n_features):
        raise ValueError(
            f"reference means must have shape (K, D) = {(n_comp, n_features)}; got {means.shape}."
        )
    cov = np.asarray(cov, dtype=np.float64)
    if cov_type is None:
        cov_type = _infer_layout(cov.shape, n_comp, n_features)
    full = as_full(cov, str(cov_type), n_comp, n_features)
    if full.shape != (n_comp, n_features, n_features):
        raise ValueError(
            f"reference covariances of type {cov_type!r} have shape {cov.shape}, which does "
            f"not match K={n_comp}, D={n_features}."
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (n_comp,):
            raise ValueError(f"reference weights must have shape ({n_comp},); got {weights.shape}.")
    return weights, means, full


def _infer_layout(shape: tuple[int, ...], n_comp: int, n_features: int) -> str:
    if shape == (n_comp, n_features, n_features):
        return "full"
    if shape == (n_comp,):
        return "spherical"
    if n_comp == n_features and shape == (n_comp, n_features):
        raise ValueError(
            f"reference covariances of shape {shape} could be 'tied' (D, D) or 'diag' (K, D) "
            "because K == D; add 'covariance_type' to the reference dict."
        )
    if shape == (n_features, n_features):
        return "tied"
    if shape == (n_comp, n_features):
        return "diag"
    raise ValueError(
        f"reference covariances have shape {shape}; expected (K, D, D), (D, D), (K, D) or (K,) "
        f"with K={n_comp}, D={n_features}."
    )


def _feature_index(feature: Any, names: list[str]) -> int:
    if feature is None:
        return 0
    if isinstance(feature, str):
        if feature not in names:
            raise ValueError(f"feature {feature!r} is not one of the features {names}.")
        return names.index(feature)
    if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
        raise ValueError(f"feature must be a feature name or an integer index; got {feature!r}.")
    if not -len(names) <= int(feature) < len(names):
        raise ValueError(f"feature index {feature} is out of range for D={len(names)}.")
    return int(feature) % len(names)


def _relabel_points(idata: az.InferenceData, what: str) -> np.ndarray:
    """The observed rows relabeling works on: at most ``RELABEL_POINTS`` of them.

    Stephens' cost and ECR's allocations cost S x N x K per pass; a fixed random subsample
    (seed 0, so the labels are reproducible) identifies the labels as well as all N do.
    """
    X = _observed(idata, what)
    return draw_math.subsample_rows(X, RELABEL_POINTS, np.random.default_rng(0))


def _map_classification(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    prob = draw_math.responsibilities(X, weights[None], means[None], cov[None])[0]
    return prob.argmax(axis=1)


def _stephens_streamed(
    block: Callable[[slice], np.ndarray],
    slices: list[slice],
    init_perms: np.ndarray,
    max_iter: int,
) -> relabel.RelabelResult:
    """Stephens' algorithm recomputing membership probabilities block by block.

    The same iterations as :func:`bayesgmm.relabel.stephens` (with ``tol=0``), for when the
    (S, N, K) probabilities do not fit in memory: each iteration makes two passes over the
    draws, one accumulating ``Q`` and one solving the per-draw assignments.
    """
    perms = init_perms.copy()
    n_draws = perms.shape[0]
    for n_iter in range(1, max_iter + 1):
        q = 0.0
        for part in slices:
            q = q + relabel.apply_permutations(block(part), perms[part], axis=2).sum(axis=0)
        log_q = np.log(np.maximum(np.asarray(q) / n_draws, _LOG_FLOOR))
        new = np.empty_like(perms)
        for part in slices:
            cost = -np.einsum("nk,snj->skj", log_q, block(part), optimize=True)
            for i, s in enumerate(range(part.start, part.stop)):
                new[s] = linear_sum_assignment(cost[i])[1]
        changed = bool(np.any(new != perms))
        perms = new
        if not changed:
            return relabel.RelabelResult(perms, n_iter, True)
    return relabel.RelabelResult(perms, max_iter, False)


def _canonical(perms: np.ndarray) -> np.ndarray:
    """Compose with one global permutation so that the most frequent row is the identity."""
    rows, counts = np.unique(perms, axis=0, return_counts=True)
    modal = rows[np.argmax(counts)]
    return relabel.compose_permutations(perms, relabel.invert_permutations(modal[None])[0])


def _compute_permutations(
    idata: az.InferenceData,
    draws: PosteriorDraws,
    method: str,
    reference: Any,
    feature: Any,
    max_iter: int,
    random_seed: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    n_samples, n_comp, n_features = draws.means.shape
    info: dict[str, Any] = {"n_iter": 1, "converged": True}
    if method == "ordering":
        idx = _feature_index(feature, draws.feature_names)
        info["feature"] = draws.feature_names[idx]
        info["reference"] = "none"
        return relabel.order_by_feature(draws.means, idx), info
    if feature is not None:
        raise ValueError(f"feature is only used by method='ordering', not {method!r}.")

    ref = None if reference is None else _reference_params(reference, n_comp, n_features)
    if method == "pivot" or method == "stephens":
        if ref is None:
            # It only ranks the draws to pick a pivot: the relabeling rows do.
            total = _total_log_likelihood(idata, draws, _relabel_points(idata, "relabeling"))
            best = int(np.argmax(total))
            ref_means, ref_cov = draws.means[best], draws.covariances[best]
            info["reference"] = f"draw {best} (largest total log-likelihood)"
        else:
            ref_means, ref_cov = ref[1], ref[2]
            info["reference"] = "user"
        perms = relabel.pivot(
            draws.means,
            draws.covariances,
            draws.weights,
            reference_means=ref_means,
            reference_covariances=ref_cov,
        )
        if method == "pivot":
            return perms, info
        X = _relabel_points(idata, "relabeling with 'stephens'")
        n_obs = X.shape[0]
        if n_samples * n_obs * n_comp <= _PROBABILITY_BUDGET:
            prob = draw_math.responsibilities(X, draws.weights, draws.means, draws.covariances)
            result = relabel.stephens(prob, max_iter=max_iter, init_perms=perms)
        else:
            result = _stephens_streamed(
                _probability_fn(X, draws), _blocks(draws, n_obs), perms, max_iter
            )
        info.update(n_iter=result.n_iter, converged=result.converged)
        return result.perms, info

    # ECR: allocations (argmax, or sampled when a seed is given) from the probabilities.
    X = _relabel_points(idata, "relabeling with 'ecr'")
    rng = None if random_seed is None else np.random.default_rng(random_seed)
    block = _probability_fn(X, draws)
    alloc = np.empty((n_samples, X.shape[0]), dtype=np.intp)
    for part in _blocks(draws, X.shape[0]):
        alloc[part] = relabel.allocations_from_probabilities(block(part), rng)
    if ref is not None:
        if ref[0] is None:
            raise ValueError("ECR with a reference needs the reference's 'weights'.")
        pivot_alloc = _map_classification(X, ref[0], ref[1], ref[2])
        info["reference"] = "user"
        return relabel.ecr(alloc, pivot_alloc, n_comp), info
    best = int(np.argmax(_total_log_likelihood(idata, draws, X)))
    info["reference"] = f"ecr_iterative from draw {best} (largest total log-likelihood)"
    result = relabel.ecr_iterative(alloc, n_comp, max_iter=max_iter, pivot_allocation=alloc[best])
    info.update(n_iter=result.n_iter, converged=result.converged)
    return result.perms, info


def _permute_dataset(ds: xr.Dataset, perms: np.ndarray) -> xr.Dataset:
    """Apply per-draw permutations (S, K) to every variable with a ``component`` dim."""
    out = ds.copy(deep=True)
    for name, da in ds.data_vars.items():
        if "component" not in da.dims or not {"chain", "draw"} <= set(da.dims):
            continue
        order = ("chain", "draw", *(d for d in da.dims if d not in ("chain", "draw")))
        ordered = da.transpose(*order)
        values = np.asarray(ordered.values)
        flat = values.reshape(-1, *values.shape[2:])
        permuted = relabel.apply_permutations(flat, perms, axis=order.index("component") - 1)
        out[name] = ordered.copy(data=permuted.reshape(values.shape)).transpose(*da.dims)
    return out


def _stored_permutations(idata: az.InferenceData) -> np.ndarray | None:
    """Permutations (S, K) from raw draws to ``idata``'s labels, if it was relabeled."""
    if PERMUTATION_GROUP not in idata.groups():
        return None
    da = idata[PERMUTATION_GROUP]["permutation"].transpose("chain", "draw", "component")
    values = np.asarray(da.values, dtype=np.intp)
    return values.reshape(-1, values.shape[-1])


def unrelabel_idata(idata: az.InferenceData) -> az.InferenceData | None:
    """The draws as sampled, rebuilt from the output of :func:`relabel_idata`.

    Applies the inverse of the stored permutations to every posterior variable with a
    ``component`` dim and drops the relabeling attrs. Returns ``None`` when ``idata`` holds
    no permutations (it was never relabeled).
    """
    perms = _stored_permutations(idata)
    if perms is None:
        return None
    raw = _permute_dataset(idata.posterior, relabel.invert_permutations(perms))
    raw.attrs = {k: v for k, v in raw.attrs.items() if not str(k).startswith("relabel_")}
    groups = {
        group: raw if group == "posterior" else idata[group]
        for group in idata.groups()
        if group != PERMUTATION_GROUP
    }
    attrs = {
        k: v
        for k, v in (getattr(idata, "attrs", None) or {}).items()
        if not str(k).startswith("relabel_")
    }
    return az.InferenceData(attrs=attrs, warn_on_custom_groups=False, **groups)


def relabel_idata(
    idata: az.InferenceData,
    method: str = "stephens",
    reference: Any = None,
    *,
    feature: str | int | None = None,
    max_iter: int = 100,
    random_seed: Any = None,
) -> az.InferenceData:
    """Relabel the components of every posterior draw, across all chains.

    Chains x draws are flattened to ``S`` draws, one permutation per draw is computed with
    :mod:`bayesgmm.relabel`, and it is applied consistently to every posterior variable that
    has a ``component`` dim (``weights``, ``means``, ``stds`` unless tied,
    ``partial_corr_unit`` for full, ``covariances``, ``correlations``, ...). Because all
    chains are relabeled together, chains that sat in different label modes become
    comparable.

    Parameters
    ----------
    idata : arviz.InferenceData
        Output of :func:`bayesgmm.inference.sample_nuts` (or ``fit_advi``).
    method : {"stephens", "ecr", "pivot", "ordering"}
        * ``"stephens"``: Stephens' (2000) KL algorithm on the per-draw membership
          probabilities of ``observed_data.x``, warm-started from ``"pivot"``. The most
          robust; the default.
        * ``"ecr"``: ECR on allocation vectors (the argmax of the membership probabilities,
          or sampled from them when ``random_seed`` is given). The pivot allocation is the
          MAP classification under ``reference`` if given; otherwise ECR-ITERATIVE-1 started
          from the allocation of the draw with the largest total log-likelihood.
        * ``"pivot"``: Hungarian matching of every draw's components to a reference by the
          symmetrised KL divergence between Gaussians (costs weighted by the draw's weights).
        * ``"ordering"``: sort components by their mean of ``feature``; fails when
          components overlap in that feature (see :func:`bayesgmm.relabel.order_by_feature`).
    reference : EMResult, GMMParams or dict, optional
        Reference fit for ``"pivot"`` (and the warm start of ``"stephens"``, the pivot
        allocation of ``"ecr"``): anything with ``means``, ``covariances`` (any scikit-learn
        layout; a dict may give ``covariance_type``) and, for ECR, ``weights``. The output's
        labels then follow the reference's labels. When ``None``, the reference is the draw
        with the largest total log-likelihood, a proxy for the maximum-a-posteriori draw
        (the log prior is not stored with the draws), and the labels are then renamed so
        that the most frequent permutation is the identity (as few draws as possible are
        changed).
    feature : str or int, optional
        Feature name or index for ``"ordering"`` (default 0); an error for other methods.
    max_iter : int
        Iteration limit of Stephens / ECR-ITERATIVE; a ``ConvergenceWarning`` is issued when
        it is reached.
    random_seed : int or numpy Generator, optional
        ECR only: sample allocations with this seed instead of taking the argmax.

    Returns
    -------
    arviz.InferenceData
        A new object (the input is not modified). Its posterior holds the relabeled
        variables (the ``component`` coordinate keeps the values 0..K-1, now meaning the new
        labels). Group ``relabel_permutations`` holds ``permutation`` (chain, draw,
        component): ``permutation[c, t, k] = j`` means that new component ``k`` is
        component ``j`` of the raw draw, so the raw draws are
        ``bayesgmm.relabel.apply_permutations(x, invert_permutations(perm))``; relabeling an
        already relabeled object composes the permutations, so they always refer to the raw
        sampler output. ``attrs`` (of the object and of the posterior) gain
        ``relabel_method``, ``relabel_reference``, ``relabel_n_permuted`` (draws whose
        permutation by this call is not the identity), ``relabel_fraction_permuted``,
        ``relabel_n_iter``, ``relabel_converged`` (0/1) and, for ordering,
        ``relabel_feature``. ``log_likelihood``, ``sample_stats``, ``observed_data`` and the
        other groups are label-invariant and copied unchanged.

    Notes
    -----
    Stephens and ECR use at most ``RELABEL_POINTS`` (2000) rows of ``observed_data``, a
    fixed random subsample beyond that, so that their cost does not grow with N.

    Memory: Stephens needs the (S, N, K) membership probabilities. Up to 2**25 values
    (256 MB) they are held in memory; above that they are recomputed block by block in each
    iteration (slower, bounded memory). ECR streams the probabilities in blocks to build
    the (S, N) allocations.
    """
    idata = check_idata(idata)
    if method not in RELABEL_METHODS:
        raise ValueError(f"method must be one of {RELABEL_METHODS}; got {method!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}.")
    draws = posterior_draws(idata)
    n_samples, n_comp = draws.weights.shape
    if n_comp == 1:
        perms = np.zeros((n_samples, 1), dtype=np.intp)
        info: dict[str, Any] = {"n_iter": 0, "converged": True, "reference": "none"}
    else:
        perms, info = _compute_permutations(
            idata, draws, method, reference, feature, int(max_iter), random_seed
        )
        if reference is None and method != "ordering":
            perms = _canonical(perms)
    if not info["converged"]:
        warnings.warn(
            f"relabeling with {method!r} stopped at max_iter={max_iter} before the "
            "permutations stopped changing; increase max_iter or try another method.",
            ConvergenceWarning,
            stacklevel=2,
        )
    n_permuted = int(np.any(perms != np.arange(n_comp), axis=1).sum())
    previous = _stored_permutations(idata)
    total = perms if previous is None else relabel.compose_permutations(previous, perms)

    post = idata.posterior
    shape = (draws.n_chains, draws.n_draws, n_comp)
    perm_group = xr.Dataset(
        {
            "permutation": xr.DataArray(
                total.reshape(shape).astype(np.int64),
                dims=("chain", "draw", "component"),
                coords={
                    "chain": post["chain"].values,
                    "draw": post["draw"].values,
                    "component": post["component"].values
                    if "component" in post.coords
                    else np.arange(n_comp),
                },
            )
        },
        attrs={
            "description": (
                "permutation[c, t, k] = j: relabeled component k is component j of the raw "
                "draw (c, t)"
            )
        },
    )
    attrs: dict[str, Any] = {
        "relabel_method": method,
        "relabel_reference": str(info.get("reference", "none")),
        "relabel_n_permuted": n_permuted,
        "relabel_fraction_permuted": float(n_permuted / n_samples),
        "relabel_n_iter": int(info["n_iter"]),
        "relabel_converged": int(bool(info["converged"])),
    }
    if "feature" in info:
        attrs["relabel_feature"] = str(info["feature"])
    new_post = _permute_dataset(post, perms)
    new_post.attrs.update(attrs)
    groups: dict[str, xr.Dataset] = {}
    for group in idata.groups():
        if group == PERMUTATION_GROUP:
            continue
        groups[group] = new_post if group == "posterior" else idata[group].copy(deep=True)
    groups[PERMUTATION_GROUP] = perm_group
    out_attrs = dict(getattr(idata, "attrs", None) or {})
    out_attrs.update(attrs)
    return az.InferenceData(attrs=out_attrs, warn_on_custom_groups=False, **groups)


# ---------------------------------------------------------------------------------------
# Label-switching diagnostics
# ---------------------------------------------------------------------------------------


def _diagnostics(ds: xr.Dataset, kind: str = "diagnostics") -> pd.DataFrame:
    with warnings.catch_warnings():
        # One chain (ADVI) or very short chains make ArviZ warn; the numbers speak for
        # themselves in the table.
        warnings.simplefilter("ignore")
        return az.summary(ds, kind=kind, round_to="none")


def _default_points(X: np.ndarray) -> np.ndarray:
    return np.quantile(X, _DEFAULT_QUANTILES, axis=0)


def label_invariant_summary(idata: az.InferenceData, points: Any = None) -> pd.DataFrame:
    """R-hat and ESS of quantities that do not depend on the component labels.

    Label switching cannot affect these, so they show whether the chains agree on the
    fitted mixture itself, whatever the labels:

    * ``log_likelihood``: the total log-likelihood of the data per draw (the sum over
      observations of ``log_likelihood.x``);
    * ``weights_sorted[i]``: the ``i``-th largest weight of each draw;
    * ``density[j]``: the mixture density at point ``j``.

    Parameters
    ----------
    idata : arviz.InferenceData
    points : array-like of shape (P, D), optional
        Where to evaluate the density. Default: the coordinate-wise 10, 25, 50, 75 and 90 %
        quantiles of ``observed_data.x`` (five points).

    Returns
    -------
    pandas.DataFrame
        Index ``log_likelihood``, ``weights_sorted[i]``, ``density[j]``; columns ``mean``,
        ``sd``, ``ess_bulk``, ``ess_tail``, ``r_hat`` (rank-normalised split R-hat and
        bulk / tail ESS from ArviZ). ``attrs["points"]`` holds the points.
    """
    idata = check_idata(idata)
    draws = posterior_draws(idata)
    n_features = draws.means.shape[2]
    X = None
    if points is None or "log_likelihood" not in idata.groups():
        X = _observed(idata, "label_invariant_summary")
    pts = _default_points(X) if points is None else np.asarray(points, dtype=np.float64)
    pts = np.atleast_2d(pts)
    if pts.ndim != 2 or pts.shape[1] != n_features:
        raise ValueError(f"points must have shape (P, {n_features}); got {pts.shape}.")
    chains, iters = draws.n_chains, draws.n_draws
    total = _total_log_likelihood(idata, draws, X)
    sorted_weights = -np.sort(-draws.weights, axis=1)
    log_density = draw_math.pointwise_log_likelihood(
        pts, draws.weights, draws.means, draws.covariances
    )
    ds = xr.Dataset(
        {
            "log_likelihood": (("chain", "draw"), total.reshape(chains, iters)),
            "weights_sorted": (
                ("chain", "draw", "rank"),
                sorted_weights.reshape(chains, iters, -1),
            ),
            "density": (("chain", "draw", "point"), np.exp(log_density).reshape(chains, iters, -1)),
        }
    )
    table = _diagnostics(ds, kind="all")[["mean", "sd", "ess_bulk", "ess_tail", "r_hat"]]
    table.attrs["points"] = pts
    return table


def relabeling_diagnostics(
    idata: az.InferenceData,
    relabeled: az.InferenceData,
    var_names: Iterable[str] = ("weights", "means"),
) -> pd.DataFrame:
    """R-hat and ESS of per-component variables before and after relabeling.

    Parameters
    ----------
    idata : arviz.InferenceData
        Raw sampler output.
    relabeled : arviz.InferenceData
        :func:`relabel_idata` of ``idata``.
    var_names : iterable of str
        Posterior variables to diagnose.

    Returns
    -------
    pandas.DataFrame
        One row per scalar (e.g. ``means[1, waiting]``); columns ``r_hat_before``,
        ``ess_bulk_before``, ``ess_tail_before``, ``r_hat_after``, ``ess_bulk_after``,
        ``ess_tail_after``.
    """
    names = [v for v in var_names if v in idata.posterior]
    cols = ["r_hat", "ess_bulk", "ess_tail"]
    before = _diagnostics(idata.posterior[names])[cols]
    after = _diagnostics(relabeled.posterior[names])[cols]
    return before.add_suffix("_before").join(after.add_suffix("_after"))


def _relative_permutations(idata: az.InferenceData, relabeled: az.InferenceData) -> np.ndarray:
    """Permutations (S, K) taking ``idata``'s labels to ``relabeled``'s labels."""
    total = _stored_permutations(relabeled)
    if total is None:
        raise ValueError(
            f"relabeled has no {PERMUTATION_GROUP!r} group; pass the output of relabel_idata."
        )
    base = _stored_permutations(idata)
    if base is None:
        return total
    return relabel.compose_permutations(relabel.invert_permutations(base), total)


def _switch_table(perms: np.ndarray, n_chains: int, n_draws: int) -> pd.DataFrame:
    n_comp = perms.shape[1]
    by_chain = perms.reshape(n_chains, n_draws, n_comp)
    rows = []
    for c in range(n_chains):
        chain = by_chain[c]
        changes = int(np.any(chain[1:] != chain[:-1], axis=1).sum()) if n_draws > 1 else 0
        uniq, counts = np.unique(chain, axis=0, return_counts=True)
        best = int(np.argmax(counts))
        rows.append(
            {
                "n_switches": changes,
                "n_permutations": len(uniq),
                "modal_permutation": tuple(int(v) for v in uniq[best]),
                "modal_fraction": float(counts[best] / n_draws),
            }
        )
    return pd.DataFrame(rows, index=pd.RangeIndex(n_chains, name="chain"))


def _permutations_for(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None,
    method: str,
    relabel_kwargs: Mapping[str, Any],
) -> tuple[az.InferenceData, np.ndarray]:
    if relabeled is None:
        relabeled = relabel_idata(idata, method, **relabel_kwargs)
    return relabeled, _relative_permutations(idata, relabeled)


def count_switches(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None = None,
    method: str = "stephens",
    **relabel_kwargs: Any,
) -> pd.DataFrame:
    """Label switches within each chain, and each chain's label mode.

    The draws are relabeled (all chains together) with ``method``, or the permutations of
    ``relabeled`` are used. The permutation of a draw says how its raw labels map onto the
    common labels. Then, per chain:

    * ``n_switches``: the number of consecutive draws whose permutations differ (a switch
      of labels *within* the chain);
    * ``modal_permutation``: the most frequent permutation, the chain's *label mode*;
      chains with different modal permutations sampled different (symmetric) modes;
    * ``modal_fraction``: the fraction of the chain's draws in its mode;
    * ``n_permutations``: the number of distinct permutations in the chain.

    Components that are not identifiable (heavily overlapping, or empty components of an
    overfitted mixture) make permutations flip from draw to draw; such counts describe
    relabeling ambiguity rather than sampler moves.

    Parameters
    ----------
    idata : arviz.InferenceData
        Raw sampler output.
    relabeled : arviz.InferenceData, optional
        :func:`relabel_idata` of ``idata``; computed when not given.
    method : str
        Relabeling method when ``relabeled`` is not given.
    **relabel_kwargs
        Passed to :func:`relabel_idata` (``reference``, ``feature``, ...).

    Returns
    -------
    pandas.DataFrame
        Indexed by chain.
    """
    idata = check_idata(idata)
    _, perms = _permutations_for(idata, relabeled, method, relabel_kwargs)
    post = idata.posterior
    return _switch_table(perms, int(post.sizes["chain"]), int(post.sizes["draw"]))


def chains_in_different_modes(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None = None,
    method: str = "stephens",
    **relabel_kwargs: Any,
) -> bool:
    """Whether the chains' modal permutations differ (see :func:`count_switches`)."""
    table = count_switches(idata, relabeled, method, **relabel_kwargs)
    return table["modal_permutation"].nunique() > 1


@dataclass(frozen=True, eq=False)
class LabelSwitchingReport:
    """What :func:`label_switching_report` found, with a plain-words ``message``.

    Attributes
    ----------
    method : str
        Relabeling method.
    n_chains, n_draws : int
        Chains and draws per chain.
    chain_modes : tuple of tuple of int
        Modal permutation of every chain (see :func:`count_switches`).
    chains_in_different_modes : bool
    n_switches : tuple of int
        Label switches within every chain.
    fraction_relabeled : float
        Fraction of draws whose labels relabeling changed.
    rhat_before, rhat_after : float
        Largest R-hat over the weights and means, before and after relabeling.
    ess_bulk_before, ess_bulk_after, ess_tail_after : float
        Smallest bulk / tail ESS over the weights and means.
    invariant_rhat, invariant_ess_bulk : float
        Largest R-hat and smallest bulk ESS of the label-invariant quantities.
    rhat_threshold : float
    components : pandas.DataFrame
        :func:`relabeling_diagnostics` table.
    invariant : pandas.DataFrame
        :func:`label_invariant_summary` table.
    switches : pandas.DataFrame
        :func:`count_switches` table.
    message : str
    """

    method: str
    n_chains: int
    n_draws: int
    chain_modes: tuple[tuple[int, ...], ...]
    chains_in_different_modes: bool
    n_switches: tuple[int, ...]
    fraction_relabeled: float
    rhat_before: float
    rhat_after: float
    ess_bulk_before: float
    ess_bulk_after: float
    ess_tail_after: float
    invariant_rhat: float
    invariant_ess_bulk: float
    rhat_threshold: float
    components: pd.DataFrame
    invariant: pd.DataFrame
    switches: pd.DataFrame
    message: str

    @property
    def switching_detected(self) -> bool:
        """Chains sit in different label modes, or labels switched within a chain."""
        return self.chains_in_different_modes or sum(self.n_switches) > 0

    @property
    def resolved(self) -> bool:
        """R-hat of the relabeled weights and means is at most ``rhat_threshold``."""
        return bool(self.rhat_after <= self.rhat_threshold)

    def __str__(self) -> str:
        return self.message


def _nanmax(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmax(arr)) if np.any(np.isfinite(arr)) else float("nan")


def _nanmin(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmin(arr)) if np.any(np.isfinite(arr)) else float("nan")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _modes_phrase(modes: tuple[tuple[int, ...], ...]) -> str:
    if len(modes) == 2:
        return "Chains 0 and 1 sit in different label modes"
    groups: dict[tuple[int, ...], list[str]] = {}
    for c, mode in enumerate(modes):
        groups.setdefault(mode, []).append(str(c))
    listed = "; ".join(
        "chains " + _join(g) if len(g) > 1 else "chain " + g[0] for g in groups.values()
    )
    return f"The {len(modes)} chains sit in {len(groups)} different label modes ({listed})"


def _switching_message(
    method: str,
    modes: tuple[tuple[int, ...], ...],
    different: bool,
    n_switches: tuple[int, ...],
    rhat_before: float,
    rhat_after: float,
    ess_after: float,
    inv_rhat: float,
    threshold: float,
    worst: list[str],
) -> str:
    switched = different or sum(n_switches) > 0
    if different:
        text = f"{_modes_phrase(modes)} (max R-hat of weights and means {rhat_before:.3f} before "
        text += "relabeling)"
    elif switched:
        per_chain = ", ".join(f"chain {c}: {n}" for c, n in enumerate(n_switches))
        text = f"Labels switched within chains ({per_chain}; max R-hat of weights and means "
        text += f"{rhat_before:.3f} before relabeling)"
    else:
        text = f"Relabeling with {method} found no label switching: all chains share one labeling"
    if switched:
        text += (
            f"; relabeling with {method} brought max R-hat to {rhat_after:.3f} and min bulk ESS "
            f"to {ess_after:.0f}"
        )
    else:
        text += f" (max R-hat of weights and means {rhat_after:.3f}, min bulk ESS {ess_after:.0f})"
    text += f"; label-invariant R-hat {inv_rhat:.3f}"
    after_ok = rhat_after <= threshold
    inv_ok = inv_rhat <= threshold
    if after_ok and inv_ok:
        return text + (
            " — the fit is fine after relabeling." if switched else " — the fit is fine."
        )
    if inv_ok:
        names = ", ".join(worst[:4]) + (", ..." if len(worst) > 4 else "")
        lead = "label switching remains" if switched else "yet the per-component draws differ"
        return text + (
            f" — {lead}: {names} still have R-hat > {threshold} after "
            f"relabeling with {method}, although the label-invariant quantities agree across "
            "chains. Some components are probably not identifiable (overlapping, or empty in "
            "an overfitted mixture): try another relabeling method, a smaller K or a sparse "
            "Dirichlet (alpha < 1), or summarise label-invariant quantities only."
        )
    return text + (
        f" — the chains disagree on label-invariant quantities too (R-hat {inv_rhat:.3f} > "
        f"{threshold}), so this is a convergence problem, not only label switching: run "
        "longer chains, start from init='em', or revisit K and the priors."
    )


def label_switching_report(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None = None,
    method: str = "stephens",
    *,
    rhat_threshold: float = RHAT_THRESHOLD,
    points: Any = None,
    **relabel_kwargs: Any,
) -> LabelSwitchingReport:
    """Did the chains switch labels, and did relabeling fix it? One call, plain words.

    Parameters
    ----------
    idata : arviz.InferenceData
        Raw sampler output (at least 2 chains for the between-chain checks).
    relabeled : arviz.InferenceData, optional
        :func:`relabel_idata` of ``idata``; computed with ``method`` when not given.
    method : str
        Relabeling method when ``relabeled`` is not given (else read from its attrs).
    rhat_threshold : float
        R-hat above which something is reported as unresolved (default 1.01, the
        threshold of Vehtari et al. 2021).
    points : array-like, optional
        Passed to :func:`label_invariant_summary`.
    **relabel_kwargs
        Passed to :func:`relabel_idata`.

    Returns
    -------
    LabelSwitchingReport
        ``str(report)`` is its message, e.g. "Chains 0 and 1 sit in different label modes
        (max R-hat of weights and means 1.827 before relabeling); relabeling with stephens
        brought max R-hat to 1.003 and min bulk ESS to 1850; label-invariant R-hat 1.001 —
        the fit is fine after relabeling."
    """
    idata = check_idata(idata)
    relabeled, perms = _permutations_for(idata, relabeled, method, relabel_kwargs)
    method = str(relabeled.attrs.get("relabel_method", method))
    n_chains = int(idata.posterior.sizes["chain"])
    n_draws = int(idata.posterior.sizes["draw"])
    switches = _switch_table(perms, n_chains, n_draws)
    components = relabeling_diagnostics(idata, relabeled)
    invariant = label_invariant_summary(idata, points)
    modes = tuple(switches["modal_permutation"])
    different = len(set(modes)) > 1
    n_switches = tuple(int(v) for v in switches["n_switches"])
    rhat_before = _nanmax(components["r_hat_before"])
    rhat_after = _nanmax(components["r_hat_after"])
    ess_after = _nanmin(components["ess_bulk_after"])
    inv_rhat = _nanmax(invariant["r_hat"])
    worst = list(components.index[components["r_hat_after"] > rhat_threshold])
    n_comp = perms.shape[1]
    message = _switching_message(
        method,
        modes,
        different,
        n_switches,
        rhat_before,
        rhat_after,
        ess_after,
        inv_rhat,
        rhat_threshold,
        worst,
    )
    return LabelSwitchingReport(
        method=method,
        n_chains=n_chains,
        n_draws=n_draws,
        chain_modes=modes,
        chains_in_different_modes=different,
        n_switches=n_switches,
        fraction_relabeled=float(np.mean(np.any(perms != np.arange(n_comp), axis=1))),
        rhat_before=rhat_before,
        rhat_after=rhat_after,
        ess_bulk_before=_nanmin(components["ess_bulk_before"]),
        ess_bulk_after=ess_after,
        ess_tail_after=_nanmin(components["ess_tail_after"]),
        invariant_rhat=inv_rhat,
        invariant_ess_bulk=_nanmin(invariant["ess_bulk"]),
        rhat_threshold=float(rhat_threshold),
        components=components,
        invariant=invariant,
        switches=switches,
        message=message,
    )


def warn_if_unresolved(report: LabelSwitchingReport, threshold: float | None = None) -> bool:
    """Issue a ``LabelSwitchingWarning`` when R-hat after relabeling exceeds ``threshold``.

    Parameters
    ----------
    report : LabelSwitchingReport
    threshold : float, optional
        Defaults to ``report.rhat_threshold`` (1.01).

    Returns
    -------
    bool
        Whether a warning was issued.
    """
    limit = report.rhat_threshold if threshold is None else float(threshold)
    if not np.isfinite(report.rhat_after) or report.rhat_after > limit:
        warnings.warn(report.message, LabelSwitchingWarning, stacklevel=2)
        return True
    return False


# ---------------------------------------------------------------------------------------
# Collapse (singularity) detection
# ---------------------------------------------------------------------------------------


class CollapseFlags(NamedTuple):
    """Per-draw, per-component collapse criteria (all arrays of shape (S, K)).

    Attributes
    ----------
    few_points : ndarray of bool
        ``N * weights < min_count``.
    singular : ndarray of bool
        ``eigenvalue_ratio < rtol``.
    effective_count : ndarray
        ``N * weights``.
    eigenvalue_ratio : ndarray
        Smallest generalised eigenvalue of the component covariance with respect to the
        data covariance (``min_v v' Sigma_k v / v' S v``).
    """

    few_points: np.ndarray
    singular: np.ndarray
    effective_count: np.ndarray
    eigenvalue_ratio: np.ndarray


def data_covariance(X: np.ndarray) -> np.ndarray:
    """Sample covariance (D, D) of the data, with zero variances replaced by 1."""
    X = np.asarray(X, dtype=np.float64)
    n_features = X.shape[1]
    cov = np.atleast_2d(np.cov(X, rowvar=False)) if X.shape[0] > 1 else np.eye(n_features)
    diag = np.diag(cov)
    cov = cov + np.diag(np.where(diag > 0, 0.0, 1.0))
    eig_min = np.linalg.eigvalsh(cov)[0]
    scale = np.max(np.diag(cov))
    if eig_min <= 1e-12 * scale:  # perfectly collinear features
        cov = cov + (1e-12 * scale - min(eig_min, 0.0)) * np.eye(n_features)
    return cov


def collapse_flags(
    weights: np.ndarray,
    covariances: np.ndarray,
    data_cov: np.ndarray,
    n_samples: int,
    *,
    min_count: float,
    rtol: float = 1e-4,
) -> CollapseFlags:
    """Which components of which draws collapsed (pure numpy).

    Parameters
    ----------
    weights : ndarray of shape (S, K)
    covariances : ndarray of shape (S, K, D, D)
    data_cov : ndarray of shape (D, D)
        Sample covariance of the data, positive definite.
    n_samples : int
        ``N``.
    min_count : float
        A component with ``N * weight < min_count`` has too few points.
    rtol : float
        A component whose covariance has a generalised eigenvalue relative to ``data_cov``
        below ``rtol`` is near-singular (for 1e-4: a standard deviation 100 times smaller
        than the data's in some direction).

    Returns
    -------
    CollapseFlags
    """
    weights = np.asarray(weights, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    chol = np.linalg.cholesky(np.asarray(data_cov, dtype=np.float64))
    inv = np.linalg.inv(chol)
    whitened = inv @ cov @ inv.T
    whitened = 0.5 * (whitened + np.swapaxes(whitened, -1, -2))
    ratio = np.linalg.eigvalsh(whitened)[..., 0]
    count = n_samples * weights
    return CollapseFlags(count < min_count, ratio < rtol, count, ratio)


def _default_min_count(cov_type: str, n_features: int) -> int:
    if cov_type == "full":
        return n_features + 1
    if cov_type in ("diag", "spherical"):
        return 2
    return 1  # tied: the covariance is shared, only an empty component is flagged


@dataclass(frozen=True, eq=False)
class CollapseReport:
    """What :func:`collapse_report` found, with a plain-words ``message``.

    Attributes
    ----------
    n_draws, n_samples, n_features : int
        ``S`` (all chains), ``N`` and ``D``.
    min_count, rtol : float
        The thresholds used.
    table : pandas.DataFrame
        Per component: ``few_points``, ``singular``, ``collapsed`` (fractions of draws),
        ``median_count`` (median of N * weight) and ``median_eigenvalue_ratio``.
    fraction_any : float
        Fraction of draws with at least one collapsed component (label-invariant).
    fraction_any_few_points, fraction_any_singular : float
        The same, by each criterion.
    relabeled : bool
        Whether the posterior had been relabeled (only then does a component index refer to
        the same component in every draw).
    message : str
    """

    n_draws: int
    n_samples: int
    n_features: int
    min_count: float
    rtol: float
    table: pd.DataFrame
    fraction_any: float
    fraction_any_few_points: float
    fraction_any_singular: float
    relabeled: bool
    message: str

    @property
    def collapsed(self) -> bool:
        """Whether any draw has a collapsed component."""
        return self.fraction_any > 0

    def __str__(self) -> str:
        return self.message


def _pct(x: float) -> str:
    if x == 0:
        return "0%"
    if x < 0.001:
        return "<0.1%"
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


def _collapse_message(
    table: pd.DataFrame,
    any_all: float,
    any_few: float,
    any_singular: float,
    min_count: float,
    rtol: float,
    n_draws: int,
    std_family: str | None,
) -> str:
    criteria = (
        f"criteria: N·π_k < {min_count:g} points, or a smallest generalised eigenvalue of "
        f"Σ_k relative to the data covariance < {rtol:g}"
    )
    if any_all == 0:
        return f"No component collapsed in any of the {n_draws} draws ({criteria})."
    hit = table.index[table["collapsed"] > 0]
    details = "; ".join(
        f"component {k}: {_pct(table.loc[k, 'collapsed'])} of draws "
        f"({_pct(table.loc[k, 'few_points'])} with fewer than {min_count:g} points, "
        f"{_pct(table.loc[k, 'singular'])} near-singular)"
        for k in hit
    )
    text = (
        f"{_pct(any_all)} of the {n_draws} draws have a collapsed component ({details}; "
        f"{criteria}). "
    )
    if any_singular == 0:
        return text + (
            "No covariance is near-singular: these are (nearly) empty components, typical of "
            "an overfitted mixture. They are harmless for the density, but their parameters "
            "are prior draws; use a smaller K, or occupied_components() to see how many "
            "components the data support."
        )
    advice = (
        "Components collapsing onto a few points or a lower-dimensional subspace make the "
        "per-component summaries meaningless and signal a posterior that the covariance "
        "prior barely keeps proper. To fix: use a stronger covariance prior (a larger "
        "std_scale or smaller std_spread, or std_family='inversegamma', which vanishes fast "
        "at zero), a smaller K, or a sparse Dirichlet (alpha < 1) so that extra components "
        "empty out instead of collapsing."
    )
    if std_family == "halfnormal":
        advice += (
            " The std prior here is halfnormal, which does not vanish at zero and so cannot "
            "keep components from collapsing; prefer 'lognormal' or 'inversegamma'."
        )
    return text + advice


def collapse_report(
    idata: az.InferenceData,
    rtol: float = 1e-4,
    *,
    min_count: float | None = None,
) -> CollapseReport:
    """Find posterior draws in which a component collapsed.

    A component ``k`` is *collapsed* in a draw when

    * its effective count ``N * weights[k]`` is below ``min_count`` (default: the fewest
      points that determine its covariance, ``D + 1`` for full covariances, 2 for diag and
      spherical, 1 for tied, whose covariance is shared), or
    * its covariance is near-singular relative to the data: the smallest generalised
      eigenvalue of ``Sigma_k`` with respect to the sample covariance of
      ``observed_data.x`` (the smallest variance ratio over all directions) is below
      ``rtol`` (default 1e-4: a standard deviation 100 times smaller than the data's in
      some direction).

    Parameters
    ----------
    idata : arviz.InferenceData
        Sampler output, raw or relabeled (per-component fractions only refer to one
        component across draws after :func:`relabel_idata`; ``fraction_any`` does not
        depend on labels).
    rtol : float
    min_count : float, optional

    Returns
    -------
    CollapseReport
    """
    idata = check_idata(idata)
    if not (np.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol must be a positive number; got {rtol!r}.")
    draws = posterior_draws(idata)
    X = _observed(idata, "collapse_report")
    n_samples, n_features = X.shape
    n_comp = draws.weights.shape[1]
    if min_count is None:
        min_count = _default_min_count(draws.covariance_type, n_features)
    flags = collapse_flags(
        draws.weights,
        draws.covariances,
        data_covariance(X),
        n_samples,
        min_count=float(min_count),
        rtol=float(rtol),
    )
    collapsed = flags.few_points | flags.singular
    table = pd.DataFrame(
        {
            "few_points": flags.few_points.mean(axis=0),
            "singular": flags.singular.mean(axis=0),
            "collapsed": collapsed.mean(axis=0),
            "median_count": np.median(flags.effective_count, axis=0),
            "median_eigenvalue_ratio": np.median(flags.eigenvalue_ratio, axis=0),
        },
        index=pd.Index(
            idata.posterior["component"].values
            if "component" in idata.posterior.coords
            else np.arange(n_comp),
            name="component",
        ),
    )
    any_all = float(collapsed.any(axis=1).mean())
    any_few = float(flags.few_points.any(axis=1).mean())
    any_singular = float(flags.singular.any(axis=1).mean())
    std_family = (idata_config(idata).get("priors") or {}).get("std_family")
    message = _collapse_message(
        table,
        any_all,
        any_few,
        any_singular,
        float(min_count),
        float(rtol),
        draws.weights.shape[0],
        std_family,
    )
    return CollapseReport(
        n_draws=int(draws.weights.shape[0]),
        n_samples=int(n_samples),
        n_features=int(n_features),
        min_count=float(min_count),
        rtol=float(rtol),
        table=table,
        fraction_any=any_all,
        fraction_any_few_points=any_few,
        fraction_any_singular=any_singular,
        relabeled="relabel_method" in idata.posterior.attrs,
        message=message,
    )


def warn_if_collapsed(report: CollapseReport, threshold: float = 0.01) -> bool:
    """Issue a ``DegenerateComponentWarning`` when collapsed draws exceed ``threshold``.

    Parameters
    ----------
    report : CollapseReport
    threshold : float
        Largest tolerated fraction of draws with a collapsed component (default 1 %).

    Returns
    -------
    bool
        Whether a warning was issued.
    """
    if report.fraction_any > threshold:
        warnings.warn(report.message, DegenerateComponentWarning, stacklevel=2)
        return True
    return False


def occupied_components(
    idata: az.InferenceData,
    threshold: float | None = None,
    *,
    criterion: str = "allocations",
    random_seed: Any = 0,
) -> pd.Series:
    """Posterior distribution of the number of occupied components.

    In an overfitted mixture (K larger than needed, typically with a sparse Dirichlet
    ``alpha < 1``), the extra components empty out; the number of *occupied* components
    estimates how many the data support (Rousseau & Mengersen 2011; Malsiner-Walli,
    Frühwirth-Schnatter & Grün 2016).

    Parameters
    ----------
    idata : arviz.InferenceData
    threshold : float, optional
        Fewest points an occupied component holds (default 1).
    criterion : {"allocations", "weights"}
        ``"allocations"``: sample one allocation vector per draw from the membership
        probabilities of ``observed_data.x`` and count the components holding at least
        ``threshold`` points. ``"weights"``: count the components with
        ``N * weights >= threshold`` (no data needed, no randomness).
    random_seed : int or numpy Generator
        Seed of the sampled allocations.

    Returns
    -------
    pandas.Series
        Index ``n_occupied`` = 1..K, values the posterior probability of each count.
    """
    idata = check_idata(idata)
    if criterion not in ("allocations", "weights"):
        raise ValueError(f"criterion must be 'allocations' or 'weights'; got {criterion!r}.")
    limit = 1.0 if threshold is None else float(threshold)
    if not limit > 0:
        raise ValueError(f"threshold must be > 0; got {threshold!r}.")
    draws = posterior_draws(idata)
    n_draws, n_comp = draws.weights.shape
    if criterion == "weights":
        if "observed_data" in idata.groups():
            n_obs = _observed(idata, "occupied_components").shape[0]
        else:
            n_obs = idata_config(idata).get("n_samples")
        if n_obs is None:
            raise ValueError("criterion='weights' needs N: store observed_data in the idata.")
        counts = (int(n_obs) * draws.weights >= limit).sum(axis=1)
    else:
        X = _observed(idata, "occupied_components")
        rng = np.random.default_rng(random_seed)
        block = _probability_fn(X, draws)
        counts = np.empty(n_draws, dtype=np.intp)
        for part in _blocks(draws, X.shape[0]):
            alloc = relabel.allocations_from_probabilities(block(part), rng)
            n_rows = alloc.shape[0]
            flat = (np.arange(n_rows)[:, None] * n_comp + alloc).ravel()
            per_comp = np.bincount(flat, minlength=n_rows * n_comp).reshape(n_rows, n_comp)
            counts[part] = (per_comp >= limit).sum(axis=1)
    # Counts run from 1 (0 appears only when threshold > 1 leaves a draw with none).
    low = min(1, int(counts.min()))
    dist = np.bincount(counts, minlength=n_comp + 1)[low:] / n_draws
    return pd.Series(
        dist, index=pd.RangeIndex(low, n_comp + 1, name="n_occupied"), name="probability"
    )
