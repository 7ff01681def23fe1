"""The model's posterior-predictive sampler against the parameters it is given.

``pm.sample_posterior_predictive`` draws ``x`` through ``likelihood.mixture_random_factory``
for each posterior draw. Here the "posterior" is fixed parameters of three components far
apart (60 sds), so every draw can be told apart by its nearest mean; each component's
share, mean and covariance must then match the parameters within Monte Carlo error. The
tolerance is 5 standard errors of each estimate (a normal tail of 6e-7 per check).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pymc as pm
import pytest

from bayesgmm.bayes.model.graph import build_model
from bayesgmm.mixture.parametrization import cholesky_from_cpc, cpc_from_cholesky

COV_TYPES = ("full", "tied", "diag", "spherical")
N_DRAWS = 20_000
WEIGHTS = np.array([0.5, 0.3, 0.2])
Z = 5.0


def _correlation(rng: np.random.Generator, d: int) -> np.ndarray:
    """A random correlation matrix with correlations up to ~0.8."""
    a = rng.normal(size=(d, d))
    s = a @ a.T + 0.5 * np.eye(d)
    return s / np.sqrt(np.outer(np.diag(s), np.diag(s)))


def _parameters(cov_type: str, d: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Free parameters in the model's variable shapes, and the covariances they mean."""
    rng = np.random.default_rng(seed)
    k = len(WEIGHTS)
    means = np.array([0.0, 60.0, -60.0])[:, None] * np.ones(d) + rng.normal(size=(k, d))
    stds_kd = rng.uniform(0.5, 2.0, size=(k, d))
    stds = {
        "full": stds_kd,
        "diag": stds_kd,
        "tied": stds_kd[0],
        "spherical": stds_kd[:, 0],
    }[cov_type]
    stds_kd = np.broadcast_to(stds if cov_type != "spherical" else stds[:, None], (k, d))
    corr = np.broadcast_to(np.eye(d), (k, d, d))
    params = {"weights": WEIGHTS, "means": means, "stds": stds}
    if cov_type in ("full", "tied") and d > 1:
        n_corr = k if cov_type == "full" else 1
        corr = np.stack([_correlation(rng, d) for _ in range(n_corr)])
        chol = np.linalg.cholesky(corr)
        cpc = cpc_from_cholesky(chol)
        # The model's construction must give back this Cholesky factor, or the test is moot.
        np.testing.assert_allclose(cholesky_from_cpc(cpc, d), chol, atol=1e-12)
        unit = (cpc + 1.0) / 2.0
        params["partial_corr_unit"] = unit if cov_type == "full" else unit[0]
        corr = np.broadcast_to(corr, (k, d, d))
    covariances = corr * stds_kd[:, :, None] * stds_kd[:, None, :]
    return params, covariances


def _predict(cov_type: str, d: int, posterior: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """Posterior-predictive draws of x, shape (draw, obs, feature), from a fixed trace.

    ``posterior`` holds the draws of one chain: a leading draw axis on every variable.
    """
    X = np.random.default_rng(seed).normal(size=(N_DRAWS, d)) * np.arange(1.0, d + 1)
    gmm = build_model(X, len(WEIGHTS), cov_type)
    model = gmm.model
    # The model's own dims and coords: PyMC redraws from the prior (silently, but for a log
    # line) any variable whose trace coords differ from the model's.
    dims = {name: list(model.named_vars_to_dims[name]) for name in posterior}
    coords = {dim: model.coords[dim] for names in dims.values() for dim in names}
    trace = az.from_dict(
        posterior={name: value[None] for name, value in posterior.items()},
        dims=dims,
        coords=coords,
    )
    with model:
        pred = pm.sample_posterior_predictive(
            trace, var_names=["x"], random_seed=seed, progressbar=False
        )
    return pred.posterior_predictive["x"].values[0]


def _check_draws(x: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> list[str]:
    return _check_components(x, WEIGHTS, means, covariances)


def _check_components(
    x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> list[str]:
    """Each component's share, mean and covariance within Z standard errors; the misses.

    Components are told apart by the nearest mean, so they must lie far apart.
    """
    n = len(x)
    labels = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(axis=-1), axis=1)
    misses = []
    for j, weight in enumerate(weights):
        rows = x[labels == j]
        share_se = np.sqrt(weight * (1 - weight) / n)
        if abs(len(rows) / n - weight) > Z * share_se:
            misses.append(f"component {j}: share {len(rows) / n:.4f}, weight {weight}")
        cov = covariances[j]
        mean_se = np.sqrt(np.diag(cov) / len(rows))
        mean_z = np.abs(rows.mean(axis=0) - means[j]) / mean_se
        if mean_z.max() > Z:
            misses.append(f"component {j}: mean {rows.mean(axis=0)} vs {means[j]}")
        # Var of a Gaussian sample covariance entry: (S_ii S_jj + S_ij^2) / n.
        var = np.diag(cov)
        cov_se = np.sqrt((np.outer(var, var) + cov**2) / len(rows))
        cov_z = np.abs(np.cov(rows.T, ddof=1).reshape(cov.shape) - cov) / cov_se
        if cov_z.max() > Z:
            misses.append(f"component {j}: covariance z-scores {cov_z.round(1).tolist()}")
    return misses


@pytest.mark.timeout(180)
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_predictive_draws_have_the_parameters_moments(cov_type: str, d: int) -> None:
    params, covariances = _parameters(cov_type, d, seed=d)
    x = _predict(cov_type, d, {name: value[None] for name, value in params.items()}, 10 + d)
    assert x.shape == (1, N_DRAWS, d)
    misses = _check_draws(x[0], params["means"], covariances)
    assert not misses, f"{cov_type}, D={d}:\n" + "\n".join(misses)


@pytest.mark.timeout(180)
def test_each_posterior_draw_gets_its_own_predictive_draws() -> None:
    """Draw 1's means are 1000 away from draw 0's: each data set follows its own draw."""
    params, covariances = _parameters("full", 3, seed=5)
    shifted = dict(params, means=params["means"] + 1000.0)
    stacked = {name: np.stack([params[name], shifted[name]]) for name in params}
    x = _predict("full", 3, stacked, seed=6)
    assert x.shape == (2, N_DRAWS, 3)
    for draw, means in ((0, params["means"]), (1, shifted["means"])):
        misses = _check_draws(x[draw], means, covariances)
        assert not misses, f"draw {draw}:\n" + "\n".join(misses)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("ordered", [None, 0])
def test_the_estimators_predictive_draws_follow_its_posterior(ordered: int | None) -> None:
    """BayesianGMM.sample_posterior_predictive, on a posterior of one known draw (as
    ``inference.map_idata`` stores a MAP fit): the data sets sit at that draw's means."""
    from bayesgmm.bayes import inference
    from bayesgmm.estimators.bayesian import BayesianGMM

    X = np.random.default_rng(7).normal(size=(4000, 2))
    point = {
        "weights": np.array([0.4, 0.6]),
        "means": np.array([[-100.0, 5.0], [100.0, -5.0]]),
        "stds": np.array([[1.0, 2.0], [0.5, 1.5]]),
    }
    model = build_model(X, 2, "diag", ordered=ordered)
    fit = BayesianGMM(n_components=2, covariance_type="diag", ordered=ordered, random_seed=3)
    # The state a fit leaves (fitting would add a sampler run and prove nothing more here).
    fit.model_, fit.raw_idata_, fit.n_features_in_ = model, inference.map_idata(model, point), 2
    x = fit.sample_posterior_predictive().posterior_predictive["x"].values
    assert x.shape == (1, 1, 4000, 2)
    covariances = np.stack([np.diag(s**2) for s in point["stds"]])
    misses = _check_components(x[0, 0], point["weights"], point["means"], covariances)
    assert not misses, "\n".join(misses)
