"""EM with a fixed shared spherical variance (bayesgmm.em.kmeans_limit): its small-variance
fixed point is k-means (scikit-learn's KMeans from the same start), its soft iteration
matches a direct numpy implementation, its objective never decreases, and bad input is
refused with messages that name the user's argument."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from sklearn.cluster import KMeans

import bayesgmm
from bayesgmm.em.kmeans_limit import fit_em_fixed_variance


def blobs(seed: int, n_components: int, n_features: int, n_per: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-6, 6, size=(n_components, n_features))
    return np.vstack([rng.normal(c, 1.0, size=(n_per, n_features)) for c in centres])


def random_rows(X: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return X[rng.choice(len(X), size=n_components, replace=False)].copy()


def soft_kmeans_reference(
    X: np.ndarray, means: np.ndarray, variance: float, weights: np.ndarray, n_iter: int
) -> np.ndarray:
    """The EM iteration written from its definition (scipy's logsumexp, no bayesgmm code)."""
    for _ in range(n_iter):
        sq = ((X[:, None, :] - means[None]) ** 2).sum(axis=2)
        log_r = np.log(weights) - sq / (2 * variance)
        resp = np.exp(log_r - logsumexp(log_r, axis=1, keepdims=True))
        means = resp.T @ X / resp.sum(axis=0)[:, None]
    return means


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_components=st.integers(2, 5),
    n_features=st.integers(1, 3),
)
def test_small_variance_fixed_point_is_kmeans(seed, n_components, n_features):
    """sigma^2 -> 0: the EM fixed point equals KMeans' centroids from the same start."""
    X = blobs(seed, n_components, n_features)
    start = random_rows(X, n_components, seed)
    km = KMeans(n_components, init=start, n_init=1, tol=0, max_iter=1000).fit(X)
    # KMeans moves an empty cluster elsewhere; the fixed-variance EM keeps its mean.
    assume(np.bincount(km.labels_, minlength=n_components).min() > 0)
    fit = fit_em_fixed_variance(X, start, variance=1e-10, max_iter=1000)
    assert fit.converged
    np.testing.assert_allclose(fit.means, km.cluster_centers_, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(fit.responsibilities.argmax(axis=1), km.labels_)
    assert fit.responsibilities.max(axis=1).min() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variance", [0.5, 2.0, 20.0])
def test_soft_iterations_match_a_direct_implementation(variance):
    X = blobs(3, 3, 2)
    start = random_rows(X, 3, 3)
    weights = np.array([0.2, 0.3, 0.5])
    fit = fit_em_fixed_variance(X, start, variance, weights=weights, max_iter=7, tol=0)
    assert fit.n_iter == 7
    expected = soft_kmeans_reference(X, start, variance, weights, 7)
    np.testing.assert_allclose(fit.means, expected, rtol=1e-10, atol=1e-10)
    sq = ((X[:, None, :] - fit.means[None]) ** 2).sum(axis=2)
    log_joint = np.log(weights) - sq / (2 * variance) - np.log(2 * np.pi * variance)
    assert fit.log_likelihood == pytest.approx(logsumexp(log_joint, axis=1).sum(), rel=1e-12)


@pytest.mark.timeout(60)
def test_objective_never_decreases_and_responsibilities_harden():
    X = blobs(5, 3, 2)
    start = random_rows(X, 3, 5)
    path = [fit_em_fixed_variance(X, start, 1.0, max_iter=i, tol=0) for i in range(8)]
    log_liks = [fit.log_likelihood for fit in path]
    assert np.all(np.diff(log_liks) >= -1e-9 * abs(log_liks[0]))
    hardness = [
        fit_em_fixed_variance(X, start, v).responsibilities.max(axis=1).mean()
        for v in (4.0, 1.0, 0.25, 0.01)
    ]
    assert np.all(np.diff(hardness) > 0), hardness


@pytest.mark.timeout(60)
def test_input_is_not_modified_and_the_public_name_resolves():
    X = blobs(1, 2, 2)
    start = random_rows(X, 2, 1)
    X_before, start_before = X.copy(), start.copy()
    fit = bayesgmm.fit_em_fixed_variance(X, start, 0.5)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(start, start_before)
    assert isinstance(fit, bayesgmm.FixedVarianceEM)
    np.testing.assert_allclose(fit.weights, [0.5, 0.5])


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"variance": 0.0}, ValueError, "variance must be finite and > 0"),
        ({"variance": np.nan}, ValueError, "variance must be finite"),
        ({"variance": "big"}, TypeError, "variance must be a number"),
        ({"means_init": np.zeros((2, 3))}, ValueError, "means_init"),
        ({"means_init": [[np.nan, 0.0], [1.0, 1.0]]}, ValueError, "means_init"),
        ({"weights": [1.0, -1.0]}, ValueError, "weights must be 2 finite positive"),
        ({"weights": [1.0, 1.0, 1.0]}, ValueError, "weights must be 2"),
        ({"max_iter": -1}, ValueError, "max_iter must be an integer"),
        ({"max_iter": 2.5}, ValueError, "max_iter must be an integer"),
        ({"tol": -1.0}, ValueError, "tol must be finite and >= 0"),
    ],
)
def test_bad_input_is_refused(kwargs, error, match):
    X = blobs(2, 2, 2)
    arguments = {"means_init": random_rows(X, 2, 2), "variance": 1.0} | kwargs
    with pytest.raises(error, match=match):
        fit_em_fixed_variance(X, **arguments)


@pytest.mark.timeout(60)
def test_bad_data_is_refused():
    with pytest.raises(ValueError, match="X"):
        fit_em_fixed_variance([[0.0, np.inf], [1.0, 1.0]], [[0.0, 0.0]], 1.0)
