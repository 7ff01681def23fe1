"""EM versus posterior: side-by-side estimates, membership uncertainty and model selection.

Three questions a user asks once both a maximum-likelihood (EM) fit and a posterior
(NUTS / ADVI) exist:

* :func:`compare`: *where do the point estimate and the posterior disagree, and why?* A
  tidy table with one row per parameter element (EM estimate, optional MAP, posterior
  mean / sd, HDI, whether the EM estimate lies in the HDI, a z-score) and a summary
  paragraph in plain words.
* :func:`membership` and :func:`similarity`: *how sure is each point's cluster?*
  Posterior-mean membership probabilities with credible intervals, entropy, mclust's
  uncertainty, an ambiguity flag, the posterior of the number of occupied clusters, and
  the label-invariant co-clustering matrix ``P(z_i = z_j | X)``.
* :func:`compare_k`: *how many components?* BIC / ICL from EM next to LOO / WAIC from the
  posterior, one row per (K, covariance type).

All maths is numpy on flattened draws (:mod:`bayesgmm.draws`, :mod:`bayesgmm.relabel`);
PyMC is only touched by :func:`compare_k`, which runs fits. See ``docs/comparison.md``.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesgmm import draws as draw_math
from bayesgmm import em as em_module
from bayesgmm import relabel as relabel_module
from bayesgmm._validation import check_covariance_type, check_data, check_random_state
from bayesgmm.covariance import as_full, n_parameters
from bayesgmm.exceptions import (
    CollapseError,
    DegenerateComponentWarning,
    LabelSwitchingWarning,
)
from bayesgmm.idata import idata_config, posterior_draws, thin_indices

__all__ = [
    "ComparisonTable",
    "Membership",
    "compare",
    "compare_k",
    "hdi",
    "loo_waic",
    "membership",
    "similarity",
]

# Floats per temporary array in the chunked computations (16 MB in float64); the peak is a
# few such arrays (N = 5,000, K = 3, 1,000 draws: about 90 MB besides the outputs).
_BUDGET = 2**21
# A component (or a data set) with fewer than this many points per free parameter is "small".
_POINTS_PER_PARAMETER = 10
# A z-score beyond this is flagged in the summary (about a 95% two-sided normal band).
_Z_FLAG = 2.0
# Share of draws that may need a non-identity permutation before membership warns.
_SWITCH_WARN_FRACTION = 0.05
# Pareto k above this makes the PSIS-LOO estimate of that point unreliable (Vehtari 2017).
_PARETO_K_BAD = 0.7


# ---------------------------------------------------------------------------------------
# Small numpy helpers
# ---------------------------------------------------------------------------------------


def hdi(draws: np.ndarray, hdi_prob: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density intervals along the first axis (vectorised ArviZ algorithm).

    For each column, the shortest interval spanning ``floor(hdi_prob * S)`` consecutive
    sorted draws; identical to ``arviz.hdi`` on one column (unimodal, non-circular).

    Parameters
    ----------
    draws : ndarray of shape (S, ...)
        Draws along axis 0.
    hdi_prob : float
        Probability mass of the interval, in (0, 1).

    Returns
    -------
    low, high : ndarray of shape draws.shape[1:]
    """
    hdi_prob = _check_prob(hdi_prob, "hdi_prob")
    n_draws = np.shape(draws)[0]
    if int(np.floor(hdi_prob * n_draws)) < 1:
        raise ValueError(f"{n_draws} draw(s) are too few for a {hdi_prob:g} HDI; use more draws.")
    return draw_math.hdi_columns(draws, hdi_prob)


def _check_prob(value: Any, name: str) -> float:
    number = float(value)
    if not 0.0 < number < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {value!r}.")
    return number


def _entropy(prob: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) along the last axis, with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(prob > 0, prob * np.log(prob), 0.0)
    return -terms.sum(axis=-1)


def _thin_indices(n_draws: int, max_draws: int) -> np.ndarray:
    """Evenly spaced draw indices, at most ``max_draws`` (>= 2, for intervals) of them."""
    if isinstance(max_draws, bool) or int(max_draws) < 2:
        raise ValueError(f"max_draws must be an integer >= 2; got {max_draws!r}.")
    return thin_indices(n_draws, int(max_draws))


# ---------------------------------------------------------------------------------------
# Reading fits
# ---------------------------------------------------------------------------------------


def _as_idata(fit: Any) -> az.InferenceData:
    if isinstance(fit, az.InferenceData):
        return fit
    idata = getattr(fit, "idata_", None)
    if isinstance(idata, az.InferenceData):
        return idata
    raise TypeError(
        "expected an arviz.InferenceData from sample_nuts / fit_advi or a fitted "
        f"BayesianGMM (with .idata_); got {type(fit).__name__}. Fit the model first."
    )


def _as_em_result(fit: Any) -> em_module.EMResult:
    if isinstance(fit, em_module.EMResult):
        return fit
    result = getattr(fit, "result_", None)
    if isinstance(result, em_module.EMResult):
        return result
    raise TypeError(
        "em_fit must be a bayesgmm.em.EMResult (from fit_em) or a fitted GaussianMixtureEM; "
        f"got {type(fit).__name__}."
    )


def _config(idata: az.InferenceData) -> dict[str, Any]:
    """The stored model configuration, or the part of it the posterior itself implies."""
    config = idata_config(idata)
    if config:
        return config
    draws = posterior_draws(idata)
    return {
        "n_components": int(draws.weights.shape[1]),
        "covariance_type": draws.covariance_type,
        "feature_names": draws.feature_names,
        "priors": {},
    }


class _Draws:
    """Flattened (S, ...) weights, means and full covariances of a posterior."""

    def __init__(self, idata: az.InferenceData) -> None:
        draws = posterior_draws(idata)
        self.config = _config(idata)
        self.n_chains = draws.n_chains
        self.n_draws_per_chain = draws.n_draws
        self.weights, self.means, self.covariances = draws.weights, draws.means, draws.covariances
        self.n_components, self.n_features = self.means.shape[1:]
        self.feature_names = draws.feature_names
        self.sampler = str((getattr(idata, "attrs", None) or {}).get("sampler", "unknown"))

    @property
    def n_draws(self) -> int:
        return self.weights.shape[0]

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.weights[index], self.means[index], self.covariances[index]


def _point_params(
    point: Any, n_components: int, n_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, means, full covariances) of a MAP dict, EMResult or one-draw idata."""
    if isinstance(point, em_module.EMResult) or hasattr(point, "result_"):
        fit = _as_em_result(point)
        cov = as_full(fit.covariances, fit.covariance_type, n_components, n_features)
        return np.asarray(fit.weights), np.asarray(fit.means), cov
    if isinstance(point, az.InferenceData):
        draws = _Draws(point)
        return draws.weights.mean(0), draws.means.mean(0), draws.covariances.mean(0)
    if isinstance(point, Mapping):
        try:
            weights = np.asarray(point["weights"], dtype=np.float64)
            means = np.asarray(point["means"], dtype=np.float64)
            cov = np.asarray(point["covariances"], dtype=np.float64)
        except KeyError as exc:
            raise ValueError(
                "map_fit needs 'weights', 'means' and 'covariances' (as returned by "
                f"bayesgmm.inference.fit_map); missing {exc}."
            ) from None
        cov_type = point.get("covariance_type", "full")
        if cov.shape != (n_components, n_features, n_features):
            cov = as_full(cov, cov_type, n_components, n_features)
        return weights, means, cov
    raise TypeError(
        "map_fit must be a dict from bayesgmm.inference.fit_map, an EMResult or a one-draw "
        f"InferenceData; got {type(point).__name__}."
    )


def _check_shapes(what: str, means: np.ndarray, n_components: int, n_features: int) -> None:
    if means.shape != (n_components, n_features):
        raise ValueError(
            f"{what} has K={means.shape[0]} components and D={means.shape[1]} features but the "
            f"posterior has K={n_components}, D={n_features}; compare fits of the same model."
        )


# ---------------------------------------------------------------------------------------
# compare: EM versus posterior
# ---------------------------------------------------------------------------------------


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
        return self.table[_flag_mask(self.table)]

    def __str__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            shown = self.table.drop(columns=["parameter", "component", "feature", "feature_bis"])
            return f"{self.summary}\n\n{shown.to_string(float_format=lambda v: f'{v:.4g}')}"

    def _repr_html_(self) -> str:
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in self.summary.split("\n") if p)
        shown = self.table.drop(columns=["parameter", "component", "feature", "feature_bis"])
        styled = shown.to_html(float_format=lambda v: f"{v:.4g}")
        return f"<div>{paragraphs}{styled}</div>"


def _flag_mask(table: pd.DataFrame) -> pd.Series:
    return (~table["em_in_hdi"]) | (table["z"].abs() > _Z_FLAG)


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
    per_comp: list[int | None] = [None] if cov_type == "tied" else list(comps)
    if cov_type == "spherical":
        specs += [("stds", k, None, None) for k in comps]
    else:
        specs += [("stds", k, d, None) for k in per_comp for d in range(n_features)]
    if cov_type in ("full", "tied"):
        specs += [
            ("correlations", k, i, j) for k in per_comp for i in range(n_features) for j in range(i)
        ]
    if include_covariances:
        if cov_type in ("full", "tied"):
            specs += [
                ("covariances", k, i, j)
                for k in per_comp
                for i in range(n_features)
                for j in range(i + 1)
            ]
        elif cov_type == "diag":
            specs += [("covariances", k, d, d) for k in comps for d in range(n_features)]
        else:
            specs += [("covariances", k, None, None) for k in comps]
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


def compare(
    em_fit: Any,
    bayes_fit: Any,
    hdi_prob: float = 0.94,
    *,
    map_fit: Any = None,
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
        :func:`bayesgmm.covariance.as_full`.
    bayes_fit : arviz.InferenceData or BayesianGMM
        A posterior from ``sample_nuts`` / ``fit_advi`` (one or more chains), or a fitted
        facade (its ``.idata_`` is used, and its ``.map_`` fills ``map_estimate``).
    hdi_prob : float
        Mass of the highest-density intervals.
    map_fit : dict, EMResult or InferenceData, optional
        A posterior mode (``bayesgmm.inference.fit_map``'s dict, a MAP-EM ``EMResult``
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
    hdi_prob = _check_prob(hdi_prob, "hdi_prob")
    fit = _as_em_result(em_fit)
    idata = _as_idata(bayes_fit)
    if map_fit is None:
        map_fit = getattr(bayes_fit, "map_", None)
    draws = _Draws(idata)
    if draws.n_draws < 2:
        raise ValueError(
            f"bayes_fit holds {draws.n_draws} draw(s) (a MAP fit?); compare needs posterior "
            "draws. Pass a point estimate as map_fit= instead."
        )
    n_components, n_features = draws.n_components, draws.n_features
    _check_shapes("em_fit", np.asarray(fit.means), n_components, n_features)
    cov_type = fit.covariance_type
    em_cov = as_full(fit.covariances, cov_type, n_components, n_features)
    em_weights, em_means = np.asarray(fit.weights), np.asarray(fit.means)

    perms, weights, means, covariances = _match_to_reference(
        draws.weights, draws.means, draws.covariances, em_means, em_cov
    )
    specs = _row_specs(cov_type, n_components, n_features, include_covariances)
    values = _extract(specs, weights, means, covariances)
    em_values = _extract(specs, em_weights[None], em_means[None], em_cov[None])[0]
    if map_fit is not None:
        mw, mm, mc = _point_params(map_fit, n_components, n_features)
        _check_shapes("map_fit", mm, n_components, n_features)
        _, mw, mm, mc = _match_to_reference(mw[None], mm[None], mc[None], em_means, em_cov)
        map_values = _extract(specs, mw, mm, mc)[0]
    else:
        map_values = np.full(len(specs), np.nan)

    post_mean = values.mean(axis=0)
    post_sd = values.std(axis=0, ddof=1)
    low, high = hdi(values, hdi_prob)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(post_sd > 0, (em_values - post_mean) / post_sd, np.nan)
    names = draws.feature_names

    def feature(x: int | None) -> str | None:
        return None if x is None else names[x]

    table = pd.DataFrame(
        {
            "parameter": [s[0] for s in specs],
            "component": pd.array([s[1] for s in specs], dtype="Int64"),
            "feature": [feature(s[2]) for s in specs],
            "feature_bis": [feature(s[3]) for s in specs],
            "em_estimate": em_values,
            "map_estimate": map_values,
            "posterior_mean": post_mean,
            "posterior_sd": post_sd,
            "mcse_mean": _mcse_mean(values, draws.n_chains),
            "hdi_low": low,
            "hdi_high": high,
            "em_in_hdi": (low <= em_values) & (em_values <= high),
            "z": z,
        },
        index=pd.Index([_row_name(s, names) for s in specs], name="name"),
    )
    summary = _summarize(table, fit, draws, perms, hdi_prob, cov_type, idata)
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


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _summarize(
    table: pd.DataFrame,
    fit: em_module.EMResult,
    draws: _Draws,
    perms: np.ndarray,
    hdi_prob: float,
    cov_type: str,
    idata: az.InferenceData,
) -> str:
    """The plain-words paragraph of :class:`ComparisonTable`."""
    n_samples = int(fit.n_samples)
    n_components, n_features = draws.n_components, draws.n_features
    pct = f"{100 * hdi_prob:g}%"
    lines = []
    advi = "advi" in draws.sampler
    source = (
        f"{draws.n_chains} chain(s) x {draws.n_draws_per_chain} draws ({draws.sampler})"
        if not advi
        else f"{draws.n_draws} draws from a variational approximation ({draws.sampler})"
    )
    lines.append(
        f"EM (maximum likelihood{', MAP-EM prior' if fit.prior is not None else ''}) versus "
        f"the posterior from {source}: K={n_components}, {cov_type} covariances, "
        f"N={n_samples}, D={n_features}, {pct} HDIs."
    )

    # 1. Agreement and flagged rows.
    flags = table[_flag_mask(table)]
    n_in = int(table["em_in_hdi"].sum())
    if flags.empty:
        lines.append(
            f"The EM estimate lies inside the {pct} HDI for all {len(table)} parameter "
            "elements and within 2 posterior sds of the posterior mean: no disagreement "
            "beyond the posterior uncertainty."
        )
        if table["z"].notna().any():
            name = table["z"].abs().idxmax()
            row = table.loc[name]
            lines.append(
                f"The largest shift is {name}: EM {_fmt(row.em_estimate)} vs posterior mean "
                f"{_fmt(row.posterior_mean)} (z = {row.z:+.2f})."
            )
    else:
        shown = flags.reindex(flags["z"].abs().sort_values(ascending=False).index)[:8]
        items = "; ".join(
            f"{name}: EM {_fmt(row.em_estimate)} vs posterior {_fmt(row.posterior_mean)} "
            f"[{_fmt(row.hdi_low)}, {_fmt(row.hdi_high)}], z={row.z:+.2f}"
            for name, row in shown.iterrows()
        )
        more = f" (and {len(flags) - len(shown)} more)" if len(flags) > len(shown) else ""
        lines.append(
            f"The EM estimate lies inside the {pct} HDI for {n_in} of {len(table)} elements; "
            f"{len(flags)} disagree (outside the HDI or |z| > 2): {items}{more}."
        )

    # 2. Sample size per component and overall.
    counts = n_samples * np.asarray(fit.weights)
    # Free parameters owned by one component: its weight, mean and (unless tied) covariance.
    per_comp = 1 + (n_parameters(cov_type, 1, n_features) if cov_type != "tied" else n_features)
    small = np.flatnonzero(counts < _POINTS_PER_PARAMETER * per_comp)
    smallest = int(np.argmin(counts))
    if small.size:
        which = ", ".join(f"{k} (N*pi = {counts[k]:.1f})" for k in small)
        lines.append(
            f"Small component(s): {which}, fewer than {_POINTS_PER_PARAMETER} points per "
            f"parameter ({per_comp} per component). Their MLE rests on few points: the "
            "likelihood is flat there, the prior matters, and the posterior is wide and skewed "
            "(so the posterior mean and the MLE can differ by a lot without either being "
            "wrong)."
        )
    else:
        lines.append(
            f"The smallest component ({smallest}) holds about {counts[smallest]:.0f} points "
            f"(N*pi), at least {_POINTS_PER_PARAMETER} per parameter of a component, so the "
            "likelihood dominates the prior there."
        )
    total = n_parameters(cov_type, n_components, n_features)
    if n_samples < _POINTS_PER_PARAMETER * total:
        lines.append(
            f"N={n_samples} is small for {total} free parameters (N/P = {n_samples / total:.1f}): "
            "expect visible prior influence and posterior intervals wider than the "
            "asymptotic (Fisher information) ones."
        )

    # 3. Direction of shrinkage.
    lines.extend(_shrinkage_sentences(table, fit, idata))

    # 4. Caveats about the posterior itself.
    if len(perms):
        unique, counts = np.unique(perms, axis=0, return_counts=True)
        common = unique[np.argmax(counts)]
        switched = 1.0 - counts.max() / len(perms)
        if switched > 0:
            lines.append(
                f"Label switching: {100 * switched:.1f}% of the draws needed a different "
                "matching to EM's components than the rest; they were matched draw by draw "
                "(pivot), so the table is unaffected, but relabel the posterior "
                "(bayesgmm.relabel_idata) before other per-component summaries."
            )
        elif not np.array_equal(common, np.arange(n_components)):
            lines.append(
                "The posterior numbers the components differently from EM; the table uses "
                f"EM's numbering (EM component k is posterior component {common.tolist()}[k])."
            )
    if advi:
        lines.append(
            "These intervals come from ADVI, which (mean-field especially) tends to "
            "understate posterior sds: an EM estimate outside the HDI may reflect the "
            "approximation, not a real disagreement."
        )
    lines.append(
        "Why it matters: the MLE is one point; the posterior sd and HDI are the honest "
        "uncertainty. Where they disagree, report the posterior interval, and check whether "
        "the model (K, covariance type) is asking more of the data than they can say."
    )
    return "\n".join(lines)


def _directions(rows: pd.DataFrame) -> tuple[int, int, float]:
    """Rows whose posterior mean is above / below the MLE by more than 2 Monte Carlo
    standard errors, and the median posterior-mean / MLE ratio."""
    gap = rows["posterior_mean"] - rows["em_estimate"]
    noise = 2.0 * rows["mcse_mean"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.nanmedian(rows["posterior_mean"] / rows["em_estimate"]))
    return int((gap > noise).sum()), int((gap < -noise).sum()), ratio


def _shrinkage_sentences(
    table: pd.DataFrame, fit: em_module.EMResult, idata: az.InferenceData
) -> list[str]:
    """Direction and size of the posterior-versus-MLE shifts, by parameter kind."""
    out = []
    stds = table[table["parameter"] == "stds"]
    if len(stds):
        above, below, ratio = _directions(stds)
        n = len(stds)
        head = (
            f"Standard deviations: the posterior mean is above the MLE for {above} of {n}, "
            f"below for {below} (beyond 2 Monte Carlo errors; median ratio {ratio:.3f})."
        )
        if above > below:
            head += (
                " Expected: the MLE of a variance divides by N_k, not N_k - 1, and plugs in "
                "the fitted mean, so it is biased low (most for small components); the "
                "posterior averages over the uncertainty in the means, and the mean of a "
                "right-skewed scale posterior sits above its mode."
            )
        elif below > above:
            head += (
                " The scale prior pulls them down more than the low bias of the variance MLE "
                "pushes the posterior up; check the prior scale (GMMPriors.std_scale)."
            )
        out.append(head)
    weights = table[table["parameter"] == "weights"]
    n_components = len(weights)
    alpha = _config(idata).get("priors", {}).get("alpha")
    if n_components > 1 and isinstance(alpha, int | float):
        n_samples = float(fit.n_samples)
        em_w = weights["em_estimate"].to_numpy()
        pull = (n_samples * em_w + alpha) / (n_samples + n_components * alpha) - em_w
        in_sds = np.abs(pull) / weights["posterior_sd"].to_numpy()
        worst = int(np.argmax(in_sds))
        size = "negligible" if in_sds[worst] < 0.25 else "noticeable"
        out.append(
            f"Weights: a symmetric Dirichlet(alpha={alpha:g}) prior adds alpha pseudo-counts "
            f"per component, moving the posterior mean toward 1/K = {1 / n_components:.3g} "
            f"by about (N pi_k + alpha) / (N + K alpha) - pi_k: at most {abs(pull[worst]):.2g} "
            f"({in_sds[worst]:.2f} posterior sds, component {worst}), {size} here."
        )
    corr = table[table["parameter"] == "correlations"]
    if len(corr):
        gap = corr["posterior_mean"].abs() - corr["em_estimate"].abs()
        noise = 2.0 * corr["mcse_mean"].fillna(0.0)
        shrunk = int((gap < -noise).sum())
        out.append(
            f"Correlations: the posterior mean is nearer 0 than the MLE for {shrunk} of "
            f"{len(corr)} (beyond 2 Monte Carlo errors); the LKJ(eta) prior with eta > 1 "
            "favours weak correlations, and averaging over a bounded range pulls means "
            "away from +-1."
        )
    return out


# ---------------------------------------------------------------------------------------
# Membership and co-clustering
# ---------------------------------------------------------------------------------------


@dataclass
class Membership:
    """Posterior cluster membership of every point.

    Attributes
    ----------
    probabilities : xarray.Dataset
        ``mean``, ``median``, ``hdi_low``, ``hdi_high`` with dims (obs, component): the
        posterior mean and median of ``r_nk = P(z_n = k | theta, x_n)`` and its HDI over
        the draws. The HDI always contains the median; the mean of a skewed distribution
        (probabilities within 1e-10 of 0 or 1) can lie just outside it. Per-component
        columns are meaningful only if the posterior is relabeled (or free of label
        switching).
    max_probability : numpy.ndarray of shape (N,)
        ``max_k`` of the mean probabilities.
    entropy : numpy.ndarray of shape (N,)
        Entropy (nats) of the mean membership vector; 0 = certain, ``log K`` = uniform.
    uncertainty : numpy.ndarray of shape (N,)
        ``1 - max_probability`` (mclust's classification uncertainty).
    ambiguous : numpy.ndarray of bool, shape (N,)
        ``max_probability < ambiguity_threshold``.
    labels : numpy.ndarray of int, shape (N,)
        Argmax of the mean probabilities.
    n_occupied : pandas.Series
        Posterior probability of each number of occupied clusters (1..K): allocations are
        sampled from every draw's responsibilities and distinct labels counted.
    hdi_prob, ambiguity_threshold : float
    n_draws : int
        Posterior draws used (after thinning).
    """

    probabilities: xr.Dataset
    max_probability: np.ndarray
    entropy: np.ndarray
    uncertainty: np.ndarray
    ambiguous: np.ndarray
    labels: np.ndarray
    n_occupied: pd.Series
    hdi_prob: float = 0.94
    ambiguity_threshold: float = 0.8
    n_draws: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per point: label, max probability, entropy, uncertainty, ambiguous,
        and ``p{k}`` / ``p{k}_low`` / ``p{k}_high`` per component."""
        prob = self.probabilities
        frame = pd.DataFrame(
            {
                "label": self.labels,
                "max_probability": self.max_probability,
                "uncertainty": self.uncertainty,
                "entropy": self.entropy,
                "ambiguous": self.ambiguous,
            },
            index=pd.Index(prob["obs"].values, name="obs"),
        )
        for k in prob["component"].values:
            frame[f"p{k}"] = prob["mean"].sel(component=k).values
            frame[f"p{k}_low"] = prob["hdi_low"].sel(component=k).values
            frame[f"p{k}_high"] = prob["hdi_high"].sel(component=k).values
        return frame

    def __repr__(self) -> str:
        n_obs = len(self.labels)
        occupied = ", ".join(f"{k}: {p:.3f}" for k, p in self.n_occupied.items() if p > 0)
        return (
            f"Membership(N={n_obs}, K={self.probabilities.sizes['component']}, "
            f"ambiguous={int(self.ambiguous.sum())} (max probability < "
            f"{self.ambiguity_threshold:g}), P(n_occupied)={{{occupied}}}, "
            f"draws={self.n_draws})"
        )


def _data_for(idata: az.InferenceData, X: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """The data and its obs coordinate (from ``observed_data`` when X is None)."""
    if X is None:
        if "observed_data" not in idata.groups() or "x" not in idata.observed_data:
            raise ValueError("X is required: the InferenceData has no observed_data 'x'.")
        obs = idata.observed_data["x"]
        values = np.asarray(obs.transpose("obs", ...).values, dtype=np.float64)
        return values, np.asarray(obs["obs"].values)
    values = check_data(X, n_features=n_features, owner="the posterior").X
    index = getattr(X, "index", None)
    return values, np.asarray(index) if index is not None else np.arange(values.shape[0])


def _maybe_relabel(idata: az.InferenceData, method: str | None) -> az.InferenceData:
    if method is None or method == "none":
        return idata
    try:
        from bayesgmm.posterior import relabel_idata
    except ImportError as exc:  # pragma: no cover - posterior lands alongside this module
        raise ImportError(
            "relabel= needs bayesgmm.posterior.relabel_idata; relabel the InferenceData "
            "yourself or pass relabel=None."
        ) from exc
    return relabel_idata(idata, method=method)


def _switching_fraction(
    idata: az.InferenceData, draws: _Draws, index: np.ndarray, X: np.ndarray
) -> float:
    """Share of the used draws whose components a pivot to the best draw would permute.

    The best draw has the largest total log-likelihood: read from the ``log_likelihood``
    group when stored, else computed on at most 500 evenly spaced rows (enough to pick a
    representative draw).
    """
    weights, means, cov = draws.take(index)
    stored = None
    if "log_likelihood" in idata.groups() and "x" in idata.log_likelihood:
        loglik = idata.log_likelihood["x"]
        other = [d for d in loglik.dims if d not in ("chain", "draw")]
        stored = loglik.sum(other).transpose("chain", "draw").values.reshape(-1)
    if stored is not None and stored.shape[0] == draws.n_draws:
        total = stored[index]
    else:
        rows = X[_thin_indices(X.shape[0], 500)]
        total = draw_math.pointwise_log_likelihood(rows, weights, means, cov).sum(axis=1)
    ref = int(np.argmax(total))
    try:
        perms = relabel_module.pivot(
            means, cov, reference_means=means[ref], reference_covariances=cov[ref]
        )
    except ValueError:  # a near-singular draw; skip the check rather than fail
        return 0.0
    return float(np.mean(np.any(perms != np.arange(draws.n_components), axis=1)))


def _row_blocks(n_obs: int, per_row: int) -> list[slice]:
    step = max(1, _BUDGET // max(1, per_row))
    return [slice(start, min(start + step, n_obs)) for start in range(0, n_obs, step)]


def membership(
    fit: Any,
    X: Any = None,
    hdi_prob: float = 0.94,
    *,
    ambiguity_threshold: float = 0.8,
    max_draws: int = 1000,
    random_seed: Any = 0,
    relabel: str | None = None,
    warn: bool = True,
) -> Membership:
    """Posterior membership probabilities with credible intervals.

    For every draw ``s`` the responsibilities ``r_snk = pi_sk N(x_n | mu_sk, Sigma_sk) /
    sum_j pi_sj N(x_n | mu_sj, Sigma_sj)`` are computed (:func:`bayesgmm.draws.responsibilities`),
    in blocks of rows so that memory stays bounded, and summarised over draws.

    Parameters
    ----------
    fit : arviz.InferenceData or BayesianGMM
        A posterior (NUTS, ADVI or MAP). Per-component outputs (``probabilities``,
        ``labels``, ``max_probability``, ``entropy``, ``ambiguous``) assume consistent
        labels across draws: pass a relabeled posterior (``bayesgmm.relabel_idata`` or the
        facade's ``idata_``) or set ``relabel``. ``n_occupied`` and :func:`similarity` are
        label-invariant and need no relabeling.
    X : array-like of shape (N, D), optional
        Points to classify; defaults to the fitted data (``observed_data``).
    hdi_prob : float
        Mass of the per-point, per-component HDIs.
    ambiguity_threshold : float
        A point is *ambiguous* when its largest mean membership probability is below this
        (default 0.8, i.e. mclust uncertainty above 0.2: no component claims it with
        4:1 odds).
    max_draws : int
        Use at most this many draws, evenly spaced over the flattened chains.
    random_seed : int or numpy.random.Generator
        Seeds the allocations sampled for ``n_occupied``.
    relabel : {"stephens", "ecr", "pivot", "ordering"}, optional
        Relabel first with :func:`bayesgmm.posterior.relabel_idata`.
    warn : bool
        Warn (:class:`LabelSwitchingWarning`) when more than 5% of the draws still look
        permuted relative to the best draw (pivot by symmetrised KL), since per-component
        columns are then averages over different components.

    Returns
    -------
    Membership
    """
    hdi_prob = _check_prob(hdi_prob, "hdi_prob")
    ambiguity_threshold = _check_prob(ambiguity_threshold, "ambiguity_threshold")
    idata = _maybe_relabel(_as_idata(fit), relabel)
    draws = _Draws(idata)
    data, obs = _data_for(idata, X, draws.n_features)
    n_obs, n_comp = data.shape[0], draws.n_components
    index = _thin_indices(draws.n_draws, max_draws)
    weights, means, cov = draws.take(index)
    n_used = len(index)
    if warn and n_comp > 1 and n_used > 1:
        switched = _switching_fraction(idata, draws, index, data)
        if switched > _SWITCH_WARN_FRACTION:
            warnings.warn(
                f"{100 * switched:.0f}% of the draws look label-switched relative to the best "
                "draw, so per-component membership columns mix components. Relabel first "
                "(relabel='stephens' or bayesgmm.relabel_idata); n_occupied and similarity() "
                "do not need it.",
                LabelSwitchingWarning,
                stacklevel=2,
            )
    rng = check_random_state(random_seed)
    mean = np.empty((n_obs, n_comp))
    median = np.empty((n_obs, n_comp))
    low = np.empty((n_obs, n_comp))
    high = np.empty((n_obs, n_comp))
    occupied = np.zeros((n_used, n_comp), dtype=bool)
    single = n_used < 2 or int(np.floor(hdi_prob * n_used)) < 1
    rows_of_draws = np.arange(n_used)[:, None]
    for block in _row_blocks(n_obs, n_used * n_comp * max(2, draws.n_features)):
        resp = draw_math.responsibilities(data[block], weights, means, cov)  # (S, n, K)
        mean[block] = resp.mean(axis=0)
        median[block] = np.median(resp, axis=0)
        if single:
            low[block] = high[block] = resp[0]
        else:
            low[block], high[block] = hdi(resp, hdi_prob)
        alloc = relabel_module.allocations_from_probabilities(resp, rng)
        occupied[rows_of_draws, alloc] = True
    counts = np.bincount(occupied.sum(axis=1), minlength=n_comp + 1)[1:]
    n_occupied = pd.Series(
        counts / n_used,
        index=pd.Index(np.arange(1, n_comp + 1), name="n_occupied"),
        name="probability",
    )
    max_prob = mean.max(axis=1)
    coords = {"obs": obs, "component": np.arange(n_comp)}
    dims = ("obs", "component")
    probabilities = xr.Dataset(
        {
            "mean": xr.DataArray(mean, dims=dims, coords=coords),
            "median": xr.DataArray(median, dims=dims, coords=coords),
            "hdi_low": xr.DataArray(low, dims=dims, coords=coords),
            "hdi_high": xr.DataArray(high, dims=dims, coords=coords),
        },
        attrs={"hdi_prob": hdi_prob, "n_draws": n_used},
    )
    return Membership(
        probabilities=probabilities,
        max_probability=max_prob,
        entropy=_entropy(mean),
        uncertainty=1.0 - max_prob,
        ambiguous=max_prob < ambiguity_threshold,
        labels=mean.argmax(axis=1),
        n_occupied=n_occupied,
        hdi_prob=hdi_prob,
        ambiguity_threshold=ambiguity_threshold,
        n_draws=n_used,
    )


def similarity(
    fit: Any,
    X: Any = None,
    *,
    block_rows: int = 1024,
    dtype: Any = np.float32,
    out: np.ndarray | None = None,
    max_draws: int = 1000,
) -> np.ndarray:
    """Posterior co-clustering matrix ``P(z_i = z_j | X)``.

    ``P_ij = mean_s sum_k r_sik r_sjk`` for ``i != j`` (given the parameters, two points'
    labels are independent) and ``P_ii = 1``. It is label-invariant: no relabeling needed.

    Memory: only the (N, N) result plus one chunk of draws' responsibilities; the product
    is formed in row blocks of the upper triangle and mirrored, so the result is exactly
    symmetric. N = 5,000 takes 100 MB in float32 (the default) or 200 MB in float64.

    Parameters
    ----------
    fit : arviz.InferenceData or BayesianGMM
    X : array-like of shape (N, D), optional
        Defaults to the fitted data (``observed_data``).
    block_rows : int
        Rows of the result computed per matrix product.
    dtype : numpy float dtype
        Of the result and of the products (float32 halves memory and time).
    out : numpy.ndarray, optional
        Preallocated (N, N) result (e.g. a ``numpy.memmap``); overwritten and returned.
    max_draws : int
        Use at most this many draws, evenly spaced.

    Returns
    -------
    numpy.ndarray of shape (N, N)
    """
    if isinstance(block_rows, bool) or int(block_rows) < 1:
        raise ValueError(f"block_rows must be a positive integer; got {block_rows!r}.")
    block_rows = int(block_rows)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating dtype; got {dtype}.")
    idata = _as_idata(fit)
    draws = _Draws(idata)
    data, _ = _data_for(idata, X, draws.n_features)
    n_obs, n_comp = data.shape[0], draws.n_components
    if out is None:
        out = np.zeros((n_obs, n_obs), dtype=dtype)
    else:
        if out.shape != (n_obs, n_obs) or np.dtype(out.dtype).kind != "f":
            raise ValueError(
                f"out must be a float array of shape {(n_obs, n_obs)}; got {out.dtype} {out.shape}."
            )
        out[...] = 0
        dtype = np.dtype(out.dtype)
    index = _thin_indices(draws.n_draws, max_draws)
    per_draw = n_obs * n_comp * max(2, draws.n_features)
    draw_step = max(1, _BUDGET // per_draw)
    for start in range(0, len(index), draw_step):
        part = index[start : start + draw_step]
        resp = draw_math.responsibilities(data, *draws.take(part))  # (s, N, K)
        flat = np.ascontiguousarray(resp.transpose(1, 0, 2).reshape(n_obs, -1), dtype=dtype)
        for row in range(0, n_obs, block_rows):
            stop = min(row + block_rows, n_obs)
            product = flat[row:stop] @ flat[row:].T  # upper triangle strip, (b, N - row)
            out[row:stop, row:] += product
            out[stop:, row:stop] += product[:, stop - row :].T
    out /= len(index)
    for row in range(0, n_obs, block_rows):  # the diagonal blocks: exact symmetry
        stop = min(row + block_rows, n_obs)
        diag = out[row:stop, row:stop]
        diag[...] = 0.5 * (diag + diag.T)
    np.fill_diagonal(out, 1.0)
    return out


# ---------------------------------------------------------------------------------------
# Model selection over K
# ---------------------------------------------------------------------------------------

_BAYES_METHODS = ("nuts", "advi", "fullrank_advi")


def compare_k(
    X: Any,
    ks: Sequence[int],
    covariance_types: Sequence[str] | str = ("full",),
    methods: Sequence[str] = ("em", "nuts"),
    *,
    random_seed: Any = 0,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    progressbar: bool = False,
    advi_steps: int = 20000,
    priors: Any = None,
) -> pd.DataFrame:
    """BIC / ICL (EM) beside PSIS-LOO / WAIC (posterior) for every (K, covariance type).

    Parameters
    ----------
    X : array-like of shape (N, D)
    ks : sequence of int
    covariance_types : sequence of str
    methods : sequence of {"em", "nuts", "advi", "fullrank_advi"}
        "em" adds ``bic``, ``icl`` (``fit_em(..., n_init=5)``, lower is better);
        a Bayesian method adds ``elpd_loo``, ``se_loo``, ``p_loo``, ``n_pareto_k_bad``,
        ``elpd_waic``, ``se_waic``, ``p_waic`` (higher elpd is better) and
        ``elpd_diff`` / ``dse`` (difference to the best row and its standard error, from
        the pointwise LOO values as ``arviz.compare`` computes it). With two Bayesian
        methods the later one's columns get a ``{method}_`` prefix.
    random_seed : int
        Seeds EM restarts and the samplers.
    draws, tune, chains, progressbar
        NUTS settings (``draws`` is also the number of ADVI draws).
    advi_steps : int
        ADVI optimisation steps.
    priors : GMMPriors, optional
        Passed to :func:`bayesgmm.model.build_model`.

    Returns
    -------
    pandas.DataFrame
        One row per (K, covariance_type), with ``rank_bic`` / ``rank_loo`` (1 = best).
        ``.attrs["best_bic"]`` and ``.attrs["best_loo"]`` are the best (K, covariance_type).
    """
    data = check_data(X, min_samples=2)
    values = data.X
    ks = [int(k) for k in ks]
    if not ks:
        raise ValueError("ks must contain at least one number of components.")
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    for cov_type in covariance_types:
        check_covariance_type(cov_type)
    methods = list(methods)
    unknown = [m for m in methods if m not in ("em", *_BAYES_METHODS)]
    if unknown or not methods:
        raise ValueError(f"methods must be drawn from ('em', {_BAYES_METHODS}); got {methods}.")
    bayes = [m for m in methods if m in _BAYES_METHODS]
    if isinstance(random_seed, int | np.integer) and not isinstance(random_seed, bool):
        seed = int(random_seed)
    else:
        seed = int(check_random_state(random_seed).integers(2**31 - 1))

    rows = []
    pointwise: dict[str, dict[int, np.ndarray]] = {m: {} for m in bayes}
    for cov_type in covariance_types:
        for k in ks:
            row: dict[str, Any] = {"K": k, "covariance_type": cov_type}
            if "em" in methods:
                row.update(_em_criteria(values, k, cov_type, seed))
            for position, method in enumerate(bayes):
                prefix = "" if position == 0 else f"{method}_"
                criteria, loo_i = _bayes_criteria(
                    values,
                    k,
                    cov_type,
                    method,
                    seed,
                    draws,
                    tune,
                    chains,
                    progressbar,
                    advi_steps,
                    priors,
                    data.feature_names,
                )
                row.update({prefix + name: value for name, value in criteria.items()})
                pointwise[method][len(rows)] = loo_i
            rows.append(row)
    table = pd.DataFrame(rows)
    best_bic = best_loo = None
    if "bic" in table:
        table["rank_bic"] = table["bic"].rank(method="min").astype("Int64")
        if table["bic"].notna().any():
            best = table.loc[table["bic"].idxmin()]
            best_bic = (int(best["K"]), str(best["covariance_type"]))
    for position, method in enumerate(bayes):
        prefix = "" if position == 0 else f"{method}_"
        column = prefix + "elpd_loo"
        table[prefix + "rank_loo"] = (
            table[column].rank(ascending=False, method="min").astype("Int64")
        )
        diff, dse = _elpd_differences(table[column].to_numpy(), pointwise[method], len(table))
        table[prefix + "elpd_diff"] = diff
        table[prefix + "dse"] = dse
        if position == 0 and table[column].notna().any():
            best = table.loc[table[column].idxmax()]
            best_loo = (int(best["K"]), str(best["covariance_type"]))
    table.attrs["best_bic"] = best_bic
    table.attrs["best_loo"] = best_loo
    table.attrs["loo_method"] = bayes[0] if bayes else None
    return table


def _em_criteria(values: np.ndarray, k: int, cov_type: str, seed: int) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = em_module.fit_em(values, k, cov_type, n_init=5, random_seed=seed)
        except CollapseError as exc:
            return {"bic": np.nan, "icl": np.nan, "em_degenerate": True, "em_error": str(exc)}
    return {
        "log_likelihood": fit.log_likelihood,
        "n_parameters": n_parameters(cov_type, k, values.shape[1]),
        "bic": em_module.bic(fit),
        "icl": em_module.icl(fit),
        "em_converged": fit.converged,
        "em_degenerate": bool(fit.degenerate_components)
        or any(issubclass(w.category, DegenerateComponentWarning) for w in caught),
        "em_error": None,
    }


def _bayes_criteria(
    values: np.ndarray,
    k: int,
    cov_type: str,
    method: str,
    seed: int,
    draws: int,
    tune: int,
    chains: int,
    progressbar: bool,
    advi_steps: int,
    priors: Any,
    feature_names: list[str] | None,
) -> tuple[dict[str, Any], np.ndarray]:
    from bayesgmm import inference
    from bayesgmm.model import build_model

    model = build_model(values, k, cov_type, priors=priors, feature_names=feature_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "nuts":
            idata = inference.sample_nuts(
                model,
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=seed,
                progressbar=progressbar,
            )
        else:
            idata = inference.fit_advi(
                model,
                method=method,
                n=advi_steps,
                random_seed=seed,
                draws=draws,
                progressbar=progressbar,
            )
    return loo_waic(idata)


def loo_waic(idata: az.InferenceData) -> tuple[dict[str, Any], np.ndarray]:
    """PSIS-LOO and WAIC of a posterior's pointwise marginal log-likelihood.

    Returns
    -------
    criteria : dict
        ``elpd_loo``, ``se_loo``, ``p_loo``, ``n_pareto_k_bad`` (k > 0.7), ``elpd_waic``,
        ``se_waic``, ``p_waic``, ``waic_warning``.
    loo_i : numpy.ndarray of shape (N,)
        Pointwise LOO elpd.
    """
    if "log_likelihood" not in idata.groups() or "x" not in idata.log_likelihood:
        raise ValueError(
            "the InferenceData has no pointwise log_likelihood 'x'; sample with "
            "log_likelihood=True."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(idata, pointwise=True, var_name="x")
        waic = az.waic(idata, pointwise=True, var_name="x")
    pareto_k = np.asarray(loo.pareto_k)
    criteria = {
        "elpd_loo": float(loo.elpd_loo),
        "se_loo": float(loo.se),
        "p_loo": float(loo.p_loo),
        "n_pareto_k_bad": int(np.sum(pareto_k > _PARETO_K_BAD)),
        "elpd_waic": float(waic.elpd_waic),
        "se_waic": float(waic.se),
        "p_waic": float(waic.p_waic),
        "waic_warning": bool(waic.warning),
    }
    return criteria, np.asarray(loo.loo_i)


def _elpd_differences(
    elpd: np.ndarray, pointwise: dict[int, np.ndarray], n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """``elpd_best - elpd_row`` and its standard error ``sqrt(N var(loo_best - loo_row))``."""
    diff = np.full(n_rows, np.nan)
    dse = np.full(n_rows, np.nan)
    if not pointwise or np.all(np.isnan(elpd)):
        return diff, dse
    best = int(np.nanargmax(elpd))
    for row, loo_i in pointwise.items():
        gap = pointwise[best] - loo_i
        diff[row] = elpd[best] - elpd[row]
        dse[row] = float(np.sqrt(gap.size * np.var(gap, ddof=1))) if row != best else 0.0
    return diff, dse
