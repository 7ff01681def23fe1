"""Every NUTS path samples the same posterior: PyMC's and numpyro's against the default.

The default (``sampler="auto"``: nutpie driving the compiled C density) has its own tests
against PyMC's log density (``test_kernel.py``); here the whole chain is checked, on the
standardised Old Faithful, K=2, full covariances: ``pm.sample`` and numpyro run on the
PyMC graph, so agreement in distribution means the model, the kernel and the samplers agree.

Only label-invariant quantities are compared (the smaller weight, the mean pointwise
log-likelihood, the mixture log density at fixed points), each posterior mean within
``Z`` Monte Carlo standard errors: ``|m1 - m2| <= Z * sqrt(mcse1**2 + mcse2**2)``, with the
MCSEs from ArviZ (autocorrelation-aware). With Z = 5 one comparison fails by chance with
probability 6e-7 under normality, so the 5 comparisons of a sampler essentially never
fail, while a wrong prior or likelihood moves these means by many MCSEs.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from bayesgmm.bayes.inference import sample_nuts
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.datasets import load_faithful
from bayesgmm.mixture import draws as draw_math

Z = 5.0
# The short-eruption peak, the long-eruption peak and the gap between them (standardised).
POINTS = np.array([[-1.3, -1.2], [0.7, 0.6], [-0.3, -0.3]])
# An MCSE from fewer effective draws is itself too noisy to set a tolerance with.
MIN_ESS = 100


@pytest.fixture(scope="module")
def faithful_model():
    df = load_faithful()
    X = ((df - df.mean()) / df.std()).to_numpy()
    return X, build_model(X, 2, "full")


def _invariants(idata: az.InferenceData) -> dict[str, np.ndarray]:
    """Label-invariant draws, each (chain, draw)."""
    post = idata.posterior
    chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    weights = post["weights"].values.reshape(chains * n_draws, -1)
    means = post["means"].values.reshape(chains * n_draws, *post["means"].shape[2:])
    cov = post["covariances"].values.reshape(chains * n_draws, *post["covariances"].shape[2:])
    density = draw_math.pointwise_log_likelihood(POINTS, weights, means, cov)
    out = {
        "smaller weight": np.sort(weights, axis=1)[:, 0],
        "mean log-likelihood": idata.log_likelihood["x"].values.mean(axis=-1).ravel(),
    }
    out.update({f"log density at {p}": density[:, i] for i, p in enumerate(POINTS.tolist())})
    return {name: value.reshape(chains, n_draws) for name, value in out.items()}


def _scalar(value: object) -> float:
    """ArviZ returns a 1-element array for one (chain, draw) array."""
    return np.asarray(value).item()


def _assert_same_posterior(idata: az.InferenceData, reference: az.InferenceData) -> None:
    ours, theirs = _invariants(idata), _invariants(reference)
    for name in ours:
        for draws in (ours[name], theirs[name]):
            ess = _scalar(az.ess(draws))
            assert ess > MIN_ESS, f"{name}: ESS {ess:.0f}"
        diff = ours[name].mean() - theirs[name].mean()
        se = np.hypot(_scalar(az.mcse(ours[name])), _scalar(az.mcse(theirs[name])))
        assert abs(diff) <= Z * se, f"{name}: difference {diff:.4g}, {abs(diff) / se:.1f} MCSEs"


@pytest.fixture(scope="module")
def reference(faithful_model) -> az.InferenceData:
    """The default path with many draws, so that its MCSE adds little to the tolerance."""
    _, gmm = faithful_model
    idata = sample_nuts(gmm, draws=1000, tune=1000, chains=4, random_seed=1, progressbar=False)
    assert idata.attrs["sampler"] == "nutpie+bayesgmm-kernel"
    return idata


# JAX compilation dominates: 220 s on the shared 2-core machine under load (load average 7).
@pytest.mark.timeout(900)
def test_numpyro_samples_the_default_posterior(faithful_model, reference) -> None:
    _, gmm = faithful_model
    idata = sample_nuts(
        gmm, draws=500, tune=500, chains=2, sampler="numpyro", random_seed=2, progressbar=False
    )
    assert idata.attrs["sampler"] == "numpyro"
    _assert_same_posterior(idata, reference)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pymc_samples_the_default_posterior(faithful_model, reference) -> None:
    _, gmm = faithful_model
    idata = sample_nuts(
        gmm, draws=500, tune=500, chains=2, sampler="pymc", random_seed=3, progressbar=False
    )
    assert idata.attrs["sampler"] == "pymc"
    _assert_same_posterior(idata, reference)


def test_a_different_posterior_is_told_apart(faithful_model, reference) -> None:
    """The check has power: the same sampler on data shifted by 0.1 sd fails it."""
    X, _ = faithful_model
    shifted = sample_nuts(
        build_model(X + np.array([0.1, 0.0]), 2, "full"),
        draws=1000,
        tune=1000,
        chains=4,
        random_seed=1,
        progressbar=False,
    )
    with pytest.raises(AssertionError, match="log density"):
        _assert_same_posterior(shifted, reference)
