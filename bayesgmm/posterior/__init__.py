"""Posterior post-processing of mixture fits: relabeling, label-switching diagnostics, collapse.

Everything here takes the ``arviz.InferenceData`` returned by :mod:`bayesgmm.inference`
(``posterior`` with ``weights``, ``means``, ``stds`` [, ``partial_corr_unit``],
``covariances``, ``correlations``; ``log_likelihood``; ``observed_data``). The maths lives in
:mod:`bayesgmm.relabel` and :mod:`bayesgmm.draws` (pure numpy on a leading draw axis ``S``);
this package flattens chains x draws into ``S`` draws, calls them, and puts the result back.

One module per job:

* :mod:`~bayesgmm.posterior.relabeling`: :func:`relabel_idata` permutes the components of
  every draw so that a label means the same component in every draw and every chain
  (Stephens, ECR, pivot or ordering); :func:`unrelabel_idata` undoes it.
* :mod:`~bayesgmm.posterior.switching`: :func:`label_switching_report` says in plain words
  whether chains switched labels and whether relabeling fixed it, from R-hat / ESS before
  and after relabeling, label-invariant quantities (:func:`label_invariant_summary`) and
  the switches of the permutations (:func:`count_switches`).
* :mod:`~bayesgmm.posterior.collapse`: :func:`collapse_report` finds draws in which a
  component collapsed onto a few points or onto a near-singular covariance.
* :mod:`~bayesgmm.posterior.occupancy`: :func:`occupied_components`, the posterior of the
  number of components the data actually use (overfitted mixtures).
* :mod:`~bayesgmm.posterior.mixture`: :func:`as_mixture`, any fit (EM, MAP, posterior) as
  one typed :class:`Mixture`.

See ``docs/posterior-diagnostics.md`` for the thresholds and how to read the reports.
"""

from __future__ import annotations

from bayesgmm.idata import PosteriorDraws, posterior_draws
from bayesgmm.posterior._data import RELABEL_POINTS, total_log_likelihood
from bayesgmm.posterior.collapse import (
    CollapseFlags,
    CollapseReport,
    collapse_flags,
    collapse_report,
    data_covariance,
    warn_if_collapsed,
)
from bayesgmm.posterior.mixture import Mixture, as_mixture, point_mixture
from bayesgmm.posterior.occupancy import occupied_components
from bayesgmm.posterior.relabeling import (
    PERMUTATION_GROUP,
    RELABEL_METHODS,
    relabel_idata,
    unrelabel_idata,
)
from bayesgmm.posterior.switching import (
    RHAT_THRESHOLD,
    LabelSwitchingReport,
    chains_in_different_modes,
    count_switches,
    label_invariant_summary,
    label_switching_report,
    relabeling_diagnostics,
    warn_if_unresolved,
)

__all__ = [
    "PERMUTATION_GROUP",
    "RELABEL_METHODS",
    "RELABEL_POINTS",
    "RHAT_THRESHOLD",
    "CollapseFlags",
    "CollapseReport",
    "LabelSwitchingReport",
    "Mixture",
    "PosteriorDraws",
    "as_mixture",
    "chains_in_different_modes",
    "collapse_flags",
    "collapse_report",
    "count_switches",
    "data_covariance",
    "label_invariant_summary",
    "label_switching_report",
    "occupied_components",
    "point_mixture",
    "posterior_draws",
    "relabel_idata",
    "relabeling_diagnostics",
    "total_log_likelihood",
    "unrelabel_idata",
    "warn_if_collapsed",
    "warn_if_unresolved",
]
