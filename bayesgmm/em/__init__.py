"""Expectation-maximisation for Gaussian mixtures, in numpy alone.

Maximum likelihood (ML) or maximum a posteriori (MAP-EM) with the conjugate
normal / inverse-Wishart prior of Fraley & Raftery (2007), for the four covariance types.

The E-step works on blocks of rows and returns *sufficient statistics*
(``N_k``, ``sum_n g_nk x_n``, ``sum_n g_nk x_n x_n^T``); the M-step consumes their sum.
The same core therefore runs on an in-memory array, on chunks streamed from disk, or
mapped over the chunks of a Dask array and reduced.

The package, one idea per module:

- :mod:`~bayesgmm.em.results`: the typed containers (parameters, prior, statistics, result);
- :mod:`~bayesgmm.em.steps`: the E-step and its statistics, the M-step;
- :mod:`~bayesgmm.em.prior`: the conjugate prior of MAP-EM;
- :mod:`~bayesgmm.em.starts`: the starting points;
- :mod:`~bayesgmm.em.collapse`: collapse detection and the feature-scale warnings;
- :mod:`~bayesgmm.em.restarts`: EM runs from starts, the emEM search, the best run;
- :mod:`~bayesgmm.em.fit`: :func:`fit_em`;
- :mod:`~bayesgmm.em.criteria`: BIC / AIC / ICL and :func:`select_k`.

Every name is re-exported here, so ``from bayesgmm.em import ...`` works as it did when
this was one module. Monkeypatch a module-level setting where it lives (for example
``bayesgmm.em.starts._INIT_SUBSAMPLE_MIN``), not here.

This package imports neither PyMC nor matplotlib, so a user who only wants EM does not pay
their import time (a test checks this).
"""

# The imports below are the re-exports that keep every importer of the old module working.
# ruff: noqa: F401

from __future__ import annotations

from bayesgmm.em import collapse, criteria, fit, prior, restarts, results, starts, steps
from bayesgmm.em.collapse import (
    _REG_COVAR_WARN_FRACTION,
    _data_covariance,
    _warn_about_feature_scales,
    degenerate_components,
    min_component_count,
    regularized_data_covariance,
    warn_about_scales,
)
from bayesgmm.em.criteria import (
    SELECTION_N_INIT,
    aic,
    bic,
    icl,
    log_likelihood,
    n_free_parameters,
    select_k,
)
from bayesgmm.em.fit import _is_dask_collection, fit_em
from bayesgmm.em.prior import (
    _check_prior,
    _interior,
    default_prior,
    log_prior,
    prior_from_moments,
)
from bayesgmm.em.restarts import (
    _CANDIDATES_PER_RUN,
    _DEFAULT_RTOL,
    _SHORT_RUN_ITER,
    _SHORT_RUN_STRATEGIES,
    DEFAULT_MAX_ITER,
    _converged,
    _objective,
    _RestartSearch,
    _rule,
    _Run,
    _run_once,
    _subsample,
    best_result,
)
from bayesgmm.em.results import ConjugatePrior, EMResult, GMMParams, SufficientStats
from bayesgmm.em.starts import (
    _INIT_METHODS,
    _INIT_SUBSAMPLE_MIN,
    _INIT_SUBSAMPLE_PER_COMPONENT,
    _init_error,
    _initial_responsibilities,
    _kmeans_labels,
    _kmeans_plus_plus,
    _params_from_user,
    _standardize,
    _stats_from_resp,
    init_subsample_rows,
    init_subsample_size,
)
from bayesgmm.em.steps import (
    _block_rows,
    _log_weights,
    _normalize,
    _weighted_log_prob,
    e_step,
    m_step,
    stats_scatter,
    sufficient_statistics,
    sum_statistics,
)
from bayesgmm.exceptions import ConvergenceWarning
from bayesgmm.mixture.covariance import precisions_cholesky

__all__ = [
    "SELECTION_N_INIT",
    "ConjugatePrior",
    "EMResult",
    "GMMParams",
    "SufficientStats",
    "aic",
    "bic",
    "default_prior",
    "e_step",
    "fit_em",
    "icl",
    "log_likelihood",
    "log_prior",
    "m_step",
    "select_k",
    "sufficient_statistics",
]
