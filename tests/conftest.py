"""Shared fixtures and helpers: small, seeded data sets and parameters (numpy and bayesgmm.mixture
only; nothing heavy is imported here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesgmm.datasets import SimulatedGMM, load_faithful, make_gmm_data
from bayesgmm.em import GMMParams
from bayesgmm.mixture.covariance import precisions_cholesky


@pytest.fixture(scope="session")
def faithful_df() -> pd.DataFrame:
    """Old Faithful (272 x 2), as a DataFrame; tests must not modify it."""
    return load_faithful()


@pytest.fixture(scope="session")
def faithful(faithful_df: pd.DataFrame) -> np.ndarray:
    """Old Faithful as a read-only float64 array (a test that writes into it fails)."""
    X = faithful_df.to_numpy(dtype=np.float64, copy=True)
    X.setflags(write=False)
    return X


def well_separated_3d(n: int = 600, seed: int = 7) -> SimulatedGMM:
    """Three 3-D components with different, correlated covariances, well apart."""
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-2.0, 7.0, 3.0]])
    covariances = np.array(
        [
            [[1.0, 0.5, 0.2], [0.5, 1.5, 0.3], [0.2, 0.3, 0.8]],
            [[0.6, -0.2, 0.0], [-0.2, 0.4, 0.1], [0.0, 0.1, 1.2]],
            [[2.0, 0.9, -0.4], [0.9, 1.0, 0.0], [-0.4, 0.0, 0.7]],
        ]
    )
    return make_gmm_data(n, weights, means, covariances, random_seed=seed)


@pytest.fixture(scope="session")
def sim3d() -> SimulatedGMM:
    data = well_separated_3d()
    data.X.setflags(write=False)
    return data


def two_clusters(n: int, seed: int) -> SimulatedGMM:
    """Two 2-D components with diagonal covariances, well apart (40% / 60%)."""
    return make_gmm_data(
        n,
        [0.4, 0.6],
        [[0.0, 0.0], [5.0, 3.0]],
        [np.diag([1.0, 0.5]), np.diag([0.6, 1.4])],
        random_seed=seed,
    )


def mcar(X: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``X`` with each entry removed (NaN) with probability ``fraction``, completely at
    random; a row left empty keeps its first value (an empty row carries nothing)."""
    rng = np.random.default_rng(seed)
    out = X.copy()
    out[rng.random(X.shape) < fraction] = np.nan
    empty = np.isnan(out).all(axis=1)
    out[empty, 0] = X[empty, 0]
    return out


def random_params(cov_type: str, k: int, d: int, seed: int) -> GMMParams:
    """Random mixture parameters of one covariance type (well-conditioned covariances)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(k) * 3)
    means = rng.normal(scale=2.0, size=(k, d))
    full = []
    for _ in range(k):
        a = rng.normal(size=(d, d))
        full.append(a @ a.T + d * np.eye(d) * 0.5)
    full = np.array(full)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": np.array([np.diag(c) for c in full]),
        "spherical": np.array([np.mean(np.diag(c)) for c in full]),
    }[cov_type]
    return GMMParams(weights, means, cov, precisions_cholesky(cov, cov_type), cov_type)


def model_point(model, theta: np.ndarray) -> dict[str, np.ndarray]:
    """Split an unconstrained vector into a PyMC model's value variables (PyMC's order)."""
    initial = model.initial_point()
    point, offset = {}, 0
    for var in model.value_vars:
        size = initial[var.name].size
        point[var.name] = theta[offset : offset + size].reshape(initial[var.name].shape)
        offset += size
    assert offset == theta.size
    return point
