"""EM starts on a subsample: their cost does not grow with N, and they find today's maxima.

Small data (N at most the subsample size) keep exactly the starts they had before
subsampling existed; that path is covered by every test in ``test_em.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesgmm import em
from bayesgmm.datasets import make_gmm_data

# Converged to 1e-9 per sample, two fits of the same maximum agree to about N * 1e-9 in
# the objective; 1e-6 relative is far below the gap to any other maximum.
TOL = 1e-9
OBJECTIVE_RTOL = 1e-6
WEIGHTS = np.array([0.35, 0.25, 0.2, 0.15, 0.05])


def fit(X, n_components, **kwargs):
    return em.fit_em(X, n_components, tol=TOL, max_iter=2000, warn=False, **kwargs)


def without_subsample(monkeypatch):
    # The starts as they were before subsampling: every row.
    monkeypatch.setattr(em.starts, "_INIT_SUBSAMPLE_MIN", 10**12)


@pytest.fixture(scope="module")
def simulated() -> np.ndarray:
    """10,000 rows of a well-separated 5-component mixture in D=3: 5x the subsample size."""
    rng = np.random.default_rng(11)
    means = 6.0 * np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    factors = rng.normal(size=(5, 3, 3)) / 3.0
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.3 * np.eye(3)
    X = make_gmm_data(10_000, WEIGHTS, means, covariances, random_seed=12).X
    X.setflags(write=False)
    return X


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("n_samples", "n_components", "expected"),
    [(272, 2, None), (2000, 3, None), (2001, 3, 2000), (10**6, 10, 2000), (10**6, 100, 5000)],
)
def test_subsample_size_and_rows(n_samples, n_components, expected):
    assert em.init_subsample_size(n_samples, n_components) == (expected or n_samples)
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    rows = em.init_subsample_rows(n_samples, n_components, rng)
    if expected is None:
        # No subsample and no random number drawn: the starts are those of before.
        assert rows is None
        assert rng.bit_generator.state == before
    else:
        assert rows.shape == (expected,)
        assert np.all(np.diff(rows) > 0)  # sorted and distinct
        assert 0 <= rows[0] and rows[-1] < n_samples


@pytest.mark.timeout(60)
def test_starts_see_only_the_subsample(simulated, monkeypatch):
    seen = []
    original = em.starts._initial_responsibilities

    def spy(Z, n_components, init, rng):
        seen.append(Z.shape)
        return original(Z, n_components, init, rng)

    monkeypatch.setattr(em.starts, "_initial_responsibilities", spy)
    result = em.fit_em(simulated, 5, n_init=2, max_iter=30, random_seed=0, warn=False)
    assert seen and all(shape == (2000, 3) for shape in seen)
    # The long runs are on all rows: the hierarchical start's and the n_init restarts.
    assert result.n_samples == simulated.shape[0]
    assert result.init_objectives.shape == (3,)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("init", "n_init"), [("kmeans++", 1), ("auto", 3)])
def test_subsample_start_reaches_the_same_maximum_on_simulated_data(
    simulated, monkeypatch, init, n_init
):
    sub = fit(simulated, 5, init=init, n_init=n_init, random_seed=3)
    without_subsample(monkeypatch)
    full = fit(simulated, 5, init=init, n_init=n_init, random_seed=3)
    assert sub.converged and full.converged
    np.testing.assert_allclose(sub.objective, full.objective, rtol=OBJECTIVE_RTOL)
    # Label-invariant: the sorted weights agree too.
    np.testing.assert_allclose(np.sort(sub.weights), np.sort(full.weights), atol=1e-4)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("n_components", "n_init"), [(2, 1), (3, 10)])
def test_subsample_start_reaches_the_same_maximum_on_faithful(
    faithful, monkeypatch, n_components, n_init
):
    # Faithful (272 rows) is below the subsample size; a 150-row subsample makes the
    # starts subsample it as they would a large data set.
    full = [fit(faithful, n_components, n_init=n_init, random_seed=s).objective for s in range(2)]
    monkeypatch.setattr(em.starts, "_INIT_SUBSAMPLE_MIN", 150)
    assert em.init_subsample_size(272, n_components) == 150
    sub = [fit(faithful, n_components, n_init=n_init, random_seed=s).objective for s in range(2)]
    np.testing.assert_allclose(sub, max(full), rtol=OBJECTIVE_RTOL)
    np.testing.assert_allclose(full, max(full), rtol=OBJECTIVE_RTOL)


@pytest.mark.timeout(60)
def test_subsample_start_recovers_simulated_truth(simulated):
    result = fit(simulated, 5, random_seed=0)
    # Sorted weights against the truth, to 4 binomial standard errors (each <= 0.0048) at N=10,000.
    np.testing.assert_allclose(np.sort(result.weights), np.sort(WEIGHTS), atol=0.02)


# -- the O(N D) passes outside the start: one for the means, one for the covariance ------


def _shapes() -> list[np.ndarray]:
    rng = np.random.default_rng(21)
    return [
        rng.normal(size=(500, 1)),
        rng.normal(size=(3000, 4)) @ rng.normal(size=(4, 4)) + 5.0,
        rng.normal(size=(1000, 3)) * [0.1, 1.0, 1e2] + 1e6,  # far from the origin
        rng.gamma(0.5, size=(257, 7)),
    ]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", range(4))
def test_moments_are_those_of_numpy_bit_for_bit(case) -> None:
    """The MAP-EM prior and the collapse checks read them: they must not move."""
    X = _shapes()[case]
    before = X.copy()
    Xc, moments = em.collapse.centre_with_moments(X, in_place=False)
    assert np.array_equal(X, before)  # not in place unless asked
    assert np.array_equal(moments.center, X.mean(axis=0))
    assert np.array_equal(Xc, X - X.mean(axis=0))
    assert np.array_equal(moments.covariance, np.atleast_2d(np.cov(X, rowvar=False)))
    owned = X.copy()
    Xc_owned, again = em.collapse.centre_with_moments(owned, in_place=True)
    assert Xc_owned is owned and np.array_equal(owned, Xc)
    assert np.array_equal(again.covariance, moments.covariance)
    # So the default prior resolved on the fit's moments is default_prior(X), exactly.
    fit_prior = em.fit_em(X, 2, "full", prior="default", max_iter=0, random_seed=0).prior
    reference = em.default_prior(X, 2, "full")
    assert np.array_equal(fit_prior.scale, reference.scale)
    assert np.array_equal(fit_prior.mean, reference.mean)


def _with_constant_columns() -> list[np.ndarray]:
    rng = np.random.default_rng(31)
    X = rng.normal(size=(2000, 8))
    X[:, 1] = 0.1  # a sum of 0.1s is not 2000 * 0.1: the mean is off by rounding
    X[:, 3] = 0.0
    X[:, 5] = 1e15 + 2.0
    X[0, 0] = 40.0  # the first row far out: the column is a candidate, and varies
    X[:, 6] = np.sort(rng.integers(0, 2, size=2000))  # the first 64 rows alike
    X[:, 7] = 7.0
    X[-1, 7] = 7.0 + 1e-9  # constant but for the last row
    return [X, X[:300, :], np.full((10, 2), -3.25), rng.normal(size=(5, 2))]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", range(4))
def test_constant_columns_are_exactly_those_of_constant_features(case) -> None:
    from bayesgmm._utils.validation import constant_features

    X = _with_constant_columns()[case]
    Xc, moments = em.collapse.centre_with_moments(X, in_place=False)
    got = em.collapse.constant_columns(Xc, moments.covariance)
    assert np.array_equal(got, constant_features(X))
    if case == 0:
        assert got.tolist() == [1, 3, 5]


@pytest.mark.timeout(30)
def test_fit_em_centres_only_its_own_copy(simulated) -> None:
    from bayesgmm._utils.validation import CheckedData

    X = np.array(simulated)  # writable, the user's
    before = X.copy()
    fit = em.fit_em(X, 3, "full", max_iter=5, random_seed=0, warn=False)
    assert np.array_equal(X, before)
    # Data validated by a caller (a facade, the Bayesian start) are the caller's: not
    # centred in place either, and the fit is the same.
    again = em.fit_em(CheckedData(X, None), 3, "full", max_iter=5, random_seed=0, warn=False)
    assert np.array_equal(X, before)
    assert np.array_equal(again.means, fit.means)
    assert np.array_equal(again.objective_trace, fit.objective_trace)
