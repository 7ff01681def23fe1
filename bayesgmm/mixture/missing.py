"""Gaussian mixtures on rows with missing coordinates: patterns and conditional Gaussians.

A row with missing coordinates ``m`` and observed ones ``o`` has, under component ``k``,
the marginal density ``N(x_o | mu_ko, Sigma_koo)``, and its missing part, given the
observed one, is Gaussian with

- mean ``mu_km + Sigma_kmo Sigma_koo^-1 (x_o - mu_ko)``,
- covariance ``Sigma_kmm - Sigma_kmo Sigma_koo^-1 Sigma_kom``.

For diagonal and spherical covariances the coordinates are independent within a
component: the marginal drops the missing coordinates and the conditional is the
component's own ``N(mu_km, diag(sigma_km^2))``.

Rows are grouped by their *missingness pattern* (which coordinates are NaN), so that each
sub-covariance is factorised once per pattern and component. Everything here assumes the
values are missing at random (MAR): whether a value is missing may depend on the observed
values of the row, not on the missing value itself.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy import special

from bayesgmm.mixture.covariance import as_full, log_gaussian_prob, precisions_cholesky
from bayesgmm.mixture.far import far_memberships_observed
from bayesgmm.mixture.observations import weighted_moments
from bayesgmm.mixture.structures import get_structure

__all__ = [
    "Conditional",
    "Pattern",
    "conditional_gaussians",
    "log_component_density_observed",
    "missing_patterns",
    "nan_covariance",
    "nan_mean",
    "nan_moments",
    "observed_e_step",
]


class Pattern(NamedTuple):
    """The rows that share one missingness pattern.

    Attributes
    ----------
    rows : ndarray of int
        Row indices, increasing.
    observed, missing : ndarray of int
        Observed and missing feature indices.
    """

    rows: np.ndarray
    observed: np.ndarray
    missing: np.ndarray


class Conditional(NamedTuple):
    """Per-component marginal densities and conditionals of one pattern's rows.

    Attributes
    ----------
    log_prob : ndarray of shape (K, n)
        ``log N(x_o | mu_ko, Sigma_koo)``.
    means : ndarray of shape (K, n, M)
        ``E[x_m | x_o, k]``.
    covariances : ndarray of shape (K, M, M), or (K, M) variances when diagonal
        ``Cov[x_m | x_o, k]`` (the same for every row of the pattern).
    """

    log_prob: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def missing_patterns(X: np.ndarray) -> list[Pattern]:
    """Group the rows of ``X`` by which entries are NaN, complete rows first."""
    nan = np.isnan(X)
    masks, inverse = np.unique(nan, axis=0, return_inverse=True)
    order = np.argsort(masks.sum(axis=1), kind="stable")
    features = np.arange(X.shape[1])
    out = []
    for p in order:
        mask = masks[p]
        rows = np.flatnonzero(inverse.ravel() == p)
        out.append(Pattern(rows, features[~mask], features[mask]))
    return out


def conditional_gaussians(
    X_obs: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    covariance_type: str,
    pattern: Pattern,
    *,
    need_conditional: bool = True,
) -> Conditional:
    """Marginal log densities and conditional moments of one pattern's rows.

    Parameters
    ----------
    X_obs : ndarray of shape (n, O)
        The observed coordinates of the pattern's rows.
    means : ndarray of shape (K, D)
    covariances : ndarray
        In the layout of ``covariance_type`` (:mod:`bayesgmm.mixture.covariance`).
    covariance_type : str
        A registered structure (:mod:`bayesgmm.mixture.structures`).
    pattern : Pattern
    need_conditional : bool
        ``False`` skips the conditional moments (``means`` and ``covariances`` of the
        result are then empty): what a density alone needs.

    Returns
    -------
    Conditional
    """
    n_components, n_features = means.shape
    obs, mis = pattern.observed, pattern.missing
    structure = get_structure(covariance_type)
    covariances = np.asarray(covariances, dtype=np.float64)
    empty = np.empty((n_components, X_obs.shape[0], 0)), np.empty((n_components, 0))
    if structure.diagonal:
        variances = structure.variances(covariances, n_components, n_features)
        prec = 1.0 / np.sqrt(variances[:, obs])
        log_prob = log_gaussian_prob(X_obs, means[:, obs], prec, "diag", component_major=True)
        if not need_conditional:
            return Conditional(log_prob, *empty)
        cond_means = np.broadcast_to(means[:, None, mis], (n_components, X_obs.shape[0], mis.size))
        return Conditional(log_prob, cond_means.copy(), variances[:, mis].copy())
    stack = structure.as_full(covariances, n_components, n_features)
    cov_oo = stack[:, obs][:, :, obs]
    prec_chol = precisions_cholesky(cov_oo, "full")  # U with Sigma_oo^-1 = U U^T
    log_prob = log_gaussian_prob(X_obs, means[:, obs], prec_chol, "full", component_major=True)
    if not need_conditional or mis.size == 0:
        return Conditional(log_prob, *empty)
    cov_mo = stack[:, mis][:, :, obs]
    # B_k = Sigma_mo Sigma_oo^-1, the regression of the missing on the observed coordinates.
    regression = cov_mo @ prec_chol @ np.swapaxes(prec_chol, -1, -2)
    centred = X_obs[None, :, :] - means[:, None, obs]  # (K, n, O)
    cond_means = means[:, None, mis] + centred @ np.swapaxes(regression, -1, -2)
    cond_cov = stack[:, mis][:, :, mis] - regression @ np.swapaxes(cov_mo, -1, -2)
    cond_cov = 0.5 * (cond_cov + np.swapaxes(cond_cov, -1, -2))
    return Conditional(log_prob, cond_means, cond_cov)


def log_component_density_observed(
    X: np.ndarray, means: np.ndarray, covariances: np.ndarray, covariance_type: str
) -> np.ndarray:
    """``log N(x_no | mu_ko, Sigma_koo)`` on each row's observed coordinates: (N, K).

    A row without NaN gets the ordinary density; NaN marks the missing entries.
    """
    out = np.empty((X.shape[0], means.shape[0]))
    for pattern in missing_patterns(X):
        X_obs = X[np.ix_(pattern.rows, pattern.observed)]
        cond = conditional_gaussians(
            X_obs, means, covariances, covariance_type, pattern, need_conditional=False
        )
        out[pattern.rows] = cond.log_prob.T
    return out


def nan_mean(X: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Per-column mean of the observed (non-NaN) values, weighted when ``sample_weight``
    is given: integer weights give the mean of the rows repeated."""
    if sample_weight is None:
        return np.nanmean(X, axis=0)
    observed = ~np.isnan(X)
    return sample_weight @ np.where(observed, X, 0.0) / (sample_weight @ observed)


def nan_moments(
    X: np.ndarray, sample_weight: np.ndarray | None = None, ddof: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and sd of the observed values; with ``sample_weight``, those of
    frequency weights (divisor ``sum of the observed weights - ddof``, so that integer
    weights give the moments of the rows repeated). A column with no more observed
    weight than ``ddof`` gets sd NaN (unweighted) or 0 (weighted): callers test it."""
    mean = nan_mean(X, sample_weight)
    if sample_weight is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            return mean, np.nanstd(X, axis=0, ddof=ddof)
    observed = ~np.isnan(X)
    weight = sample_weight @ observed
    squares = sample_weight @ np.where(observed, X - mean, 0.0) ** 2
    return mean, np.sqrt(squares / np.maximum(weight - ddof, np.finfo(np.float64).tiny))


def nan_covariance(X: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """A positive semi-definite data covariance (``ddof=1``) of ``X`` with NaN entries.

    The variances are those of the observed values of each column; the correlations are
    those of the mean-imputed data, which are pulled towards 0 by the share missing but,
    unlike pairwise-complete correlations, always form a valid correlation matrix. Used
    where only a data scale is needed (the default MAP-EM prior, the collapse checks).
    With ``sample_weight`` every moment is that of frequency weights (divisor
    ``sum(w) - 1``), so that integer weights give the covariance of the rows repeated.
    """
    mean, sd = nan_moments(X, sample_weight)
    imputed = np.where(np.isnan(X), mean, X)
    if sample_weight is None:
        cov = np.atleast_2d(np.cov(imputed, rowvar=False))
    else:
        _, cov = weighted_moments(imputed, sample_weight)
    sd_imputed = np.sqrt(np.diag(cov))
    factor = np.divide(sd, sd_imputed, out=np.ones_like(sd), where=sd_imputed > 0)
    return cov * factor[:, None] * factor[None, :]


def observed_e_step(X: np.ndarray, params: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bayesgmm.em.e_step` on each row's observed coordinates.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        NaN marks missing entries.
    params : GMMParams

    Returns
    -------
    log_norm : ndarray of shape (N,)
        ``log sum_k pi_k N(x_no | mu_ko, Sigma_koo)``.
    log_resp : ndarray of shape (N, K)
    """
    log_prob = log_component_density_observed(
        X, params.means, params.covariances, params.covariance_type
    )
    with np.errstate(divide="ignore"):  # an empty component adds nothing
        weighted = log_prob + np.log(params.weights)
    log_norm = special.logsumexp(weighted, axis=1)
    far = np.flatnonzero(np.isneginf(log_norm))
    weighted[far] = 0.0  # no -inf - -inf: set below
    log_resp = weighted - log_norm[:, None]
    for row in far:  # every density underflowed: the nearest component on the observed
        log_resp[row] = _far_log_resp(X[row], params)
    return log_norm, log_resp


def _far_log_resp(x: np.ndarray, params: Any) -> np.ndarray:
    """Log memberships of a row beyond every component (:mod:`bayesgmm.mixture.far`), on
    its observed coordinates."""
    n_components, n_features = params.means.shape
    full = as_full(params.covariances, params.covariance_type, n_components, n_features)
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
        return np.log(far_memberships_observed(x[None], params.means, full, log_weights)[0])
