"""Label-switching report: did the chains switch labels, and did relabeling fix it?

From R-hat / ESS of the per-component variables before and after relabeling and of
label-invariant quantities (:mod:`bayesgmm.posterior.convergence`), and from the switches of
the per-draw permutations (:mod:`bayesgmm.posterior.switches`),
:func:`label_switching_report` says it in plain words.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Unpack

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm._utils.deprecation import warn_renamed
from bayesgmm.bayes.inference.idata import check_idata
from bayesgmm.exceptions import LabelSwitchingWarning, MultimodalPosteriorWarning
from bayesgmm.posterior.advice import FitSettings, fit_settings, join_options
from bayesgmm.posterior.convergence import label_invariant_summary, relabeling_diagnostics
from bayesgmm.posterior.switches import permutations_for, switch_table

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from bayesgmm.posterior.relabeling import RelabelOptions

__all__ = ["RHAT_THRESHOLD", "LabelSwitchingReport", "label_switching_report", "warn_if_unresolved"]

#: Default R-hat above which label switching counts as unresolved.
RHAT_THRESHOLD = 1.01


@dataclass(frozen=True, eq=False)
class LabelSwitchingReport:
    """What :func:`label_switching_report` found, with a plain-words ``message``.

    Attributes
    ----------
    method : str
        Relabeling method.
    n_chains, n_draws_per_chain : int
        Chains and draws per chain (``n_draws``, the deprecated name of the latter, warns).
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
    n_draws_per_chain: int
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
    def n_draws(self) -> int:
        """Deprecated: draws per chain, now :attr:`n_draws_per_chain` (``n_draws`` means all
        draws everywhere else)."""
        warn_renamed("LabelSwitchingReport", "n_draws", "n_draws_per_chain")
        return self.n_draws_per_chain

    @property
    def switching_detected(self) -> bool:
        """Chains sit in different label modes, or labels switched within a chain."""
        return self.chains_in_different_modes or sum(self.n_switches) > 0

    @property
    def chains_disagree(self) -> bool:
        """The chains found different solutions: label-invariant R-hat above the threshold
        (no relabeling can fix that; it is not label switching)."""
        return not bool(self.invariant_rhat <= self.rhat_threshold)

    @property
    def resolved(self) -> bool:
        """R-hat of the relabeled weights and means is at most ``rhat_threshold``."""
        return bool(self.rhat_after <= self.rhat_threshold)

    def __str__(self) -> str:
        return self.message


def _nanmax(values: ArrayLike) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmax(arr)) if np.any(np.isfinite(arr)) else float("nan")


def _nanmin(values: ArrayLike) -> float:
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
    settings: FitSettings | None = None,
    chains: str = "",
) -> str:
    settings = FitSettings() if settings is None else settings
    if not inv_rhat <= threshold:
        options = ["run longer chains (more tune and draws) or more of them"]
        if settings.init != "em":  # chains that started at the MAP-EM fit: nothing to gain
            options.append("start from the MAP-EM fit (init='em')")
        options.append("revisit K and the priors")
        where = f" ({chains})" if chains else ""
        return (
            f"The chains found different solutions (or have not converged to one): "
            f"label-invariant R-hat {inv_rhat:.3f} > {threshold}{where}. This is not "
            "label switching, which leaves label-invariant quantities alone, and no "
            "relabeling joins the solutions. bayesgmm.posterior.find_modes (BayesianGMM's "
            f"modes_) groups the chains into modes and weighs them; or {join_options(options)}."
        )
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
    if rhat_after <= threshold:
        return text + (
            " — the fit is fine after relabeling." if switched else " — the fit is fine."
        )
    names = ", ".join(worst[:4]) + (", ..." if len(worst) > 4 else "")
    lead = "label switching remains" if switched else "yet the per-component draws differ"
    # A sparse fit's empty components are the non-identifiable ones: it already has
    # the sparse prior, so the advice is what is left to change.
    options = ["another relabeling method", "a smaller K"]
    if not settings.sparse:
        options.append("a sparse Dirichlet (alpha < 1)")
    return text + (
        f" — {lead}: {names} still have R-hat > {threshold} after "
        f"relabeling with {method}, although the label-invariant quantities agree across "
        "chains. Some components are probably not identifiable (overlapping, or empty in "
        f"an overfitted mixture): try {join_options(options)}, or summarise "
        "label-invariant quantities only."
    )


def _chains_in_words(idata: az.InferenceData, inv_rhat: float, threshold: float) -> str:
    """Every chain's K+, weights and log posterior, when the chains disagree."""
    if inv_rhat <= threshold:
        return ""
    from bayesgmm.posterior.modes import chain_summaries, describe_chains

    return describe_chains(chain_summaries(idata))


def label_switching_report(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None = None,
    method: str = "stephens",
    *,
    rhat_threshold: float = RHAT_THRESHOLD,
    points: ArrayLike | None = None,
    **relabel_kwargs: Unpack[RelabelOptions],
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
    relabeled, perms = permutations_for(idata, relabeled, method, relabel_kwargs)
    method = str(relabeled.attrs.get("relabel_method", method))
    n_chains = int(idata.posterior.sizes["chain"])
    n_draws = int(idata.posterior.sizes["draw"])
    switches = switch_table(perms, n_chains, n_draws)
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
        fit_settings(idata),
        _chains_in_words(idata, inv_rhat, rhat_threshold),
    )
    return LabelSwitchingReport(
        method=method,
        n_chains=n_chains,
        n_draws_per_chain=n_draws,
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
    """Warn when R-hat after relabeling exceeds ``threshold``: a
    ``MultimodalPosteriorWarning`` when the chains found different solutions
    (label-invariant R-hat too high, :attr:`LabelSwitchingReport.chains_disagree`), a
    ``LabelSwitchingWarning`` otherwise.

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
        category = MultimodalPosteriorWarning if report.chains_disagree else LabelSwitchingWarning
        warnings.warn(report.message, category, stacklevel=2)
        return True
    return False
