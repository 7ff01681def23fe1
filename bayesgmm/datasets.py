"""Bundled and simulated data."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bayesgmm._utils.validation import check_random_state

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["SimulatedGMM", "load_faithful", "make_gmm_data"]


def load_faithful() -> Any:
    """Old Faithful geyser eruptions (Azzalini & Bowman 1990; R's ``datasets::faithful``).

    Returns
    -------
    pandas.DataFrame
        272 rows; ``eruptions`` (eruption time, minutes) and ``waiting`` (time to the next
        eruption, minutes). Public-domain R data, bundled with the package.
    """
    import pandas as pd

    with resources.files("bayesgmm").joinpath("data/faithful.csv").open("r") as handle:
        return pd.read_csv(handle)


class SimulatedGMM(NamedTuple):
    """Data drawn from a known Gaussian mixture."""

    X: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def make_gmm_data(
    n: int,
    weights: ArrayLike,
    means: ArrayLike,
    covariances: ArrayLike,
    random_seed: int | np.random.Generator | None = None,
) -> SimulatedGMM:
    """Draw ``n`` points from a Gaussian mixture with known parameters.

    Parameters
    ----------
    n : int
        Number of points.
    weights : array-like of shape (K,)
        Mixing weights, non-negative, summing to 1.
    means : array-like of shape (K, D)
    covariances : array-like of shape (K, D, D), (K, D) or (K,)
        Full covariances, per-feature variances, or one variance per component.
    random_seed : int or numpy Generator, optional

    Returns
    -------
    SimulatedGMM
        ``X`` (n, D), the true ``labels`` (n,), and the true parameters (covariances
        expanded to full (K, D, D) matrices).
    """
    rng = check_random_state(random_seed)
    weights = np.asarray(weights, dtype=np.float64)
    means = np.atleast_2d(np.asarray(means, dtype=np.float64))
    n_components, n_features = means.shape
    if weights.shape != (n_components,):
        raise ValueError(f"weights must have shape ({n_components},); got {weights.shape}.")
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError("weights must be non-negative and sum to 1.")
    cov = np.asarray(covariances, dtype=np.float64)
    if cov.shape == (n_components,):
        cov = cov[:, None, None] * np.eye(n_features)
    elif cov.shape == (n_components, n_features):
        cov = np.einsum("kd,de->kde", cov, np.eye(n_features))
    elif cov.shape != (n_components, n_features, n_features):
        raise ValueError(
            f"covariances must have shape ({n_components}, {n_features}, {n_features}), "
            f"({n_components}, {n_features}) or ({n_components},); got {cov.shape}."
        )
    if int(n) < 1:
        raise ValueError(f"n must be >= 1; got {n}.")
    chol = np.linalg.cholesky(cov)  # raises LinAlgError on a non-PD covariance
    labels = rng.choice(n_components, size=int(n), p=weights / weights.sum())
    noise = rng.standard_normal((int(n), n_features))
    X = means[labels] + np.einsum("nde,ne->nd", chol[labels], noise)
    return SimulatedGMM(X, labels, weights, means, cov)
