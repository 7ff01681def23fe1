"""NUTS / ADVI / MAP runners: outputs, reproducibility, recovery of simulated truth."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest
from scipy import stats

import bayesgmm
from bayesgmm.bayes import inference
from bayesgmm.bayes.inference.complete import _pointwise_log_likelihood
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.bayes.model.spec import MixtureSpec
from bayesgmm.posterior import relabel

TRUE_MEANS = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
TRUE_COVS = np.array(
    [[[1.0, 0.3], [0.3, 0.8]], [[0.6, 0.0], [0.0, 0.6]], [[0.9, -0.4], [-0.4, 1.2]]]
)


@pytest.fixture(scope="module")
def simulated():
    return bayesgmm.make_gmm_data(600, [0.4, 0.35, 0.25], TRUE_MEANS, TRUE_COVS, random_seed=3)


def _matched_means(idata: az.InferenceData) -> np.ndarray:
    """Posterior mean draws (S, K, D) with components matched to the true means."""
    post = idata.posterior
    means = post["means"].values.reshape(-1, *post["means"].shape[2:])
    perms = relabel.pivot(means, reference_means=TRUE_MEANS)
    return relabel.apply_permutations(means, perms)


def _assert_recovers_truth(idata: az.InferenceData) -> None:
    means = _matched_means(idata)
    # Every true mean inside the 94% HDIs, family-wise: with six coordinates each marginal
    # 94% interval misses with probability 6%, so "all six inside" would fail ~31% of data
    # sets for a perfectly calibrated posterior. Bonferroni: marginal level 1 - 0.06 / 6.
    hdi = az.hdi(means[None], hdi_prob=1 - 0.06 / TRUE_MEANS.size)  # (K, D, 2)
    inside = (hdi[..., 0] <= TRUE_MEANS) & (TRUE_MEANS <= hdi[..., 1])
    assert inside.all(), f"true means outside the HDI: {np.argwhere(~inside)}"
    # A joint check with a principled bound: the squared Mahalanobis distance of the
    # 6-vector of true means from the posterior is below the chi2(6) 99.9% quantile.
    flat = means.reshape(len(means), -1)
    delta = TRUE_MEANS.ravel() - flat.mean(axis=0)
    dist = delta @ np.linalg.solve(np.cov(flat, rowvar=False), delta)
    assert dist < stats.chi2(flat.shape[1]).ppf(0.999)


def test_nuts_outputs_and_recovery(simulated) -> None:
    gmm = build_model(simulated.X, 3, "full")
    idata = inference.sample_nuts(
        gmm, draws=400, tune=400, chains=2, random_seed=11, progressbar=False
    )
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(idata.groups())
    post = idata.posterior
    assert post["means"].dims == ("chain", "draw", "component", "feature")
    assert post["covariances"].shape == (2, 400, 3, 2, 2)
    assert idata.log_likelihood["x"].shape == (2, 400, 600)
    config = json.loads(idata.attrs["bayesgmm_config"])
    assert config["n_components"] == 3 and config["covariance_type"] == "full"
    assert idata.attrs["sampler"].startswith(("nutpie", "pymc"))
    assert idata.attrs["bayesgmm_version"] == bayesgmm.__version__
    # The stored log-likelihood is the marginal mixture density of each point.
    s = (0, 5)
    w, mu, cov = (post[v].values[s] for v in ("weights", "means", "covariances"))
    direct = np.log(
        sum(w[k] * stats.multivariate_normal.pdf(simulated.X, mu[k], cov[k]) for k in range(3))
    )
    np.testing.assert_allclose(idata.log_likelihood["x"].values[s], direct, rtol=1e-10)
    _assert_recovers_truth(idata)
    assert int(idata.sample_stats["diverging"].sum()) == 0


def test_random_seed_makes_fits_reproducible(faithful) -> None:
    gmm = build_model(faithful, 2, "diag")
    runs = [
        inference.sample_nuts(gmm, draws=100, tune=100, chains=2, random_seed=5, progressbar=False)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].posterior["means"], runs[1].posterior["means"])
    other = inference.sample_nuts(
        gmm, draws=100, tune=100, chains=2, random_seed=6, progressbar=False
    )
    assert not np.array_equal(runs[0].posterior["means"], other.posterior["means"])


def test_every_chain_starts_at_its_own_jittered_em_point(faithful, monkeypatch) -> None:
    """nutpie asks for each chain's start with that chain's random 64-bit seed; every
    chain must get a distinct start near the MAP-EM point (R-hat relies on it), the same
    one for the same seed."""
    from bayesgmm.bayes.kernel import nutpie_bridge as _nutpie

    calls: list[tuple[int, np.ndarray]] = []
    start_functions = []
    build = _nutpie.kernel_model

    def recording_model(buffer, spec, initial_point):
        start_functions.append(initial_point)

        def record(seed: int) -> np.ndarray:
            calls.append((seed, initial_point(seed)))
            return calls[-1][1]

        return build(buffer, spec, record)

    monkeypatch.setattr(_nutpie, "kernel_model", recording_model)
    gmm = build_model(faithful, 2, "full")
    inference.sample_nuts(gmm, draws=5, tune=5, chains=4, random_seed=1, progressbar=False)
    seeds = [seed for seed, _ in calls]
    starts = np.array([start for _, start in calls])
    assert len(set(seeds)) == 4
    assert len({start.tobytes() for start in starts}) == 4
    em_theta = gmm.spec.pack(inference.em_initial_point(gmm, random_seed=1))
    # The jitter has sd 0.05 on log-sds and logits, at most 0.05 * sqrt(1 + 1/K) on the
    # weights' free coordinates, 0.005 on the means: 6 sd is never reached by chance.
    assert np.all(np.abs(starts - em_theta) < 6 * 0.05 * np.sqrt(1.5))
    np.testing.assert_array_equal(start_functions[0](seeds[0]), starts[0])


def test_a_fatal_kernel_error_becomes_a_clear_error(faithful, monkeypatch) -> None:
    """A fatal callback code makes nutpie's Rust threads panic (a BaseException with a
    Rust backtrace); the user gets a RuntimeError that says what happened instead."""
    from bayesgmm.bayes.kernel import nutpie_bridge as _nutpie

    build = _nutpie.kernel_model

    def mismatched_model(buffer, spec, initial_point):
        wrong = buffer.copy()
        wrong[2] += 1  # the buffer now describes K + 1 components: dimension mismatch
        return build(wrong, spec, initial_point)

    monkeypatch.setattr(_nutpie, "kernel_model", mismatched_model)
    gmm = build_model(faithful, 2, "diag")
    with pytest.raises(RuntimeError, match=r"fatal error.*dimension mismatch.*sampler='pymc'"):
        inference.sample_nuts(gmm, draws=5, tune=5, chains=1, random_seed=0, progressbar=False)


@pytest.mark.parametrize("cov_type", ["tied", "spherical"])
def test_nuts_runs_for_every_covariance_type(faithful, cov_type: str) -> None:
    Xs = (faithful - faithful.mean(0)) / faithful.std(0)
    idata = inference.sample_nuts(
        build_model(Xs, 2, cov_type),
        draws=150,
        tune=150,
        chains=1,
        random_seed=2,
        progressbar=False,
    )
    cov = idata.posterior["covariances"].values
    assert np.all(np.isfinite(cov))
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_ordered_model_samples_with_generic_backend(faithful_df) -> None:
    Xs = (faithful_df - faithful_df.mean()) / faithful_df.std()
    gmm = build_model(Xs, 2, "diag", ordered="waiting")
    idata = inference.sample_nuts(
        gmm, draws=100, tune=100, chains=1, random_seed=4, progressbar=False
    )
    means = idata.posterior["means"].sel(feature="waiting").values
    assert np.all(np.diff(means, axis=-1) > 0)


def test_advi_stores_improving_elbo(faithful) -> None:
    Xs = (faithful - faithful.mean(0)) / faithful.std(0)
    idata = inference.fit_advi(
        build_model(Xs, 2, "diag"), n=3000, random_seed=1, draws=200, progressbar=False
    )
    elbo = idata["elbo"]["elbo"].values
    assert elbo.shape == (3000,)
    assert np.all(np.isfinite(elbo))
    # Noisy single-sample estimates: compare averages over the first and last 10%.
    assert elbo[-300:].mean() > elbo[:300].mean()
    assert idata.posterior["means"].shape == (1, 200, 2, 2)


@pytest.mark.slow  # PyTensor compiles the minibatch graph: about a minute here
@pytest.mark.timeout(900)  # 147 s on the shared machine under load
def test_minibatch_advi_runs(faithful) -> None:
    Xs = (faithful - faithful.mean(0)) / faithful.std(0)
    idata = inference.fit_advi(
        build_model(Xs, 2, "diag"),
        n=1500,
        minibatch_size=64,
        random_seed=1,
        draws=100,
        progressbar=False,
    )
    assert np.all(np.isfinite(idata["elbo"]["elbo"].values))
    assert idata.log_likelihood["x"].shape == (1, 100, 272)


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_advi_recovers_truth(simulated, method: str) -> None:
    idata = inference.fit_advi(
        build_model(simulated.X, 3, "full"),
        method=method,
        n=20000,
        random_seed=3,
        draws=2000,
        progressbar=False,
    )
    assert idata.attrs["sampler"] == f"{method}+bayesgmm-kernel"
    _assert_recovers_truth(idata)
    elbo = idata["elbo"]["elbo"].values
    assert elbo[-2000:].mean() > elbo[:200].mean()


def test_pymc_advi_engine(faithful) -> None:
    Xs = (faithful - faithful.mean(0)) / faithful.std(0)
    idata = inference.fit_advi(
        build_model(Xs, 2, "diag"),
        n=1500,
        random_seed=1,
        draws=100,
        progressbar=False,
        engine="pymc",
    )
    assert idata.attrs["sampler"] == "advi"
    elbo = idata["elbo"]["elbo"].values
    assert elbo.shape == (1500,) and np.all(np.isfinite(elbo))
    assert elbo[-150:].mean() > elbo[:150].mean()


def test_map_is_near_em(faithful) -> None:
    Xs = (faithful - faithful.mean(0)) / faithful.std(0)
    gmm = build_model(Xs, 2, "full")
    point = inference.fit_map(gmm, random_seed=0)
    em = bayesgmm.fit_em(Xs, 2, "full", n_init=3, random_seed=0)
    perm = np.argsort(point["means"][:, 0])
    order = np.argsort(em.means[:, 0])
    # N = 272: priors shift the mode by O(1/N) of the data scale.
    np.testing.assert_allclose(point["means"][perm], em.means[order], atol=0.05)
    np.testing.assert_allclose(point["weights"][perm], em.weights[order], atol=0.02)


def test_bad_sampler_arguments(faithful) -> None:
    gmm = build_model(faithful, 2, "diag")
    with pytest.raises(ValueError, match="sampler must be one of"):
        inference.sample_nuts(gmm, sampler="stan")
    with pytest.raises(ValueError, match="init must be"):
        inference.sample_nuts(gmm, init="kmeans")
    with pytest.raises(ValueError, match="draws must be"):
        inference.sample_nuts(gmm, draws=0)
    with pytest.raises(ValueError, match="method must be"):
        inference.fit_advi(gmm, method="svgd")


def test_without_the_compiled_kernel_sampling_falls_back(faithful, monkeypatch) -> None:
    """An install without a C compiler has no kernel: "auto" still samples, with nutpie on
    PyMC's own compiled graph (nutpie is in the [all] install the tests run on), and ADVI
    runs PyMC's implementation."""
    monkeypatch.setattr(kernel, "available", lambda: False)
    Xs = (faithful - faithful.mean(0)) / faithful.std(0)
    gmm = build_model(Xs, 2, "diag")
    idata = inference.sample_nuts(
        gmm, draws=50, tune=50, chains=1, random_seed=0, progressbar=False
    )
    assert idata.attrs["sampler"] == "nutpie"
    assert idata.posterior["means"].shape == (1, 50, 2, 2)
    advi = inference.fit_advi(gmm, n=200, draws=20, random_seed=0, progressbar=False)
    assert advi.attrs["sampler"] == "advi"


def test_stored_log_likelihood_handles_draws_on_the_boundary(faithful) -> None:
    """A stored draw with a weight of exactly 0 has no unconstrained form: its row comes
    from numpy, and every other row from the compiled kernel, equal to numpy's."""
    import xarray as xr

    from bayesgmm.mixture import draws as draw_math

    gmm = build_model(faithful, 2, "full")
    idata = inference.sample_nuts(
        gmm, draws=20, tune=20, chains=1, random_seed=1, progressbar=False
    )
    post = idata.posterior
    weights = post["weights"].values.copy()
    weights[0, 4] = [1.0, 0.0]
    post = post.assign(weights=xr.DataArray(weights, dims=post["weights"].dims))
    cov = post["covariances"].values.reshape(20, 2, 2, 2)
    spec = MixtureSpec.from_config(json.loads(idata.attrs["bayesgmm_config"]))
    loglik = _pointwise_log_likelihood(post, faithful, cov, spec)
    expected = draw_math.pointwise_log_likelihood(
        faithful, weights.reshape(20, 2), post["means"].values.reshape(20, 2, 2), cov
    )
    np.testing.assert_allclose(loglik, expected, rtol=1e-10)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("alpha_prior", "mass_matrix", "expected"),
    [(None, "auto", "low_rank"), (None, "diag", "diag"), ("sparse", "auto", "low_rank"),
     ("sparse", "diag", "diag")],
)  # fmt: skip
def test_mass_matrix_reaches_nutpie(simulated, monkeypatch, alpha_prior, mass_matrix, expected):
    import nutpie

    seen = []
    original = nutpie.sample

    def recording(*args, **kwargs):
        seen.append(kwargs.get("low_rank_modified_mass_matrix", False))
        return original(*args, **kwargs)

    monkeypatch.setattr(nutpie, "sample", recording)
    priors = bayesgmm.GMMPriors(alpha_prior=alpha_prior) if alpha_prior else None
    gmm = build_model(simulated.X, 3, "diag", priors=priors)
    idata = inference.sample_nuts(
        gmm, draws=30, tune=30, chains=1, random_seed=1, progressbar=False,
        mass_matrix=mass_matrix, log_likelihood=False,
    )  # fmt: skip
    assert seen == [expected == "low_rank"]
    assert idata.attrs["mass_matrix"] == expected


@pytest.mark.timeout(120)
def test_bad_mass_matrix_is_refused_before_sampling(simulated):
    gmm = build_model(simulated.X, 3, "diag")
    with pytest.raises(ValueError, match="mass_matrix must be one of"):
        inference.sample_nuts(gmm, draws=10, tune=10, mass_matrix="dense")
    with pytest.raises(ValueError, match=r"nutpie's adaptation.*sampler='nutpie'"):
        inference.sample_nuts(gmm, draws=10, tune=10, sampler="pymc", mass_matrix="low_rank")
