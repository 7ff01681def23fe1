"""Missing values together with observation weights and partial labels: EM (integer
weights = duplicated rows, labelled rows one-hot, the objective never decreasing), the
PyMC likelihood (weights = duplicated rows, labelled rows against scipy), imputation of
labelled rows, the facades and save / load, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import mcar, model_point, random_params, two_clusters, well_separated_3d
from missing_reference import (
    assert_statistics_match,
    reference_row,
    reference_statistics,
    scipy_observed_loglik,
)

from bayesgmm import BayesianGMM, GaussianMixtureEM, fit_em
from bayesgmm._utils.validation import check_data
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import build_model, make_spec, model_from_spec
from bayesgmm.em import GMMParams, bic, sufficient_statistics
from bayesgmm.em.missing import missing_statistics
from bayesgmm.mixture.covariance import precisions_cholesky
from bayesgmm.mixture.imputation import conditional_mean_imputation, posterior_imputation
from bayesgmm.mixture.observations import Observations

COV_TYPES = ("full", "tied", "diag", "spherical")
FAST = {"mode": "FAST_COMPILE"}  # a few evaluations do not repay PyTensor's C compilation


def _partial_labels(truth: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(truth.size) < fraction, truth, -1)


def _close(got: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    """Equal to ``rtol`` relative to the array's largest entry (entries near 0, such as
    small covariances between features, carry the rounding of the large ones)."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


# -- EM -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def incomplete():
    """300 rows of three 3-D components, 25% MCAR, integer weights 0..3 and partial labels."""
    sim = well_separated_3d(n=300, seed=3)
    X = mcar(sim.X, 0.25, seed=4)
    weights = np.random.default_rng(5).integers(0, 4, size=X.shape[0])
    return sim, X, weights


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prior", [None, "default"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_em_integer_weights_equal_duplicated_rows_with_nan(incomplete, cov_type, prior) -> None:
    _, X, weights = incomplete
    duplicated = np.repeat(X, weights, axis=0)  # weight 0 drops the row
    start = fit_em(
        duplicated, 3, cov_type, max_iter=3, missing="marginalize", random_seed=0, warn=False
    )
    # tol=0: both run exactly 40 iterations from the same start.
    settings = dict(init=start, tol=0, max_iter=40, prior=prior, missing="marginalize")
    before = weights.copy()
    weighted = fit_em(X, 3, cov_type, sample_weight=weights, **settings)
    repeated = fit_em(duplicated, 3, cov_type, **settings)
    assert np.array_equal(weights, before)
    # The two differ by the order of summation only: rounding, ~1e-16 per operation, and
    # EM's steps contract errors towards the maximum rather than amplify them.
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-12)
    _close(weighted.objective_trace, repeated.objective_trace, 1e-12)
    for name in ("weights", "means", "covariances"):
        _close(getattr(weighted, name), getattr(repeated, name), 1e-12)
    assert weighted.n_observations == repeated.n_samples == weights.sum()
    assert bic(weighted) == pytest.approx(bic(repeated), rel=1e-12)
    if prior is not None:  # the data-scaled default prior from the weighted moments
        _close(weighted.prior.scale, repeated.prior.scale, 1e-12)
        _close(weighted.prior.mean, repeated.prior.mean, 1e-12)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_weighted_labelled_statistics_match_a_per_row_reference(cov_type) -> None:
    k, d = 3, 4
    params = random_params(cov_type, k, d, seed=11)
    rng = np.random.default_rng(12)
    X = mcar(rng.normal(scale=2.5, size=(80, d)), 0.35, seed=13)
    # Real weights, a few zeros; labels on about a third of the rows, complete or not.
    weights = rng.gamma(2.0, size=80) * (rng.random(80) > 0.1)
    labels = _partial_labels(rng.integers(0, k, size=80), 0.35, seed=14)
    got = missing_statistics(X, params, obs=Observations(weights, labels))
    reference = reference_statistics(X, params, weights, labels)
    assert_statistics_match(got, reference, cov_type, rtol=1e-10)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_without_nan_the_statistics_are_the_complete_data_ones(sim3d, cov_type) -> None:
    params = random_params(cov_type, 3, 3, seed=21)
    rng = np.random.default_rng(22)
    obs = Observations(rng.gamma(2.0, size=600), _partial_labels(sim3d.labels, 0.2, seed=23))
    complete = sufficient_statistics(sim3d.X, params, sample_weight=obs[0], labels=obs[1])
    for x, y in zip(complete, missing_statistics(sim3d.X, params, obs=obs), strict=True):
        assert np.array_equal(x, y)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prior", [None, "default"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_em_objective_never_decreases_with_weights_labels_and_nan(cov_type, prior) -> None:
    sim = well_separated_3d(n=400, seed=31)
    X = mcar(sim.X, 0.3, seed=32)
    rng = np.random.default_rng(33)
    fit = fit_em(
        X, 3, cov_type, prior=prior, n_init=2, random_seed=0, missing="marginalize",
        sample_weight=rng.gamma(3.0, size=400) / 3.0,
        labels=_partial_labels(sim.labels, 0.1, seed=34),
    )  # fmt: skip
    trace = fit.objective_trace
    assert trace.size > 3 and np.all(np.isfinite(trace))
    # Each step's change may only fall below 0 by the rounding of |f| (~1e-16 relative).
    assert np.all(np.diff(trace) >= -1e-12 * np.abs(trace[1:]))


@pytest.mark.timeout(60)
def test_labels_fix_the_components_with_nan() -> None:
    sim = well_separated_3d(n=600, seed=41)
    X = mcar(sim.X, 0.25, seed=42)
    # The labels call the true components 2, 0, 1: the fit's component k is theirs.
    rename = np.array([2, 0, 1])
    truth = _partial_labels(sim.labels, 0.1, seed=43)
    labels = np.where(truth >= 0, rename[np.maximum(truth, 0)], -1)
    fit = fit_em(X, 3, "full", labels=labels, n_init=3, random_seed=0, missing="marginalize")
    # ~100-300 rows per component with 25% missing: the means within 0.3 (> 4 standard
    # errors of sd <= 1.5 over >= 100 rows).
    np.testing.assert_allclose(fit.means[rename], sim.means, atol=0.3)
    # The fit's responsibilities of a labelled row are one-hot on its label: its term is
    # its own component's, which the reference computes row by row.
    obs = Observations(None, labels)
    stats_ = missing_statistics(X, fit.params, obs=obs)
    ones = np.ones(X.shape[0])
    reference = reference_statistics(X, fit.params, ones, labels)
    assert stats_.log_likelihood == pytest.approx(reference[0], rel=1e-11)
    assert fit.log_likelihood == pytest.approx(reference[0], rel=1e-11)


@pytest.mark.timeout(30)
def test_zero_weight_rows_with_nan_are_dropped(incomplete) -> None:
    _, X, weights = incomplete
    binary = (weights > 0).astype(float)
    kept = X[binary > 0]
    start = fit_em(kept, 3, "diag", max_iter=2, missing="marginalize", random_seed=0, warn=False)
    settings = dict(init=start, tol=0, max_iter=20, missing="marginalize")
    a = fit_em(X, 3, "diag", sample_weight=binary, **settings)
    b = fit_em(kept, 3, "diag", **settings)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)
    _close(a.means, b.means, 1e-12)


# -- the PyMC model -------------------------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_pymc_logp_with_weights_equals_duplicated_rows(cov_type) -> None:
    rng = np.random.default_rng(51)
    X = mcar(rng.normal(size=(30, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, 2.0], 0.3, seed=52)
    weights = rng.integers(0, 4, size=30)
    duplicated = np.repeat(X, weights, axis=0)
    data = check_data(duplicated, missing="marginalize")
    # One spec (priors and internal units) for both: the likelihoods are then comparable
    # term by term. The spec of the weighted rows equals it to rounding.
    spec = make_spec(data, 2, cov_type)
    weighted_spec = make_spec(
        check_data(X, missing="marginalize"), 2, cov_type, sample_weight=weights.astype(float)
    )
    _close(weighted_spec.standardization.center, spec.standardization.center, 1e-13)
    _close(weighted_spec.standardization.scale, spec.standardization.scale, 1e-13)
    for name in ("mean_loc", "mean_scale", "std_scale"):
        _close(getattr(weighted_spec.priors, name), getattr(spec.priors, name), 1e-13)
    a = model_from_spec(spec, X, observations=Observations(weights.astype(float), None))
    b = model_from_spec(spec, duplicated)
    assert a.has_missing and "sample_weight" in a.model.named_vars
    logp_a = a.model.compile_logp(**FAST)
    logp_b = b.model.compile_logp(**FAST)
    kspec = kernel.kernel_spec(spec.internal_priors, 2, 3, cov_type)
    for _ in range(3):
        point = model_point(a.model, rng.normal(scale=0.7, size=kspec.ndim))
        assert logp_a(point) == pytest.approx(logp_b(point), rel=1e-12)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_pymc_labelled_weighted_logp_matches_scipy(cov_type) -> None:
    rng = np.random.default_rng(61)
    X = mcar(rng.normal(size=(40, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, 2.0], 0.3, seed=62)
    k = 2
    weights = rng.gamma(2.0, size=40) * (rng.random(40) > 0.1)
    labels = _partial_labels(rng.integers(0, k, size=40), 0.4, seed=63)
    gmm = build_model(X, k, cov_type, sample_weight=weights, labels=labels, missing="marginalize")
    model = gmm.model
    # PyMC never sees a NaN; the weights and labels are containers as for complete data.
    assert not any(np.isnan(v.get_value()).any() for v in model.data_vars)
    np.testing.assert_array_equal(model["labels"].get_value(), labels)
    likelihood = model.compile_logp(vars=model.potentials, jacobian=False, **FAST)
    spec = kernel.kernel_spec(gmm.spec.internal_priors, k, 3, cov_type)
    for _ in range(3):
        params = kernel.unpack(rng.normal(scale=0.7, size=spec.ndim), spec)
        expected = scipy_observed_loglik(gmm.internal, params, cov_type, k, weights, labels)
        got = likelihood(model_point(model, kernel.pack(params, spec)))
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-8)


# -- imputation ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_em_imputes_a_labelled_row_from_its_own_component(sim3d) -> None:
    X = mcar(sim3d.X, 0.25, seed=71)
    labels = _partial_labels(sim3d.labels, 0.3, seed=72)
    weights = np.random.default_rng(73).gamma(2.0, size=X.shape[0])
    model = GaussianMixtureEM(3, missing="marginalize", random_seed=0)
    model.fit(X, sample_weight=weights, labels=labels)
    before = labels.copy()
    with_labels, without = model.impute(X, labels=labels), model.impute(X)
    assert np.array_equal(labels, before)
    params = model.result_.params
    unlabelled = labels < 0
    # Rows without a label: the mixture's conditional mean, as without y.
    rows_u = np.isnan(X).any(axis=1) & unlabelled
    np.testing.assert_array_equal(with_labels.completed[rows_u], without.completed[rows_u])
    checked = 0
    for n in np.flatnonzero(np.isnan(X).any(axis=1) & ~unlabelled):
        own = reference_row(X[n], params)[2][labels[n]][0]  # E[x_m | x_o, k]
        np.testing.assert_allclose(with_labels.completed[n, np.isnan(X[n])], own, rtol=1e-10)
        checked += 1
    assert checked > 20
    # Weights weigh a row's term in the fit, not the imputation of a given row: the
    # same parameters impute the same values whatever weights the fit had.
    direct = conditional_mean_imputation(
        X, params.weights, params.means, params.covariances, "full", labels
    )
    np.testing.assert_array_equal(direct, with_labels.completed)


@pytest.mark.timeout(60)
def test_posterior_imputation_draws_a_labelled_row_from_its_own_component() -> None:
    sim = well_separated_3d(n=200, seed=81)
    X = mcar(sim.X, 0.3, seed=82)
    # Label every incomplete row with a component it does not come from: its draws must
    # follow that component's conditional Gaussian, which the mixture would never choose.
    labels = np.where(np.isnan(X).any(axis=1), (sim.labels + 1) % 3, -1)
    s = 2000
    draws = (
        np.broadcast_to(sim.weights, (s, 3)),
        np.broadcast_to(sim.means, (s, 3, 3)),
        np.broadcast_to(sim.covariances, (s, 3, 3, 3)),
    )
    result = posterior_imputation(X, *draws, np.random.default_rng(83), labels=labels)
    params = GMMParams(
        sim.weights,
        sim.means,
        sim.covariances,
        precisions_cholesky(sim.covariances, "full"),
        "full",
    )
    z = []
    for n in np.flatnonzero(np.isnan(X).any(axis=1))[:40]:
        entries = result.rows == n
        own, cond_cov = reference_row(X[n], params)[2][labels[n]]
        sd = np.sqrt(np.diag(cond_cov))
        # The mean of s draws from N(own, sd^2): z ~ N(0, 1).
        z.extend((result.mean[entries] - own) / (sd / np.sqrt(s)))
    z = np.asarray(z)
    assert z.size > 40
    # Largest |z| of ~60 standard normals stays below 4.5 (probability ~4e-4 otherwise);
    # the mixture's draws would sit several sds away, at the true component.
    assert np.max(np.abs(z)) < 4.5


# -- the facades, save / load, bad input -----------------------------------------------------


@pytest.mark.timeout(60)
def test_em_facade_passes_weights_and_labels_with_nan(sim3d) -> None:
    X = mcar(sim3d.X, 0.2, seed=91)
    labels = _partial_labels(sim3d.labels, 0.2, seed=92)
    weights = np.random.default_rng(93).gamma(2.0, size=X.shape[0])
    model = GaussianMixtureEM(3, missing="marginalize", random_seed=0, n_init=2)
    model.fit(X, sample_weight=weights, labels=labels)
    direct = fit_em(
        X, 3, "full", n_init=2, random_seed=0, labels=labels, sample_weight=weights,
        missing="marginalize",
    )  # fmt: skip
    for name in ("weights", "means", "covariances", "objective_trace"):
        assert np.array_equal(getattr(model.result_, name), getattr(direct, name)), name
    assert model.result_.weight_total == pytest.approx(weights.sum())
    assert np.isfinite(model.bic(X))


@pytest.fixture(scope="module")
def map_fit():
    sim = two_clusters(200, seed=101)
    X = mcar(sim.X, 0.2, seed=102)
    labels = _partial_labels(sim.labels, 0.2, seed=103)
    weights = np.random.default_rng(104).integers(1, 4, size=200).astype(float)
    fit = BayesianGMM(2, method="map", covariance_type="diag", missing="marginalize", random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(X, sample_weight=weights, labels=labels)
    return fit, X, sim, labels, weights


@pytest.mark.timeout(300)
def test_bayesian_fit_with_weights_labels_and_nan_saves_and_loads(map_fit, tmp_path) -> None:
    fit, X, sim, labels, weights = map_fit
    gmm = fit.model_
    assert gmm.has_missing and np.array_equal(gmm.sample_weight, weights)
    assert np.array_equal(gmm.labels, labels)
    # The labels name the components: component k is the labels' k, near the truth.
    np.testing.assert_allclose(fit.means_, sim.means, atol=0.5)
    stored = fit.idata_.constant_data
    assert np.array_equal(stored["sample_weight"].values, weights)
    path = tmp_path / "fit.nc"
    fit.save(path)
    loaded = BayesianGMM.load(path)
    assert loaded.model_.has_missing
    assert np.array_equal(loaded.model_.sample_weight, weights)
    assert np.array_equal(loaded.model_.labels, labels)
    np.testing.assert_allclose(loaded.predict_proba(X), fit.predict_proba(X), rtol=1e-12)
    point = {name: value + 0.05 for name, value in gmm.model.initial_point().items()}
    assert loaded.model_.model.compile_logp(**FAST)(point) == pytest.approx(
        gmm.model.compile_logp(**FAST)(point), rel=1e-12
    )
    # impute(X, labels=...): a labelled row takes its own component's conditional Gaussian.
    imputed = loaded.impute(X, labels=labels, random_seed=1)
    assert imputed.n_missing == int(np.isnan(X).sum()) and np.all(np.isfinite(imputed.mean))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", ["sample_weight", "labels"])
def test_wrong_length_weights_or_labels_with_nan_give_the_usual_errors(what) -> None:
    rng = np.random.default_rng(111)
    X = rng.normal(size=(60, 2))
    X[::7, 1] = np.nan
    bad = {"sample_weight": np.ones(59)} if what == "sample_weight" else {"labels": -np.ones(61)}
    pattern = rf"{'sample_weight' if what == 'sample_weight' else 'labels'} must be a 1-D array with one entry per row of X \(60\)"  # noqa: E501
    with pytest.raises(ValueError, match=pattern):
        fit_em(X, 2, "diag", missing="marginalize", **bad)
    with pytest.raises(ValueError, match=pattern):
        build_model(X, 2, "diag", missing="marginalize", **bad)
    model = GaussianMixtureEM(2, covariance_type="diag", missing="marginalize")
    with pytest.raises(ValueError, match=pattern):
        model.fit(X, sample_weight=bad.get("sample_weight"), labels=bad.get("labels"))
    fitted = GaussianMixtureEM(2, covariance_type="diag", missing="marginalize").fit(X)
    if what == "labels":
        with pytest.raises(ValueError, match=pattern):
            fitted.impute(X, labels=-np.ones(61))
        with pytest.raises(ValueError, match=r"outside -1 and 0..1"):
            fitted.impute(X, labels=np.full(60, 2))


@pytest.mark.timeout(60)
def test_an_all_nan_row_is_still_refused_with_weights_and_labels() -> None:
    X = np.random.default_rng(121).normal(size=(40, 2))
    X[5] = np.nan
    extra = dict(sample_weight=np.ones(40), labels=np.zeros(40, dtype=int))
    with pytest.raises(ValueError, match=r"every value missing"):
        fit_em(X, 2, "diag", missing="marginalize", **extra)
    with pytest.raises(ValueError, match=r"every value missing"):
        build_model(X, 2, "diag", missing="marginalize", **extra)
