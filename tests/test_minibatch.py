"""Large-N paths: the minibatch density, stochastic ADVI, and post-processing whose memory
does not grow with draws x N."""

from __future__ import annotations

import numpy as np
import pytest

import bayesgmm
from bayesgmm import posterior
from bayesgmm.bayes import inference
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.kernel.minibatch import MinibatchDensity
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.mixture import draws
from bayesgmm.posterior import relabel

TRUE_MEANS = np.array([[0.0, 0.0], [5.0, 1.0], [-1.0, 6.0]])
TRUE_COVS = np.array(
    [[[1.0, 0.3], [0.3, 0.8]], [[0.5, 0.0], [0.0, 1.2]], [[0.9, -0.2], [-0.2, 0.6]]]
)


@pytest.fixture(scope="module")
def simulated():
    return bayesgmm.make_gmm_data(4000, [0.4, 0.35, 0.25], TRUE_MEANS, TRUE_COVS, random_seed=5)


def _matched(means: np.ndarray) -> np.ndarray:
    """Draws of the means (S, K, D) with components in the order of TRUE_MEANS."""
    perms = relabel.pivot(means, reference_means=TRUE_MEANS)
    return bayesgmm.posterior.relabel.apply_permutations(means, perms)


def _spec_and_data(gmm):
    return gmm.spec.kernel, gmm.internal


@pytest.mark.timeout(120)
def test_the_minibatch_estimate_is_unbiased(simulated) -> None:
    gmm = build_model(simulated.X, 3, "full")
    spec, Z = _spec_and_data(gmm)
    theta = kernel.pack(inference.em_initial_point(gmm, random_seed=0), spec)
    exact, exact_grad = kernel.logp_and_grad(theta, kernel.kernel_buffer(Z, spec))
    density = MinibatchDensity(Z, spec, 50, np.random.default_rng(1))
    estimates = [density(theta) for _ in range(4000)]
    values = np.array([v for v, _ in estimates])
    grads = np.array([g for _, g in estimates])
    # The mean of 4000 independent estimates is within 5 standard errors of the truth.
    assert abs(values.mean() - exact) < 5 * values.std() / np.sqrt(len(values))
    se = grads.std(axis=0) / np.sqrt(len(grads))
    assert np.all(np.abs(grads.mean(axis=0) - exact_grad) < 5 * se + 1e-9)
    for bad in (0, Z.shape[0] + 1):
        with pytest.raises(ValueError, match="minibatch_size must be in"):
            MinibatchDensity(Z, spec, bad, np.random.default_rng(0))


@pytest.mark.timeout(300)
def test_minibatch_advi_recovers_the_full_data_fit(simulated) -> None:
    """Stochastic ADVI converges to the same approximation as full-data ADVI."""
    gmm = build_model(simulated.X, 3, "full")
    common = dict(n=15000, random_seed=3, draws=1000, progressbar=False)
    full = inference.fit_advi(gmm, **common)
    mini = inference.fit_advi(gmm, minibatch_size=200, **common)
    assert mini.attrs["sampler"] == "advi+bayesgmm-kernel-minibatch"
    full_means, mini_means = (_matched(fit.posterior["means"].values[0]) for fit in (full, mini))
    # Both approximate the same posterior, whose sd of a mean is ~sd / sqrt(N pi_k) ~ 0.03:
    # the minibatch noise left after the step-size decay is a fraction of that.
    sd = full_means.std(axis=0)
    assert np.all(np.abs(mini_means.mean(axis=0) - full_means.mean(axis=0)) < 3 * sd)
    np.testing.assert_allclose(mini_means.mean(axis=0), TRUE_MEANS, atol=0.15)


@pytest.mark.timeout(120)
def test_the_log_likelihood_is_thinned_to_its_memory_budget(faithful, monkeypatch) -> None:
    gmm = build_model(faithful, 2, "diag")
    whole = inference.fit_advi(gmm, n=500, random_seed=1, draws=40, progressbar=False)
    monkeypatch.setattr(inference.complete, "LOG_LIKELIHOOD_BUDGET", 8 * 272 * 10)
    with pytest.warns(UserWarning, match=r"stored for 10 evenly thinned draws per chain"):
        thin = inference.fit_advi(gmm, n=500, random_seed=1, draws=40, progressbar=False)
    assert thin.attrs["log_likelihood_draws"] == 10
    kept = thin.log_likelihood["draw"].values
    assert len(kept) == 10
    np.testing.assert_allclose(
        thin.log_likelihood["x"].values, whole.log_likelihood["x"].sel(draw=kept).values
    )
    # Relabeling does not read a log-likelihood that misses draws.
    relabeled = posterior.relabel_idata(thin, method="stephens")
    assert relabeled.posterior.sizes["draw"] == 40


def test_blocked_predictions_equal_the_unblocked_ones(faithful) -> None:
    rng = np.random.default_rng(2)
    weights = rng.dirichlet([5.0, 5.0], size=30)
    means = faithful.mean(axis=0) + rng.normal(size=(30, 2, 2)) * [1.0, 10.0]
    covariances = np.broadcast_to(np.cov(faithful, rowvar=False) / 4, (30, 2, 2, 2))
    whole = draws.responsibilities(faithful, weights, means, covariances)
    tiny = 30 * 2 * 2 * 7  # seven rows a block: 39 blocks
    np.testing.assert_allclose(
        draws.mean_responsibilities(faithful, weights, means, covariances, budget=tiny),
        whole.mean(axis=0),
        rtol=1e-13,
    )
    pointwise = draws.pointwise_log_likelihood(faithful, weights, means, covariances)
    expected = np.log(np.exp(pointwise).mean(axis=0))
    np.testing.assert_allclose(
        draws.log_predictive_density(faithful, weights, means, covariances, budget=tiny),
        expected,
        rtol=1e-12,
    )


@pytest.mark.timeout(120)
def test_relabeling_uses_a_subsample_of_the_points(simulated, monkeypatch) -> None:
    """On well separated data a 500-point subsample gives the labels all 4000 give."""
    gmm = build_model(simulated.X, 3, "diag")
    idata = inference.fit_advi(gmm, n=3000, random_seed=4, draws=200, progressbar=False)
    monkeypatch.setattr(posterior._data, "RELABEL_POINTS", 10**9)
    everything = posterior.relabel_idata(idata, method="stephens")
    monkeypatch.setattr(posterior._data, "RELABEL_POINTS", 500)
    subsample = posterior.relabel_idata(idata, method="stephens")
    np.testing.assert_array_equal(
        subsample.relabel_permutations["permutation"].values,
        everything.relabel_permutations["permutation"].values,
    )
