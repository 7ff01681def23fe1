"""EM versus posterior, element by element: :func:`compare` and its :class:`ComparisonTable`.

Posterior components are matched to the EM components draw by draw (pivot by symmetrised
KL divergence), so the table means the same whether or not the posterior was relabeled.
See ``docs/comparison.md``.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesgmm.analysis._compare_text import flag_mask, summarize
from bayesgmm.analysis._fits import FlatDraws, as_em_result, as_idata, check_prob, check_shapes
from bayesgmm.mixture.draws import hdi_columns
from bayesgmm.mixture.moments import anchored_mean, anchored_std
from bayesgmm.mixture.structures import bayesian_structure
from bayesgmm.posterior import relabel as relabel_module
from bayesgmm.posterior.mixture import point_mixture

if TYPE_CHECKING:
    from bayesgmm.em.results import EMResult
    from bayesgmm.posterior.mixture import EMEstimator, Fit, PosteriorFit

__all__ = ["ComparisonTable", "compare"]


@dataclass
class ComparisonTable:
    """EM estimates beside posterior summaries, with a plain-words summary.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per parameter element, indexed by a readable name such as
        ``"means[0, waiting]"``; columns ``parameter``, ``component``, ``feature``,
        ``feature_bis``, ``em_estimate``, ``map_estimate``, ``posterior_mean``,
        ``posterior_sd``, ``mcse_mean`` (Monte Carlo error of the mean), ``hdi_low``,
        ``hdi_high``, ``em_in_hdi``, ``z``.
    summary : str
        Where the MLE and the posterior disagree, and why it matters.
    hdi_prob : float
    perms : numpy.ndarray
        The (S, K) permutations that matched every draw's components to EM's.
    """

    table: pd.DataFrame
    summary: str
    hdi_prob: float = 0.94
    perms: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.intp), repr=False)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table."""
        return self.table.copy()

    def flagged(self) -> pd.DataFrame:
        """Rows where the EM estimate is outside the HDI or ``|z| > 2``."""
        return self.table[flag_mask(self.table)]

    def __str__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            shown = self.table.drop(columns=["parameter", "component", "feature", "feature_bis"])
            return f"{self.summary}\n\n{shown.to_string(float_format=lambda v: f'{v:.4g}')}"

    def _repr_html_(self) -> str:
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in self.summary.split("\n") if p)
        shown = self.table.drop(columns=["parameter", "component", "feature", "feature_bis"])
        styled = shown.to_html(float_format=lambda v: f"{v:.4g}")
        return f"<div>{paragraphs}{styled}</div>"


def _row_specs(
    cov_type: str, n_components: int, n_features: int, include_covariances: bool
) -> list[tuple[str, int | None, int | None, int | None]]:
    """(parameter, component, feature i, feature j) for every reported element.

    Shared parameters (tied covariances) get component ``None``; a spherical component's
    single standard deviation gets feature ``None``.
    """
    specs: list[tuple[str, int | None, int | None, int | None]] = []
    comps = range(n_components)
    specs += [("weights", k, None, None) for k in comps]
    specs += [("means", k, d, None) for k in comps for d in range(n_features)]
    layout = bayesian_structure(cov_type).bayesian.sd_layout
    per_comp: list[int | None] = list(comps) if layout.per_component_stds else [None]
    if layout.pooled:  # one sd (and variance) per component, shared by the features
        specs += [("stds", k, None, None) for k in per_comp]
    else:
        specs += [("stds", k, d, None) for k in per_comp for d in range(n_features)]
    if layout.correlated:
        specs += [
            ("correlations", k, i, j) for k in per_comp for i in range(n_features) for j in range(i)
        ]
    if include_covariances:
        if layout.correlated:
            specs += [
                ("covariances", k, i, j)
                for k in per_comp
                for i in range(n_features)
                for j in range(i + 1)
            ]
        elif layout.pooled:
            specs += [("covariances", k, None, None) for k in per_comp]
        else:
            specs += [("covariances", k, d, d) for k in per_comp for d in range(n_features)]
    return specs


def _extract(
    specs: Sequence[tuple[str, int | None, int | None, int | None]],
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
) -> np.ndarray:
    """Values of every spec for arrays with a leading draw axis: shape (S, P)."""
    stds = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    corr = covariances / (stds[..., :, None] * stds[..., None, :])
    columns = []
    for name, k, i, j in specs:
        kk = 0 if k is None else k
        ii = 0 if i is None else i
        jj = ii if j is None else j
        if name == "weights":
            columns.append(weights[:, kk])
        elif name == "means":
            columns.append(means[:, kk, ii])
        elif name == "stds":
            columns.append(stds[:, kk, ii])
        elif name == "correlations":
            columns.append(corr[:, kk, ii, jj])
        else:
            columns.append(covariances[:, kk, ii, jj])
    return np.stack(columns, axis=1)


def _row_name(spec: tuple[str, int | None, int | None, int | None], names: list[str]) -> str:
    name, k, i, j = spec
    parts = [] if k is None else [str(k)]
    parts += [names[x] for x in (i, j) if x is not None]
    return f"{name}[{', '.join(parts)}]"


def _match_to_reference(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    reference_means: np.ndarray,
    reference_covariances: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pivot every draw onto the reference components (symmetrised KL, Hungarian)."""
    perms = relabel_module.pivot(
        means,
        covariances,
        reference_means=reference_means,
        reference_covariances=reference_covariances,
    )
    matched = relabel_module.apply_permutations(
        {"weights": weights, "means": means, "covariances": covariances}, perms
    )
    return perms, matched["weights"], matched["means"], matched["covariances"]


def _map_values(
    map_fit: Fit | None,
    specs: Sequence[Any],
    shape: tuple[int, int],
    em_means: np.ndarray,
    em_cov: np.ndarray,
) -> np.ndarray:
    """The rows' values at a posterior mode, matched to EM's components (NaN without one)."""
    if map_fit is None:
        return np.full(len(specs), np.nan)
    point = point_mixture(map_fit, shape=shape, what="map_fit")
    if point.weights is None:
        raise ValueError(
            "map_fit needs 'weights' (as returned by bayesgmm.bayes.inference.fit_map)."
        )
    _, mw, mm, mc = _match_to_reference(
        point.weights, point.means, point.covariances, em_means, em_cov
    )
    return _extract(specs, mw, mm, mc)[0]


def _table(
    specs: Sequence[Any],
    names: list[str],
    values: np.ndarray,
    em_values: np.ndarray,
    map_values: np.ndarray,
    hdi_prob: float,
    n_chains: int,
) -> pd.DataFrame:
    """One row per element: estimates, posterior summaries, HDI, z."""
    post_mean = anchored_mean(values)  # exact far from the origin (data offset by 1e15)
    post_sd = anchored_std(values, ddof=1)
    low, high = hdi_columns(values, hdi_prob)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(post_sd > 0, (em_values - post_mean) / post_sd, np.nan)

    def feature(x: int | None) -> str | None:
        return None if x is None else names[x]

    return pd.DataFrame(
        {
            "parameter": [s[0] for s in specs],
            "component": pd.array([s[1] for s in specs], dtype="Int64"),
            "feature": [feature(s[2]) for s in specs],
            "feature_bis": [feature(s[3]) for s in specs],
            "em_estimate": em_values,
            "map_estimate": map_values,
            "posterior_mean": post_mean,
            "posterior_sd": post_sd,
            "mcse_mean": _mcse_mean(values - values[:1], n_chains),  # shift-invariant
            "hdi_low": low,
            "hdi_high": high,
            "em_in_hdi": (low <= em_values) & (em_values <= high),
            "z": z,
        },
        index=pd.Index([_row_name(s, names) for s in specs], name="name"),
    )


def compare(
    em_fit: EMResult | EMEstimator,
    bayes_fit: PosteriorFit,
    hdi_prob: float = 0.94,
    *,
    map_fit: Fit | None = None,
    include_covariances: bool = False,
) -> ComparisonTable:
    """Put the EM (maximum-likelihood) estimate beside the posterior, element by element.

    Posterior components are first matched to the EM components, draw by draw (pivot on
    means and covariances by symmetrised Kullback-Leibler divergence and the Hungarian
    algorithm), so the comparison is meaningful whether or not the posterior was relabeled
    and whichever label mode each chain found.

    Parameters
    ----------
    em_fit : EMResult or GaussianMixtureEM
        From :func:`bayesgmm.em.fit_em` or a fitted :class:`GaussianMixtureEM`
        (``.result_`` is used). Any covariance type: EM covariances are expanded with
        :func:`bayesgmm.mixture.covariance.as_full`.
    bayes_fit : arviz.InferenceData or BayesianGMM
        A posterior from ``sample_nuts`` / ``fit_advi`` (one or more chains), or a fitted
        facade (its ``.idata_`` is used, and its ``.map_`` fills ``map_estimate``).
    hdi_prob : float
        Mass of the highest-density intervals.
    map_fit : dict, EMResult or InferenceData, optional
        A posterior mode (``bayesgmm.bayes.inference.fit_map``'s dict, a MAP-EM ``EMResult``
        or ``map_idata``'s one-draw InferenceData); matched to EM like the draws.
    include_covariances : bool
        Add rows for the covariance elements (lower triangle incl. the diagonal).

    Returns
    -------
    ComparisonTable
        ``.table`` (one row per element; ``em_in_hdi`` is ``hdi_low <= em <= hdi_high``
        and ``z = (em - posterior_mean) / posterior_sd``) and ``.summary``.

    Notes
    -----
    Rows: ``weights[k]``; ``means[k, feature]``; ``stds[k, feature]`` (square roots of
    the covariance diagonal; ``stds[k]`` for spherical, ``stds[feature]`` for tied);
    ``correlations[k, i, j]`` for ``i > j`` (full and tied only: diag and spherical
    correlations are zero by construction). For K components and D features with full
    covariances that is ``K * (1 + 2 D + D (D - 1) / 2)`` rows.
    """
    hdi_prob = check_prob(hdi_prob, "hdi_prob")
    fit = as_em_result(em_fit)
    idata = as_idata(bayes_fit)
    if map_fit is None:
        map_fit = getattr(bayes_fit, "map_", None)
    draws = FlatDraws(idata)
    if draws.n_draws < 2:
        raise ValueError(
            f"bayes_fit holds {draws.n_draws} draw(s) (a MAP fit?); compare needs posterior "
            "draws. Pass a point estimate as map_fit= instead."
        )
    shape = (draws.n_components, draws.n_features)
    check_shapes("em_fit", np.asarray(fit.means), *shape)
    em = point_mixture(fit, shape=shape, what="em_fit")
    em_weights, em_means, em_cov = em.weights[0], em.means[0], em.covariances[0]
    perms, weights, means, covariances = _match_to_reference(
        draws.weights, draws.means, draws.covariances, em_means, em_cov
    )
    specs = _row_specs(fit.covariance_type, *shape, include_covariances)
    values = _extract(specs, weights, means, covariances)
    em_values = _extract(specs, em_weights[None], em_means[None], em_cov[None])[0]
    map_values = _map_values(map_fit, specs, shape, em_means, em_cov)
    table = _table(
        specs, draws.feature_names, values, em_values, map_values, hdi_prob, draws.n_chains
    )
    summary = summarize(table, fit, draws, perms, hdi_prob, fit.covariance_type, idata)
    return ComparisonTable(table=table, summary=summary, hdi_prob=hdi_prob, perms=perms)


def _mcse_mean(values: np.ndarray, n_chains: int) -> np.ndarray:
    """Monte Carlo standard error of each column's mean (ArviZ, chains kept apart)."""
    n_draws = values.shape[0] // max(1, n_chains)
    if n_draws < 4:
        return np.full(values.shape[1], np.nan)
    cube = values.reshape(n_chains, n_draws, values.shape[1])
    dataset = xr.Dataset({"v": (("chain", "draw", "element"), cube)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(az.mcse(dataset, method="mean")["v"].values, dtype=np.float64)
