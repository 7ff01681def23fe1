"""Collapse detection (components on a few points or a subspace) and the warnings about
feature scales that make a fit depend on the floor rather than the data.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from bayesgmm._validation import (
    describe_features,
)
from bayesgmm.core.covariance import storage_type
from bayesgmm.core.em.results import GMMParams
from bayesgmm.exceptions import DegenerateComponentWarning
from bayesgmm.mixture.structures.family import is_structure, structure


def min_component_count(covariance_type: str, n_features: int) -> int:
    """Fewest points that determine a non-singular covariance of this type."""
    if is_structure(covariance_type):
        return structure(covariance_type).min_component_count(n_features)
    return n_features + 1 if covariance_type == "full" else 2


def degenerate_components(
    params: GMMParams,
    resp_sum: np.ndarray,
    data_covariance: np.ndarray,
    *,
    reg_covar: float,
    rtol: float = 1e-6,
) -> tuple[int, ...]:
    """Components that collapsed onto a few points or onto a subspace (ML fits).

    A component is flagged when its effective count ``N_k`` is below the fewest points
    that determine its covariance (:func:`min_component_count`), or when its covariance
    without the ``reg_covar`` floor has a generalised eigenvalue relative to the data
    covariance below ``rtol`` (a standard deviation 1000 times smaller than the data's
    in some direction, for the default).
    """
    n_components, n_features = params.means.shape
    cov_type = storage_type(params.covariance_type)  # mclust's structures: full matrices
    flagged = set()
    if cov_type != "tied":
        too_few = resp_sum < min_component_count(params.covariance_type, n_features) - 1e-9
        flagged.update(np.flatnonzero(too_few).tolist())
    data_var = np.diag(data_covariance)
    if cov_type in ("full", "tied"):
        stack = params.covariances[None] if cov_type == "tied" else params.covariances
        stack = stack - reg_covar * np.eye(n_features)
        # Whiten by the data covariance (its Cholesky), then look at the smallest eigenvalue.
        chol = np.linalg.cholesky(data_covariance)
        inv = np.linalg.inv(chol)
        whitened = inv @ stack @ inv.T
        smallest = np.linalg.eigvalsh(whitened)[:, 0]
        if cov_type == "full":
            flagged.update(np.flatnonzero(smallest < rtol).tolist())
        elif smallest[0] < rtol:
            flagged.update(range(n_components))
    else:
        variances = params.covariances - reg_covar
        if cov_type == "diag":
            ratio = (variances / data_var[None, :]).min(axis=1)
        else:
            ratio = variances / data_var.max()
        flagged.update(np.flatnonzero(ratio < rtol).tolist())
    return tuple(sorted(int(k) for k in flagged))


class DataMoments(NamedTuple):
    """Column means and covariance of complete data, from one pass each.

    Attributes
    ----------
    center : ndarray of shape (D,)
        ``X.mean(axis=0)``.
    covariance : ndarray of shape (D, D)
        ``np.cov(X, rowvar=False)`` (``ddof=1``), bit for bit.
    """

    center: np.ndarray
    covariance: np.ndarray


def centre_with_moments(X: np.ndarray, *, in_place: bool) -> tuple[np.ndarray, DataMoments]:
    """``X`` centred on its column means, and its :class:`DataMoments`.

    ``np.cov`` centres a copy of ``X`` on the same means and multiplies it by its own
    transpose; this does the same operations on the centred rows EM needs anyway, so the
    covariance is ``np.cov(X)``'s to the last bit without its two extra passes and copy.
    ``in_place`` centres ``X`` itself: only for an array the caller owns.
    """
    center = X.mean(axis=0)
    Xc = np.subtract(X, center, out=X if in_place else None)
    # As np.cov: dot(Xc^T, conj(Xc)), whose copy makes numpy take the same GEMM (not the
    # SYRK of Xc^T Xc), then times 1 / (N - 1).
    covariance = np.dot(Xc.T, Xc.conj())
    covariance *= np.true_divide(1, X.shape[0] - 1)
    return Xc, DataMoments(center, covariance)


def constant_columns(Xc: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Indices of the constant columns of centred data ``Xc`` whose covariance is
    ``covariance``: exactly :func:`bayesgmm._validation.constant_features` of the data,
    without its minimum and maximum over every column.

    Centring maps equal values to equal values and distinct ones to distinct ones, so a
    column is constant exactly when its centred values all equal its first, ``c``; its
    sum of squares, ``(N - 1) cov_jj``, is then ``N c^2`` up to the rounding of the sum
    (relative ``N eps`` at most). A column above that bound varies. The others (about a
    third of the columns of Gaussian data, where the first row lies beyond one sd) are
    compared value by value, the first rows before all of them.
    """
    n_samples = Xc.shape[0]
    first = Xc[0]
    sum_squares = np.diag(covariance) * (n_samples - 1)
    bound = n_samples * first**2 * (1.0 + 4.0 * (n_samples + 2) * np.finfo(np.float64).eps)
    candidates = np.flatnonzero(sum_squares <= bound)
    head = np.all(Xc[:_HEAD_ROWS, candidates] == first[candidates], axis=0)
    constant = [j for j in candidates[head] if np.all(Xc[:, j] == first[j])]
    return np.asarray(constant, dtype=np.intp)


# Rows :func:`constant_columns` compares first: a varying column almost always differs there.
_HEAD_ROWS = 64


def _data_covariance(X: np.ndarray) -> np.ndarray:
    n_features = X.shape[1]
    cov = np.atleast_2d(np.cov(X, rowvar=False)) if X.shape[0] > 1 else np.eye(n_features)
    return regularized_data_covariance(cov)


def regularized_data_covariance(cov: np.ndarray) -> np.ndarray:
    """The data covariance the collapse checks compare against: positive definite."""
    n_features = cov.shape[0]
    # A constant column has zero variance; let it count as unit scale so ratios stay finite.
    diag = np.diag(cov).copy()
    diag[diag <= 0] = 1.0
    fixed = cov.copy()
    np.fill_diagonal(fixed, np.maximum(np.diag(cov), 0) + (np.diag(cov) <= 0) * diag)
    eig_min = np.linalg.eigvalsh(fixed)[0]
    if eig_min <= 1e-12 * diag.max():  # perfectly collinear features
        fixed += (1e-12 * diag.max() - min(eig_min, 0.0)) * np.eye(n_features)
    return fixed


# reg_covar above this fraction of a feature's variance dominates the fitted covariances.
_REG_COVAR_WARN_FRACTION = 1e-3


def _warn_about_feature_scales(
    X: np.ndarray, constant: np.ndarray, reg_covar: float, feature_names: list[str] | None
) -> None:
    """Warn about constant features and about a ``reg_covar`` the data scale cannot absorb.

    Both otherwise give a fit that looks normal but is set by the floor, not by the data.
    """
    variances = np.nanvar(X, axis=0) if np.isnan(X).any() else X.var(axis=0)
    warn_about_scales(variances, constant, reg_covar, feature_names, stacklevel=4)


def warn_about_scales(
    variances: np.ndarray,
    constant: np.ndarray,
    reg_covar: float,
    feature_names: list[str] | None,
    *,
    stacklevel: int = 3,
) -> None:
    """:func:`_warn_about_feature_scales` from the per-feature variances (``ddof=0``)."""
    if constant.size:
        warnings.warn(
            f"feature(s) {describe_features(constant, feature_names)} are constant: they "
            "carry no information about the clusters, and with full, tied or diag "
            "covariances the likelihood is unbounded along them (only reg_covar or the prior "
            "keeps it finite). Drop them before fitting.",
            DegenerateComponentWarning,
            stacklevel=stacklevel,
        )
    swamped = np.flatnonzero((variances > 0) & (reg_covar > _REG_COVAR_WARN_FRACTION * variances))
    if swamped.size:
        warnings.warn(
            f"reg_covar={reg_covar:g} is not small next to the variance of feature(s) "
            f"{describe_features(swamped, feature_names)} (smallest "
            f"{variances[swamped].min():.3g}): the floor, not the data, sets the fitted "
            "covariances. Standardise the data, or scale reg_covar with the data's variance.",
            UserWarning,
            stacklevel=stacklevel,
        )
