"""Internal units: the Bayesian fits give the same answer whatever the data's scale and
offset, in data units, and say so when float64 has lost the data's information."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from scipy import stats

from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.bayes.model.units import fit_standardization, priors_to_internal
from bayesgmm.estimators.bayesian import BayesianGMM
from bayesgmm.exceptions import DataPrecisionWarning
from bayesgmm.mixture.moments import feature_moments, warn_if_quantised

# (multiplier, offset) from the issue: tiny, huge, far and very far from the origin.
TRANSFORMS = [(1e-12, 0.0), (1e12, 0.0), (1.0, 1e9)]


def _fit(X: np.ndarray, method: str, **kwargs) -> BayesianGMM:
    params = dict(draws=500, tune=500, chains=2, random_seed=3, progressbar=False)
    params.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPrecisionWarning)
        return BayesianGMM(2, method=method, **params).fit(X)


def _sorted_draws(fit: BayesianGMM, a: float, b: float) -> dict[str, np.ndarray]:
    """Label-invariant draws in Faithful's units: components sorted by eruptions."""
    post = fit.raw_idata_.posterior
    means = (post["means"].values - b) / a
    order = np.argsort(means[..., 0], axis=-1)
    take = np.take_along_axis
    return {
        "weights": take(post["weights"].values, order, axis=-1),
        "means": take(means, order[..., None], axis=-2),
        "stds": take(post["stds"].values / a, order[..., None], axis=-2),
    }


def _assert_same_posterior(one: dict, other: dict, slack: float = 0.0) -> None:
    """Posterior means agree within 5 Monte Carlo standard errors (plus ``slack``)."""
    for name in one:
        first = az.convert_to_dataset({name: one[name]})
        second = az.convert_to_dataset({name: other[name]})
        mcse = np.hypot(az.mcse(first)[name].values, az.mcse(second)[name].values)
        diff = np.abs(one[name].mean(axis=(0, 1)) - other[name].mean(axis=(0, 1)))
        assert np.all(diff <= 5 * mcse + slack), (name, diff, mcse)


@pytest.fixture(scope="module")
def fitted(faithful):
    """``fitted(method, a, b)``: the fit of Faithful * a + b, made once per module."""
    cache: dict = {}

    def get(method: str, a: float = 1.0, b: float = 0.0) -> BayesianGMM:
        kwargs = {"advi_steps": 2000, "draws": 200} if method == "advi" else {}
        if (method, a, b) not in cache:
            cache[method, a, b] = _fit(faithful * a + b, method, **kwargs)
        return cache[method, a, b]

    return get


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("a", "b"), TRANSFORMS)
def test_nuts_posterior_is_the_same_in_data_units(fitted, a, b) -> None:
    fit, reference = fitted("nuts", a, b), fitted("nuts")
    assert fit.raw_idata_.attrs["sampler"] == reference.raw_idata_.attrs["sampler"]
    _assert_same_posterior(_sorted_draws(fit, a, b), _sorted_draws(reference, 1.0, 0.0))


@pytest.mark.timeout(300)
def test_far_offset_gives_the_posterior_of_the_rounded_data(faithful) -> None:
    """Faithful + 1e15 lies on a float64 grid of 0.125: the fit warns, then gives the
    posterior of those rounded data (as EM does on that array), not garbage."""
    far = faithful + 1e15
    with pytest.warns(DataPrecisionWarning, match=r"'x0'.*grid of 0\.125.*Subtract the offset"):
        BayesianGMM(2, method="map", random_seed=3).fit(far)
    fit = _fit(far, "nuts")
    rounded = _fit(far - 1e15, "nuts")  # the same rounded values, near the origin
    # Each reported draw of a mean near 1e15 is itself rounded to that grid: half a step.
    _assert_same_posterior(
        _sorted_draws(fit, 1.0, 1e15), _sorted_draws(rounded, 1.0, 0.0), slack=0.0625
    )
    # The MAP-EM reference fit, too, is the rounded data's, to the grid.
    np.testing.assert_allclose(
        np.sort(fit.em_.means - 1e15, axis=0), np.sort(rounded.em_.means, axis=0), atol=0.125
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("method", ["map", "advi"])
@pytest.mark.parametrize(("a", "b"), TRANSFORMS)
def test_deterministic_fits_are_equal_in_data_units(faithful, fitted, method, a, b) -> None:
    """MAP and kernel ADVI run the same arithmetic on the same internal data: the data-unit
    answers are the reference's mapped through x -> a x + b, to rounding."""
    ref, fit = fitted(method), fitted(method, a, b)
    rtol = 1e-6  # rounding of z = (x - c) / s, amplified by the optimiser's stopping rule
    np.testing.assert_allclose(fit.means_, ref.means_ * a + b, rtol=rtol, atol=rtol * a)
    np.testing.assert_allclose(fit.covariances_, ref.covariances_ * a**2, rtol=rtol)
    np.testing.assert_allclose(fit.weights_, ref.weights_, rtol=rtol)
    # Densities pick up the Jacobian of x -> a x + b: -D log a per point.
    d_log_a = faithful.shape[1] * np.log(a)
    shifted = faithful * a + b
    np.testing.assert_allclose(
        fit.score_samples(shifted), ref.score_samples(faithful) - d_log_a, rtol=0, atol=1e-5
    )
    loglik = fit.raw_idata_.log_likelihood["x"].values
    ref_loglik = ref.raw_idata_.log_likelihood["x"].values
    np.testing.assert_allclose(loglik, ref_loglik - d_log_a, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        fit.predict_proba(shifted), ref.predict_proba(faithful), rtol=0, atol=1e-6
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("a", "b"), TRANSFORMS[:1])
def test_posterior_predictive_is_in_data_units(fitted, a, b) -> None:
    ref, fit = fitted("map"), fitted("map", a, b)
    pred = fit.sample_posterior_predictive(random_seed=5).posterior_predictive["x"].values
    ref_pred = ref.sample_posterior_predictive(random_seed=5).posterior_predictive["x"].values
    # The same random stream through the same internal model: equal up to rounding.
    np.testing.assert_allclose((pred - b) / a, ref_pred, rtol=1e-6, atol=1e-6)


# -- the pieces ----------------------------------------------------------------------------


def test_feature_moments_are_accurate_far_from_the_origin(faithful) -> None:
    mean, sd = feature_moments(faithful)
    np.testing.assert_allclose(mean, faithful.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(sd, faithful.std(axis=0, ddof=1), rtol=1e-14)
    far = np.ascontiguousarray(faithful + 1e15)
    rounded = far - 1e15  # exact: the values the far array holds
    far_mean, far_sd = feature_moments(far)
    np.testing.assert_allclose(far_mean - 1e15, rounded.mean(axis=0), atol=0.125)
    np.testing.assert_allclose(far_sd, rounded.std(axis=0, ddof=1), rtol=1e-12)


def test_spherical_units_share_one_scale(faithful) -> None:
    standard = fit_standardization(faithful, "spherical")
    assert standard.scale[0] == standard.scale[1]
    np.testing.assert_allclose(standard.scale[0] ** 2, faithful.var(axis=0, ddof=1).mean())
    per_feature = fit_standardization(faithful, "full")
    np.testing.assert_allclose(per_feature.scale, faithful.std(axis=0, ddof=1))


@pytest.mark.parametrize("family", ["lognormal", "gamma", "inversegamma", "halfnormal"])
def test_the_sd_prior_moves_to_internal_units_exactly(faithful, family) -> None:
    """sigma_z = sigma_x / s: the internal prior's density is the data prior's times s."""
    priors = GMMPriors(std_family=family, std_spread=0.7).resolve(faithful, 2)
    standard = fit_standardization(faithful, "diag")
    internal = priors_to_internal(priors, standard)

    def logpdf(p: GMMPriors, sigma: np.ndarray) -> np.ndarray:
        # scipy's documented parameterisations of the families' own meaning of std_scale.
        scale, spread = np.asarray(p.std_scale), p.std_spread
        shape = 2.0 + 1.0 / spread**2
        return {
            "lognormal": lambda: stats.lognorm.logpdf(sigma, s=spread, scale=scale),
            "gamma": lambda: stats.gamma.logpdf(sigma, a=shape, scale=scale / shape),
            "inversegamma": lambda: stats.invgamma.logpdf(
                sigma, a=shape, scale=scale * (shape + 1)
            ),
            "halfnormal": lambda: stats.halfnorm.logpdf(sigma, scale=scale),
        }[family]()

    sigma_x = np.array([0.4, 6.0])
    sigma_z = sigma_x / standard.scale
    np.testing.assert_allclose(
        logpdf(internal, sigma_z), logpdf(priors, sigma_x) + np.log(standard.scale), rtol=1e-12
    )


def test_no_precision_warning_where_float64_still_resolves_the_data(faithful) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_quantised(faithful + 1e9, ["eruptions", "waiting"])
        warn_if_quantised(faithful * 1e-12, ["eruptions", "waiting"])
    with pytest.warns(DataPrecisionWarning, match=r"'eruptions'") as record:
        warn_if_quantised(faithful + 1e15, ["eruptions", "waiting"])
    # Waiting times are whole minutes: the 0.125 grid is 1% of their sd of 13.6.
    assert "waiting" not in str(record[0].message)


def test_the_users_array_is_not_modified(faithful) -> None:
    X = np.array(faithful) * 1e6 + 3.0
    before = X.copy()
    _fit(X, "advi", advi_steps=300, draws=50)
    np.testing.assert_array_equal(X, before)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("a", "b"), TRANSFORMS)
def test_the_em_reference_fit_follows_the_data_units(fitted, a, b) -> None:
    """The facade's MAP-EM reference (the pivot of relabel='pivot') uses a floor relative
    to the data, so it, too, is the same fit in any units: up to where EM stops, since its
    relative rule |df| <= 1e-8 (1 + |f|) moves with the Jacobian N D log a in f (at a=1e-12
    |f| grows from 1.1e3 to 1.4e4; measured: means 4e-6 and covariances 1.4e-4 apart, EM's
    slow linear convergence near the end). A floor of 1e-6 in data units would put them
    orders of magnitude apart."""
    ref, fit = fitted("map").em_, fitted("map", a, b).em_
    # Restarts reach the maximum in either labelling: compare components sorted.
    ref_order, order = np.argsort(ref.means[:, 0]), np.argsort(fit.means[:, 0])
    np.testing.assert_allclose(
        fit.means[order], ref.means[ref_order] * a + b, rtol=1e-4, atol=1e-4 * a
    )
    np.testing.assert_allclose(fit.covariances[order], ref.covariances[ref_order] * a**2, rtol=1e-3)
