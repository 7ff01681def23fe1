"""Membership summaries for plots: from a Membership, (N, K) or (S, N, K) probabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bayesgmm.mixture.draws import hdi_columns
from bayesgmm.plotting._common import (
    DEFAULT_THRESHOLD,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from bayesgmm.analysis.memberships import Membership


class _Membership(NamedTuple):
    probabilities: np.ndarray  # (N, K), averaged over draws
    labels: np.ndarray  # (N,)
    max_probability: np.ndarray  # (N,) probability of the label
    low: np.ndarray | None  # (N,) HDI of that probability, when draws are known
    high: np.ndarray | None
    ambiguous: np.ndarray  # (N,) bool

    def rows(self, keep: np.ndarray) -> _Membership:
        """The summary of the rows ``keep`` (a boolean mask) only."""
        return _Membership(*(None if field is None else field[keep] for field in self))


def _membership_from_draws(probabilities: np.ndarray, threshold: float, hdi_prob: float):
    """Membership summary of per-draw probabilities (S, N, K)."""
    mean = probabilities.mean(axis=0)
    labels = np.argmax(mean, axis=1)
    rows = np.arange(mean.shape[0])
    per_draw = probabilities[:, rows, labels]  # (S, N): probability of the chosen label
    low, high = hdi_columns(per_draw, hdi_prob)
    max_probability = mean[rows, labels]
    return _Membership(mean, labels, max_probability, low, high, max_probability < threshold)


def _threshold(membership: Membership | ArrayLike, threshold: float | None) -> float:
    if threshold is not None:
        return float(threshold)
    return float(getattr(membership, "ambiguity_threshold", DEFAULT_THRESHOLD))


def _membership(
    membership: Membership | ArrayLike, threshold: float | None, hdi_prob: float = 0.94
) -> _Membership:
    """Normalise a :class:`bayesgmm.analysis.Membership`, an (N, K) or an (S, N, K) array.

    From a Membership: its mean probabilities, labels, max probability, ambiguity flags
    and the HDI of the label's probability. From per-draw probabilities (S, N, K): the
    mean over draws and the ``hdi_prob`` HDI over draws. From (N, K): no band.
    """
    if hasattr(membership, "probabilities"):
        summary = _from_membership_object(membership)
        if threshold is not None:  # re-flag with the caller's threshold
            summary = summary._replace(ambiguous=summary.max_probability < threshold)
        return summary
    threshold = _threshold(membership, threshold)
    probabilities = np.asarray(membership, dtype=np.float64)
    if probabilities.ndim == 3:
        return _membership_from_draws(probabilities, threshold, hdi_prob)
    if probabilities.ndim != 2:
        raise ValueError(
            "membership must be a Membership, an (N, K) array of probabilities or an "
            f"(S, N, K) array of per-draw probabilities; got shape {probabilities.shape}."
        )
    summary = _membership_from_draws(probabilities[None], threshold, hdi_prob)
    return summary._replace(low=None, high=None)


def _from_membership_object(membership: Membership | ArrayLike) -> _Membership:
    """A Membership: ``probabilities`` is a Dataset of mean / hdi_low / hdi_high."""
    dataset = membership.probabilities

    def values(name: str) -> np.ndarray:
        return np.asarray(dataset[name].transpose("obs", "component").values, dtype=np.float64)

    mean = values("mean")
    labels = np.asarray(membership.labels, dtype=int)
    rows = np.arange(labels.shape[0])
    return _Membership(
        probabilities=mean,
        labels=labels,
        max_probability=np.asarray(membership.max_probability, dtype=np.float64),
        low=values("hdi_low")[rows, labels],
        high=values("hdi_high")[rows, labels],
        ambiguous=np.asarray(membership.ambiguous, dtype=bool),
    )


def _point_colors(summary: _Membership, colors: list[Any], color_of: np.ndarray) -> np.ndarray:
    """RGBA per point: the label's colour, more transparent the less certain the label."""
    n_components = summary.probabilities.shape[1]
    rgba = np.array([colors[color_of[k]] for k in summary.labels], dtype=np.float64)
    chance = 1.0 / n_components
    certainty = (summary.max_probability - chance) / max(1.0 - chance, 1e-12)
    rgba[:, 3] = 0.15 + 0.85 * np.clip(certainty, 0.0, 1.0)
    return rgba
