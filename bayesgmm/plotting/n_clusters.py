"""Prior versus posterior of K+, the number of non-empty components, as paired bars."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import _new_axes, _pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from bayesgmm._utils.types import SeedLike
    from bayesgmm.analysis.n_clusters import NClusters
    from bayesgmm.posterior.mixture import PosteriorFit


def plot_n_clusters(
    result: NClusters | PosteriorFit, *, ax: Axes | None = None, random_seed: SeedLike = 0
) -> Any:
    """Bar chart of ``P(K+ = k)``, k = 1..K: the prior beside the posterior.

    Parameters
    ----------
    result : NClusters, arviz.InferenceData or BayesianGMM
        A :func:`bayesgmm.n_clusters` result, or a fit to compute one from.
    ax : matplotlib Axes, optional
    random_seed : int
        Seed of the redrawn allocations when ``result`` is a fit.

    Returns
    -------
    matplotlib Axes
    """
    from bayesgmm.analysis.n_clusters import NClusters, n_clusters

    _pyplot()
    if not isinstance(result, NClusters):
        result = n_clusters(result, random_seed=random_seed)
    table = result.table
    k = table.index.to_numpy()
    ax = _new_axes(ax, figsize=(6.5, 3.8))
    width = 0.4
    ax.bar(k - width / 2, table["prior"], width, color="0.65", label="prior")
    ax.bar(k + width / 2, table["posterior"], width, color="tab:blue", label="posterior")
    ax.set_xticks(k)
    ax.set_xlabel("K+ (non-empty components)")
    ax.set_ylabel("probability")
    ax.set_ylim(0.0, max(1e-3, float(np.nanmax(table.to_numpy()))) * 1.1)
    ax.set_title(f"K = {result.n_components}, N = {result.n_samples}; {result.alpha_prior}")
    ax.legend(frameon=False)
    return ax
