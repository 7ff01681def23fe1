"""The numpy Gaussian maths of every covariance structure, on plain arrays.

The functions here take a ``covariance_type`` name and ask its registry entry
(:mod:`bayesgmm.mixture.structures`). Shapes of the four scikit-learn structures follow
``GaussianMixture`` so that results can be compared directly:

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

from bayesgmm.mixture.structures import get_structure
from bayesgmm.mixture.structures.base import COLLAPSE_HINT
from bayesgmm.mixture.structures.matrices import mahalanobis_direct

__all__ = [
    "COLLAPSE_HINT",
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
    "unpack_pairs",
]

LOG_2PI = float(np.log(2.0 * np.pi))


def collapse_hint(reg_covar: float, has_prior: bool = False) -> str:
    """What to do about a collapsed EM component, given the fit's settings: a MAP-EM fit
    already has the prior, so it is told to strengthen it rather than to use it."""
    prior = (
        "strengthen the MAP prior (a larger dof or scale of its ConjugatePrior)"
        if has_prior
        else "use the MAP prior (prior='default')"
    )
    return f"increase reg_covar (now {reg_covar:g}), {prior}, or reduce n_components"


def covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple:
    """Shape of the covariance array for a covariance type."""
    return get_structure(covariance_type).shape(n_components, n_features)


def n_covariance_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Number of free covariance parameters."""
    return get_structure(covariance_type).n_parameters(n_components, n_features)


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of a K-component mixture: weights, means and covariances."""
    return (
        (n_components - 1)
        + n_components * n_features
        + n_covariance_parameters(covariance_type, n_components, n_features)
    )


def precisions_cholesky(
    covariances: np.ndarray, covariance_type: str, *, reg_covar: float = 0.0
) -> np.ndarray:
    """Cholesky factors of the precision matrices.

    Parameters
    ----------
    covariances : ndarray
        Covariances in the layout of ``covariance_type`` (see module docstring).
    covariance_type : str
        A registered structure (:mod:`bayesgmm.mixture.structures`).
    reg_covar : float
        Only used to word the error message.

    Raises
    ------
    CollapseError
        A covariance is not positive definite; the message names the component.
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    return get_structure(covariance_type).precisions_cholesky(covariances, reg_covar)


def covariances_from_precisions_cholesky(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    """Invert :func:`precisions_cholesky`."""
    return get_structure(covariance_type).covariances_from_precisions_cholesky(prec_chol)


def log_det_precisions_cholesky(
    prec_chol: np.ndarray, covariance_type: str, n_features: int
) -> np.ndarray | float:
    """``log det`` of the precision Cholesky factors (half the precision's log-det)."""
    return get_structure(covariance_type).log_det_precisions_cholesky(prec_chol, n_features)


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
    (:mod:`bayesgmm.mixture.draws`) and the criteria all go through it.

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
    covariance_type : str
        A registered structure (:mod:`bayesgmm.mixture.structures`).
    log_weights : ndarray of shape (K,), optional
        Added to every log-density (the mixture's ``log pi_k``); none when omitted.
    radius : float, optional
        An upper bound on the norm of the rows the density will see (full only). When
        given, the choice of form per component is made once here; otherwise per call.
    """

    # Absolute error allowed in a Mahalanobis distance (half of it in a log-density).
    EXPANDED_MAX_ERROR = 1e-9
    # Components whose centre lies further than this many times their span (the spread of
    # their means, at least their smallest sd) from the origin are evaluated in
    # coordinates centred on them.
    SHIFT_BEYOND = 1e4

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
        self.structure = get_structure(covariance_type)
        self.covariance_type = self.structure.name
        self.shift = self._origin_shift()
        if self.shift is not None:
            self.means = self.means - self.shift
            if radius is not None:  # a bound on the shifted rows' norms
                radius = radius + float(np.linalg.norm(self.shift))
        n_features = self.means.shape[1]
        self.n_features = n_features
        log_det = self.structure.log_det_precisions_cholesky(self.prec_chol, n_features)
        # log-density = -0.5 maha + offset (per component, or one number for tied)
        offset = np.asarray(log_det - 0.5 * n_features * LOG_2PI, dtype=np.float64)
        if log_weights is not None:
            offset = offset + np.asarray(log_weights, dtype=np.float64).reshape(-1)
        self.offset = offset
        self.unsafe: np.ndarray | None = None
        if self.structure.pair_features:
            self._prepare_full(radius)

    def _origin_shift(self) -> np.ndarray | None:
        """The components' centre when the whole mixture lies far from the origin relative
        to its own span, else None.

        There (data offset by 1e15) x'Px, and even (x - mu)U computed as xU - muU, cancel
        catastrophically; the rows near the mixture are exactly representable as
        differences from its centre (Sterbenz), and the density is translation-invariant.
        """
        if self.means.size == 0:
            return None
        centre = self.means.mean(axis=0)
        largest_factor = float(np.max(np.abs(self.prec_chol), initial=0.0))
        smallest_sd = 1.0 / max(largest_factor, np.finfo(np.float64).tiny)
        span = max(float(np.max(np.ptp(self.means, axis=0))), smallest_sd)
        return None if float(np.max(np.abs(centre))) <= self.SHIFT_BEYOND * span else centre

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
        # Far rows overflow the squares of the expanded form: _unsafe sends them to the
        # direct one (and beyond 1e154 sds to -inf, see mixture.far).
        with np.errstate(over="ignore", invalid="ignore"):
            if features is None:
                features = pair_features(X)
            out = self.coef @ features
            unsafe = self.unsafe
            if unsafe is None:
                unsafe = self._unsafe(float(np.sqrt(np.einsum("nd,nd->n", X, X).max(initial=0))))
        if unsafe.size:
            with np.errstate(over="ignore"):  # beyond 1e154 sds: -inf, see mixture.far
                maha = mahalanobis_direct(X.T, self.means[unsafe], self.prec_chol[unsafe])
            out[unsafe] = -0.5 * maha + self.offset[unsafe, None]
        return out

    def __call__(
        self, X: np.ndarray, *, component_major: bool = False, features: np.ndarray | None = None
    ) -> np.ndarray:
        """Log densities of the rows of ``X`` (N, D): shape (N, K), or (K, N) when
        ``component_major``; ``features`` is ``pair_features(X)`` (full only), when the
        caller has it already."""
        if self.shift is not None:
            X, features = X - self.shift, None
        if self.structure.pair_features:
            out = self._full(X, features)
            return out if component_major else out.T
        with np.errstate(over="ignore", invalid="ignore"):  # far rows: -inf, see mixture.far
            maha = self.structure.mahalanobis(X, self.means, self.prec_chol)
        maha *= -0.5
        maha += self.offset if self.offset.ndim == 0 else self.offset[:, None]
        return maha if component_major else maha.T


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
    covariance_type : str
        A registered structure (:mod:`bayesgmm.mixture.structures`).
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
    return get_structure(covariance_type).as_full(covariances, n_components, n_features)
