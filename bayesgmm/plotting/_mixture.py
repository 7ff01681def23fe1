"""A fit as a mixture: the one adapter from EM fits and posteriors to plottable draws."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bayesgmm.covariance import as_full


class _Mixture(NamedTuple):
    """Mixture parameters with a leading draw axis (S = 1 for a point estimate)."""

    weights: np.ndarray  # (S, K)
    means: np.ndarray  # (S, K, D)
    covariances: np.ndarray  # (S, K, D, D)

    def marginal(self, features: list[int]) -> _Mixture:
        """The mixture of the chosen features: a mixture of the marginals."""
        idx = np.asarray(features)
        cov = self.covariances[..., idx[:, None], idx[None, :]]
        return _Mixture(self.weights, self.means[..., idx], cov)

    def mean(self) -> _Mixture:
        """Posterior means of the parameters, as a one-draw mixture."""
        return _Mixture(*(a.mean(axis=0, keepdims=True) for a in self))


def _is_idata(obj: Any) -> bool:
    return hasattr(obj, "posterior") and hasattr(obj, "groups")


def _posterior_of(obj: Any) -> Any:
    """The InferenceData of a posterior fit, or None for an EM fit."""
    if _is_idata(obj):
        return obj
    idata = getattr(obj, "idata_", None)
    return idata if idata is not None and _is_idata(idata) else None


def _em_mixture(fit: Any) -> _Mixture:
    """One-draw mixture from an EMResult, GMMParams, GaussianMixtureEM or BayesianGMM."""
    for attribute in ("result_", "em_"):  # GaussianMixtureEM, BayesianGMM
        fit = getattr(fit, attribute, fit)
    try:
        weights = np.asarray(fit.weights, dtype=np.float64)
        means = np.asarray(fit.means, dtype=np.float64)
        covariance_type = fit.covariance_type
        covariances = fit.covariances
    except AttributeError:
        raise TypeError(
            "expected an EM fit (EMResult, GMMParams or a fitted GaussianMixtureEM) or a "
            f"posterior (InferenceData or a fitted BayesianGMM); got {type(fit).__name__}."
        ) from None
    n_components, n_features = means.shape
    full = as_full(covariances, covariance_type, n_components, n_features)
    return _Mixture(weights[None], means[None], full[None])


def _posterior_mixture(
    idata: Any, max_draws: int | None = None, rng: np.random.Generator | None = None
) -> _Mixture:
    """Draws of an InferenceData's posterior, flattened over chains.

    At most ``max_draws`` draws: evenly thinned, or a random subset when ``rng`` is given.
    """
    from bayesgmm.idata import posterior_draws, thin_indices

    draws = posterior_draws(idata)
    n_total = draws.weights.shape[0]
    if max_draws is not None and n_total > max_draws and rng is not None:
        keep = np.sort(rng.choice(n_total, size=int(max_draws), replace=False))
    else:
        keep = thin_indices(n_total, max_draws)
    return _Mixture(draws.weights[keep], draws.means[keep], draws.covariances[keep])


def _mixture_of(
    fit: Any, max_draws: int | None = None, rng: np.random.Generator | None = None
) -> _Mixture:
    """Any fit as a mixture with a draw axis: the plotting layer's one "fit as mixture" adapter.

    Every plot reads fits through this function alone, so that switching to the posterior
    layer's adapter is a change of this body only.

    Parameters
    ----------
    fit : EMResult, GMMParams, GaussianMixtureEM, BayesianGMM or InferenceData
        An EM fit gives one draw; a posterior (an InferenceData or a fitted BayesianGMM's
        relabeled ``idata_``) gives its draws, flattened over chains.
    max_draws : int, optional
        At most this many posterior draws: evenly thinned, or a random subset with ``rng``.
    rng : numpy Generator, optional
        Chooses the random subset of draws.
    """
    idata = _posterior_of(fit)
    return _em_mixture(fit) if idata is None else _posterior_mixture(idata, max_draws, rng)


def _point_fit(em: Any) -> Any:
    """The EM fit inside ``em`` (a BayesianGMM's MAP-EM reference ``em_``), never a posterior."""
    for attribute in ("result_", "em_"):  # GaussianMixtureEM, BayesianGMM
        em = getattr(em, attribute, em)
    if _is_idata(em):
        raise TypeError(
            "expected an EM fit (EMResult, GMMParams or a fitted GaussianMixtureEM) or a "
            f"posterior (InferenceData or a fitted BayesianGMM); got {type(em).__name__}."
        )
    return em


def _check_dims(mixture: _Mixture, n_features: int) -> None:
    if mixture.means.shape[-1] != n_features:
        raise ValueError(f"the fit has {mixture.means.shape[-1]} features but X has {n_features}.")


def _ellipse_bounds(mixture: _Mixture, features: list[int], n_std: float) -> np.ndarray:
    """Lower and upper corner (2, 2) of the boxes around all components' ellipses."""
    marginal = mixture.marginal(features)
    spread = n_std * np.sqrt(np.diagonal(marginal.covariances, axis1=-2, axis2=-1))
    centres = marginal.means.reshape(-1, 2)
    spread = spread.reshape(-1, 2)
    return np.stack([(centres - spread).min(axis=0), (centres + spread).max(axis=0)])


def _mixture_density(points: np.ndarray, mixture: _Mixture) -> np.ndarray:
    """Posterior-mean (or point) mixture density at ``points``, averaged over the draws."""
    from scipy.special import logsumexp

    from bayesgmm.draws import pointwise_log_likelihood

    log_density = pointwise_log_likelihood(points, *mixture)  # (S, G)
    return np.exp(logsumexp(log_density, axis=0) - np.log(log_density.shape[0]))
