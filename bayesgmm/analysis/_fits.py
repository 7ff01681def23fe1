"""Reading fits for the analysis layer: posteriors, EM results and their checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np

from bayesgmm import em as em_module
from bayesgmm.bayes.inference.idata import idata_config, posterior_draws, thin_indices
from bayesgmm.posterior.mixture import posterior_of

if TYPE_CHECKING:
    from bayesgmm.posterior.mixture import EMEstimator, PosteriorFit


def check_prob(value: float, name: str) -> float:
    number = float(value)
    if not 0.0 < number < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {value!r}.")
    return number


def thin_draws(n_draws: int, max_draws: int) -> np.ndarray:
    """Evenly spaced draw indices, at most ``max_draws`` (>= 2, for intervals) of them."""
    if isinstance(max_draws, bool) or int(max_draws) < 2:
        raise ValueError(f"max_draws must be an integer >= 2; got {max_draws!r}.")
    return thin_indices(n_draws, int(max_draws))


def _fitted(fit: object, kind: type, attribute: str, message: str) -> Any:
    """``fit`` itself if it is a ``kind``, else its fitted ``attribute`` if that is one."""
    if isinstance(fit, kind):
        return fit
    inner = getattr(fit, attribute, None)
    if isinstance(inner, kind):
        return inner
    raise TypeError(f"{message}; got {type(fit).__name__}.")


def as_idata(fit: PosteriorFit, advice: str = "Fit the model first.") -> az.InferenceData:
    """The posterior of an InferenceData or of a fitted BayesianGMM (its ``idata_``), by
    :func:`bayesgmm.posterior.mixture.posterior_of`; ``advice`` ends the error."""
    idata = posterior_of(fit)
    if not isinstance(idata, az.InferenceData):
        raise TypeError(
            "expected an arviz.InferenceData from sample_nuts / fit_advi or a fitted "
            f"BayesianGMM (with .idata_); got {type(fit).__name__}. {advice}"
        )
    return idata


def as_em_result(fit: em_module.EMResult | EMEstimator) -> em_module.EMResult:
    """An EMResult, or a fitted GaussianMixtureEM's ``result_``."""
    return _fitted(
        fit,
        em_module.EMResult,
        "result_",
        "em_fit must be a bayesgmm.em.EMResult (from fit_em) or a fitted GaussianMixtureEM",
    )


def model_config(idata: az.InferenceData) -> dict[str, Any]:
    """The stored model configuration, or the part of it the posterior itself implies."""
    config = idata_config(idata)
    if config:
        return config
    draws = posterior_draws(idata)
    return {
        "n_components": int(draws.weights.shape[1]),
        "covariance_type": draws.covariance_type,
        "feature_names": draws.feature_names,
        "priors": {},
    }


class FlatDraws:
    """Flattened (S, ...) weights, means and full covariances of a posterior."""

    def __init__(self, idata: az.InferenceData) -> None:
        draws = posterior_draws(idata)
        self.posterior = draws
        self.config = model_config(idata)
        self.n_chains = draws.n_chains
        self.n_draws_per_chain = draws.n_draws_per_chain
        self.weights, self.means, self.covariances = draws.weights, draws.means, draws.covariances
        self.n_components, self.n_features = self.means.shape[1:]
        self.feature_names = draws.feature_names
        self.sampler = str((getattr(idata, "attrs", None) or {}).get("sampler", "unknown"))

    @property
    def n_draws(self) -> int:
        return self.weights.shape[0]

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.weights[index], self.means[index], self.covariances[index]


def check_shapes(what: str, means: np.ndarray, n_components: int, n_features: int) -> None:
    if means.shape != (n_components, n_features):
        raise ValueError(
            f"{what} has K={means.shape[0]} components and D={means.shape[1]} features but the "
            f"posterior has K={n_components}, D={n_features}; compare fits of the same model."
        )
