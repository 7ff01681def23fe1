"""The mixture likelihood of data with missing values, pattern by pattern, in PyTensor.

Rows are grouped by missingness pattern (:func:`bayesgmm.core.missing.missing_patterns`).
A pattern with observed coordinates ``o`` contributes
``sum_n log sum_k pi_k N(x_no | mu_ko, Sigma_koo)``: the mixture of the marginals of its
observed coordinates, which is the complete-data likelihood with the missing coordinates
integrated out. It assumes the values are missing at random (MAR).

The sub-covariance is built from the model's own parameters: ``Sigma_oo = S_o R_oo S_o``
with ``R_oo = L_o L_o^T`` (``L_o`` the rows ``o`` of the correlation Cholesky ``L``), and
its Cholesky factor is taken in PyTensor (``pt.linalg.cholesky``, differentiable). For
diagonal and spherical covariances the missing coordinates are simply dropped.

Each pattern's observed values live in their own ``pm.Data`` container (``X_pattern{p}``)
that holds only observed values: PyMC never sees a NaN, so it imputes nothing behind the
user's back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesgmm.bayes.spec import MixtureSpec
from bayesgmm.core.missing import missing_patterns

__all__ = ["add_pattern_likelihoods", "pattern_logp_factory"]

_STD_CORE = {"full": 2, "tied": 1, "diag": 2, "spherical": 1}


def _observed_parameters(
    covariance_type: str, n_features: int, observed: np.ndarray, params: tuple[Any, ...]
) -> tuple[Any, ...]:
    """The parameters of the marginal of the ``observed`` coordinates (PyTensor)."""
    weights, means, stds, *corr = params
    weights = weights.reshape(weights.shape[-1:], ndim=1)
    means = means.reshape(means.shape[-2:], ndim=2)[:, observed]
    core = _STD_CORE[covariance_type]
    stds = stds.reshape(stds.shape[-core:], ndim=core)
    if covariance_type in ("full", "diag"):
        stds = stds[:, observed]
    elif covariance_type == "tied":
        stds = stds[observed]
    if not corr:
        return weights, means, stds
    corr_core = 3 if covariance_type == "full" else 2
    chol = corr[0].reshape(corr[0].shape[-corr_core:], ndim=corr_core)
    if observed.size == n_features:
        return weights, means, stds, chol
    rows = chol[..., observed, :]
    sub = rows @ pt.swapaxes(rows, -1, -2)  # R_oo
    return weights, means, stds, pt.linalg.cholesky(sub)


def pattern_logp_factory(covariance_type: str, n_features: int, observed: np.ndarray) -> Any:
    """Per-row log density of one pattern's observed coordinates (a CustomDist logp)."""
    from bayesgmm.bayes.model import _mixture_logp_factory

    observed = np.asarray(observed, dtype=np.int64)
    base = _mixture_logp_factory(covariance_type, int(observed.size))

    def logp(value: Any, *params: Any) -> Any:
        return base(value, *_observed_parameters(covariance_type, n_features, observed, params))

    return logp


def add_pattern_likelihoods(
    spec: MixtureSpec, internal: np.ndarray, dist_params: list[Any]
) -> None:
    """Add the log-likelihood of every missingness pattern to the model in context.

    ``internal`` holds the data in internal units, NaN where missing. Each pattern's term
    is a ``pm.Potential`` (``loglik_pattern{p}``) on its ``pm.Data`` container: a
    CustomDist would need its output's core shape (the pattern's observed count) to be
    inferable from the parameters' shapes, which it is not. The model therefore has no
    observed variable to draw a posterior predictive from.
    """
    n_features = spec.n_features
    for p, pattern in enumerate(missing_patterns(internal)):
        values = internal[np.ix_(pattern.rows, pattern.observed)]
        container = pm.Data(f"X_pattern{p}", values)
        logp = pattern_logp_factory(spec.covariance_type, n_features, pattern.observed)
        pm.Potential(f"loglik_pattern{p}", pt.sum(logp(container, *dist_params)))
