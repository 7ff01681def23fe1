"""The prior predictive in data units: moments against the priors' own (analytic) ones.

For the default priors (data units, :class:`GMMPriors`): a component's mean
``mu_d ~ N(loc_d, scale_d^2)`` and sd ``s_d ~ LogNormal(log s0_d, spread^2)``, so a point
``x_d = mu_d + s_d * eps`` has ``E[x_d] = loc_d`` and
``Var[x_d] = scale_d^2 + s0_d^2 exp(2 spread^2)`` whatever the weights and correlations.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from bayesgmm.bayes.inference import sample_prior_predictive
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.estimators.bayesian import BayesianGMM

matplotlib.use("Agg")


def _check_moments(pp, priors, pooled: bool = False) -> None:
    x = pp.prior_predictive["x"].values[0]  # (S, N, D)
    loc, scale = np.asarray(priors.mean_loc), np.asarray(priors.mean_scale)
    s0, spread = np.asarray(priors.std_scale), float(priors.std_spread)
    if pooled:  # spherical: one sd, its prior at the geometric mean of the scales
        s0 = np.full_like(s0, np.exp(np.mean(np.log(s0))))
    # One replicate per draw (data sets are independent across draws): its row mean, and
    # its mean squared deviation from the known mean, whose expectation is Var[x].
    row_means = x.mean(axis=1)
    sq = ((x - loc) ** 2).mean(axis=1)
    n_draws = x.shape[0]
    se_mean = row_means.std(axis=0, ddof=1) / np.sqrt(n_draws)
    se_var = sq.std(axis=0, ddof=1) / np.sqrt(n_draws)
    expected_var = scale**2 + s0**2 * np.exp(2 * spread**2)
    assert np.all(np.abs(row_means.mean(axis=0) - loc) < 4 * se_mean)
    assert np.all(np.abs(sq.mean(axis=0) - expected_var) < 4 * se_var), (
        sq.mean(axis=0),
        expected_var,
        se_var,
    )
    # The prior draws themselves are in data units too.
    means = pp.prior["means"].values[0].reshape(-1, x.shape[-1])
    assert np.all(np.abs(means.mean(axis=0) - loc) < 4 * scale / np.sqrt(means.shape[0]))


@pytest.mark.timeout(300)
def test_old_faithful_prior_predictive_is_in_minutes(faithful_df) -> None:
    fit = BayesianGMM(2, random_seed=0)
    pp = fit.sample_prior_predictive(2000, X=faithful_df)
    x = pp.prior_predictive["x"]
    assert x.dims == ("chain", "draw", "obs", "feature")
    assert list(x["feature"].values) == ["eruptions", "waiting"]
    assert x.shape == (1, 2000, 272, 2)
    # Waiting times near the data's (~71 min), not the internal units' (~0).
    assert 60 < float(x.sel(feature="waiting").mean()) < 82
    gm = build_model(faithful_df, 2)
    _check_moments(pp, gm.spec.priors)
    np.testing.assert_array_equal(pp.observed_data["x"].values, faithful_df.to_numpy())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cov_type", ["diag", "spherical", "tied"])
def test_prior_predictive_moments_per_covariance_type(cov_type) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal([100.0, -5.0, 0.01], [20.0, 1.0, 0.002], size=(80, 3))
    gm = build_model(X, 3, cov_type)
    pp = sample_prior_predictive(gm, 2000, random_seed=1)
    _check_moments(pp, gm.spec.priors, pooled=cov_type == "spherical")


@pytest.mark.timeout(300)
def test_fitted_estimator_and_missing_values(faithful) -> None:
    X = faithful.copy()
    X[::6, 1] = np.nan
    fit = BayesianGMM(2, method="map", missing="marginalize", random_seed=0, progressbar=False)
    fit.fit(X)
    pp = fit.sample_prior_predictive(300)
    x = pp.prior_predictive["x"].values
    assert x.shape == (1, 300, 272, 2) and not np.isnan(x).any()
    assert 60 < x[..., 1].mean() < 82
    with pytest.raises(ValueError, match="needs data"):
        BayesianGMM(2).sample_prior_predictive(10)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        fit.sample_prior_predictive(0)


@pytest.mark.timeout(300)
def test_plot_predictive_draws_data_and_band(faithful_df) -> None:
    from bayesgmm.plotting import plot_predictive

    pp = BayesianGMM(2, random_seed=0).sample_prior_predictive(100, X=faithful_df)
    axes = plot_predictive(pp)
    assert len(axes) == 2 and axes[1].get_xlabel() == "waiting"
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["prior predictive 5-95%", "prior predictive median", "data"]
    with pytest.raises(ValueError, match="needs 'posterior_predictive'"):
        plot_predictive(pp, group="posterior_predictive")
