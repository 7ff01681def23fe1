"""Partial labels and label switching: when the labels identify the components.

A row with a known component (``labels`` in ``BayesianGMM.fit``) counts for that component
only, so the posterior is no longer symmetric under permutations that move it. The rule
bayesgmm uses: when every component has at least one labelled row of positive weight, no
permutation leaves the posterior unchanged, the components are identified by the labels,
and the draws are not relabeled. With some component unlabelled the posterior is still
symmetric under permutations of the unlabelled components: the draws are relabeled as
usual, with a warning.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING

import numpy as np

from bayesgmm.posterior.switching import LabelSwitchingReport, label_switching_report

if TYPE_CHECKING:
    import arviz as az

    from bayesgmm.mixture.observations import Observations

__all__ = ["IDENTIFIED_NOTE", "identified_report", "labels_identify", "mark_identified"]

IDENTIFIED_NOTE = (
    "Every component has labelled points (labels), so the labels identify the components: "
    "component k is the one the labels call k, and the draws were not relabeled."
)


def labels_identify(observations: Observations, n_components: int) -> bool:
    """Whether every component has a labelled row of positive weight.

    Warns when some rows are labelled but some component has none: the labels then fix
    only part of the labelling, and relabeling runs as without labels.
    """
    labels, weights = observations.labels, observations.sample_weight
    if labels is None:
        return False
    known = labels >= 0 if weights is None else (labels >= 0) & (weights > 0)
    if not known.any():
        return False
    missing = np.setdiff1d(np.arange(n_components), labels[known])
    if missing.size == 0:
        return True
    warnings.warn(
        f"component(s) {missing.tolist()} have no labelled point, so the labels do not "
        "identify every component and the draws are relabeled as without labels (which "
        "may reorder labelled components too). Label at least one point of every "
        "component to fix the order.",
        UserWarning,
        stacklevel=3,
    )
    return False


def mark_identified(idata: az.InferenceData) -> az.InferenceData:
    """The raw draws, marked as identified by the labels (``attrs``)."""
    out = idata.copy()
    out.attrs = {**idata.attrs, "label_identification": IDENTIFIED_NOTE}
    out.posterior.attrs["label_identification"] = IDENTIFIED_NOTE
    return out


def identified_report(idata: az.InferenceData) -> LabelSwitchingReport:
    """The label-switching report of draws the labels identify, saying so first.

    The draws stay as sampled; Stephens' relabeling runs only as a check that no chain
    switched labels (``report.switching_detected``).
    """
    report = label_switching_report(idata, method="stephens")
    check = "Relabeling with stephens, run only as a check: "
    return dataclasses.replace(report, message=f"{IDENTIFIED_NOTE} {check}{report.message}")
