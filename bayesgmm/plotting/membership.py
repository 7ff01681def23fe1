"""Membership uncertainty: each point's label probability with its HDI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import (
    _new_axes,
    _pyplot,
)
from bayesgmm.plotting._membership import (
    _membership,
    _threshold,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from bayesgmm.analysis.memberships import Membership


def plot_membership_uncertainty(
    membership: Membership | ArrayLike,
    *,
    threshold: float | None = None,
    hdi_prob: float | None = None,
    ax: Axes | None = None,
) -> Any:
    """Every point's largest membership probability, sorted, with its HDI band.

    Parameters
    ----------
    membership : Membership, (N, K) or (S, N, K) array
        A :func:`bayesgmm.membership` result, EM responsibilities, or per-draw posterior
        probabilities (then the band is the ``hdi_prob`` HDI over draws of the probability
        of the point's most probable component).
    threshold : float, optional
        Drawn as a dashed line; points below it are ambiguous (red). Default: the
        Membership's own threshold, else 0.8.
    hdi_prob : float, optional
        HDI probability when the band is computed from draws (default: the Membership's
        ``hdi_prob``, else 0.94).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    _pyplot()
    threshold = _threshold(membership, threshold)
    if hdi_prob is None:
        hdi_prob = float(getattr(membership, "hdi_prob", 0.94))
    summary = _membership(membership, threshold, hdi_prob)
    n_points, n_components = summary.probabilities.shape
    order = np.argsort(summary.max_probability, kind="stable")
    x = np.arange(n_points)
    ax = _new_axes(ax, figsize=(6.5, 4.0))
    if summary.low is not None and summary.high is not None:
        ax.fill_between(
            x,
            summary.low[order],
            summary.high[order],
            color="tab:blue",
            alpha=0.25,
            linewidth=0,
            label=f"{hdi_prob:.0%} HDI",
        )
    ax.plot(
        x,
        summary.max_probability[order],
        color="tab:blue",
        linewidth=1.5,
        label="max membership probability",
    )
    ambiguous = summary.ambiguous[order]
    if ambiguous.any():
        ax.scatter(
            x[ambiguous],
            summary.max_probability[order][ambiguous],
            color="tab:red",
            s=12,
            zorder=3,
            label=f"ambiguous ({int(ambiguous.sum())} of {n_points})",
        )
    ax.axhline(
        threshold, color="0.3", linestyle="--", linewidth=1.0, label=f"threshold {threshold:g}"
    )
    chance = 1.0 / n_components
    ax.axhline(
        chance, color="0.6", linestyle=":", linewidth=1.0, label=f"chance 1/K = {chance:.2g}"
    )
    bottom = min(chance, float(np.nanmin(summary.max_probability)))
    if summary.low is not None:
        bottom = min(bottom, float(np.nanmin(summary.low)))
    ax.set_ylim(bottom - 0.05, 1.02)
    ax.set_xlim(-0.5, n_points - 0.5)
    ax.set_xlabel("points, sorted by max membership probability")
    ax.set_ylabel("max membership probability")
    ax.legend(fontsize="small", loc="lower right")
    return ax
