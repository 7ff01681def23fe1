"""Observation weights and partial labels in EM and its facade (issue 13, parts 4-5).

Reference values come from independent constructions: the data with rows repeated (for
integer weights), the data with rows removed (for zero weights), and the closed-form
supervised estimates (every row labelled).
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesgmm.datasets import make_gmm_data
from bayesgmm.em import bic, fit_em, icl
from bayesgmm.estimators.bayesian import GaussianMixtureEM
from bayesgmm.mixture.covariance import as_full

COV_TYPES = ("full", "tied", "diag", "spherical")
# Repetition and weighting sum the same numbers in another order: round-off only. 1e-10
# relative leaves ~1e5 ulps for 30 EM iterations of error growth.
RTOL = 1e-10


def _data(seed: int = 0, n: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    half = n // 2
    return np.vstack(
        [rng.normal(0, 1, (half, 2)), rng.normal(4, 1, (n - half, 2)) @ [[1, 0.4], [0, 1]]]
    )


def _start(X: np.ndarray, cov: str, k: int = 2) -> dict:
    fit = fit_em(X, k, cov, random_seed=1, max_iter=3, warn=False)
    return {"weights": fit.weights, "means": fit.means, "covariances": fit.covariances}


def _assert_same_fit(a, b, rtol: float = RTOL) -> None:
    for name in ("weights", "means", "covariances"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.max(np.abs(x - y)) <= rtol * np.max(np.abs(y)), name
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=rtol)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("prior", [None, "default"])
def test_integer_weights_equal_repeated_rows(cov, prior):
    X = _data()
    w = np.random.default_rng(3).integers(0, 4, size=X.shape[0])
    init = _start(X, cov)
    weighted = fit_em(X, 2, cov, init=init, sample_weight=w, tol=0, max_iter=30, prior=prior)
    repeated = fit_em(np.repeat(X, w, axis=0), 2, cov, init=init, tol=0, max_iter=30, prior=prior)
    _assert_same_fit(weighted, repeated)
    # BIC / ICL count sum(w) observations, as the repeated rows do.
    assert weighted.n_observations == w.sum() == repeated.n_samples
    assert bic(weighted) == pytest.approx(bic(repeated), rel=RTOL)
    assert icl(weighted) == pytest.approx(icl(repeated), rel=RTOL)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov", ["full", "diag"])
def test_zero_weight_equals_dropping_rows(cov):
    X = _data(1)
    w = np.ones(X.shape[0])
    w[::5] = 0.0
    init = _start(X, cov)
    weighted = fit_em(X, 2, cov, init=init, sample_weight=w, tol=0, max_iter=25)
    dropped = fit_em(X[w > 0], 2, cov, init=init, tol=0, max_iter=25)
    _assert_same_fit(weighted, dropped)


@pytest.mark.timeout(30)
def test_no_weights_no_labels_is_the_old_path():
    X = _data(2, 400)
    plain = fit_em(X, 2, "full", random_seed=0, n_init=3)
    same = fit_em(X, 2, "full", random_seed=0, n_init=3, sample_weight=None, labels=None)
    for name in ("weights", "means", "covariances", "objective_trace"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(same, name))
    assert plain.weight_total is None and plain.n_observations == 400
    # Unit weights take the weighted path, with the same starts: equal up to round-off.
    ones = fit_em(X, 2, "full", random_seed=0, n_init=3, sample_weight=np.ones(400))
    _assert_same_fit(ones, plain, rtol=1e-9)
    facade = GaussianMixtureEM(2, random_seed=0, n_init=3).fit(X)
    np.testing.assert_array_equal(facade.means_, plain.means)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov", COV_TYPES)
def test_all_labelled_is_the_supervised_estimate(cov):
    """Every row labelled: the closed-form class proportions, means and covariances
    (weighted too), reached in one M-step."""
    X = _data(4, 90)
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, size=X.shape[0])
    w = rng.uniform(0.2, 3.0, size=X.shape[0])
    fit = fit_em(X, 3, cov, labels=labels, sample_weight=w, reg_covar=0.0)
    totals = np.bincount(labels, weights=w, minlength=3)
    means = np.stack([np.average(X[labels == k], axis=0, weights=w[labels == k]) for k in range(3)])
    scatter = np.stack(
        [
            (w[labels == k, None] * (X[labels == k] - means[k])).T @ (X[labels == k] - means[k])
            for k in range(3)
        ]
    )
    expected = {
        "full": scatter / totals[:, None, None],
        "tied": scatter.sum(axis=0) / totals.sum(),
        "diag": np.diagonal(scatter, axis1=1, axis2=2) / totals[:, None],
        "spherical": np.trace(scatter, axis1=1, axis2=2) / (2 * totals),
    }[cov]
    np.testing.assert_allclose(fit.weights, totals / totals.sum(), rtol=1e-12)
    np.testing.assert_allclose(fit.means, means, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fit.covariances, expected, rtol=1e-10)
    assert fit.converged and fit.n_iter <= 2


def _separated(seed: int = 0):
    means = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    cov = np.stack([np.eye(2), [[1.0, 0.5], [0.5, 1.0]], 0.5 * np.eye(2)])
    return make_gmm_data(600, [0.5, 0.3, 0.2], means, cov, random_seed=seed)


@pytest.mark.timeout(30)
def test_partial_labels_recover_truth_in_the_labels_order():
    sim = _separated()
    rng = np.random.default_rng(0)
    # The labels name the true components in a scrambled order: component k must be the
    # one the labels call k.
    rename = np.array([2, 0, 1])
    y = np.full(600, -1)
    known = rng.choice(600, size=60, replace=False)
    y[known] = rename[sim.labels[known]]
    fit = GaussianMixtureEM(3, random_seed=0).fit(sim.X, labels=y)
    order = np.argsort(rename)  # component k of the fit is true component order[k]
    se = np.sqrt(np.diagonal(as_full(sim.covariances, "full", 3, 2), axis1=1, axis2=2) / 100)
    assert np.all(np.abs(fit.means_ - sim.means[order]) < 5 * se[order])
    np.testing.assert_allclose(fit.weights_, sim.weights[order], atol=0.06)
    # The labelled rows are predicted as labelled; all the rest as the truth says.
    assert np.mean(fit.predict(sim.X) == rename[sim.labels]) > 0.99


@pytest.mark.timeout(30)
def test_labels_all_unknown_fit_as_unlabelled():
    X = _data(6, 300)
    plain = fit_em(X, 2, "diag", random_seed=0)
    unknown = fit_em(X, 2, "diag", random_seed=0, labels=np.full(300, -1))
    _assert_same_fit(unknown, plain, rtol=1e-9)


@pytest.mark.timeout(30)
def test_weights_and_labels_leave_the_inputs_alone():
    X = _data(7, 60)
    w = np.linspace(0.5, 2.0, 60)
    y = np.where(np.arange(60) < 5, 0, -1)
    w_copy, y_copy = w.copy(), y.copy()
    GaussianMixtureEM(2, random_seed=0).fit(X, sample_weight=w, labels=y)
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(y, y_copy)


BAD_WEIGHTS = [
    (-np.ones(60), "negative"),
    (np.r_[np.nan, np.ones(59)], "NaN or infinite"),
    (np.r_[np.inf, np.ones(59)], "NaN or infinite"),
    (np.ones(59), "one entry per row"),
    (np.ones((60, 1)), "one entry per row"),
    (np.zeros(60), "zero for every row"),
    (np.array(["a"] * 60), "non-numeric"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("weights", "match"), BAD_WEIGHTS)
def test_bad_weights_are_refused_with_a_fix(weights, match):
    X = _data(8, 60)
    with pytest.raises((ValueError, TypeError), match=match):
        fit_em(X, 2, sample_weight=weights)
    with pytest.raises((ValueError, TypeError), match=match):
        GaussianMixtureEM(2).fit(X, sample_weight=weights)


BAD_LABELS = [
    (np.r_[2, -np.ones(59, dtype=int)], r"outside -1 and 0\.\.1"),
    (np.r_[-2, -np.ones(59, dtype=int)], r"outside -1 and 0\.\.1"),
    (np.r_[0.5, -np.ones(59)], "integer component indices"),
    (np.r_[np.nan, -np.ones(59)], "integer component indices"),
    (-np.ones(59), "one entry per row"),
    (np.array(["a"] * 60), "non-numeric"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("labels", "match"), BAD_LABELS)
def test_bad_labels_are_refused_with_a_fix(labels, match):
    X = _data(9, 60)
    with pytest.raises((ValueError, TypeError), match=match):
        GaussianMixtureEM(2).fit(X, labels=labels)


@pytest.mark.timeout(30)
def test_dask_refuses_weights_with_a_fix():
    da = pytest.importorskip("dask.array")
    X = da.from_array(_data(10, 60), chunks=30)
    with pytest.raises(NotImplementedError, match=r"X\.compute\(\)"):
        fit_em(X, 2, sample_weight=np.ones(60))
