"""The plain-words summary of :func:`bayesgmm.analysis.compare` (EM versus posterior)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm import em as em_module
from bayesgmm.analysis._fits import FlatDraws, model_config
from bayesgmm.mixture.covariance import n_parameters
from bayesgmm.mixture.structures import get_structure

# A component (or a data set) with fewer than this many points per free parameter is "small".
_POINTS_PER_PARAMETER = 10
# A z-score beyond this is flagged in the summary (about a 95% two-sided normal band).
_Z_FLAG = 2.0


def flag_mask(table: pd.DataFrame) -> pd.Series:
    """Rows where the EM estimate is outside the HDI or ``|z| > 2``."""
    return (~table["em_in_hdi"]) | (table["z"].abs() > _Z_FLAG)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _agreement(table: pd.DataFrame, pct: str) -> list[str]:
    """Where the EM estimate falls relative to the HDIs, naming the flagged rows."""
    lines = []
    flags = table[flag_mask(table)]
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
    return lines


def _sample_size(
    fit: em_module.EMResult, cov_type: str, n_components: int, n_features: int
) -> list[str]:
    """Points per parameter, per component and overall."""
    lines = []
    n_samples = int(fit.n_samples)
    counts = n_samples * np.asarray(fit.weights)
    # Free parameters owned by one component: its weight, mean and (unless tied) covariance.
    structure = get_structure(cov_type)
    owned = 0 if structure.shared else structure.n_parameters(1, n_features)
    per_comp = 1 + n_features + owned
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
    return lines


def _posterior_caveats(perms: np.ndarray, n_components: int, advi: bool) -> list[str]:
    """Label switching seen by the matching, and the ADVI caveat."""
    lines = []
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
    return lines


def summarize(
    table: pd.DataFrame,
    fit: em_module.EMResult,
    draws: FlatDraws,
    perms: np.ndarray,
    hdi_prob: float,
    cov_type: str,
    idata: az.InferenceData,
) -> str:
    """The plain-words paragraph of :class:`ComparisonTable`."""
    n_components, n_features = draws.n_components, draws.n_features
    pct = f"{100 * hdi_prob:g}%"
    advi = "advi" in draws.sampler
    source = (
        f"{draws.n_chains} chain(s) x {draws.n_draws_per_chain} draws ({draws.sampler})"
        if not advi
        else f"{draws.n_draws} draws from a variational approximation ({draws.sampler})"
    )
    lines = [
        f"EM (maximum likelihood{', MAP-EM prior' if fit.prior is not None else ''}) versus "
        f"the posterior from {source}: K={n_components}, {cov_type} covariances, "
        f"N={int(fit.n_samples)}, D={n_features}, {pct} HDIs."
    ]
    lines += _agreement(table, pct)
    lines += _sample_size(fit, cov_type, n_components, n_features)
    lines += _shrinkage_sentences(table, fit, idata)
    lines += _posterior_caveats(perms, n_components, advi)
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
    priors = model_config(idata).get("priors", {})
    alpha = priors.get("alpha")
    if priors.get("alpha_prior") is not None:  # a sparse mixture: alpha is not fixed
        alpha = None
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
