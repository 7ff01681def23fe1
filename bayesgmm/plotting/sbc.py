"""Simulation-based calibration: rank histograms with their uniformity bands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import (
    _pyplot,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes

    from bayesgmm.bayes.calibration.result import SBCResult


def plot_sbc(
    result: SBCResult,
    quantities: Sequence[str] | None = None,
    *,
    ci_prob: float = 0.95,
    ncols: int = 4,
    axes: np.ndarray | Sequence[Axes] | None = None,
) -> Any:
    """ECDF-difference plots of SBC ranks with simultaneous bands, one panel per quantity.

    Each panel shows the ECDF of the ranks minus the uniform CDF on ``0..L`` (Säilynoja,
    Bürkner & Vehtari 2022), drawn by ``arviz.plot_ecdf`` with its optimised simultaneous
    band: for calibrated ranks the whole curve stays inside the band with probability
    ``ci_prob``. Too many extreme ranks (a U-shaped histogram: the fit is overconfident)
    lift the curve above zero on the left and sink it below zero on the right; too many
    central ranks (underconfident) do the mirror image. A curve above zero throughout
    means the truth ranks low, i.e. the posterior sits above the truth; below zero, below.

    Parameters
    ----------
    result : bayesgmm.bayes.calibration.sbc.SBCResult
        From :func:`bayesgmm.bayes.calibration.sbc.run_sbc`.
    quantities : sequence of str, optional
        Panels to draw (default all of ``result.quantities``).
    ci_prob : float
        Simultaneous coverage of the band, in (0, 1).
    ncols : int
        Panels per row of a new figure.
    axes : array of matplotlib Axes, optional
        One per quantity.

    Returns
    -------
    ndarray of matplotlib Axes
        One per quantity drawn, flattened (unused panels of a new figure are hidden).
    """
    plt = _pyplot()
    import arviz as az
    from scipy import stats

    for name in ("ranks", "quantities", "n_draws"):
        if not hasattr(result, name):
            raise TypeError(
                f"result must be an SBCResult from bayesgmm.bayes.calibration.sbc.run_sbc; "
                f"got {type(result).__name__} (no {name!r})."
            )
    if not 0 < float(ci_prob) < 1:
        raise ValueError(f"ci_prob must be in (0, 1); got {ci_prob!r}.")
    names = list(result.quantities)
    chosen = (
        names
        if quantities is None
        else [quantities]
        if isinstance(quantities, str)
        else list(quantities)
    )
    unknown = [q for q in chosen if q not in names]
    if unknown:
        raise ValueError(f"unknown quantities {unknown}; choose from {names}.")
    if axes is None:
        ncols = max(1, min(int(ncols), len(chosen)))
        nrows = -(-len(chosen) // ncols)
        _, axes = plt.subplots(
            nrows, ncols, figsize=(2.8 * ncols, 2.3 * nrows), squeeze=False, layout="constrained"
        )
        for ax in np.asarray(axes).ravel()[len(chosen) :]:
            ax.set_visible(False)
    axes = np.asarray(axes, dtype=object).ravel()
    if axes.size < len(chosen):
        raise ValueError(f"axes must hold at least {len(chosen)} Axes; got {axes.size}.")
    n_draws = int(result.n_draws)
    eval_points = np.arange(n_draws + 1)  # fixed, not from the ranks: the band is calibrated
    uniform = stats.randint(0, n_draws + 1)
    for ax, name in zip(axes, chosen, strict=False):
        ranks = np.asarray(result.ranks)[:, names.index(name)]
        az.plot_ecdf(
            ranks,
            eval_points=eval_points,
            cdf=uniform.cdf,
            difference=True,
            confidence_bands="optimized",
            ci_prob=float(ci_prob),
            ax=ax,
        )
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_title(name, fontsize="small")
        ax.tick_params(labelsize="x-small")
    for ax in axes[: len(chosen)]:
        ax.set_xlabel(f"rank of the truth (L={n_draws})", fontsize="x-small")
    axes[0].set_ylabel("ECDF - uniform CDF", fontsize="small")
    return axes[: len(chosen)]
