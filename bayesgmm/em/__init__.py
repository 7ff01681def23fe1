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

The public names are re-exported here; private helpers are imported from the module that
defines them (tests included). Monkeypatch a module-level setting where it lives (for
example ``bayesgmm.em.starts._INIT_SUBSAMPLE_MIN``).

This package imports neither PyMC nor matplotlib, so a user who only wants EM does not pay
their import time (a test checks this).
"""

# The imports below are the re-exports that keep every importer of the old module working.
# ruff: noqa: F401

from __future__ import annotations

from bayesgmm.em import collapse, criteria, fit, prior, restarts, results, starts, steps
from bayesgmm.em.collapse import (
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
from bayesgmm.em.fit import fit_em
from bayesgmm.em.prior import default_prior, log_prior, prior_from_moments
from bayesgmm.em.restarts import DEFAULT_MAX_ITER, best_result
from bayesgmm.em.results import (
    ConjugatePrior,
    EMResult,
    EMRun,
    EMSettings,
    GMMParams,
    SufficientStats,
)
from bayesgmm.em.starts import init_subsample_rows, init_subsample_size
from bayesgmm.em.steps import (
    e_step,
    m_step,
    sufficient_statistics,
    sum_statistics,
)
from bayesgmm.exceptions import ConvergenceWarning
from bayesgmm.mixture.covariance import precisions_cholesky

__all__ = [
    "SELECTION_N_INIT",
    "ConjugatePrior",
    "EMResult",
    "EMRun",
    "EMSettings",
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
