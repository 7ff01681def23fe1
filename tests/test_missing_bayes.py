"""Missing values in the Bayesian model: the pattern likelihood against scipy, the model
unchanged without NaN, and a posterior fit with 20% MCAR (recovery, predictions,
imputation coverage)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import mcar, model_point, two_clusters, well_separated_3d
from missing_reference import scipy_observed_loglik

from bayesgmm import BayesianGMM
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import build_model

COV_TYPES = ("full", "tied", "diag", "spherical")
FAST = {"mode": "FAST_COMPILE"}  # a few evaluations do not repay PyTensor's C compilation


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_pattern_likelihood_matches_scipy(cov_type) -> None:
    rng = np.random.default_rng(0)
    X = mcar(rng.normal(size=(40, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, 2.0], 0.3, seed=1)
    k = 2
    gmm = build_model(X, k, cov_type, missing="marginalize")
    assert gmm.has_missing and gmm.kernel_supported
    model = gmm.model
    # PyMC never sees a NaN: the containers hold only observed values.
    values = model["X_observed"].get_value()
    assert np.isfinite(values).all() and values.size == int((~np.isnan(X)).sum())
    assert not any(np.isnan(v.get_value()).any() for v in model.data_vars)
    likelihood = model.compile_logp(vars=model.potentials, jacobian=False, **FAST)
    spec = kernel.kernel_spec(gmm.spec.internal_priors, k, 3, cov_type)
    for _ in range(3):
        theta = rng.normal(scale=0.7, size=spec.ndim)
        params = kernel.unpack(theta, spec)
        expected = scipy_observed_loglik(gmm.internal, params, cov_type, k)
        got = likelihood(model_point(model, kernel.pack(params, spec)))
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-8)


@pytest.mark.timeout(120)
def test_without_nan_the_model_is_the_complete_data_model() -> None:
    X = np.random.default_rng(2).normal(size=(30, 2))
    base = build_model(X, 2, "full")
    same = build_model(X, 2, "full", missing="marginalize")
    assert not same.has_missing and same.kernel_supported
    assert [v.name for v in same.model.free_RVs] == [v.name for v in base.model.free_RVs]
    point = base.model.initial_point()
    point = {n: v + 0.1 for n, v in point.items()}
    assert base.model.compile_logp(**FAST)(point) == same.model.compile_logp(**FAST)(point)


@pytest.mark.timeout(30)
def test_bayesian_fit_refuses_nan_by_default() -> None:
    X = np.random.default_rng(3).normal(size=(30, 2))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"missing='marginalize'"):
        BayesianGMM(2, progressbar=False).fit(X)
    with pytest.raises(ValueError, match=r"missing must be one of"):
        BayesianGMM(2, missing="impute", progressbar=False).fit(X)


@pytest.fixture(scope="module")
def fitted_missing():
    sim = two_clusters(600, seed=11)
    X = mcar(sim.X, 0.2, seed=12)
    model = BayesianGMM(
        2,
        covariance_type="diag",
        missing="marginalize",
        draws=300,
        tune=300,
        chains=2,
        progressbar=False,
        random_seed=13,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    return model, X, sim, caught


def _order(means: np.ndarray) -> np.ndarray:
    return np.argsort(means[..., 0], axis=-1)


@pytest.mark.timeout(300)
def test_posterior_recovers_the_truth_with_20_percentmcar(fitted_missing) -> None:
    model, X, sim, caught = fitted_missing
    # sampled on nutpie + the compiled kernel (tests/test_kernel_missing.py), silently
    assert model.idata_.attrs["sampler"] == "nutpie+bayesgmm-kernel"
    assert not any("compiled kernel" in str(w.message) for w in caught)
    post = model.idata_.posterior
    order = _order(post["means"].mean(("chain", "draw")).values)
    truth_order = _order(sim.means)
    for name, truth in (
        ("means", sim.means[truth_order]),
        ("stds", np.sqrt(np.diagonal(sim.covariances, axis1=1, axis2=2))[truth_order]),
        ("weights", sim.weights[truth_order]),
    ):
        values = post[name].values.reshape(-1, *post[name].shape[2:])[:, order]
        # 10 parameters: each posterior within 4 posterior sds of the truth (a miss of
        # any has probability ~6e-4 for a well-calibrated posterior).
        z = np.abs(values.mean(axis=0) - truth) / values.std(axis=0)
        assert np.all(z < 4), (name, z)
    assert float(model.summary()["r_hat"].max()) < 1.05  # 2 x 300 draws
    loglik = model.idata_.log_likelihood["x"].values
    assert loglik.shape[-1] == X.shape[0] and np.isfinite(loglik).all()


@pytest.mark.timeout(120)
def test_a_fit_with_missing_values_saves_and_loads(fitted_missing, tmp_path) -> None:
    model, X, _, _ = fitted_missing
    path = tmp_path / "fit.nc"
    model.save(path)
    loaded = BayesianGMM.load(path)
    assert loaded.model_.has_missing and loaded.missing == "marginalize"
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-12)


@pytest.mark.timeout(120)
def test_posterior_predictions_and_imputation(fitted_missing) -> None:
    model, X, sim, _ = fitted_missing
    before = X.copy()
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(model.score_samples(X)).all()
    # The posterior-mean clustering agrees with the truth on nearly every row (the two
    # components are ~5 sds apart; a row with one coordinate left can be ambiguous).
    labels = model.predict(X)
    agree = max(np.mean(labels == sim.labels), np.mean(labels != sim.labels))
    assert agree > 0.95
    result = model.impute(X, hdi_prob=0.9, interval="eti")
    assert np.array_equal(X, before, equal_nan=True)
    removed = np.isnan(X)
    m = result.n_missing
    assert m == removed.sum() >= 200 and result.draws.shape[1] == m
    truth = sim.X[result.rows, result.columns]
    inside = (result.lower <= truth) & (truth <= result.upper)
    # Binomial(M, 0.9) sd sqrt(0.09 / M) (~0.019 at M = 240): 4 sd, plus 0.02 for the
    # Monte Carlo error of intervals from 600 draws and the parameter uncertainty.
    assert abs(inside.mean() - 0.9) < 4 * np.sqrt(0.09 / m) + 0.02
    assert np.array_equal(result.completed[~removed], X[~removed])
    # The posterior predictive: complete rows (tests/test_posterior_predictive.py).
    replicates = model.sample_posterior_predictive(n_samples=4, random_seed=0)
    assert replicates.posterior_predictive["x"].shape[2:] == X.shape
    assert np.isfinite(replicates.posterior_predictive["x"].values).all()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_full_covariance_posterior_with_20_percentmcar() -> None:
    sim = well_separated_3d(n=400, seed=21)
    X = mcar(sim.X, 0.2, seed=22)
    model = BayesianGMM(
        3,
        covariance_type="full",
        missing="marginalize",
        draws=500,
        tune=500,
        chains=2,
        progressbar=False,
        random_seed=23,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    post = model.idata_.posterior
    order = np.argsort(post["means"].mean(("chain", "draw")).values[:, 0])
    truth_order = np.argsort(sim.means[:, 0])
    values = post["means"].values.reshape(-1, 3, 3)[:, order]
    z = np.abs(values.mean(axis=0) - sim.means[truth_order]) / values.std(axis=0)
    assert np.all(z < 4), z
    cov = post["covariances"].values.reshape(-1, 3, 3, 3)[:, order]
    z_cov = np.abs(cov.mean(axis=0) - sim.covariances[truth_order]) / cov.std(axis=0)
    assert np.all(z_cov < 4), z_cov
    assert float(model.summary()["r_hat"].max()) <= 1.01  # the criterion


@pytest.mark.timeout(120)
def test_map_runs_on_the_missing_value_model() -> None:
    sim = two_clusters(200, seed=31)
    X = mcar(sim.X, 0.2, seed=32)
    fit = BayesianGMM(
        2, method="map", covariance_type="diag", missing="marginalize", random_seed=0
    ).fit(X)
    order = np.argsort(fit.means_[:, 0])
    # The MAP point of 200 points: within a few standard errors (sd / sqrt(N_k) < 0.12).
    np.testing.assert_allclose(fit.means_[order], sim.means, atol=0.5)
    with pytest.raises(ValueError, match=r"pm.Minibatch\) does not support missing values"):
        build_model(X, 2, "diag", minibatch_size=50, missing="marginalize")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_advi_runs_on_the_missing_value_model() -> None:
    sim = two_clusters(200, seed=31)
    X = mcar(sim.X, 0.2, seed=32)
    fit = BayesianGMM(
        2,
        method="advi",
        advi_steps=2000,
        draws=100,
        covariance_type="diag",
        missing="marginalize",
        progressbar=False,
        random_seed=0,
    ).fit(X)
    order = np.argsort(fit.means_[:, 0])
    np.testing.assert_allclose(fit.means_[order], sim.means, atol=0.5)
