"""Fits as plottable mixtures, read through the posterior layer's one adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

# numpy only: the posterior package loads its ArviZ-backed modules lazily.
from bayesgmm.posterior.mixture import Mixture as _Mixture
from bayesgmm.posterior.mixture import as_mixture, posterior_of

if TYPE_CHECKING:
    from bayesgmm.posterior.mixture import Fit


def _mixture_of(
    fit: Fit, max_draws: int | None = None, rng: np.random.Generator | None = None
) -> _Mixture:
    """Any fit as a mixture with a draw axis, through the posterior layer's one adapter
    (:func:`bayesgmm.posterior.mixture.as_mixture`).

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
    mixture = as_mixture(fit, max_draws=max_draws, rng=rng)
    if mixture.weights is None:
        raise TypeError(f"the fit gives no mixture weights to plot; got {type(fit).__name__}.")
    return mixture


def _point_fit(em: Fit) -> Any:
    """The EM fit inside ``em`` (a BayesianGMM's MAP-EM reference ``em_``), never a posterior."""
    for attribute in ("result_", "em_"):  # GaussianMixtureEM, BayesianGMM
        em = getattr(em, attribute, em)
    if posterior_of(em) is not None:
        raise TypeError(
            "expected an EM fit (EMResult, GMMParams or a fitted GaussianMixtureEM) or a "
            f"posterior (InferenceData or a fitted BayesianGMM); got {type(em).__name__}."
        )
    return em


def _check_dims(mixture: _Mixture, n_features: int) -> None:
    if mixture.means.shape[-1] != n_features:
        raise ValueError(f"the fit has {mixture.means.shape[-1]} features but X has {n_features}.")


def _check_min_weight(min_weight: float) -> float:
    value = float(min_weight)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"min_weight must be in [0, 1); got {min_weight!r}.")
    return value


def _shown_components(mixture: _Mixture, min_weight: float) -> np.ndarray:
    """Which components get an ellipse: mean weight (over the draws) at least ``min_weight``.

    A sparse fit's empty components sit at their prior, with covariances as wide as the
    prior allows: drawn, they stretch the axes over the data.
    """
    return mixture.weights.mean(axis=0) >= min_weight


def _skipped_note(shown: np.ndarray, min_weight: float) -> str:
    """Says which components have no ellipse, or "" when all have one."""
    skipped = np.flatnonzero(~shown)
    if not skipped.size:
        return ""
    listed = ", ".join(str(k) for k in skipped[:8]) + (", ..." if skipped.size > 8 else "")
    return f"{skipped.size} component(s) with weight < {min_weight:g} not drawn ({listed})"


def _ellipse_bounds(
    mixture: _Mixture, features: list[int], n_std: float, shown: np.ndarray | None = None
) -> np.ndarray:
    """Lower and upper corner (2, 2) of the boxes around the ``shown`` components' ellipses
    (all components by default)."""
    if shown is not None:
        mixture = _Mixture(
            mixture.weights[:, shown],
            mixture.means[:, shown],
            mixture.covariances[:, shown],
            mixture.covariance_type,
        )
    marginal = mixture.marginal(features)
    spread = n_std * np.sqrt(np.diagonal(marginal.covariances, axis1=-2, axis2=-1))
    centres = marginal.means.reshape(-1, 2)
    spread = spread.reshape(-1, 2)
    if not centres.size:
        return np.full((2, 2), np.nan)
    return np.stack([(centres - spread).min(axis=0), (centres + spread).max(axis=0)])


def _mixture_density(points: np.ndarray, mixture: _Mixture) -> np.ndarray:
    """Posterior-mean (or point) mixture density at ``points``, averaged over the draws."""
    from bayesgmm.mixture.draws import log_predictive_density

    return np.exp(
        log_predictive_density(points, mixture.weights, mixture.means, mixture.covariances)
    )
