"""The conjugate normal / inverse-Wishart prior of MAP-EM (Fraley & Raftery 2007)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from bayesgmm._utils.validation import check_positive
from bayesgmm.em.results import ConjugatePrior, GMMParams
from bayesgmm.mixture.structures import get_structure


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
        from bayesgmm.mixture.observations import weighted_moments

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
    structure = get_structure(covariance_type)
    data_cov = data_cov + 1e-12 * np.trace(data_cov) / n_features * np.eye(n_features)
    factor = float(n_components) ** (2.0 / n_features)
    scale = structure.prior_scale(data_cov, factor)
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
    structure = get_structure(covariance_type)
    expected = structure.prior_scale_shape(n_features)
    if scale.shape != expected:
        raise ValueError(
            f"prior.scale must have shape {expected} for covariance_type="
            f"{covariance_type!r}; got {scale.shape}."
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
        raise ValueError("prior.mean and prior.scale must be finite.")
    check_positive(prior.shrinkage, "prior.shrinkage")
    min_dof = structure.min_prior_dof(n_features)
    if not np.isfinite(prior.dof) or prior.dof <= min_dof:
        raise ValueError(f"prior.dof must be > {min_dof}; got {prior.dof}.")
    if prior.weight_concentration < 1:
        raise ValueError(
            "MAP-EM needs weight_concentration >= 1 (a sparse Dirichlet has no interior "
            f"mode); got {prior.weight_concentration}. Use the Bayesian fit for alpha < 1."
        )
    structure.check_prior_scale(scale)
    return ConjugatePrior(mean, float(prior.shrinkage), float(prior.dof), scale, prior[4])


def log_prior(params: GMMParams, prior: ConjugatePrior | None) -> float:
    """Log density of the conjugate prior at ``params`` (0 without a prior)."""
    if prior is None:
        return 0.0
    n_components = params.means.shape[0]
    total = 0.0
    if n_components > 1:
        concentration = np.full(n_components, prior.weight_concentration)
        total += float(stats.dirichlet.logpdf(_interior(params.weights), concentration))
    structure = get_structure(params.covariance_type)
    for term in structure.log_prior(params.covariances, params.means, prior):
        total += term
    return float(total)


def _interior(weights: np.ndarray) -> np.ndarray:
    # scipy's Dirichlet refuses exact zeros and sums off by one ulp.
    w = np.clip(weights, 1e-300, None)
    return w / w.sum()
