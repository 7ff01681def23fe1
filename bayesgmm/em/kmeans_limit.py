"""EM with one shared spherical variance held fixed: k-means as its small-variance limit.

For a mixture ``sum_k pi_k N(x | mu_k, sigma^2 I)`` with ``sigma^2`` and the weights held
fixed, EM updates only the means: the E-step gives soft responsibilities
``g_nk ∝ pi_k exp(-|x_n - mu_k|^2 / (2 sigma^2))`` and the M-step sets each mean to the
responsibility-weighted average of the rows. As ``sigma^2 -> 0`` the responsibilities
harden into nearest-mean assignments (the ``log pi_k`` terms vanish next to
``|x - mu|^2 / (2 sigma^2)``), and one EM iteration becomes one Lloyd iteration of k-means
(Bishop 2006, *Pattern Recognition and Machine Learning*, section 9.3.2).

This runs on the ordinary E-step (:func:`bayesgmm.em.sufficient_statistics`, its
``spherical`` statistics) and keeps only the mean update of the M-step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from bayesgmm._utils.validation import check_data, check_positive
from bayesgmm.em.results import GMMParams
from bayesgmm.em.steps import e_step, sufficient_statistics
from bayesgmm.mixture.covariance import precisions_cholesky

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["FixedVarianceEM", "fit_em_fixed_variance"]


class FixedVarianceEM(NamedTuple):
    """Result of :func:`fit_em_fixed_variance`.

    Attributes
    ----------
    means : ndarray of shape (K, D)
        The fixed point reached (or the last iterate).
    weights : ndarray of shape (K,)
        The fixed weights used.
    variance : float
        The fixed shared variance ``sigma^2``.
    responsibilities : ndarray of shape (N, K)
        Membership probabilities at ``means``; rows sum to 1.
    log_likelihood : float
        Total log-likelihood of the data at ``means``.
    n_iter : int
        EM iterations run.
    converged : bool
        Whether the means moved by at most ``tol`` times the data's largest sd in the
        last iteration.
    """

    means: np.ndarray
    weights: np.ndarray
    variance: float
    responsibilities: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool


def _check_weights(weights: ArrayLike | None, n_components: int) -> np.ndarray:
    if weights is None:
        return np.full(n_components, 1.0 / n_components)
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (n_components,) or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(
            f"weights must be {n_components} finite positive numbers, one per row of "
            f"means_init; got {weights!r}."
        )
    return array / array.sum()


def _params(means: np.ndarray, weights: np.ndarray, variance: float) -> GMMParams:
    covariances = np.full(means.shape[0], variance)
    return GMMParams(
        weights, means, covariances, precisions_cholesky(covariances, "spherical"), "spherical"
    )


def fit_em_fixed_variance(
    X: ArrayLike,
    means_init: ArrayLike,
    variance: float,
    *,
    weights: ArrayLike | None = None,
    max_iter: int = 300,
    tol: float = 1e-12,
) -> FixedVarianceEM:
    """EM for the means of a mixture with a fixed shared spherical covariance ``variance * I``.

    The weights and the variance stay fixed; each iteration is the ordinary E-step followed
    by the mean update of the M-step. At small ``variance`` the iteration is Lloyd's k-means
    algorithm, and its fixed point equals scikit-learn's ``KMeans`` centroids from the
    same start (``KMeans(init=means_init, n_init=1)``).

    Parameters
    ----------
    X : array-like of shape (N, D)
    means_init : array-like of shape (K, D)
        The starting means (for example K rows of ``X``).
    variance : float
        The shared variance ``sigma^2`` (> 0), in the squared units of ``X``.
    weights : array-like of shape (K,), optional
        Fixed mixing weights (normalised to sum to 1); default equal weights.
    max_iter : int
        Most EM iterations.
    tol : float
        Stop when no mean moves by more than ``tol`` times the largest feature sd of ``X``.

    Returns
    -------
    FixedVarianceEM

    Notes
    -----
    A component that receives no responsibility (possible only at small ``variance``) keeps
    its mean; scikit-learn's ``KMeans`` would move such an empty cluster to a far point.
    """
    X, _ = check_data(X, min_samples=2)
    means, _ = check_data(means_init, n_features=X.shape[1], name="means_init", owner="X")
    variance = check_positive(variance, "variance")
    weights = _check_weights(weights, means.shape[0])
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0; got {max_iter!r}.")
    tol = check_positive(tol, "tol", allow_zero=True)
    step_bound = tol * float(X.std(axis=0).max())
    converged = False
    n_iter = 0
    while n_iter < max_iter and not converged:
        stats = sufficient_statistics(X, _params(means, weights, variance))
        filled = stats.resp_sum > 0
        updated = means.copy()
        updated[filled] = stats.weighted_sum[filled] / stats.resp_sum[filled, None]
        converged = float(np.abs(updated - means).max()) <= step_bound
        means = updated
        n_iter += 1
    log_norm, log_resp = e_step(X, _params(means, weights, variance))
    return FixedVarianceEM(
        means, weights, variance, np.exp(log_resp), float(log_norm.sum()), n_iter, converged
    )
