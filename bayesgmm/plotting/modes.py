"""The modes of a posterior side by side (:attr:`BayesianGMM.modes_`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import _colors, _data, _feature_indices, _pyplot

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from bayesgmm.posterior.mixture import PosteriorEstimator
    from bayesgmm.posterior.modes import ModesReport

__all__ = ["plot_modes"]


def plot_modes(
    fit: PosteriorEstimator | ModesReport,
    X: ArrayLike,
    features: Sequence[int | str] = (0, 1),
    axes: np.ndarray | Sequence[Axes] | None = None,
) -> Any:
    """One panel per mode: the data, and the mode's component means sized by weight.

    Parameters
    ----------
    fit : BayesianGMM
        A NUTS fit with ``modes_`` (or a :class:`bayesgmm.posterior.ModesReport`).
    X : array-like of shape (N, D)
        The data the fit saw.
    features : pair of int or str
        The two features plotted.
    axes : sequence of matplotlib Axes, optional
        One per mode; new ones side by side otherwise.

    Returns
    -------
    ndarray of matplotlib Axes
    """
    report = getattr(fit, "modes_", fit)
    if report is None or not hasattr(report, "table"):
        raise ValueError(
            "plot_modes needs a NUTS fit with several chains (its modes_); this fit has none."
        )
    data, names = _data(X)
    i, j = _feature_indices(features, names)
    n_modes = report.n_modes
    if axes is None:
        plt = _pyplot()
        _, axes = plt.subplots(
            1, n_modes, figsize=(4.0 * n_modes, 4.0), sharex=True, sharey=True, squeeze=False
        )
        axes = axes[0]
    axes = np.atleast_1d(np.asarray(axes, dtype=object))
    if len(axes) != n_modes:
        raise ValueError(f"axes must hold one Axes per mode ({n_modes}); got {len(axes)}.")
    colors = _colors(report.means.shape[1])
    for m, ax in enumerate(axes):
        row = report.table.iloc[m]
        ax.scatter(data[:, i], data[:, j], s=6, color="0.6", alpha=0.6)
        weights = report.sorted_weights[m]
        for k, mean in enumerate(report.means[m]):
            ax.scatter(
                mean[i],
                mean[j],
                s=40 + 400 * weights[k],
                marker="X",
                color=colors[k],
                edgecolor="black",
                zorder=3,
            )
        chains = ", ".join(str(c) for c in row["chains"])
        ax.set_title(
            f"{'mode' if report.draw_mode is None else 'state'} {m}: weight "
            f"{row['weight']:.2f} ± {row['weight_se']:.2f}\n"
            f"{row['description'].split(' with means')[0]} (chains {chains})",
            fontsize=9,
        )
        ax.set_xlabel(names[i])
    axes[0].set_ylabel(names[j])
    return axes
