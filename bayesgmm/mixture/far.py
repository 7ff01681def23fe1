"""Rows so far from every component that their densities underflow float64.

A point ``r`` standard deviations from a component has log density ``-r^2 / 2`` plus terms
of order ``D log(sd)``: beyond ``r ~ 1.3e154`` the square overflows, every component's
log density is ``-inf`` and the log-sum-exp of the memberships gives ``-inf - -inf = NaN``.
Those rows still have well-defined memberships: the differences between the components'
log densities are dominated by their squared distances (at least 1e308, next to which the
weights and determinants do not count), so all the probability goes to the nearest
component in Mahalanobis distance, shared on an exact tie. The distances are compared on
the log scale, computed without overflow.
"""

from __future__ import annotations

import numpy as np

from bayesgmm.mixture.covariance import precisions_cholesky
from bayesgmm.mixture.structures import get_structure

__all__ = ["far_memberships", "far_memberships_observed", "log_mahalanobis"]

#: Log squared distances closer than this are equal up to their rounding (a few ulps of
#: values up to ~1500).
LOG_DISTANCE_TIE = 1e-10


def _full_factors(
    prec_chol: np.ndarray, covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """Precision Cholesky factors of any covariance layout as (K, D, D) matrices."""
    return get_structure(covariance_type).precision_factors(prec_chol, n_components, n_features)


def log_mahalanobis(
    X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray, covariance_type: str
) -> np.ndarray:
    """``log ||(x_n - mu_k) U_k||^2`` of every row and component, shape (N, K).

    The difference is halved (so that it is finite for any finite ``x`` and ``mu``) and
    divided by its largest entry before the product with ``U_k``; the log adds the factors
    back. ``-inf`` where a row sits exactly on a mean.
    """
    X = np.asarray(X, dtype=np.float64)
    n_components, n_features = means.shape
    factors = _full_factors(prec_chol, covariance_type, n_components, n_features)
    half = X[:, None, :] / 2.0 - means[None, :, :] / 2.0
    size = np.max(np.abs(half), axis=-1)
    size = np.where(size > 0, size, 1.0)
    projected = np.einsum("nkd,kde->nke", half / size[..., None], factors)
    with np.errstate(divide="ignore"):
        return np.log(np.einsum("nke,nke->nk", projected, projected)) + 2.0 * np.log(2.0 * size)


def far_memberships(
    X: np.ndarray,
    means: np.ndarray,
    prec_chol: np.ndarray,
    covariance_type: str,
    log_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Membership probabilities (N, K) of rows whose every log density underflowed: one
    on the nearest component of non-zero weight in Mahalanobis distance (shared on an
    exact tie), zero elsewhere."""
    X = np.asarray(X, dtype=np.float64)
    log_maha = log_mahalanobis(X, means, prec_chol, covariance_type)
    if log_weights is not None:  # an empty component takes no row
        log_maha = np.where(np.isneginf(log_weights)[None, :], np.inf, log_maha)
    # Distances equal to rounding (log scale) are ties: those of components that share a
    # precision are then told apart exactly by _break_tie.
    nearest = log_maha <= log_maha.min(axis=1, keepdims=True) + LOG_DISTANCE_TIE
    factors = _full_factors(prec_chol, covariance_type, *means.shape)
    for row in np.flatnonzero(nearest.sum(axis=1) > 1):
        nearest[row] = _break_tie(X[row], means, factors, nearest[row])
    return nearest / nearest.sum(axis=1, keepdims=True)


def _break_tie(
    x: np.ndarray, means: np.ndarray, factors: np.ndarray, tied: np.ndarray
) -> np.ndarray:
    """Among components at the same rounded distance that share one precision ``P`` (tied
    covariances), the nearest: their squared distances differ by the linear term
    ``-2 mu_k' P x + mu_k' P mu_k``, finite where the squares are not (all scaled by
    ``1 / max|x|``)."""
    candidates = np.flatnonzero(tied)
    shared = factors[candidates[0]]
    if not all(np.array_equal(factors[k], shared) for k in candidates[1:]):
        return tied
    size = max(float(np.max(np.abs(x))), 1.0)
    precision = shared @ shared.T
    mu = means[candidates]
    score = mu @ (precision @ (x / size)) - 0.5 * np.einsum("kd,de,ke->k", mu, precision, mu) / size
    out = np.zeros_like(tied)
    out[candidates[score == score.max()]] = True
    return out


def far_memberships_observed(
    X: np.ndarray, means: np.ndarray, covariances: np.ndarray, log_weights: np.ndarray
) -> np.ndarray:
    """:func:`far_memberships` of rows with missing (NaN) entries, each on its observed
    coordinates, under full covariance matrices (K, D, D)."""
    out = np.empty((X.shape[0], means.shape[0]))
    for row, x in enumerate(X):
        seen = ~np.isnan(x)
        prec_chol = precisions_cholesky(covariances[:, seen][:, :, seen], "full")
        out[row] = far_memberships(x[None, seen], means[:, seen], prec_chol, "full", log_weights)[0]
    return out
