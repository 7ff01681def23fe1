"""BayesianGMM.sample_posterior_predictive: replicate data sets in data units, one per
posterior draw, for complete data (through the PyMC model) and for a fit with missing
values (complete rows simulated from the mixture at each draw)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import mcar, two_clusters

from bayesgmm.bayes import inference
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.estimators.bayesian import BayesianGMM
from bayesgmm.exceptions import NotFittedError

Z = 5.0  # standard errors: a normal tail of 6e-7 per check


def _mixture_moments(
    weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a Gaussian mixture (any leading draw axes)."""
    mean = np.einsum("...k,...kd->...d", weights, means)
    second = np.einsum(
        "...k,...kde->...de", weights, covariances + means[..., :, None] * means[..., None, :]
    )
    return mean, second - mean[..., :, None] * mean[..., None, :]


def _z_scores(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-scores of one data set's sample mean and sample covariance entries against the
    moments it was drawn with; standard errors from the data set itself (the fourth
    moment of a mixture has no short formula, and N is large)."""
    n = x.shape[0]
    centred = x - x.mean(axis=0)
    mean_z = (x.mean(axis=0) - mean) / np.sqrt(np.diag(cov) / n)
    products = centred[:, :, None] * centred[:, None, :]
    cov_se = products.std(axis=0, ddof=1) / np.sqrt(n)
    cov_z = (np.cov(x.T, ddof=1).reshape(cov.shape) - cov) / cov_se
    return mean_z, cov_z


def _posterior(draws: list[dict[str, np.ndarray]], gmm) -> xr.Dataset:
    """A one-chain posterior (data units) of the given points, as a MAP fit stores each."""
    one = [inference.map_idata(gmm, point).posterior for point in draws]
    return xr.concat([p.assign_coords(draw=[s]) for s, p in enumerate(one)], dim="draw")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_missing_value_fit_replicates_complete_rows_of_each_draw(covariance_type: str) -> None:
    """Two known draws 1000 apart in data units (an offset of 5000, a scale of 100 in the
    second feature): each replicate is complete and has its own draw's moments."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3000, 2)) * [1.0, 100.0] + [0.0, 5000.0]
    X[rng.random(X.shape) < 0.2] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    gmm = build_model(X, 2, covariance_type, missing="marginalize")
    stds = np.array([[1.0, 150.0], [0.5, 80.0]])
    first = {
        "weights": np.array([0.3, 0.7]),
        "means": np.array([[-3.0, 4800.0], [2.0, 5200.0]]),
        "stds": stds,
    }
    if covariance_type == "full":
        first["partial_corr_unit"] = np.array([[0.8], [0.3]])  # correlations 0.6, -0.4
    second = dict(first, means=first["means"] + [1000.0, 1000.0])
    fit = BayesianGMM(2, covariance_type=covariance_type, missing="marginalize")
    # The state a fit leaves (a sampler run would prove nothing more here).
    fit.model_, fit.n_features_in_ = gmm, 2
    fit.raw_idata_ = type(inference.map_idata(gmm, first))(
        posterior=_posterior([first, second], gmm)
    )
    before = X.copy()
    pp = fit.sample_posterior_predictive(random_seed=3)
    x = pp.posterior_predictive["x"]
    assert x.dims == ("chain", "draw", "obs", "feature") and x.shape == (1, 2, 3000, 2)
    assert np.isfinite(x.values).all()  # complete rows: the missingness is not simulated
    np.testing.assert_array_equal(pp.observed_data["x"].values, X)  # data units, NaN kept
    assert np.array_equal(X, before, equal_nan=True)
    post = fit.raw_idata_.posterior
    for s in range(2):
        mean, cov = _mixture_moments(
            post["weights"].values[0, s],
            post["means"].values[0, s],
            post["covariances"].values[0, s],
        )
        mean_z, cov_z = _z_scores(x.values[0, s], mean, cov)
        assert np.abs(mean_z).max() < Z, (s, mean_z)
        assert np.abs(cov_z).max() < Z, (s, cov_z)


@pytest.fixture(scope="module")
def missing_fit():
    sim = two_clusters(400, seed=21)
    X = mcar(sim.X * [1.0, 50.0] + [0.0, 1000.0], 0.2, seed=22)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = BayesianGMM(
            2,
            covariance_type="diag",
            missing="marginalize",
            draws=100,
            tune=200,
            chains=2,
            progressbar=False,
            random_seed=23,
        ).fit(X)
    return fit, X


@pytest.mark.timeout(600)
def test_missing_value_fit_replicates_follow_the_posterior(missing_fit) -> None:
    """A NUTS fit with 20% of the entries missing: 200 replicates of 400 rows. Each
    replicate's mean and covariance against its own draw's mixture moments: the 200 x 2
    mean z-scores and 200 x 3 covariance z-scores have mean square 1 (a replicate drawn
    from another draw would add the posterior's spread, of the same order, to it)."""
    fit, X = missing_fit
    pp = fit.sample_posterior_predictive(random_seed=0)
    x = pp.posterior_predictive["x"].values
    assert x.shape == (2, 100, 400, 2) and np.isfinite(x).all()
    post = fit.raw_idata_.posterior
    mean, cov = _mixture_moments(
        post["weights"].values, post["means"].values, post["covariances"].values
    )
    mean_z, cov_z = [], []
    for c in range(2):
        for s in range(100):
            m, v = _z_scores(x[c, s], mean[c, s], cov[c, s])
            mean_z.append(m)
            cov_z.append(v[np.triu_indices(2)])
    for z in (np.concatenate(mean_z), np.concatenate(cov_z)):
        # mean(z^2) of M (nearly) standard normals: sd sqrt(2 / M); 4 sd, plus 0.05 for
        # the self-estimated standard errors of 400 rows.
        assert abs(np.mean(z**2) - 1.0) < 4 * np.sqrt(2 / z.size) + 0.05, np.mean(z**2)
    # In data units: the 80,000 replicate rows centre on the posterior's mixture mean
    # (within 5 standard errors) and on the data's (second feature ~1000 + 50 x).
    pooled_se = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1).mean(axis=(0, 1)) / x[..., 0].size)
    pooled_z = (x.mean(axis=(0, 1, 2)) - mean.mean(axis=(0, 1))) / pooled_se
    assert np.abs(pooled_z).max() < Z, pooled_z
    assert abs(x[..., 1].mean() - np.nanmean(X[:, 1])) < 10.0


@pytest.mark.timeout(300)
def test_posterior_predictive_seeds_and_thinning(missing_fit) -> None:
    fit, _ = missing_fit
    one = fit.sample_posterior_predictive(n_samples=10, random_seed=5)
    again = fit.sample_posterior_predictive(n_samples=10, random_seed=5)
    other = fit.sample_posterior_predictive(n_samples=10, random_seed=6)
    x = one.posterior_predictive["x"].values
    assert x.shape == (2, 5, 400, 2)  # 10 draws: the first 5 of each chain
    np.testing.assert_array_equal(x, again.posterior_predictive["x"].values)
    assert not np.array_equal(x, other.posterior_predictive["x"].values)
    assert one.attrs["random_seed"] == 5 and one.attrs["missing"] == "marginalize"
    # Default: the estimator's random_seed.
    np.testing.assert_array_equal(
        fit.sample_posterior_predictive(n_samples=2).posterior_predictive["x"].values,
        fit.sample_posterior_predictive(n_samples=2).posterior_predictive["x"].values,
    )
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_samples must be a positive integer"):
            fit.sample_posterior_predictive(n_samples=bad)
    with pytest.raises(NotFittedError):
        BayesianGMM(2, missing="marginalize").sample_posterior_predictive()


@pytest.mark.timeout(120)
def test_complete_data_replicates_and_observed_data_share_data_units(faithful) -> None:
    """PyMC's own observed_data group holds the model's internal units; the one returned
    holds the data, in the units of the replicates beside it."""
    fit = BayesianGMM(2, method="map", progressbar=False, random_seed=0).fit(faithful)
    pp = fit.sample_posterior_predictive(random_seed=1)
    np.testing.assert_array_equal(pp.observed_data["x"].values, faithful)
    x = pp.posterior_predictive["x"].values
    assert x.shape == (1, 1, 272, 2) and pp.attrs["missing"] == "raise"
    post = fit.raw_idata_.posterior
    mean, cov = _mixture_moments(
        post["weights"].values[0, 0], post["means"].values[0, 0], post["covariances"].values[0, 0]
    )
    mean_z, cov_z = _z_scores(x[0, 0], mean, cov)
    assert np.abs(mean_z).max() < Z and np.abs(cov_z).max() < Z


@pytest.mark.timeout(120)
def test_predictive_plot_of_a_missing_value_fit(missing_fit) -> None:
    """plot_predictive bins each feature's observed entries beside the replicates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayesgmm.plotting import plot_predictive

    fit, X = missing_fit
    pp = fit.sample_posterior_predictive(n_samples=20, random_seed=0)
    axes = plot_predictive(pp, "posterior_predictive")
    assert axes.size == 2
    for d, ax in enumerate(axes):
        low, high = ax.get_xlim()
        observed = X[:, d][~np.isnan(X[:, d])]
        assert low <= observed.min() and observed.max() <= high  # data units on the axis
    plt.close("all")
