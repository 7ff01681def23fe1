"""Missing values in EM and in the numpy maths: validation, identity without NaN, the
E-step against an independent per-row computation, recovery, prediction and imputation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import mcar, random_params, well_separated_3d
from missing_reference import assert_statistics_match, reference_row, reference_statistics
from scipy import stats

from bayesgmm import GaussianMixtureEM, fit_em
from bayesgmm._utils.validation import check_data
from bayesgmm.em import sufficient_statistics
from bayesgmm.em.missing import missing_statistics, start_rows
from bayesgmm.mixture.covariance import as_full
from bayesgmm.mixture.imputation import posterior_imputation
from bayesgmm.mixture.missing import log_component_density_observed, missing_patterns

COV_TYPES = ("full", "tied", "diag", "spherical")


# -- validation ------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_raise_is_the_default_and_its_message_names_marginalize() -> None:
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"missing='marginalize'"):
        fit_em(X, 2)
    with pytest.raises(ValueError, match=r"missing='marginalize'"):
        GaussianMixtureEM(2).fit(X)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda X: X.__setitem__((4, slice(None)), np.nan), r"every value missing.*rows \[4\]"),
        (lambda X: X.__setitem__((slice(None), 1), np.nan), r"column\(s\) \[1\] with every"),
        (lambda X: X.__setitem__((2, 0), np.inf), r"infinite.*not a missing value"),
        (lambda X: X.__setitem__((2, 0), -np.inf), r"infinite.*replace it by NaN"),
    ],
    ids=["all_nan_row", "all_nan_column", "inf", "neg_inf"],
)
def test_marginalize_still_refuses_what_it_cannot_use(mutate, match) -> None:
    X = np.random.default_rng(1).normal(size=(20, 3))
    X[0, 0] = np.nan
    mutate(X)
    with pytest.raises(ValueError, match=match):
        fit_em(X, 2, missing="marginalize")
    with pytest.raises(ValueError, match=match):
        GaussianMixtureEM(2, missing="marginalize").fit(X)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("bad", ["drop", "Marginalize", None, 1])
def test_bad_missing_option_is_refused(bad) -> None:
    X = np.random.default_rng(2).normal(size=(20, 2))
    with pytest.raises(ValueError, match=r"missing must be one of \('raise', 'marginalize'\)"):
        fit_em(X, 2, missing=bad)
    with pytest.raises(ValueError, match=r"missing must be one of"):
        GaussianMixtureEM(2, missing=bad).fit(X)


@pytest.mark.timeout(10)
def test_check_data_copies_and_keeps_the_nan() -> None:
    X = np.random.default_rng(3).normal(size=(10, 2))
    X[1, 0] = np.nan
    before = X.copy()
    out = check_data(X, missing="marginalize").X
    assert out is not X and np.isnan(out[1, 0]) and np.array_equal(X, before, equal_nan=True)


# -- identity without NaN -----------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_no_nan_gives_identical_results(sim3d, cov_type) -> None:
    base = fit_em(sim3d.X, 3, cov_type, n_init=2, random_seed=5)
    same = fit_em(sim3d.X, 3, cov_type, n_init=2, random_seed=5, missing="marginalize")
    for name in ("weights", "means", "covariances", "objective_trace", "init_objectives"):
        assert np.array_equal(getattr(base, name), getattr(same, name)), name
    assert base.log_likelihood == same.log_likelihood
    a = GaussianMixtureEM(3, covariance_type=cov_type, random_seed=0).fit(sim3d.X)
    b = GaussianMixtureEM(3, covariance_type=cov_type, random_seed=0, missing="marginalize")
    b.fit(sim3d.X)
    assert np.array_equal(a.score_samples(sim3d.X), b.score_samples(sim3d.X))
    assert a.bic(sim3d.X) == b.bic(sim3d.X)
    # The missing-data statistics reduce to the complete ones.
    params = a.result_.params
    full, miss = sufficient_statistics(sim3d.X, params), missing_statistics(sim3d.X, params)
    for x, y in zip(full, miss, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


# -- the E-step against the definitions ---------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_expected_statistics_match_a_per_row_computation(cov_type) -> None:
    k, d = 3, 4
    params = random_params(cov_type, k, d, seed=11)
    X = mcar(np.random.default_rng(12).normal(scale=2.5, size=(60, d)), 0.35, seed=13)
    got = missing_statistics(X, params)
    assert_statistics_match(got, reference_statistics(X, params), cov_type, rtol=1e-10)


@pytest.mark.timeout(10)
def test_observed_density_matches_scipy() -> None:
    params = random_params("full", 2, 3, seed=21)
    X = mcar(np.random.default_rng(22).normal(size=(30, 3)), 0.4, seed=23)
    got = log_component_density_observed(X, params.means, params.covariances, "full")
    for n, x in enumerate(X):
        o = ~np.isnan(x)
        for j in range(2):
            ref = stats.multivariate_normal(
                params.means[j][o], params.covariances[j][np.ix_(o, o)]
            ).logpdf(x[o])
            np.testing.assert_allclose(got[n, j], ref, rtol=1e-12)
    patterns = missing_patterns(X)
    assert patterns[0].missing.size == 0  # complete rows first
    assert sorted(np.concatenate([p.rows for p in patterns]).tolist()) == list(range(30))


# -- EM ------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("prior", [None, "default"])
def test_em_objective_never_decreases(sim3d, cov_type, prior) -> None:
    X = mcar(sim3d.X, 0.2, seed=31)
    fit = fit_em(X, 3, cov_type, prior=prior, random_seed=0, missing="marginalize")
    steps = np.diff(fit.objective_trace)
    # Round-off of a sum of ~600 terms of size ~10: 1e-9 relative.
    assert steps.min() > -1e-9 * abs(fit.objective_trace[-1])
    assert fit.converged and np.isfinite(fit.log_likelihood)
    # The objective is the observed-data log-likelihood (plus the log prior).
    assert fit.log_likelihood == pytest.approx(missing_statistics(X, fit.params).log_likelihood)
    if prior is None:
        assert fit.log_prior == 0.0
    else:
        assert fit.log_prior != 0.0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_em_with_20_percent_mcar_is_close_to_complete_data_em(cov_type) -> None:
    sim = well_separated_3d(n=1200, seed=41)
    X = mcar(sim.X, 0.2, seed=42)
    complete = fit_em(sim.X, 3, cov_type, random_seed=0, n_init=2)
    marginal = fit_em(X, 3, cov_type, random_seed=0, n_init=2, missing="marginalize")
    order_c = np.argsort(complete.means[:, 0] + 3 * complete.means[:, 1])
    order_m = np.argsort(marginal.means[:, 0] + 3 * marginal.means[:, 1])
    k = 3
    cov_c = as_full(complete.covariances, cov_type, k, 3)[order_c]
    cov_m = as_full(marginal.covariances, cov_type, k, 3)[order_m]
    n_k = complete.weights[order_c] * sim.X.shape[0]
    # Both estimate the same truth; removing 20% of the entries adds at most about the
    # complete-data sampling error again (information lost <= 20%): a mean's standard
    # error sd / sqrt(N_k), a variance's var * sqrt(2 / N_k), a weight's
    # sqrt(w (1 - w) / N). Allow 4 of them.
    sd = np.sqrt(np.diagonal(cov_c, axis1=1, axis2=2))
    assert np.all(
        np.abs(complete.means[order_c] - marginal.means[order_m]) < 4 * sd / np.sqrt(n_k)[:, None]
    )
    var_c, var_m = np.diagonal(cov_c, axis1=1, axis2=2), np.diagonal(cov_m, axis1=1, axis2=2)
    assert np.all(np.abs(var_c - var_m) < 4 * var_c * np.sqrt(2 / n_k)[:, None])
    w = complete.weights[order_c]
    assert np.all(np.abs(w - marginal.weights[order_m]) < 4 * np.sqrt(w * (1 - w) / 1200))
    # ...and so is the truth (within the sampling error of 80% of the data).
    order_t = np.argsort(sim.means[:, 0] + 3 * sim.means[:, 1])
    sd_t = np.sqrt(np.diagonal(sim.covariances[order_t], axis1=1, axis2=2))
    n_t = sim.weights[order_t] * 0.8 * sim.X.shape[0]
    if cov_type == "full":
        assert np.all(
            np.abs(sim.means[order_t] - marginal.means[order_m]) < 4 * sd_t / np.sqrt(n_t)[:, None]
        )


@pytest.mark.timeout(30)
def test_starts_fall_back_to_mean_imputation_when_few_rows_are_complete(sim3d) -> None:
    # 20% MCAR: ~51% of rows complete, far above 2 K (D + 1) = 24: the starts use them.
    X = mcar(sim3d.X, 0.2, seed=51)
    Xc = X - np.nanmean(X, axis=0)
    rows, _ = start_rows(Xc, 3, np.random.default_rng(0))
    complete = ~np.isnan(Xc).any(axis=1)
    assert np.array_equal(rows, Xc[complete])
    # 75% MCAR: ~1.6% complete (~9 rows) is too few: every row, NaN set to column means.
    X = mcar(sim3d.X, 0.75, seed=52)
    Xc = X - np.nanmean(X, axis=0)
    rows, _ = start_rows(Xc, 3, np.random.default_rng(0))
    assert rows.shape == X.shape and not np.isnan(rows).any()
    np.testing.assert_allclose(rows[np.isnan(Xc)], 0.0, atol=1e-12)  # centred column means
    fit = fit_em(X, 3, "diag", random_seed=0, missing="marginalize")
    assert np.all(np.isfinite(fit.means)) and np.isfinite(fit.log_likelihood)


# -- prediction and imputation ------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted_em(sim3d) -> tuple[GaussianMixtureEM, np.ndarray]:
    X = mcar(sim3d.X, 0.2, seed=61)
    return GaussianMixtureEM(3, missing="marginalize", random_seed=0).fit(X), X


@pytest.mark.timeout(30)
def test_predictions_use_the_observed_coordinates(fitted_em) -> None:
    model, X = fitted_em
    params = model.result_.params
    rows = X[:25]
    before = rows.copy()
    log_density = model.score_samples(rows)
    proba = model.predict_proba(rows)
    for n, x in enumerate(rows):
        total, resp, _ = reference_row(x, params)
        assert log_density[n] == pytest.approx(total, rel=1e-10)
        np.testing.assert_allclose(proba[n], resp, rtol=1e-8, atol=1e-12)
    assert np.array_equal(model.predict(rows), np.argmax(proba, axis=1))
    assert np.isfinite(model.bic(X)) and np.isfinite(model.icl(X))
    assert np.array_equal(rows, before, equal_nan=True)
    raising = GaussianMixtureEM(3, random_seed=0).fit(np.nan_to_num(X))
    with pytest.raises(ValueError, match=r"NaN.*missing='marginalize'"):
        raising.predict(rows)


@pytest.mark.timeout(30)
def test_em_impute_gives_the_conditional_means(fitted_em) -> None:
    model, X = fitted_em
    before = X.copy()
    result = model.impute(X)
    assert np.array_equal(X, before, equal_nan=True)  # the user's array is untouched
    assert result.n_missing == int(np.isnan(X).sum()) and not np.isnan(result.completed).any()
    assert result.draws is None and result.lower is None
    observed = ~np.isnan(X)
    assert np.array_equal(result.completed[observed], X[observed])
    for n in np.unique(result.rows)[:20]:
        _, resp, conds = reference_row(X[n], model.result_.params)
        expected = sum(r * c[0] for r, c in zip(resp, conds, strict=True))
        np.testing.assert_allclose(result.completed[n, np.isnan(X[n])], expected, rtol=1e-9)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("interval", ["eti", "hdi"])
def test_posterior_imputation_intervals_cover_at_the_nominal_rate(interval) -> None:
    """With the draws fixed at the truth, the intervals are those of the predictive
    conditional distribution, so the removed values fall inside at the nominal rate."""
    sim = well_separated_3d(n=400, seed=71)
    X = mcar(sim.X, 0.2, seed=72)
    removed = np.isnan(X)
    s = 400
    draws = (
        np.broadcast_to(sim.weights, (s, 3)),
        np.broadcast_to(sim.means, (s, 3, 3)),
        np.broadcast_to(sim.covariances, (s, 3, 3, 3)),
    )
    result = posterior_imputation(
        X, *draws, np.random.default_rng(73), hdi_prob=0.9, interval=interval
    )
    truth = sim.X[result.rows, result.columns]
    inside = (result.lower <= truth) & (truth <= result.upper)
    m = inside.size
    assert m == removed.sum() >= 200
    # Binomial(M, 0.9): sd sqrt(0.9 * 0.1 / M) (~0.017 at M = 240); 4 sd, plus the
    # Monte Carlo error of an interval from 400 draws (~0.01 in coverage).
    assert abs(inside.mean() - 0.9) < 4 * np.sqrt(0.09 / m) + 0.01
    assert result.draws.shape == (s, m)
    np.testing.assert_allclose(result.mean, result.draws.mean(axis=0))
    assert np.array_equal(result.completed[~removed], X[~removed])


@pytest.mark.timeout(10)
def test_standardization_moments_ignore_nan() -> None:
    from bayesgmm.bayes.model.units import fit_standardization
    from bayesgmm.mixture.moments import feature_moments

    rng = np.random.default_rng(81)
    X = rng.normal(size=(500, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 1e6]
    Xm = mcar(X, 0.3, seed=82)
    mean, sd = feature_moments(Xm)
    for j in range(3):
        column = Xm[~np.isnan(Xm[:, j]), j]
        np.testing.assert_allclose(mean[j], column.mean(), rtol=1e-13)
        np.testing.assert_allclose(sd[j], column.std(ddof=1), rtol=1e-11)
    standard = fit_standardization(Xm, "full")
    np.testing.assert_allclose(standard.center, mean, rtol=0)
    np.testing.assert_allclose(standard.scale, sd, rtol=0)
