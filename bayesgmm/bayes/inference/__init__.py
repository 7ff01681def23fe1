"""The runners: NUTS, ADVI and MAP on a :class:`~bayesgmm.bayes.model.graph.GMMModel`.

Every runner returns an ``arviz.InferenceData`` in data units (:mod:`.complete`); every
one starts from a MAP-EM fit (:mod:`.starts`), which the caller may pass in so that it
runs once per fit. :func:`sample_prior_predictive` draws from the prior and
:func:`sample_posterior_predictive` from the posterior, in data units.
"""

from __future__ import annotations

from bayesgmm.bayes.inference.complete import LOG_LIKELIHOOD_BUDGET, complete_idata
from bayesgmm.bayes.inference.map import fit_map, map_idata
from bayesgmm.bayes.inference.nuts import SAMPLERS, available_samplers, sample_nuts
from bayesgmm.bayes.inference.predictive import (
    sample_posterior_predictive,
    sample_prior_predictive,
)
from bayesgmm.bayes.inference.run import RunOutcome, RunSettings, run_inference
from bayesgmm.bayes.inference.starts import START_POINTS, em_initial_point, em_start
from bayesgmm.bayes.inference.vi import fit_advi

__all__ = [
    "LOG_LIKELIHOOD_BUDGET",
    "SAMPLERS",
    "START_POINTS",
    "RunOutcome",
    "RunSettings",
    "available_samplers",
    "complete_idata",
    "em_initial_point",
    "em_start",
    "fit_advi",
    "fit_map",
    "map_idata",
    "run_inference",
    "sample_nuts",
    "sample_posterior_predictive",
    "sample_prior_predictive",
]
