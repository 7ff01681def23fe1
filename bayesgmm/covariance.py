"""Per-covariance-type Gaussian maths, on plain arrays.

Shapes follow scikit-learn's ``GaussianMixture`` so that results can be compared directly:

================  =====================  ======================
covariance_type   covariances            precisions_cholesky
================  =====================  ======================
``full``          (K, D, D)              (K, D, D), upper-triangular
``tied``          (D, D)                 (D, D), upper-triangular
``diag``          (K, D)                 (K, D)
``spherical``     (K,)                   (K,)
================  =====================  ======================

The precision Cholesky factor ``U`` satisfies ``inv(cov) = U @ U.T``, so the Mahalanobis
distance is ``||(x - mu) @ U||^2``: one matrix product per block of rows and no solves.
"""

from __future__ import annotations

import numpy as np

from bayesgmm._validation import check_covariance_type
from bayesgmm.exceptions import CollapseError

__all__ = [
    "as_full",
    "covariance_shape",
    "covariances_from_precisions_cholesky",
    "log_det_precisions_cholesky",
    "log_gaussian_prob",
    "n_covariance_parameters",
    "n_parameters",
    "precisions_cholesky",
]

LOG_2PI = float(np.log(2.0 * np.pi))

COLLAPSE_HINT = (
    "increase reg_covar (now {reg_covar:g}), use the MAP prior (prior='default'), "
    "or reduce n_components"
)


def covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple:
    """Shape of the covariance array for a covariance type."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[check_covariance_type(covariance_type)]


def n_covariance_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Number of free covariance parameters."""
    per_matrix = n_features * (n_features + 1) // 2
    return {
        "full": n_components * per_matrix,
        "tied": per_matrix,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[check_covariance_type(covariance_type)]


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of a K-component mixture: weights, means and covariances."""
    return (
        (n_components - 1)
        + n_components * n_features
        + n_covariance_parameters(covariance_type, n_components, n_features)
    )


def _collapse_message(component: int | None, reg_covar: float) -> str:
    who = "a component" if component is None else f"component {component}"
    return (
        f"the covariance of {who} is singular or not positive definite: it collapsed onto "
        "a point or a lower-dimensional subspace, where the likelihood is unbounded. "
        + COLLAPSE_HINT.format(reg_covar=reg_covar)
        + "."
    )


def precisions_cholesky(
    covariances: np.ndarray, covariance_type: str, *, reg_covar: float = 0.0
) -> np.ndarray:
    """Cholesky factors of the precision matrices.

    Parameters
    ----------
    covariances : ndarray
        Covariances in the layout of ``covariance_type`` (see module docstring).
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Only used to word the error message.

    Raises
    ------
    CollapseError
        A covariance is not positive definite; the message names the component.
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        stack = covariances[None] if covariance_type == "tied" else covariances
        if not np.all(np.isfinite(stack)):
            raise CollapseError(_collapse_message(None, reg_covar))
        # numpy's LAPACK, not scipy's: with pip wheels numpy and scipy each bundle their own
        # OpenBLAS, and alternating between the two thread pools (numpy's GEMM in the E-step,
        # scipy here) made these K tiny factorisations cost tens of milliseconds per
        # iteration on a 2-core machine while the other pool's threads spun.
        try:
            chol = np.linalg.cholesky(stack)
        except np.linalg.LinAlgError:
            for k, cov in enumerate(stack):  # name the first component that failed
                try:
                    np.linalg.cholesky(cov)
                except np.linalg.LinAlgError:
                    raise CollapseError(
                        _collapse_message(None if covariance_type == "tied" else k, reg_covar)
                    ) from None
            raise CollapseError(_collapse_message(None, reg_covar)) from None
        diagonal = np.diagonal(chol, axis1=1, axis2=2)
        if not np.all(diagonal > 0):
            k = int(np.argwhere(~(diagonal > 0))[0][0])
            raise CollapseError(
                _collapse_message(None if covariance_type == "tied" else k, reg_covar)
            )
        out = np.swapaxes(_inverse_lower_triangular(chol), 1, 2)
        return out[0] if covariance_type == "tied" else out
    check_covariance_type(covariance_type)
    bad = ~(np.isfinite(covariances) & (covariances > 0))
    if np.any(bad):
        component = int(np.argwhere(bad)[0][0])
        raise CollapseError(_collapse_message(component, reg_covar))
    return 1.0 / np.sqrt(covariances)


def _inverse_lower_triangular(chol: np.ndarray) -> np.ndarray:
    """Inverse of a stack (K, D, D) of lower-triangular matrices by forward substitution.

    Row ``i`` of ``inv(L)`` is ``(e_i - L[i, :i] @ inv(L)[:i]) / L[i, i]``: the same
    arithmetic as LAPACK's triangular solve, without pivoting, and exactly lower-triangular.
    """
    n_features = chol.shape[-1]
    inverse = np.zeros_like(chol)
    for i in range(n_features):
        row = -np.matmul(chol[:, i : i + 1, :i], inverse[:, :i, :])[:, 0, :]
        row[:, i] += 1.0
        inverse[:, i, :] = row / chol[:, i, i : i + 1]
    return inverse


def covariances_from_precisions_cholesky(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    """Invert :func:`precisions_cholesky`."""
    prec_chol = np.asarray(prec_chol, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        precision = prec_chol @ np.swapaxes(prec_chol, -1, -2)
        return np.linalg.inv(precision)
    check_covariance_type(covariance_type)
    return 1.0 / prec_chol**2


def log_det_precisions_cholesky(
    prec_chol: np.ndarray, covariance_type: str, n_features: int
) -> np.ndarray | float:
    """``log det`` of the precision Cholesky factors (half the precision's log-det)."""
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return float(np.sum(np.log(np.diag(prec_chol))))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


def log_gaussian_prob(
    X: np.ndarray,
    means: np.ndarray,
    prec_chol: np.ndarray,
    covariance_type: str,
    *,
    component_major: bool = False,
) -> np.ndarray:
    """Log density of every row of ``X`` under every component.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    means : ndarray of shape (K, D)
    prec_chol : ndarray
        Precision Cholesky factors (see :func:`precisions_cholesky`).
    covariance_type : {"full", "tied", "diag", "spherical"}
    component_major : bool
        Return shape (K, N) instead of (N, K). Reductions over K are then
        element-wise operations on contiguous rows, several times faster than reducing a
        short trailing axis; the EM E-step uses this layout.

    Returns
    -------
    ndarray of shape (N, K), or (K, N) when ``component_major``.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    log_det = np.asarray(log_det_precisions_cholesky(prec_chol, covariance_type, n_features))
    XT = X.T
    if covariance_type == "full":
        # [U_1 ... U_K]^T @ X^T as a single GEMM, then subtract the projected means.
        stacked = np.ascontiguousarray(prec_chol.transpose(0, 2, 1)).reshape(
            n_components * n_features, n_features
        )
        projected = (stacked @ XT).reshape(n_components, n_features, n_samples)
        projected -= np.einsum("kd,kde->ke", means, prec_chol)[:, :, None]
        np.square(projected, out=projected)
        maha = projected.sum(axis=1)
    elif covariance_type == "tied":
        # Centre on each mean before squaring: the expanded form loses digits far from mu.
        projected = (prec_chol.T @ XT)[None, :, :] - (means @ prec_chol)[:, :, None]
        np.square(projected, out=projected)
        maha = projected.sum(axis=1)
    elif covariance_type == "diag":
        precisions = prec_chol**2
        maha = precisions @ (XT * XT) - 2.0 * (means * precisions) @ XT
        maha += np.sum(means * means * precisions, axis=1)[:, None]
        np.maximum(maha, 0.0, out=maha)
    else:
        precisions = prec_chol**2
        maha = np.einsum("nd,nd->n", X, X)[None, :] - 2.0 * means @ XT
        maha += np.einsum("kd,kd->k", means, means)[:, None]
        maha *= precisions[:, None]
        np.maximum(maha, 0.0, out=maha)
    maha += n_features * LOG_2PI
    maha *= -0.5
    maha += log_det if log_det.ndim == 0 else log_det[:, None]
    return maha if component_major else maha.T


def as_full(
    covariances: np.ndarray, covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """Expand any covariance layout to full matrices of shape (K, D, D)."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return covariances.copy()
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features)).copy()
    if covariance_type == "diag":
        return np.einsum("kd,de->kde", covariances, np.eye(n_features))
    check_covariance_type(covariance_type)
    return covariances[:, None, None] * np.eye(n_features)[None]
