"""The conjugate normal / inverse-Wishart prior of MAP-EM (Fraley & Raftery 2007)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from bayesgmm._validation import (
    check_covariance_type,
    check_positive,
)
from bayesgmm.core.covariance import LOG_2PI
from bayesgmm.core.em.results import ConjugatePrior, GMMParams
from bayesgmm.mixture.structures.conjugate import LOG_PRIORS


def default_prior(
    X: np.ndarray,
    n_components: int,
    covariance_type: str = "full",
    *,
    shrinkage: float = 0.01,
    dof: float | None = None,
    weight_concentration: float = 1.0,
    sample_weight: np.ndarray | None = None,
) -> ConjugatePrior:
    """The data-scaled conjugate prior of Fraley & Raftery (2007), as in mclust.

    ``mean`` = column means; ``shrinkage`` = 0.01; ``dof`` = D + 2; ``scale`` = the data
    covariance divided by ``K^(2/D)`` (its diagonal for ``diag``; the average variance for
    ``spherical``), so that the prior guesses components ``K`` times smaller in volume than
    the whole data.
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    if sample_weight is not None:  # the moments of the rows repeated w_n times
        from bayesgmm.core.observations import weighted_moments

        mean, data_cov = weighted_moments(X, np.asarray(sample_weight, dtype=np.float64))
    else:
        mean = X.mean(axis=0)
        data_cov = np.atleast_2d(np.cov(X, rowvar=False)) if n_samples > 1 else np.eye(n_features)
    return prior_from_moments(
        mean,
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
    covariance_type = check_covariance_type(covariance_type, mclust=True)
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
        **dict.fromkeys(LOG_PRIORS, ()),  # mclust's scalar scale
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
    if params.covariance_type in LOG_PRIORS:
        total += LOG_PRIORS[params.covariance_type](
            cov, params.means, prior.mean, kappa, float(prior.scale), nu
        )
    elif params.covariance_type in ("full", "tied"):
        # One scipy call for every component (the last axis holds them): MAP-EM evaluates
        # this objective every iteration, and K frozen scipy distributions per call cost
        # 1 ms at K=4, 0.9 s of a NUTS fit's 1.6 s MAP-EM start at N=10,000.
        stack = np.moveaxis(cov, 0, -1) if cov.ndim == 3 else cov
        total += float(np.sum(stats.invwishart.logpdf(stack, df=nu, scale=prior.scale)))
        total += float(np.sum(_log_normal_means(params.means, prior.mean, cov / kappa)))
    else:
        variances = cov if params.covariance_type == "diag" else cov[:, None]
        total += float(np.sum(stats.invgamma.logpdf(variances, a=nu / 2, scale=prior.scale / 2)))
        sd = np.sqrt(np.broadcast_to(variances, params.means.shape) / kappa)
        total += float(np.sum(stats.norm.logpdf(params.means, prior.mean, sd)))
    return float(total)


def _log_normal_means(means: np.ndarray, loc: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``log N(mu_k | loc, cov_k)`` per component, cov (K, D, D) or one shared (D, D)."""
    chol = np.linalg.cholesky(np.broadcast_to(cov, (means.shape[0], *cov.shape[-2:])))
    solved = np.linalg.solve(chol, (means - loc)[..., None])[..., 0]  # L^-1 (mu - loc)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * (means.shape[1] * LOG_2PI + log_det + np.sum(solved**2, axis=-1))


def _interior(weights: np.ndarray) -> np.ndarray:
    # scipy's Dirichlet refuses exact zeros and sums off by one ulp.
    w = np.clip(weights, 1e-300, None)
    return w / w.sum()
