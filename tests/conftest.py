"""Shared fixtures: small, seeded data sets (numpy only; nothing heavy is imported here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesgmm.datasets import SimulatedGMM, load_faithful, make_gmm_data


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
