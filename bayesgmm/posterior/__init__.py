"""Posterior post-processing of mixture fits: relabeling, label-switching diagnostics, collapse.

Everything here takes the ``arviz.InferenceData`` returned by :mod:`bayesgmm.bayes.inference`
(``posterior`` with ``weights``, ``means``, ``stds`` [, ``partial_corr_unit``],
``covariances``, ``correlations``; ``log_likelihood``; ``observed_data``). The maths lives in
:mod:`bayesgmm.posterior.relabel` and :mod:`bayesgmm.mixture.draws` (pure numpy on a leading draw
axis ``S``); this package flattens chains x draws into ``S`` draws, calls them, and puts
the result back.

One module per job:

* :mod:`~bayesgmm.posterior.relabeling`: :func:`relabel_idata` permutes the components of
  every draw so that a label means the same component in every draw and every chain
  (Stephens, ECR, pivot or ordering); :func:`unrelabel_idata` undoes it.
* :mod:`~bayesgmm.posterior.switching`: :func:`label_switching_report` says in plain words
  whether chains switched labels and whether relabeling fixed it, from R-hat / ESS before
  and after relabeling and of label-invariant quantities
  (:mod:`~bayesgmm.posterior.convergence`: :func:`label_invariant_summary`) and the switches
  of the permutations (:mod:`~bayesgmm.posterior.switches`: :func:`count_switches`).
* :mod:`~bayesgmm.posterior.collapse`: :func:`collapse_report` finds draws in which a
  component collapsed onto a few points or onto a near-singular covariance.
* :mod:`~bayesgmm.posterior.occupancy`: :func:`occupied_components`, the posterior of the
  number of components the data actually use (overfitted mixtures).
* :mod:`~bayesgmm.posterior.modes`: :func:`find_modes` groups the chains into modes (different
  solutions, which no relabeling joins) and weighs them by stacking
  (:mod:`~bayesgmm.posterior.stacking`); :func:`mode_weighted_idata`
  (:mod:`~bayesgmm.posterior.weighted`) is the posterior averaged over the modes by weight.
  When the chains hold one solution and cross slowly between states of it, the draws
  are grouped into those states instead (:mod:`~bayesgmm.posterior.states`,
  :mod:`~bayesgmm.posterior.state_report`), weighed by frequency.
* :mod:`~bayesgmm.posterior.mixture`: :func:`as_mixture`, any fit (EM, MAP, posterior) as
  one typed :class:`Mixture`.

See ``docs/posterior-diagnostics.md`` for the thresholds and how to read the reports.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first access (PEP 562): the fit adapter (``mixture``) is numpy only, and the
# plotting layer reads fits through it without loading ArviZ or matplotlib.
_LAZY = {
    "CollapseFlags": "bayesgmm.posterior.collapse",
    "CollapseReport": "bayesgmm.posterior.collapse",
    "LabelSwitchingReport": "bayesgmm.posterior.switching",
    "Mixture": "bayesgmm.posterior.mixture",
    "PERMUTATION_GROUP": "bayesgmm.posterior.relabeling",
    "PosteriorDraws": "bayesgmm.bayes.inference.idata",
    "RELABEL_METHODS": "bayesgmm.posterior.relabeling",
    "RELABEL_POINTS": "bayesgmm.posterior._data",
    "RHAT_THRESHOLD": "bayesgmm.posterior.switching",
    "as_mixture": "bayesgmm.posterior.mixture",
    "chains_in_different_modes": "bayesgmm.posterior.switches",
    "collapse_flags": "bayesgmm.posterior.collapse",
    "collapse_report": "bayesgmm.posterior.collapse",
    "count_switches": "bayesgmm.posterior.switches",
    "data_covariance": "bayesgmm.posterior.collapse",
    "ModesReport": "bayesgmm.posterior.modes",
    "find_modes": "bayesgmm.posterior.modes",
    "mode_weighted_idata": "bayesgmm.posterior.weighted",
    "stack_chains": "bayesgmm.posterior.stacking",
    "warn_if_multimodal": "bayesgmm.posterior.modes",
    "label_invariant_summary": "bayesgmm.posterior.convergence",
    "label_switching_report": "bayesgmm.posterior.switching",
    "occupied_components": "bayesgmm.posterior.occupancy",
    "point_mixture": "bayesgmm.posterior.mixture",
    "posterior_draws": "bayesgmm.bayes.inference.idata",
    "relabel_idata": "bayesgmm.posterior.relabeling",
    "relabeling_diagnostics": "bayesgmm.posterior.convergence",
    "total_log_likelihood": "bayesgmm.posterior._data",
    "unrelabel_idata": "bayesgmm.posterior.relabeling",
    "warn_if_collapsed": "bayesgmm.posterior.collapse",
    "warn_if_unresolved": "bayesgmm.posterior.switching",
}

__all__ = [
    "PERMUTATION_GROUP",
    "RELABEL_METHODS",
    "RELABEL_POINTS",
    "RHAT_THRESHOLD",
    "CollapseFlags",
    "CollapseReport",
    "LabelSwitchingReport",
    "Mixture",
    "ModesReport",
    "PosteriorDraws",
    "as_mixture",
    "chains_in_different_modes",
    "collapse_flags",
    "collapse_report",
    "count_switches",
    "data_covariance",
    "find_modes",
    "label_invariant_summary",
    "label_switching_report",
    "mode_weighted_idata",
    "occupied_components",
    "point_mixture",
    "posterior_draws",
    "relabel_idata",
    "relabeling_diagnostics",
    "stack_chains",
    "total_log_likelihood",
    "unrelabel_idata",
    "warn_if_collapsed",
    "warn_if_multimodal",
    "warn_if_unresolved",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    try:
        return import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(__all__)
