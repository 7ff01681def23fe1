"""Plots of mixture fits: clusters with their uncertainty, densities, traces, comparisons.

matplotlib is an optional extra (``pip install "bayesgmm[plot]"``): it is imported inside
each function, so ``import bayesgmm.plotting`` stays light. Every function draws on the
``ax`` (or ``axes``) it is given, or on a new figure, and returns the Axes; none calls
``plt.show()``.

Fits are accepted in the forms the rest of the package produces:

- an EM fit: :class:`bayesgmm.em.EMResult`, :class:`bayesgmm.em.GMMParams`, or a fitted
  ``GaussianMixtureEM`` (its ``result_``); any covariance type;
- a posterior: an ``arviz.InferenceData`` whose ``posterior`` group holds ``weights``,
  ``means`` and ``covariances`` (full matrices, as :mod:`bayesgmm.bayes.inference` writes them),
  or a fitted ``BayesianGMM`` (its relabeled ``idata_``).

Per-component plots of a posterior are only meaningful after relabeling
(:func:`bayesgmm.relabel_idata`); pass the relabeled InferenceData.
"""

# Private helpers that tests read, re-exported so that ``plotting._radius`` etc. keep working.
from bayesgmm.plotting._common import INSTALL_HINT as INSTALL_HINT
from bayesgmm.plotting._common import _colors as _colors
from bayesgmm.plotting._common import _ellipse as _ellipse
from bayesgmm.plotting._common import _radius as _radius
from bayesgmm.plotting._mixture import _mixture_density as _mixture_density
from bayesgmm.plotting._mixture import _mixture_of as _mixture_of
from bayesgmm.plotting.clusters import plot_clusters
from bayesgmm.plotting.comparison import plot_comparison
from bayesgmm.plotting.density import plot_density, plot_pairs
from bayesgmm.plotting.membership import plot_membership_uncertainty
from bayesgmm.plotting.modes import plot_modes
from bayesgmm.plotting.n_clusters import plot_n_clusters
from bayesgmm.plotting.predictive import plot_predictive
from bayesgmm.plotting.sbc import plot_sbc
from bayesgmm.plotting.selection import plot_select_k
from bayesgmm.plotting.traces import plot_trace_relabel

__all__ = [
    "plot_clusters",
    "plot_comparison",
    "plot_density",
    "plot_membership_uncertainty",
    "plot_modes",
    "plot_n_clusters",
    "plot_pairs",
    "plot_predictive",
    "plot_sbc",
    "plot_select_k",
    "plot_trace_relabel",
]
