"""Expectation-maximisation for Gaussian mixtures, in numpy alone.

Maximum likelihood (ML) or maximum a posteriori (MAP-EM) with the conjugate
normal / inverse-Wishart prior of Fraley & Raftery (2007), for the four covariance types.

The E-step works on blocks of rows and returns *sufficient statistics*
(``N_k``, ``sum_n g_nk x_n``, ``sum_n g_nk x_n x_n^T``); the M-step consumes their sum.
The same core therefore runs on an in-memory array, on chunks streamed from disk, or
mapped over the chunks of a Dask array and reduced.

This module imports neither PyMC nor matplotlib, so a user who only wants EM does not pay
their import time (a test checks this).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
from scipy import special, stats

from bayesgmm._validation import (
    check_covariance_type,
    check_data,
    check_n_components,
    check_positive,
    check_random_state,
    constant_features,
    describe_features,
)
from bayesgmm.covariance import (
    COLLAPSE_HINT,
    ComponentDensity,
    log_gaussian_prob,
    n_parameters,
    pair_features,
    precisions_cholesky,
    unpack_pairs,
)
from bayesgmm.exceptions import CollapseError, ConvergenceWarning, DegenerateComponentWarning
from bayesgmm.standardize import warn_if_quantised

__all__ = [
    "ConjugatePrior",
    "EMResult",
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

# Rows per block: keeps the (rows, K, D) temporaries of the E-step inside the CPU caches.
_BLOCK_ELEMENTS = 1 << 16


class GMMParams(NamedTuple):
    """Parameters of a Gaussian mixture (shapes as in :mod:`bayesgmm.covariance`)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str


class ConjugatePrior(NamedTuple):
    """Conjugate prior for MAP-EM (Fraley & Raftery 2007).

    ``mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage)`` and ``Sigma_k ~ InvWishart(dof, scale)``
    (full, tied) or per-variance ``InvGamma(dof / 2, scale / 2)`` (diag, spherical);
    ``weights ~ Dirichlet(weight_concentration)`` with concentration >= 1.
    """

    mean: np.ndarray
    shrinkage: float
    dof: float
    scale: np.ndarray
    weight_concentration: float = 1.0


class SufficientStats(NamedTuple):
    """Per-component sufficient statistics of a block of rows.

    ``second_moment`` is ``sum_n g_nk x_n x_n^T`` (K, D, D) for ``full``, the per-feature
    ``sum_n g_nk x_n^2`` (K, D) for ``diag`` / ``spherical``, and the responsibility-free
    ``X^T X`` (D, D) for ``tied``.  Statistics of blocks add up with :meth:`__add__`-style
    :func:`sum_statistics`.
    """

    resp_sum: np.ndarray
    weighted_sum: np.ndarray
    second_moment: np.ndarray
    log_likelihood: float
    n_samples: int
    # Sum over rows of log g_{n, argmax}: what ICL needs, for free during the E-step.
    log_max_resp: float


class EMResult(NamedTuple):
    """Result of :func:`fit_em`.

    Attributes
    ----------
    weights, means, covariances, precisions_cholesky, covariance_type
        The fitted parameters (scikit-learn layouts).
    objective_trace : ndarray
        Objective at the start of every iteration and at the end: the log-likelihood in
        ML mode, the log posterior (log-likelihood + log prior) in MAP mode.
    log_likelihood : float
        Log-likelihood of the data at the returned parameters.
    log_prior : float
        Log prior density at the returned parameters (0 in ML mode).
    converged : bool
    n_iter : int
        Iterations of the returned restart.
    init_objectives : ndarray
        Final objective of every restart (NaN where a restart collapsed).
    best_init : int
    degenerate_components : tuple of int
        Components flagged by the collapse checks.
    prior : ConjugatePrior or None
    reg_covar : float
    n_samples : int
    log_max_resp : float
        ``sum_n log max_k g_nk``, used by ICL.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str
    objective_trace: np.ndarray
    log_likelihood: float
    log_prior: float
    converged: bool
    n_iter: int
    init_objectives: np.ndarray
    best_init: int
    degenerate_components: tuple[int, ...]
    prior: ConjugatePrior | None
    reg_covar: float
    n_samples: int
    log_max_resp: float

    @property
    def params(self) -> GMMParams:
        """The fitted parameters as :class:`GMMParams`."""
        return GMMParams(
            self.weights,
            self.means,
            self.covariances,
            self.precisions_cholesky,
            self.covariance_type,
        )

    @property
    def objective(self) -> float:
        """Final objective (log-likelihood plus log prior)."""
        return self.log_likelihood + self.log_prior


# ---------------------------------------------------------------------------------------
# E-step
# ---------------------------------------------------------------------------------------


def _block_rows(n_components: int, n_features: int) -> int:
    return max(256, _BLOCK_ELEMENTS // max(1, n_components * n_features))


def _log_weights(params: GMMParams) -> np.ndarray:
    with np.errstate(divide="ignore"):  # an empty component adds nothing
        return np.log(params.weights)


def _weighted_log_prob(X: np.ndarray, params: GMMParams) -> np.ndarray:
    """``log pi_k + log N(x_n | mu_k, Sigma_k)`` in component-major layout (K, N)."""
    log_prob = log_gaussian_prob(
        X, params.means, params.precisions_cholesky, params.covariance_type, component_major=True
    )
    log_prob += _log_weights(params)[:, None]
    return log_prob


def _normalize(weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One fused log-sum-exp over axis 0, in place.

    Returns (log_norm (N,), responsibilities (K, N), log of the largest responsibility (N,)).
    """
    col_max = weighted.max(axis=0)
    weighted -= col_max
    np.exp(weighted, out=weighted)
    total = weighted.sum(axis=0)
    weighted /= total
    log_total = np.log(total)
    # The largest responsibility is exp(0) / total: its log comes for free.
    return log_total + col_max, weighted, -log_total


def e_step(X: np.ndarray, params: GMMParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log mixture density and log responsibilities.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    params : GMMParams

    Returns
    -------
    log_norm : ndarray of shape (N,)
        ``log sum_k pi_k N(x_n | mu_k, Sigma_k)``.
    log_resp : ndarray of shape (N, K)
        Log posterior membership probabilities; ``exp`` of each row sums to 1.
    """
    weighted = _weighted_log_prob(X, params)
    log_norm = special.logsumexp(weighted, axis=0)
    return log_norm, (weighted - log_norm).T


def sufficient_statistics(
    X: np.ndarray, params: GMMParams, *, block_rows: int | None = None
) -> SufficientStats:
    """E-step on ``X`` in blocks of rows, reduced to sufficient statistics.

    This is the map step of a map-reduce EM: call it per chunk (for example per Dask
    chunk), add the results with :func:`sum_statistics`, and pass the sum to
    :func:`m_step`.
    """
    n_samples, n_features = X.shape
    n_components = params.means.shape[0]
    cov_type = params.covariance_type
    block_rows = block_rows or _block_rows(n_components, n_features)
    resp_sum = np.zeros(n_components)
    weighted_sum = np.zeros((n_components, n_features))
    n_pairs = n_features * (n_features + 1) // 2
    if cov_type == "full":
        # [second-moment upper triangles | weighted sums | counts], split at the end
        packed = np.zeros((n_components, n_pairs + n_features + 1))
    elif cov_type == "tied":
        second = np.zeros((n_features, n_features))
    else:
        second = np.zeros((n_components, n_features))
    log_lik = 0.0
    log_max_resp = 0.0
    # Prepared once: per block only the GEMMs and element-wise passes remain. The largest
    # row norm (one pass over X) lets the full density choose its form once.
    radius = float(np.sqrt(np.einsum("nd,nd->n", X, X).max(initial=0.0)))
    density = ComponentDensity(
        params.means,
        params.precisions_cholesky,
        cov_type,
        log_weights=_log_weights(params),
        radius=radius,
    )
    for start in range(0, n_samples, block_rows):
        block = X[start : start + block_rows]
        # Full: the products x_i x_j serve the log densities (one GEMM) and the statistics
        # (one GEMM) alike: resp @ features^T = [sum g x_i x_j | sum g x | sum g].
        features = pair_features(block) if cov_type == "full" else None
        weighted = density(block, component_major=True, features=features)
        log_norm, resp, block_log_max = _normalize(weighted)
        log_lik += float(log_norm.sum())
        log_max_resp += float(block_log_max.sum())
        if features is not None:
            packed += resp @ features.T
            continue
        resp_sum += resp.sum(axis=1)
        weighted_sum += resp @ block
        if cov_type == "tied":
            second += block.T @ block
        else:
            second += resp @ (block * block)
    if cov_type == "full":
        second = unpack_pairs(packed[:, :n_pairs], n_features)
        weighted_sum, resp_sum = packed[:, n_pairs:-1].copy(), packed[:, -1].copy()
    return SufficientStats(resp_sum, weighted_sum, second, log_lik, n_samples, log_max_resp)


def sum_statistics(parts: Iterable[SufficientStats]) -> SufficientStats:
    """Add the statistics of several blocks (the reduce step)."""
    parts = list(parts)
    if not parts:
        raise ValueError("sum_statistics needs at least one block of statistics.")
    return SufficientStats(
        *(sum(getattr(p, f) for p in parts) for f in SufficientStats._fields)  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------------------
# M-step
# ---------------------------------------------------------------------------------------


def m_step(
    stats: SufficientStats,
    covariance_type: str,
    *,
    reg_covar: float = 1e-6,
    prior: ConjugatePrior | None = None,
) -> GMMParams:
    """Parameters that maximise the expected complete-data log-likelihood (plus log prior).

    Parameters
    ----------
    stats : SufficientStats
        Summed over all rows.
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of every covariance (a floor against collapse).
    prior : ConjugatePrior, optional
        When given, the M-step returns the joint posterior mode (MAP-EM).

    Returns
    -------
    GMMParams

    Raises
    ------
    CollapseError
        A covariance is singular (only possible with ``reg_covar=0`` and no prior).
    """
    n_features = stats.weighted_sum.shape[1]
    n_components = stats.resp_sum.shape[0]
    # Same guard as scikit-learn: an empty component keeps finite means.
    nk = stats.resp_sum + 10 * np.finfo(np.float64).eps
    x_bar = stats.weighted_sum / nk[:, None]
    eye = np.eye(n_features)

    if prior is None:
        weights = nk / nk.sum()
        means = x_bar
        if covariance_type == "full":
            cov = stats.second_moment / nk[:, None, None] - np.einsum("kd,ke->kde", means, means)
            cov += reg_covar * eye
        elif covariance_type == "tied":
            cov = (stats.second_moment - (nk[:, None] * means).T @ means) / nk.sum()
            cov += reg_covar * eye
        else:
            cov = stats.second_moment / nk[:, None] - means**2 + reg_covar
            if covariance_type == "spherical":
                cov = cov.mean(axis=1)
    else:
        alpha = prior.weight_concentration
        weights = (nk + alpha - 1.0) / (nk.sum() + n_components * (alpha - 1.0))
        kappa, nu = prior.shrinkage, prior.dof
        means = (nk[:, None] * x_bar + kappa * prior.mean) / (nk + kappa)[:, None]
        offset = x_bar - prior.mean
        shrink = kappa * nk / (kappa + nk)
        if covariance_type in ("full", "tied"):
            scatter = stats_scatter(stats, x_bar, nk, covariance_type)
            between = shrink[:, None, None] * np.einsum("kd,ke->kde", offset, offset)
            if covariance_type == "full":
                cov = (prior.scale + between + scatter) / (nu + nk + n_features + 2)[:, None, None]
            else:
                cov = (prior.scale + between.sum(0) + scatter) / (
                    nu + nk.sum() + n_components + n_features + 1
                )
            cov = cov + reg_covar * eye
        else:
            scatter = stats.second_moment - nk[:, None] * x_bar**2
            np.maximum(scatter, 0.0, out=scatter)
            if covariance_type == "diag":
                cov = (prior.scale + shrink[:, None] * offset**2 + scatter) / (nu + nk + 3)[:, None]
            else:
                cov = (prior.scale + shrink * np.sum(offset**2, axis=1) + scatter.sum(axis=1)) / (
                    nu + (nk + 1) * n_features + 2
                )
            cov = cov + reg_covar
    if covariance_type in ("full", "tied"):
        cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))  # symmetric to the last bit
    prec_chol = precisions_cholesky(cov, covariance_type, reg_covar=reg_covar)
    return GMMParams(weights, means, cov, prec_chol, covariance_type)


def stats_scatter(
    stats: SufficientStats, x_bar: np.ndarray, nk: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Within-component scatter ``W_k = sum_n g_nk (x_n - xbar_k)(x_n - xbar_k)^T``.

    For ``tied`` the sum over components is returned.
    """
    outer = np.einsum("kd,ke->kde", x_bar, x_bar) * nk[:, None, None]
    if covariance_type == "tied":
        return stats.second_moment - outer.sum(axis=0)
    return stats.second_moment - outer


# ---------------------------------------------------------------------------------------
# Prior
# ---------------------------------------------------------------------------------------


def default_prior(
    X: np.ndarray,
    n_components: int,
    covariance_type: str = "full",
    *,
    shrinkage: float = 0.01,
    dof: float | None = None,
    weight_concentration: float = 1.0,
) -> ConjugatePrior:
    """The data-scaled conjugate prior of Fraley & Raftery (2007), as in mclust.

    ``mean`` = column means; ``shrinkage`` = 0.01; ``dof`` = D + 2; ``scale`` = the data
    covariance divided by ``K^(2/D)`` (its diagonal for ``diag``; the average variance for
    ``spherical``), so that the prior guesses components ``K`` times smaller in volume than
    the whole data.
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    data_cov = np.atleast_2d(np.cov(X, rowvar=False)) if n_samples > 1 else np.eye(n_features)
    return prior_from_moments(
        X.mean(axis=0),
        data_cov,
        n_components,
        covariance_type,
        shrinkage=shrinkage,
        dof=dof,
        weight_concentration=weight_concentration,
    )


def prior_from_moments(
    mean: np.ndarray,
    data_cov: np.ndarray,
    n_components: int,
    covariance_type: str = "full",
    *,
    shrinkage: float = 0.01,
    dof: float | None = None,
    weight_concentration: float = 1.0,
) -> ConjugatePrior:
    """:func:`default_prior` from the data's column means and covariance (``ddof=1``).

    For data that are never in memory at once, such as a Dask array.
    """
    n_features = len(mean)
    check_covariance_type(covariance_type)
    data_cov = data_cov + 1e-12 * np.trace(data_cov) / n_features * np.eye(n_features)
    factor = float(n_components) ** (2.0 / n_features)
    if covariance_type in ("full", "tied"):
        scale = data_cov / factor
    elif covariance_type == "diag":
        scale = np.diag(data_cov) / factor
    else:
        scale = np.asarray(np.trace(data_cov) / n_features / factor)
    if np.any(np.diag(np.atleast_2d(scale)) <= 0) if scale.ndim else scale <= 0:
        scale = np.ones_like(scale) if scale.ndim < 2 else np.eye(n_features)
    return ConjugatePrior(
        mean=np.asarray(mean, dtype=np.float64),
        shrinkage=check_positive(shrinkage, "shrinkage"),
        dof=float(n_features + 2 if dof is None else dof),
        scale=scale,
        weight_concentration=float(weight_concentration),
    )


def _check_prior(prior: ConjugatePrior, n_features: int, covariance_type: str) -> ConjugatePrior:
    mean = np.asarray(prior.mean, dtype=np.float64)
    scale = np.asarray(prior.scale, dtype=np.float64)
    if mean.shape != (n_features,):
        raise ValueError(f"prior.mean must have shape ({n_features},); got {mean.shape}.")
    expected = {
        "full": (n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_features,),
        "spherical": (),
    }[covariance_type]
    if scale.shape != expected:
        raise ValueError(
            f"prior.scale must have shape {expected} for covariance_type="
            f"{covariance_type!r}; got {scale.shape}."
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
        raise ValueError("prior.mean and prior.scale must be finite.")
    check_positive(prior.shrinkage, "prior.shrinkage")
    min_dof = n_features - 1 if covariance_type in ("full", "tied") else 0
    if not np.isfinite(prior.dof) or prior.dof <= min_dof:
        raise ValueError(f"prior.dof must be > {min_dof}; got {prior.dof}.")
    if prior.weight_concentration < 1:
        raise ValueError(
            "MAP-EM needs weight_concentration >= 1 (a sparse Dirichlet has no interior "
            f"mode); got {prior.weight_concentration}. Use the Bayesian fit for alpha < 1."
        )
    if covariance_type in ("full", "tied"):
        if np.any(np.linalg.eigvalsh(scale) <= 0):
            raise ValueError("prior.scale must be positive definite.")
    elif np.any(scale <= 0):
        raise ValueError("prior.scale must be positive.")
    return ConjugatePrior(mean, float(prior.shrinkage), float(prior.dof), scale, prior[4])


def log_prior(params: GMMParams, prior: ConjugatePrior | None) -> float:
    """Log density of the conjugate prior at ``params`` (0 without a prior)."""
    if prior is None:
        return 0.0
    kappa, nu = prior.shrinkage, prior.dof
    n_components = params.means.shape[0]
    cov = params.covariances
    total = 0.0
    if n_components > 1:
        concentration = np.full(n_components, prior.weight_concentration)
        total += float(stats.dirichlet.logpdf(_interior(params.weights), concentration))
    if params.covariance_type == "full":
        for k in range(n_components):
            total += stats.invwishart.logpdf(cov[k], df=nu, scale=prior.scale)
            total += stats.multivariate_normal.logpdf(params.means[k], prior.mean, cov[k] / kappa)
    elif params.covariance_type == "tied":
        total += stats.invwishart.logpdf(cov, df=nu, scale=prior.scale)
        total += float(
            np.sum(stats.multivariate_normal.logpdf(params.means, prior.mean, cov / kappa))
        )
    else:
        variances = cov if params.covariance_type == "diag" else cov[:, None]
        total += float(np.sum(stats.invgamma.logpdf(variances, a=nu / 2, scale=prior.scale / 2)))
        sd = np.sqrt(np.broadcast_to(variances, params.means.shape) / kappa)
        total += float(np.sum(stats.norm.logpdf(params.means, prior.mean, sd)))
    return float(total)


def _interior(weights: np.ndarray) -> np.ndarray:
    # scipy's Dirichlet refuses exact zeros and sums off by one ulp.
    w = np.clip(weights, 1e-300, None)
    return w / w.sum()


# ---------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------

_INIT_METHODS = ("auto", "kmeans++", "random", "random_from_data")

# The "auto" search (see _RestartSearch.short_run_selection): _CANDIDATES_PER_RUN * n_init
# starts each get _SHORT_RUN_ITER EM iterations before n_init of them are run on. Measured
# on raw Old Faithful, K=3 full (whose best maximum only ~15-19% of single k-means++ or
# random-row starts reach): after 20 iterations the starts bound for it lead the ranking,
# after 5-10 they do not yet. With 5 starts per long run, fits reach it for 100 of 100
# seeds with n_init=10 or 5, and 93 of 100 with n_init=3.
_CANDIDATES_PER_RUN = 5
_SHORT_RUN_ITER = 20
# Random responsibilities are left out of the pool: every component starts at the data
# mean and 20 iterations barely break that symmetry, so their short-run objective says
# nothing about where they end.
_SHORT_RUN_STRATEGIES = ("kmeans++", "random_from_data")

# Starts (and the emEM short runs) use a random subsample of at most
# max(_INIT_SUBSAMPLE_MIN, _INIT_SUBSAMPLE_PER_COMPONENT * K) rows, so that their cost does
# not grow with N; EM's first iteration is then the full E-step on all rows. 2000 is what
# mclust gives its hierarchical start; 50 rows per component leave a component of weight
# 1 / (2K) about 25 rows, enough to place it and, for D < 24, to give it a full covariance.
_INIT_SUBSAMPLE_MIN = 2000
_INIT_SUBSAMPLE_PER_COMPONENT = 50


def init_subsample_size(n_samples: int, n_components: int) -> int:
    """Rows the starts of :func:`fit_em` use: ``max(2000, 50 K)``, capped at ``N``."""
    wanted = max(_INIT_SUBSAMPLE_MIN, _INIT_SUBSAMPLE_PER_COMPONENT * n_components)
    return min(n_samples, wanted)


def init_subsample_rows(
    n_samples: int, n_components: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Sorted random rows for the starts, or ``None`` when every row is used.

    With ``N`` at most :func:`init_subsample_size` no random number is drawn, so that small
    data get exactly the starts they got before subsampling existed.
    """
    size = init_subsample_size(n_samples, n_components)
    if size >= n_samples:
        return None
    return np.sort(rng.choice(n_samples, size=size, replace=False))


def _standardize(X: np.ndarray) -> np.ndarray:
    """Centred columns divided by their standard deviation (constant columns left as 0).

    Starts are computed on this scale, so that they, like EM itself, do not depend on the
    units of each feature.
    """
    centred = X - X.mean(axis=0)
    scale = centred.std(axis=0)
    scale[scale == 0] = 1.0
    return centred / scale


def _kmeans_plus_plus(X: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) with greedy local trials."""
    n_samples = X.shape[0]
    n_trials = 2 + int(np.log(n_components))
    sq_norms = np.einsum("nd,nd->n", X, X)
    centers = np.empty((n_components, X.shape[1]))
    centers[0] = X[rng.integers(n_samples)]
    closest = np.maximum(sq_norms - 2 * X @ centers[0] + centers[0] @ centers[0], 0.0)
    for k in range(1, n_components):
        total = closest.sum()
        if total <= 0:  # all remaining points coincide with chosen centres
            candidates = rng.integers(n_samples, size=n_trials)
        else:
            candidates = np.searchsorted(np.cumsum(closest), rng.random(n_trials) * total)
            candidates = np.minimum(candidates, n_samples - 1)
        cand = X[candidates]
        dist = np.maximum(
            sq_norms[None, :] - 2 * cand @ X.T + np.einsum("cd,cd->c", cand, cand)[:, None], 0
        )
        dist = np.minimum(dist, closest[None, :])
        best = int(np.argmin(dist.sum(axis=1)))
        centers[k] = cand[best]
        closest = dist[best]
    return centers


def _kmeans_labels(
    X: np.ndarray, n_components: int, rng: np.random.Generator, max_iter: int = 100
) -> np.ndarray:
    """Lloyd's k-means from k-means++ seeds; returns the hard labels."""
    centers = _kmeans_plus_plus(X, n_components, rng)
    sq_norms = np.einsum("nd,nd->n", X, X)
    labels = np.full(X.shape[0], -1)
    for _ in range(max_iter):
        dist = sq_norms[:, None] - 2 * X @ centers.T + np.einsum("kd,kd->k", centers, centers)
        new_labels = np.argmin(dist, axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=n_components)
        for k in np.flatnonzero(counts == 0):  # re-seed an empty cluster at the worst point
            far = int(np.argmax(dist[np.arange(X.shape[0]), labels]))
            labels[far] = k
            dist[far] = -np.inf
        counts = np.bincount(labels, minlength=n_components)
        centers = np.zeros_like(centers)
        np.add.at(centers, labels, X)
        centers /= counts[:, None]
    return labels


def _initial_responsibilities(
    Z: np.ndarray, n_components: int, init: str, rng: np.random.Generator
) -> np.ndarray:
    """Starting responsibilities (N, K) of one strategy.

    ``Z`` is the standardised data (:func:`_standardize`): distances between points, and
    so the k-means++ and random-row starts, do not depend on the units of the features.
    """
    n_samples = Z.shape[0]
    if init in ("kmeans++", "kmeans"):
        resp = np.zeros((n_samples, n_components))
        resp[np.arange(n_samples), _kmeans_labels(Z, n_components, rng)] = 1.0
    elif init == "random":
        resp = rng.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    elif init == "random_from_data":
        centers = Z[rng.choice(n_samples, size=n_components, replace=False)]
        dist = np.einsum("nd,nd->n", Z, Z)[:, None] - 2 * Z @ centers.T
        dist += np.einsum("kd,kd->k", centers, centers)
        resp = np.zeros((n_samples, n_components))
        resp[np.arange(n_samples), np.argmin(dist, axis=1)] = 1.0
    else:
        raise ValueError(_init_error(init))
    return resp


def _init_error(init: Any) -> str:
    return (
        "init must be 'auto', 'kmeans++', 'random', 'random_from_data' or a mapping with "
        f"'weights', 'means' and 'covariances'; got {init!r}."
    )


def _stats_from_resp(X: np.ndarray, resp: np.ndarray, covariance_type: str) -> SufficientStats:
    if covariance_type == "full":
        second = np.einsum("nk,nd,ne->kde", resp, X, X)
    elif covariance_type == "tied":
        second = X.T @ X
    else:
        second = resp.T @ (X * X)
    return SufficientStats(resp.sum(axis=0), resp.T @ X, second, np.nan, X.shape[0], np.nan)


def _params_from_user(
    init: Mapping[str, Any] | GMMParams | EMResult,
    n_components: int,
    n_features: int,
    covariance_type: str,
    reg_covar: float,
) -> GMMParams:
    get = init.__getitem__ if isinstance(init, Mapping) else lambda name: getattr(init, name)
    try:
        weights = np.array(get("weights"), dtype=np.float64)
        means = np.array(get("means"), dtype=np.float64)
        covariances = np.array(get("covariances"), dtype=np.float64)
    except (KeyError, AttributeError) as exc:
        raise ValueError("initial parameters need 'weights', 'means' and 'covariances'.") from exc
    from bayesgmm.covariance import covariance_shape

    expected = {
        "weights": (weights, (n_components,)),
        "means": (means, (n_components, n_features)),
        "covariances": (covariances, covariance_shape(covariance_type, n_components, n_features)),
    }
    for name, (value, shape) in expected.items():
        if value.shape != shape:
            raise ValueError(f"initial {name} must have shape {shape}; got {value.shape}.")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"initial {name} contain NaN or infinity.")
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"initial weights must be >= 0 and sum to 1; got {weights}.")
    prec_chol = precisions_cholesky(covariances, covariance_type, reg_covar=reg_covar)
    return GMMParams(weights, means, covariances, prec_chol, covariance_type)


# ---------------------------------------------------------------------------------------
# Collapse detection
# ---------------------------------------------------------------------------------------


def min_component_count(covariance_type: str, n_features: int) -> int:
    """Fewest points that determine a non-singular covariance of this type."""
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
    cov_type = params.covariance_type
    flagged = set()
    if cov_type != "tied":
        too_few = resp_sum < min_component_count(cov_type, n_features) - 1e-9
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


# ---------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------


# reg_covar above this fraction of a feature's variance dominates the fitted covariances.
_REG_COVAR_WARN_FRACTION = 1e-3


def _warn_about_feature_scales(
    X: np.ndarray, constant: np.ndarray, reg_covar: float, feature_names: list[str] | None
) -> None:
    """Warn about constant features and about a ``reg_covar`` the data scale cannot absorb.

    Both otherwise give a fit that looks normal but is set by the floor, not by the data.
    """
    warn_about_scales(X.var(axis=0), constant, reg_covar, feature_names, stacklevel=4)


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


def _is_dask_collection(X: Any) -> bool:
    # By type name, so that neither this check nor in-memory EM imports Dask.
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(X, "dask")


def _subsample(Xc: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray | None:
    rows = init_subsample_rows(Xc.shape[0], n_components, rng)
    return None if rows is None else Xc[rows]


def _objective(stats_: SufficientStats, params: GMMParams, prior: ConjugatePrior | None) -> float:
    return stats_.log_likelihood + log_prior(params, prior)


# The default stopping rule (``tol=None``), as mclust's: one iteration changes the objective
# f by at most _DEFAULT_RTOL * (1 + |f|). Set by measurement on raw Old Faithful (K=1..4,
# every covariance type, seeds 0..9, n_init 1 and 10; benchmarks/bench_em_convergence.py):
# with n_init=10, 1e-5 (mclust's default) stops up to 0.99 below the maximum EM is climbing
# to, 1e-6 up to 0.01, 1e-7 up to 1.6e-3; 1e-8 within 1.6e-4 (a stop leaves ~df * r / (1 - r)
# to climb, for EM's linear rate r, near 1 for overlapping components). Runs then take up to
# ~750 iterations, hence DEFAULT_MAX_ITER: scikit-learn's 100 stopped up to 10 of 10 K >= 3
# single-start fits before the rule was met. docs/em.md has the table.
_DEFAULT_RTOL = 1e-8
DEFAULT_MAX_ITER = 1000


def _converged(previous: float, current: float, n_samples: int, tol: float | None) -> bool:
    """Whether one EM step from ``previous`` to ``current`` objective counts as converged.

    ``tol=None`` is the default relative rule, ``|df| <= _DEFAULT_RTOL * (1 + |f|)``; a
    number is scikit-learn's absolute rule on the objective per sample, ``|df| / N < tol``.
    """
    change = abs(current - previous)
    if tol is None:
        return change <= _DEFAULT_RTOL * (1.0 + abs(current))
    return change / n_samples < tol


def _rule(tol: float | None) -> str:
    """The stopping rule in words, for messages."""
    if tol is None:
        return f"relative change of the objective <= {_DEFAULT_RTOL:g}"
    return f"tol={tol:g} per sample"


def _run_once(
    X: np.ndarray,
    start: GMMParams,
    *,
    tol: float | None,
    max_iter: int,
    reg_covar: float,
    prior: ConjugatePrior | None,
) -> tuple[GMMParams, SufficientStats, list[float], bool, int]:
    params = start
    trace: list[float] = []
    converged = False
    n_samples = X.shape[0]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        stats_ = sufficient_statistics(X, params)
        trace.append(_objective(stats_, params, prior))
        if len(trace) > 1 and _converged(trace[-2], trace[-1], n_samples, tol):
            converged = True
            break
        params = m_step(stats_, params.covariance_type, reg_covar=reg_covar, prior=prior)
    else:
        stats_ = sufficient_statistics(X, params)
        trace.append(_objective(stats_, params, prior))
        converged = (
            max_iter > 0 and len(trace) > 1 and _converged(trace[-2], trace[-1], n_samples, tol)
        )
    return params, stats_, trace, converged, n_iter


class _Run(NamedTuple):
    """One EM run from one start."""

    params: GMMParams
    stats: SufficientStats
    trace: list[float]
    converged: bool
    n_iter: int
    degenerate: tuple[int, ...]


class _RestartSearch:
    """Runs EM from starts of the initialisation strategies; remembers failed starts.

    A start that hits a singular covariance (only possible with ``reg_covar=0`` and no
    prior) counts as failed: its run is ``None`` and its :class:`CollapseError` is kept.
    """

    def __init__(
        self,
        Xc: np.ndarray,
        covariance_type: str,
        *,
        tol: float | None,
        max_iter: int,
        reg_covar: float,
        prior: ConjugatePrior | None,
        data_cov: np.ndarray,
        rng: np.random.Generator,
        init_X: np.ndarray | None = None,
    ) -> None:
        self.Xc = Xc
        # The rows the starts and short runs see: all of Xc, or a subsample of it.
        self.subsampled = init_X is not None
        self.init_X = Xc if init_X is None else init_X
        self.covariance_type = covariance_type
        self.tol, self.max_iter, self.reg_covar, self.prior = tol, max_iter, reg_covar, prior
        self.data_cov = data_cov
        self.rng = rng
        self.errors: list[CollapseError] = []
        self.n_starts = 0

    @functools.cached_property
    def Z(self) -> np.ndarray:
        """The standardised rows the starts see (only computed when a start is drawn)."""
        return _standardize(self.init_X)

    def _start(self, n_components: int, strategy: str) -> GMMParams:
        resp = _initial_responsibilities(self.Z, n_components, strategy, self.rng)
        return m_step(
            _stats_from_resp(self.init_X, resp, self.covariance_type),
            self.covariance_type,
            reg_covar=self.reg_covar,
            prior=self.prior,
        )

    def _finish(self, outcome: tuple[GMMParams, SufficientStats, list[float], bool, int]) -> _Run:
        params, stats_, trace, converged, n_iter = outcome
        degenerate = (
            degenerate_components(params, stats_.resp_sum, self.data_cov, reg_covar=self.reg_covar)
            if self.prior is None
            else ()
        )
        return _Run(params, stats_, trace, converged, n_iter, degenerate)

    def run(self, make_start: Callable[[], GMMParams], max_iter: int) -> _Run | None:
        """EM for at most ``max_iter`` iterations from ``make_start()``."""
        self.n_starts += 1
        try:
            outcome = self.run_em(make_start(), max_iter)
        except CollapseError as exc:
            self.errors.append(exc)
            return None
        return self._finish(outcome)

    def run_em(
        self, start: GMMParams, max_iter: int
    ) -> tuple[GMMParams, SufficientStats, list[float], bool, int]:
        """EM on all rows (overridden by the Dask engine, which runs it on a cluster)."""
        return _run_once(
            self.Xc,
            start,
            tol=self.tol,
            max_iter=max_iter,
            reg_covar=self.reg_covar,
            prior=self.prior,
        )

    def subsample_search(self) -> _RestartSearch:
        """A search over the subsample alone, sharing this one's random stream and errors."""
        sub = _RestartSearch(
            self.init_X,
            self.covariance_type,
            tol=self.tol,
            max_iter=self.max_iter,
            reg_covar=self.reg_covar,
            prior=self.prior,
            data_cov=self.data_cov,
            rng=self.rng,
        )
        sub.errors = self.errors
        return sub

    def run_strategy(self, n_components: int, strategy: str, max_iter: int) -> _Run | None:
        return self.run(lambda: self._start(n_components, strategy), max_iter)

    def resume(self, run: _Run) -> _Run | None:
        """Continue a run up to ``max_iter`` iterations in all, as if never paused."""
        if run.converged or run.n_iter >= self.max_iter:
            return run
        try:
            params, stats_, trace, converged, n_iter = self.run_em(
                run.params, self.max_iter - run.n_iter
            )
        except CollapseError as exc:
            self.errors.append(exc)
            return None
        # trace[0] re-evaluates the objective at run.params, the paused run's last entry.
        return self._finish((params, stats_, run.trace + trace[1:], converged, run.n_iter + n_iter))

    def restarts(
        self, init: Any, user_start: GMMParams | None, n_components: int, n_init: int
    ) -> list[_Run | None]:
        """The runs of a fit: from the user's start, the emEM search, or plain restarts."""
        if user_start is not None:
            return [self.run(lambda: user_start, self.max_iter)]
        if init == "auto" and n_init > 1 and n_components > 1:
            return self.short_run_selection(n_components, n_init)
        strategy = "kmeans++" if init == "auto" else init
        return [self.run_strategy(n_components, strategy, self.max_iter) for _ in range(n_init)]

    def short_run_selection(self, n_components: int, n_init: int) -> list[_Run | None]:
        """The ``"auto"`` search: short runs from many starts, then ``n_init`` long ones.

        Half the long runs (rounded up) go to the starts that lead after the short runs
        (emEM, Biernacki, Celeux & Govaert 2003; clean ones first, then by objective); the
        rest to the first k-means++ starts not already chosen, whatever their rank, so that
        maxima whose basin shows late are still explored as by plain restarts.
        """
        short_iter = min(_SHORT_RUN_ITER, self.max_iter)
        # On a subsample the short runs are cheap and not counted in max_iter: the long
        # runs start afresh on all rows from where the short runs ended.
        short = self.subsample_search() if self.subsampled else self
        pool: list[tuple[str, _Run]] = []
        for i in range(_CANDIDATES_PER_RUN * n_init):
            strategy = _SHORT_RUN_STRATEGIES[i % len(_SHORT_RUN_STRATEGIES)]
            run = short.run_strategy(n_components, strategy, short_iter)
            if run is not None:
                pool.append((strategy, run))
        # Stable: equal keys keep the order of the starts.
        ranked = sorted(
            range(len(pool)), key=lambda i: (bool(pool[i][1].degenerate), -pool[i][1].trace[-1])
        )
        chosen = ranked[: n_init - n_init // 2]
        unranked = [i for i, (strategy, _) in enumerate(pool) if strategy == "kmeans++"]
        for i in unranked + ranked:
            if len(chosen) == n_init:
                break
            if i not in chosen:
                chosen.append(i)
        if self.subsampled:
            runs = [self.run(lambda p=pool[i][1].params: p, self.max_iter) for i in chosen]
            self.n_starts = short.n_starts  # the long runs continue starts already counted
        else:
            runs = [self.resume(pool[i][1]) for i in chosen]
        return runs + [None] * (n_init - len(runs))


def best_result(
    runs: Sequence[_Run | None],
    search: _RestartSearch,
    constant: np.ndarray,
    feature_names: list[str] | None,
    center: np.ndarray,
    prior: ConjugatePrior | None,
    warn: bool,
    n_samples: int,
    stacklevel: int,
) -> EMResult:
    """The best of the restarts as an :class:`EMResult` (data uncentred), with the errors
    and warnings of a fit; shared by the in-memory and the Dask engines.

    ``stacklevel`` points the warnings at the user's call.
    """
    objectives = np.array([np.nan if r is None else r.trace[-1] for r in runs])
    if all(r is None for r in runs):
        constant_hint = (
            f" Feature(s) {describe_features(constant, feature_names)} are constant: drop them."
            if constant.size
            else ""
        )
        raise CollapseError(
            f"all {search.n_starts} EM start(s) failed: {search.errors[0]} With reg_covar=0 "
            "this happens on duplicated points or constant features." + constant_hint
        )
    clean = [i for i, r in enumerate(runs) if r is not None and not r.degenerate]
    candidates = clean or [i for i, r in enumerate(runs) if r is not None]
    best = max(candidates, key=lambda i: objectives[i])
    # candidates holds only runs that did not fail.
    params, stats_, trace, converged, n_iter, degenerate = cast(_Run, runs[best])
    if warn and degenerate:
        counts = ", ".join(f"{k} (N_k={stats_.resp_sum[k]:.3g})" for k in degenerate)
        warnings.warn(
            f"component(s) {counts} collapsed onto a few points or a lower-dimensional "
            f"subspace in every one of the {len(runs)} restart(s); the likelihood is unbounded "
            "there and these estimates are not meaningful. "
            + COLLAPSE_HINT.format(reg_covar=search.reg_covar)
            + ".",
            DegenerateComponentWarning,
            stacklevel=stacklevel,
        )
    if warn and not converged and search.max_iter > 0 and search.tol != 0:
        warnings.warn(
            f"EM did not converge in max_iter={search.max_iter} iterations "
            f"({_rule(search.tol)}); increase max_iter"
            + (" or tol." if search.tol is not None else "."),
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    params = params._replace(means=params.means + center)
    return EMResult(
        weights=params.weights,
        means=params.means,
        covariances=params.covariances,
        precisions_cholesky=params.precisions_cholesky,
        covariance_type=params.covariance_type,
        objective_trace=np.asarray(trace),
        log_likelihood=float(stats_.log_likelihood),
        log_prior=float(trace[-1] - stats_.log_likelihood),
        converged=bool(converged),
        n_iter=int(n_iter),
        init_objectives=objectives,
        best_init=int(best),
        degenerate_components=degenerate,
        prior=None if prior is None else prior._replace(mean=prior.mean + center),
        reg_covar=search.reg_covar,
        n_samples=n_samples,
        log_max_resp=float(stats_.log_max_resp),
    )


def fit_em(
    X: Any,
    n_components: int,
    covariance_type: str = "full",
    *,
    init: str | Mapping[str, Any] | GMMParams | EMResult = "auto",
    n_init: int = 1,
    tol: float | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
    reg_covar: float = 1e-6,
    prior: ConjugatePrior | str | None = None,
    random_seed: int | np.random.Generator | None = None,
    warn: bool = True,
    client: Any = None,
) -> EMResult:
    """Fit a Gaussian mixture by EM (ML) or MAP-EM.

    Parameters
    ----------
    X : array-like of shape (N, D)
        Or a Dask array (or Dask DataFrame) chunked by rows: EM then runs on a Dask
        cluster, see :func:`bayesgmm.em_dask.fit_em_dask` (needs ``bayesgmm[dask]``).
    n_components : int
        Number of components K (1 <= K <= N).
    covariance_type : {"full", "tied", "diag", "spherical"}
    init : {"auto", "kmeans++", "random", "random_from_data"} or mapping
        How to start. The strategies work on per-feature standardised data, so that the
        start, like EM, does not depend on the units of the features:

        - ``"kmeans++"``: k-means++ seeding followed by Lloyd's k-means, for every restart;
        - ``"random"``: random responsibilities, for every restart;
        - ``"random_from_data"``: K distinct rows as centres, nearest-centre assignment;
        - ``"auto"`` (default): with ``n_init=1`` (or K=1) one ``"kmeans++"`` start. With
          ``n_init > 1`` a search over ``5 * n_init`` starts, alternately ``"kmeans++"``
          and ``"random_from_data"``, each given 20 EM iterations (counted in
          ``max_iter``). Half the ``n_init`` long runs (rounded up) continue the starts
          with the highest objective by then (emEM, Biernacki, Celeux & Govaert 2003;
          starts already collapsing last); the others continue the first k-means++ starts
          not yet chosen, as plain restarts would;
        - a mapping, :class:`GMMParams` or :class:`EMResult` with ``weights``, ``means``
          and ``covariances``: one run from these parameters (``n_init`` is ignored).

        With ``N`` above :func:`init_subsample_size` (``max(2000, 50 K)``) the starts and
        the short runs use a random subsample of that many rows, so that their cost does
        not grow with ``N``; the short runs then do not count in ``max_iter``.
    n_init : int
        Runs to convergence. The best non-degenerate one is kept (by objective).
    tol : float or None
        ``None`` (default): stop when one iteration changes the objective ``f`` (the total
        log-likelihood, plus the log prior for MAP-EM) by at most ``1e-8 * (1 + |f|)``, a
        relative rule as mclust's. A number: stop when ``f`` changes by less than ``tol``
        per sample, scikit-learn's absolute rule (its default ``1e-3`` can stop well short
        of the maximum: 0.26 below it for K=3 ``tied`` on raw Old Faithful). ``tol=0``
        runs exactly ``max_iter`` iterations.
    max_iter : int
        EM iterations per run (default 1000); short search runs count towards it. A run
        that stops here without meeting the rule gives a :class:`ConvergenceWarning`.
    reg_covar : float
        Added to every covariance diagonal: a floor against collapse.
    prior : ConjugatePrior, "default" or None
        ``None`` is maximum likelihood. ``"default"`` uses :func:`default_prior`
        (Fraley & Raftery 2007); the objective then is the log posterior.
    random_seed : int or numpy Generator, optional
    warn : bool
        Emit :class:`DegenerateComponentWarning` / :class:`ConvergenceWarning`.
    client : dask.distributed.Client or mapping, optional
        Only for a Dask ``X``: the cluster to run on, or keyword arguments of the
        ``LocalCluster`` to create (and close) for the fit.

    Returns
    -------
    EMResult

    Raises
    ------
    CollapseError
        Every restart hit a singular covariance (possible only with ``reg_covar=0`` and no
        prior); the message says what to do.
    """
    if _is_dask_collection(X):
        from bayesgmm.em_dask import fit_em_dask

        return fit_em_dask(
            X, n_components, covariance_type, init=init, n_init=n_init, tol=tol,
            max_iter=max_iter, reg_covar=reg_covar, prior=prior, random_seed=random_seed,
            warn=warn, client=client,
        )  # fmt: skip
    if client is not None:
        raise ValueError("client is only used with a Dask array X; X is in memory.")
    X, feature_names = check_data(X, min_samples=2)
    n_samples, n_features = X.shape
    n_components = check_n_components(n_components, n_samples)
    check_covariance_type(covariance_type)
    reg_covar = check_positive(reg_covar, "reg_covar", allow_zero=True)
    if tol is not None:
        tol = check_positive(tol, "tol", allow_zero=True)
    constant = constant_features(X)
    if warn:
        _warn_about_feature_scales(X, constant, reg_covar, feature_names)
        warn_if_quantised(X, feature_names or [f"x{i}" for i in range(n_features)])
    if isinstance(n_init, bool) or not isinstance(n_init, int | np.integer) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer; got {n_init!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 0:
        raise ValueError(f"max_iter must be a non-negative integer; got {max_iter!r}.")
    rng = check_random_state(random_seed)

    # EM is translation-equivariant: centring costs nothing and keeps the second-moment
    # statistics free of cancellation when the data sit far from the origin.
    center = X.mean(axis=0)
    Xc = X - center
    if isinstance(prior, str):
        if prior != "default":
            raise ValueError(f"prior must be a ConjugatePrior, 'default' or None; got {prior!r}.")
        prior = default_prior(X, n_components, covariance_type)
    if prior is not None:
        prior = _check_prior(prior, n_features, covariance_type)
        prior = prior._replace(mean=prior.mean - center)

    user_start = None
    if not isinstance(init, str):
        user_start = _params_from_user(init, n_components, n_features, covariance_type, reg_covar)
        user_start = user_start._replace(means=user_start.means - center)
        n_init = 1
    elif init not in (*_INIT_METHODS, "kmeans"):
        raise ValueError(_init_error(init))

    search = _RestartSearch(
        Xc,
        covariance_type,
        tol=tol,
        max_iter=max_iter,
        reg_covar=reg_covar,
        prior=prior,
        data_cov=_data_covariance(Xc),
        rng=rng,
        init_X=None if user_start is not None else _subsample(Xc, n_components, rng),
    )
    runs = search.restarts(init, user_start, n_components, n_init)

    return best_result(
        runs, search, constant, feature_names, center, prior, warn, n_samples, stacklevel=3
    )


# ---------------------------------------------------------------------------------------
# Model selection
# ---------------------------------------------------------------------------------------


def log_likelihood(X: Any, params: GMMParams | EMResult) -> float:
    """Total log-likelihood of ``X`` under a fitted mixture."""
    X, _ = check_data(X, n_features=params.means.shape[1])
    if isinstance(params, EMResult):
        params = params.params
    return float(sufficient_statistics(X, params).log_likelihood)


def n_free_parameters(fit: EMResult) -> int:
    n_components, n_features = fit.means.shape
    return n_parameters(fit.covariance_type, n_components, n_features)


def bic(fit: EMResult) -> float:
    """Bayesian information criterion ``-2 log L + p log N`` (lower is better).

    mclust reports the negative of this (higher is better).
    """
    return -2.0 * fit.log_likelihood + n_free_parameters(fit) * np.log(fit.n_samples)


def aic(fit: EMResult) -> float:
    """Akaike information criterion ``-2 log L + 2 p`` (lower is better)."""
    return -2.0 * fit.log_likelihood + 2.0 * n_free_parameters(fit)


def icl(fit: EMResult) -> float:
    """Integrated completed likelihood (Biernacki et al. 2000), BIC-style (lower is better).

    ``ICL = BIC - 2 sum_n log g_{n, z_n}`` with ``z_n`` the MAP label, as mclust computes it:
    BIC penalised by how uncertain the classification is.
    """
    return bic(fit) - 2.0 * fit.log_max_resp


def select_k(
    X: Any,
    ks: Sequence[int] | range = range(1, 6),
    covariance_types: Sequence[str] | str = ("full", "tied", "diag", "spherical"),
    *,
    criterion: str = "bic",
    **fit_kwargs: Any,
) -> Any:
    """BIC / AIC / ICL over a grid of K and covariance types, like mclust's BIC table.

    Parameters
    ----------
    X : array-like of shape (N, D)
    ks : sequence of int
    covariance_types : sequence of str
    criterion : {"bic", "aic", "icl"}
        Which criterion fills the returned wide table (lower is better).
    **fit_kwargs
        Passed to :func:`fit_em` (``n_init``, ``prior``, ``random_seed`` ...).

    Returns
    -------
    pandas.DataFrame
        Rows K, columns covariance types, values the criterion. ``.attrs["long"]`` holds
        the long table with every criterion, log-likelihood, parameter count, convergence
        and degeneracy flags; ``.attrs["best"]`` the (K, covariance_type) with the lowest
        criterion among non-degenerate fits.
    """
    import pandas as pd

    if criterion not in ("bic", "aic", "icl"):
        raise ValueError(f"criterion must be 'bic', 'aic' or 'icl'; got {criterion!r}.")
    X, feature_names = check_data(X, min_samples=2)
    if fit_kwargs.get("warn", True):
        # The fits below record their warnings into the table; say these once, up front.
        reg_covar = check_positive(fit_kwargs.get("reg_covar", 1e-6), "reg_covar", allow_zero=True)
        constant = constant_features(X)
        _warn_about_feature_scales(X, constant, reg_covar, feature_names)
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    fit_kwargs.setdefault("n_init", 3)
    seed = fit_kwargs.pop("random_seed", 0)
    rows = []
    for cov_type in covariance_types:
        check_covariance_type(cov_type)
        for k in ks:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    fit = fit_em(X, k, cov_type, random_seed=seed, **fit_kwargs)
                except CollapseError as exc:
                    rows.append(
                        {"K": k, "covariance_type": cov_type, "error": str(exc), "degenerate": True}
                    )
                    continue
            rows.append(
                {
                    "K": k,
                    "covariance_type": cov_type,
                    "log_likelihood": fit.log_likelihood,
                    "n_parameters": n_free_parameters(fit),
                    "bic": bic(fit),
                    "aic": aic(fit),
                    "icl": icl(fit),
                    "converged": fit.converged,
                    "degenerate": bool(fit.degenerate_components)
                    or any(issubclass(w.category, DegenerateComponentWarning) for w in caught),
                    "error": None,
                }
            )
    long = pd.DataFrame(rows)
    if criterion not in long:
        long[criterion] = np.nan
    wide = long.pivot(index="K", columns="covariance_type", values=criterion)
    wide = wide.reindex(columns=list(covariance_types))
    usable = long[~long["degenerate"].astype(bool)].dropna(subset=[criterion])
    best = None
    if len(usable):
        row = usable.loc[usable[criterion].idxmin()]
        best = (int(row["K"]), str(row["covariance_type"]))
    wide.attrs["long"] = long
    wide.attrs["best"] = best
    wide.attrs["criterion"] = criterion
    return wide
