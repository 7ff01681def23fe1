"""MAP-EM for mclust's structures under its conjugate prior (Fraley & Raftery 2007).

The prior is mclust's ``defaultPrior``: ``mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage)``
and an inverse-gamma ``InvGamma(dof / 2, scale / 2)`` on each free variance of the
structure, ``scale`` one number (the average data variance over ``K^(2/D)``). Of the
structures beyond the four, mclust offers the prior for EII, EEI, VEI, EVI, EEV and VEV;
here EII (one variance) and EEI (one variance per feature) have it, with mclust's modes:

- EII: ``sigma^2 = (scale + tr sum_k (W_k + B_k)) / (dof + 2 + (N + K) D)``;
- EEI: ``b_j = (scale + [sum_k (W_k + B_k)]_jj) / (dof + 2 + N + K)``;

with ``B_k = n_k shrinkage / (n_k + shrinkage) (xbar_k - mean)(xbar_k - mean)^T`` the
between term the means' prior adds. Each function takes ``nk`` (K,), ``scatter`` and
``between`` (K, D, D), ``scale`` and ``dof``, and returns covariances (K, D, D).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["CONJUGATE", "log_prior_eei", "log_prior_eii", "map_eei", "map_eii"]


def map_eii(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float
) -> np.ndarray:
    """EII's posterior mode: one variance for every feature and component."""
    n_components, n_features, _ = scatter.shape
    total = np.trace((scatter + between).sum(axis=0))
    variance = (scale + total) / (dof + 2.0 + (nk.sum() + n_components) * n_features)
    return np.broadcast_to(variance * np.eye(n_features), scatter.shape).copy()


def map_eei(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float
) -> np.ndarray:
    """EEI's posterior mode: one variance per feature, shared by the components."""
    n_components = scatter.shape[0]
    pooled = np.diagonal((scatter + between).sum(axis=0))
    variances = (scale + pooled) / (dof + 2.0 + nk.sum() + n_components)
    return np.broadcast_to(np.diag(variances), scatter.shape).copy()


def _log_prior_variances(
    variances: np.ndarray,
    means: np.ndarray,
    mean: np.ndarray,
    shrinkage: float,
    scale: float,
    dof: float,
) -> float:
    """``sum log InvGamma(v; dof/2, scale/2)`` over the free variances ``variances`` (D,)
    plus ``sum_k log N(mu_k | mean, diag(variances) / shrinkage)``."""
    total = float(np.sum(stats.invgamma.logpdf(variances, a=dof / 2.0, scale=scale / 2.0)))
    sd = np.sqrt(np.broadcast_to(variances, means.shape) / shrinkage)
    return total + float(np.sum(stats.norm.logpdf(means, mean, sd)))


def log_prior_eii(
    covariances: np.ndarray, means: np.ndarray, mean: np.ndarray, shrinkage: float,
    scale: float, dof: float,
) -> float:  # fmt: skip
    """Log prior of EII's covariances (one inverse-gamma variance) and the means."""
    variance = np.array([covariances[0, 0, 0]])
    return _log_prior_variances(variance, means, mean, shrinkage, scale, dof)


def log_prior_eei(
    covariances: np.ndarray, means: np.ndarray, mean: np.ndarray, shrinkage: float,
    scale: float, dof: float,
) -> float:  # fmt: skip
    """Log prior of EEI's covariances (an inverse-gamma variance per feature) and the
    means."""
    variances = np.diagonal(covariances[0]).copy()
    return _log_prior_variances(variances, means, mean, shrinkage, scale, dof)


#: mclust name -> (posterior mode, log prior): the entries of the family that take a prior.
CONJUGATE = {"EII": (map_eii, log_prior_eii), "EEI": (map_eei, log_prior_eei)}
