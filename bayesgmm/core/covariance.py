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

import functools

import numpy as np

from bayesgmm._validation import check_covariance_type
from bayesgmm.exceptions import CollapseError
from bayesgmm.mixture.structures.family import is_structure, structure

__all__ = [
    "ComponentDensity",
    "as_full",
    "covariance_shape",
    "covariances_from_precisions_cholesky",
    "log_det_precisions_cholesky",
    "log_gaussian_prob",
    "n_covariance_parameters",
    "n_parameters",
    "pair_features",
    "precisions_cholesky",
    "storage_type",
    "unpack_pairs",
]

LOG_2PI = float(np.log(2.0 * np.pi))

COLLAPSE_HINT = (
    "increase reg_covar (now {reg_covar:g}), use the MAP prior (prior='default'), "
    "or reduce n_components"
)


def storage_type(covariance_type: str) -> str:
    """The covariance type whose layout stores ``covariance_type``: itself for the four
    types, ``"full"`` for mclust's other structures (:mod:`bayesgmm.mixture.structures`),
    whose structure lives in their M-step and parameter count."""
    return "full" if is_structure(covariance_type) else covariance_type


def covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple:
    """Shape of the covariance array for a covariance type."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[storage_type(check_covariance_type(covariance_type, mclust=True))]


def n_covariance_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Number of free covariance parameters (mclust's ``nVarParams`` for its names)."""
    covariance_type = check_covariance_type(covariance_type, mclust=True)
    if is_structure(covariance_type):
        return structure(covariance_type).n_covariance_parameters(n_components, n_features)
    per_matrix = n_features * (n_features + 1) // 2
    return {
        "full": n_components * per_matrix,
        "tied": per_matrix,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[covariance_type]


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
    covariance_type = storage_type(covariance_type)
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
    check_covariance_type(covariance_type, mclust=True)
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
    covariance_type = storage_type(covariance_type)
    if covariance_type in ("full", "tied"):
        precision = prec_chol @ np.swapaxes(prec_chol, -1, -2)
        return np.linalg.inv(precision)
    check_covariance_type(covariance_type, mclust=True)
    return 1.0 / prec_chol**2


def log_det_precisions_cholesky(
    prec_chol: np.ndarray, covariance_type: str, n_features: int
) -> np.ndarray | float:
    """``log det`` of the precision Cholesky factors (half the precision's log-det)."""
    covariance_type = storage_type(covariance_type)
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return float(np.sum(np.log(np.diag(prec_chol))))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


@functools.lru_cache(maxsize=64)
def _pairs(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(D)``, cached."""
    return np.triu_indices(n_features)


def pair_features(X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The quadratic, linear and constant features of every row, feature-major:
    shape (P + D + 1, N).

    Rows ``0..P-1`` (``P = D (D + 1) / 2``) hold the products ``x_i x_j`` for ``i <= j`` in
    the order of ``np.triu_indices(D)``; rows ``P..P+D-1`` hold ``x_i``; the last row is 1.
    A Gaussian log-density is linear in these features (:class:`ComponentDensity`), and so
    are the sufficient statistics of a full covariance (``resp @ features.T`` gives the
    second moments, the weighted sums and the counts at once), so EM's E-step and its
    statistics share them. ``out``, of shape (P + D + 1, >= N), receives them.
    """
    n_samples, n_features = X.shape
    n_pairs = n_features * (n_features + 1) // 2
    if out is None:
        features = np.empty((n_pairs + n_features + 1, n_samples))
    else:  # a buffer reused block after block (its first N columns are written)
        features = out[:, :n_samples]
    XT = features[n_pairs : n_pairs + n_features]
    XT[...] = X.T
    features[-1] = 1.0
    start = 0
    for i in range(n_features):  # row i times rows i..D-1: contiguous, no gather
        np.multiply(XT[i], XT[i:], out=features[start : start + n_features - i])
        start += n_features - i
    return features


def unpack_pairs(packed: np.ndarray, n_features: int) -> np.ndarray:
    """Symmetric matrices (..., D, D) from their upper triangles in :func:`pair_features`
    order (..., P)."""
    rows, cols = _pairs(n_features)
    out = np.empty((*packed.shape[:-1], n_features, n_features))
    out[..., rows, cols] = packed
    out[..., cols, rows] = packed
    return out


class ComponentDensity:
    """``log pi_k + log N(x_n | mu_k, Sigma_k)`` of a set of components, prepared once for
    many rows.

    The one numpy Gaussian log-density of the package: EM's E-step (block after block of
    rows with the same parameters), :func:`log_gaussian_prob`, the posterior draws
    (:mod:`bayesgmm.core.draws`) and the criteria all go through it.

    Full covariances use the expanded quadratic form
    ``-0.5 (x^T P x - 2 mu^T P x + mu^T P mu) + log det U + log pi - D/2 log 2 pi`` as one
    GEMM on :func:`pair_features`: K (D^2 + 3 D + 2) / 2 multiply-adds per row and no
    (K, D, N) temporary, against K D^2 multiply-adds and three passes over such a temporary
    for the direct form ``||(x - mu_k) U_k||^2``. The expanded form cancels digits when
    ``x^T P x`` is large next to the distance, so a component whose rounding bound
    ``2 (P + D) eps ||P_k||_F (R + |mu_k|)^2`` (R the largest row norm) exceeds
    ``EXPANDED_MAX_ERROR`` takes the direct form instead.

    Parameters
    ----------
    means : ndarray of shape (K, D)
    prec_chol : ndarray
        Precision Cholesky factors (see :func:`precisions_cholesky`).
    covariance_type : {"full", "tied", "diag", "spherical"}
    log_weights : ndarray of shape (K,), optional
        Added to every log-density (the mixture's ``log pi_k``); none when omitted.
    radius : float, optional
        An upper bound on the norm of the rows the density will see (full only). When
        given, the choice of form per component is made once here; otherwise per call.
    """

    # Absolute error allowed in a Mahalanobis distance (half of it in a log-density).
    EXPANDED_MAX_ERROR = 1e-9

    def __init__(
        self,
        means: np.ndarray,
        prec_chol: np.ndarray,
        covariance_type: str,
        *,
        log_weights: np.ndarray | None = None,
        radius: float | None = None,
    ) -> None:
        self.means = np.asarray(means, dtype=np.float64)
        self.prec_chol = np.asarray(prec_chol, dtype=np.float64)
        covariance_type = storage_type(covariance_type)
        self.covariance_type = covariance_type
        n_features = self.means.shape[1]
        self.n_features = n_features
        log_det = log_det_precisions_cholesky(self.prec_chol, covariance_type, n_features)
        # log-density = -0.5 maha + offset (per component, or one number for tied)
        offset = np.asarray(log_det - 0.5 * n_features * LOG_2PI, dtype=np.float64)
        if log_weights is not None:
            offset = offset + np.asarray(log_weights, dtype=np.float64).reshape(-1)
        self.offset = offset
        self.unsafe: np.ndarray | None = None
        if covariance_type == "full":
            self._prepare_full(radius)

    def _prepare_full(self, radius: float | None) -> None:
        n_components, n_features = self.means.shape
        rows, cols = _pairs(n_features)
        n_pairs = len(rows)
        precision = self.prec_chol @ np.swapaxes(self.prec_chol, 1, 2)  # P_k = U_k U_k^T
        projected_mean = np.einsum("kd,kde->ke", self.means, self.prec_chol)  # mu_k^T U_k
        coef = np.empty((n_components, n_pairs + n_features + 1))
        coef[:, :n_pairs] = -0.5 * precision[:, rows, cols] * np.where(rows == cols, 1.0, 2.0)
        coef[:, n_pairs:-1] = np.einsum("kde,ke->kd", precision, self.means)
        coef[:, -1] = -0.5 * np.einsum("kd,kd->k", projected_mean, projected_mean)
        coef[:, -1] += self.offset
        self.coef = coef
        self.error_scale = 2.0 * (n_pairs + n_features) * np.finfo(np.float64).eps
        self.error_scale *= np.sqrt(np.einsum("kde,kde->k", precision, precision))
        self.mean_norm = np.linalg.norm(self.means, axis=1)
        if radius is not None:
            self.unsafe = self._unsafe(radius)

    def _unsafe(self, radius: float) -> np.ndarray:
        """Components whose expanded form could be off by more than EXPANDED_MAX_ERROR."""
        bound = self.error_scale * (radius + self.mean_norm) ** 2
        return np.flatnonzero(~(bound <= self.EXPANDED_MAX_ERROR))

    def _full(self, X: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        if features is None:
            features = pair_features(X)
        out = self.coef @ features
        unsafe = self.unsafe
        if unsafe is None:
            unsafe = self._unsafe(float(np.sqrt(np.einsum("nd,nd->n", X, X).max(initial=0.0))))
        if unsafe.size:
            maha = _maha_direct(X.T, self.means[unsafe], self.prec_chol[unsafe])
            out[unsafe] = -0.5 * maha + self.offset[unsafe, None]
        return out

    def __call__(
        self, X: np.ndarray, *, component_major: bool = False, features: np.ndarray | None = None
    ) -> np.ndarray:
        """Log densities of the rows of ``X`` (N, D): shape (N, K), or (K, N) when
        ``component_major``; ``features`` is ``pair_features(X)`` (full only), when the
        caller has it already."""
        means, prec_chol = self.means, self.prec_chol
        if self.covariance_type == "full":
            out = self._full(X, features)
            return out if component_major else out.T
        if self.covariance_type == "tied":
            # Centre on each mean before squaring: the expanded form loses digits far from mu.
            projected = (prec_chol.T @ X.T)[None, :, :] - (means @ prec_chol)[:, :, None]
            np.square(projected, out=projected)
            maha = projected.sum(axis=1)
        elif self.covariance_type == "diag":
            XT = X.T
            precisions = prec_chol**2
            maha = precisions @ (XT * XT) - 2.0 * (means * precisions) @ XT
            maha += np.sum(means * means * precisions, axis=1)[:, None]
            np.maximum(maha, 0.0, out=maha)
        else:
            precisions = prec_chol**2
            maha = np.einsum("nd,nd->n", X, X)[None, :] - 2.0 * means @ X.T
            maha += np.einsum("kd,kd->k", means, means)[:, None]
            maha *= precisions[:, None]
            np.maximum(maha, 0.0, out=maha)
        maha *= -0.5
        maha += self.offset if self.offset.ndim == 0 else self.offset[:, None]
        return maha if component_major else maha.T


def _maha_direct(XT: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
    """``||(x_n - mu_k) U_k||^2`` (K, N) as ``[U_1 ... U_K]^T @ X^T`` minus the projected
    means: exact to a few ulps of each projected coordinate, at 2 K D^2 flops per row plus
    three passes over a (K, D, N) temporary."""
    n_components, n_features = means.shape
    stacked = np.ascontiguousarray(prec_chol.transpose(0, 2, 1)).reshape(
        n_components * n_features, n_features
    )
    projected = (stacked @ XT).reshape(n_components, n_features, XT.shape[1])
    projected -= np.einsum("kd,kde->ke", means, prec_chol)[:, :, None]
    np.square(projected, out=projected)
    return projected.sum(axis=1)


def log_gaussian_prob(
    X: np.ndarray,
    means: np.ndarray,
    prec_chol: np.ndarray,
    covariance_type: str,
    *,
    component_major: bool = False,
) -> np.ndarray:
    """Log density of every row of ``X`` under every component (:class:`ComponentDensity`).

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
    density = ComponentDensity(means, prec_chol, covariance_type)
    return density(X, component_major=component_major)


def as_full(
    covariances: np.ndarray, covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """Expand any covariance layout to full matrices of shape (K, D, D)."""
    covariances = np.asarray(covariances, dtype=np.float64)
    covariance_type = storage_type(covariance_type)
    if covariance_type == "full":
        return covariances.copy()
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features)).copy()
    if covariance_type == "diag":
        return np.einsum("kd,de->kde", covariances, np.eye(n_features))
    check_covariance_type(covariance_type, mclust=True)
    return covariances[:, None, None] * np.eye(n_features)[None]
