"""The sparse finite mixture (alpha ~ Gamma(a, b)) and the prior / posterior of K+.

The kernel's value and gradient for it are checked against PyMC in ``test_kernel_grid.py``,
its Gamma prior against scipy in ``test_priors_scipy.py``; here: the option itself (bad
inputs, round trips, the default left as it was), the kernel's digamma, the exact prior of
K+ against brute force, the runners carrying alpha, and the done-when recovery of 3
clusters out of K = 10.
"""

from __future__ import annotations

import itertools
import json

import arviz as az
import numpy as np
import pytest
from scipy import special, stats

from bayesgmm.analysis.kplus_prior import prior_n_clusters, prior_n_clusters_fixed
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.bayes.model.spec import MixtureSpec


def three_clusters(n: int = 300, seed: int = 0) -> np.ndarray:
    """Three round clusters 8 sds apart (well separated), in 2-D."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2))


# ---------------------------------------------------------------------------------------
# the option
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("dense", "alpha_prior must be None"),
        (("beta", 1.0, 2.0), "family 'beta'"),
        (("gamma", 1.0), "alpha_prior must be None"),
        (("gamma", -1.0, 2.0), "a = -1.0"),
        (("gamma", 1.0, 0.0), "b = 0.0"),
        (("gamma", np.nan, 1.0), "a = nan"),
        (("gamma", "x", 1.0), "alpha_prior must be None"),
        (3.0, "alpha_prior must be None"),
    ],
)
def test_bad_alpha_priors_are_refused_with_the_valid_forms(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        GMMPriors(alpha_prior=value)
    assert '"sparse"' in str(info.value) and '("gamma", a, b)' in str(info.value)


@pytest.mark.timeout(30)
def test_sparse_resolves_to_the_papers_default_and_round_trips() -> None:
    X = three_clusters(50)
    priors = GMMPriors(alpha_prior="sparse")
    assert not priors.is_resolved
    with pytest.raises(ValueError, match="resolve"):
        _ = priors.alpha_gamma
    resolved = priors.resolve(X, 7)
    assert resolved.alpha_gamma == (10.0, 70.0)  # Malsiner-Walli et al.: Gamma(10, 10 K)
    assert GMMPriors(alpha_prior=["gamma", 2, 3]).alpha_prior == ("gamma", 2.0, 3.0)
    for p in (priors, resolved, GMMPriors(alpha_prior=("gamma", 2.0, 3.0)), GMMPriors()):
        back = GMMPriors.from_dict(json.loads(json.dumps(p.to_dict())))
        assert back.alpha_prior == p.alpha_prior
    # A config saved before the option existed has no alpha_prior: alpha fixed.
    old = GMMPriors().to_dict()
    del old["alpha_prior"]
    assert GMMPriors.from_dict(old).alpha_gamma is None


@pytest.mark.timeout(120)
def test_spec_layout_and_config_round_trip() -> None:
    X = three_clusters(60)
    gmm = build_model(X, 4, "full", priors=GMMPriors(alpha_prior="sparse"))
    spec = gmm.spec
    assert spec.sparse and spec.blocks[0].name == "alpha" and spec.blocks[0].transform == "log"
    assert gmm.model.value_vars[0].name == "alpha_log__"  # check_model passed
    assert spec.ndim == 1 + 3 + 8 + 8 + 4
    back = MixtureSpec.from_config(json.loads(json.dumps(spec.to_config())))
    assert back.blocks == spec.blocks and back.priors.alpha_gamma == (10.0, 40.0)
    k_spec = spec.kernel
    assert (k_spec.alpha_prior, k_spec.alpha_a, k_spec.alpha_b, k_spec.ndim) == (
        1,
        10.0,
        40.0,
        spec.ndim,
    )
    buffer = kernel.kernel_buffer(gmm.internal, k_spec)
    np.testing.assert_array_equal(buffer[11:14], [1.0, 10.0, 40.0])


@pytest.mark.timeout(120)
def test_the_default_is_the_fixed_alpha_model_unchanged() -> None:
    """No alpha block, header slots 11-13 zero, and the same density as a fixed alpha."""
    X = three_clusters(60)
    fixed = build_model(X, 3, "diag", priors=GMMPriors(alpha=0.5))
    assert not fixed.spec.sparse and fixed.spec.blocks[0].name == "weights"
    buffer = kernel.kernel_buffer(fixed.internal, fixed.spec.kernel)
    np.testing.assert_array_equal(buffer[11:14], 0.0)
    theta = np.random.default_rng(0).normal(scale=0.3, size=fixed.spec.ndim)
    value, grad = kernel.logp_and_grad(theta, buffer)
    # The sparse model at alpha = 0.5: the same weights-means-stds terms, plus the log
    # density of alpha and its Jacobian (the gradient of the rest is the same).
    hyper = (3.0, 6.0)
    sparse = build_model(X, 3, "diag", priors=GMMPriors(alpha_prior=("gamma", *hyper)))
    sparse_buffer = kernel.kernel_buffer(sparse.internal, sparse.spec.kernel)
    value_s, grad_s = kernel.logp_and_grad(np.concatenate([[np.log(0.5)], theta]), sparse_buffer)
    alpha_terms = stats.gamma(hyper[0], scale=1 / hyper[1]).logpdf(0.5) + np.log(0.5)
    assert value_s == pytest.approx(value + alpha_terms, rel=1e-13)
    np.testing.assert_allclose(grad_s[1:], grad, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------
# the kernel's digamma
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_kernel_digamma_matches_scipy() -> None:
    """1e-14 relative to |psi| + 1: near psi's root (x = 1.4616...) a relative error is
    unbounded, and there the error is absolute, a few ulps of the terms ln x and 1/x."""
    x = np.concatenate([np.logspace(-12, 10, 1500), np.linspace(0.05, 30.0, 1500)])
    ours = np.array([kernel.digamma(v) for v in x])
    reference = special.digamma(x)
    assert np.max(np.abs(ours - reference) / (np.abs(reference) + 1.0)) < 1e-14
    assert np.isnan(kernel.digamma(np.nan)) and kernel.digamma(np.inf) == np.inf


# ---------------------------------------------------------------------------------------
# the prior of K+
# ---------------------------------------------------------------------------------------


def _brute_force_fixed(n: int, k: int, alpha: float) -> np.ndarray:
    """P(K+ = j) by enumerating all K^N labelled allocations (Dirichlet-multinomial)."""
    prob = np.zeros(k)
    log_norm = special.gammaln(k * alpha) - special.gammaln(n + k * alpha)
    for z in itertools.product(range(k), repeat=n):
        counts = np.bincount(z, minlength=k)
        log_p = log_norm + np.sum(special.gammaln(counts + alpha) - special.gammaln(alpha))
        prob[np.count_nonzero(counts) - 1] += np.exp(log_p)
    return prob


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("n", "k", "alpha"), [(1, 3, 0.7), (6, 3, 0.2), (5, 4, 1.0), (7, 2, 3.0)])
def test_prior_of_k_plus_matches_enumeration(n: int, k: int, alpha: float) -> None:
    np.testing.assert_allclose(
        prior_n_clusters_fixed(n, k, alpha), _brute_force_fixed(n, k, alpha), rtol=1e-12, atol=1e-15
    )


@pytest.mark.timeout(60)
def test_prior_of_k_plus_matches_the_closed_form() -> None:
    """C(K, k) Gamma(K a)/Gamma(N + K a) N! [x^N] (sum_n Gamma(n + a)/(Gamma(a) n!) x^n)^k,
    by an independent polynomial power series at N = 40, K = 6."""
    n, k, alpha = 40, 6, 0.3
    m = np.arange(1, n + 1)
    log_c = special.gammaln(m + alpha) - special.gammaln(alpha) - special.gammaln(m + 1)
    series = np.concatenate([[0.0], np.exp(log_c)])
    power, expected = np.array([1.0]), []
    for j in range(1, k + 1):
        power = np.convolve(power, series)[: n + 1]
        log_front = (
            np.log(special.comb(k, j))
            + special.gammaln(k * alpha)
            - special.gammaln(n + k * alpha)
            + special.gammaln(n + 1)
        )
        expected.append(np.exp(log_front) * power[n])
    np.testing.assert_allclose(prior_n_clusters_fixed(n, k, alpha), expected, rtol=1e-11)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hyper", [(10.0, 100.0), (1.0, 2.0)])
def test_prior_of_k_plus_matches_simulation(hyper: tuple[float, float]) -> None:
    """alpha ~ Gamma, pi ~ Dir, z ~ Cat, count: 40,000 simulations. Each probability's
    Monte Carlo sd is <= 0.0025, so 5 sd is 0.0125 (over K = 10 entries, a false alarm
    has probability below 1e-5)."""
    rng = np.random.default_rng(42)
    n, k, sims = 100, 10, 40_000
    alpha = rng.gamma(hyper[0], 1.0 / hyper[1], size=sims)
    weights = rng.gamma(np.repeat(alpha[:, None], k, axis=1))
    with np.errstate(invalid="ignore"):
        weights /= weights.sum(axis=1, keepdims=True)
    # Sparse Dirichlet draws can underflow to an all-zero row: then one component holds
    # all the mass (the limit alpha -> 0), as the prior of K+ = 1 says.
    bad = ~np.isfinite(weights).all(axis=1)
    weights[bad] = np.eye(k)[0]
    counts = np.array([rng.multinomial(n, w) for w in weights])
    simulated = np.bincount(np.count_nonzero(counts, axis=1), minlength=k + 1)[1:] / sims
    exact = prior_n_clusters(n, k, alpha_gamma=hyper)
    assert exact.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(simulated, exact, atol=0.0125)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hyper", [(10.0, 100.0), (1.0, 1.0), (0.5, 2.0), (0.1, 0.1)])
def test_quadrature_over_alpha_has_converged(hyper: tuple[float, float]) -> None:
    """The default rule against twice its nodes, for tight and very broad priors."""
    default = prior_n_clusters(500, 10, alpha_gamma=hyper)
    finer = prior_n_clusters(500, 10, alpha_gamma=hyper, n_nodes=400)
    np.testing.assert_allclose(default, finer, atol=1e-10)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0, "n_components": 3, "alpha": 1.0}, "n_samples must be a positive"),
        ({"n_samples": 5, "n_components": 2.5, "alpha": 1.0}, "n_components must be a positive"),
        ({"n_samples": 5, "n_components": 3, "alpha": -1.0}, "alpha must be finite and > 0"),
        ({"n_samples": 5, "n_components": 3}, "exactly one of"),
        ({"n_samples": 5, "n_components": 3, "alpha": 1.0, "alpha_gamma": (1, 1)}, "exactly"),
        ({"n_samples": 5, "n_components": 3, "alpha_gamma": (1.0, 0.0)}, "alpha_gamma must"),
        ({"n_samples": 5, "n_components": 3, "alpha_gamma": (1.0,)}, "shape a, rate b"),
        ({"n_samples": 5, "n_components": 3, "alpha_gamma": (1, 1), "n_nodes": 1}, "n_nodes"),
    ],
)
def test_prior_of_k_plus_bad_inputs(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        prior_n_clusters(**kwargs)


# ---------------------------------------------------------------------------------------
# the runners carry alpha
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse_gmm():
    return build_model(three_clusters(200), 6, "diag", priors=GMMPriors(alpha_prior="sparse"))


@pytest.mark.timeout(120)
def test_starts_put_alpha_at_its_prior_mean(sparse_gmm) -> None:
    """MAP-EM has no alpha: the start takes a / b (1/K for the default), a valid point."""
    from bayesgmm.bayes.inference.starts import em_initial_point

    point = em_initial_point(sparse_gmm, random_seed=0)
    assert float(point["alpha"]) == pytest.approx(10.0 / 60.0, rel=1e-15)
    buffer = kernel.kernel_buffer(sparse_gmm.internal, sparse_gmm.spec.kernel)
    value, grad = kernel.logp_and_grad(sparse_gmm.spec.pack(point), buffer)
    assert np.isfinite(value) and np.isfinite(grad).all()


@pytest.mark.timeout(240)
def test_map_and_advi_return_alpha(sparse_gmm) -> None:
    from bayesgmm.bayes.inference import fit_advi, fit_map, map_idata

    point = fit_map(sparse_gmm, random_seed=0)
    assert point["alpha"].shape == () and 0 < float(point["alpha"]) < 10.0
    idata = map_idata(sparse_gmm, point)
    assert float(idata.posterior["alpha"].values.ravel()[0]) == pytest.approx(point["alpha"])
    for minibatch in (None, 50):
        fit = fit_advi(
            sparse_gmm, n=1500, random_seed=1, progressbar=False, minibatch_size=minibatch
        )
        alpha = fit.posterior["alpha"]
        assert alpha.dims == ("chain", "draw") and np.all(alpha.values > 0)
        assert "bayesgmm-kernel" in fit.attrs["sampler"]
        assert np.isfinite(fit.log_likelihood["x"].values).all()


# ---------------------------------------------------------------------------------------
# n_clusters and its plot (on quick ADVI fits: the mechanics, not the sampler)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def advi_fits(sparse_gmm):
    from bayesgmm.bayes.inference import fit_advi

    fixed = build_model(three_clusters(200), 6, "diag", priors=GMMPriors(alpha=0.2))
    return {
        "sparse": fit_advi(sparse_gmm, n=1500, random_seed=2, progressbar=False, draws=200),
        "fixed": fit_advi(fixed, n=1500, random_seed=2, progressbar=False, draws=200),
    }


@pytest.mark.timeout(240)
def test_n_clusters_puts_the_exact_prior_beside_the_posterior(advi_fits) -> None:
    from bayesgmm.analysis import n_clusters
    from bayesgmm.posterior import occupied_components

    result = n_clusters(advi_fits["sparse"], random_seed=3)
    table = result.table
    assert list(table.index) == list(range(1, 7)) and list(table.columns) == ["prior", "posterior"]
    np.testing.assert_allclose(table["prior"], prior_n_clusters(200, 6, alpha_gamma=(10.0, 60.0)))
    posterior = occupied_components(advi_fits["sparse"], random_seed=3)
    np.testing.assert_allclose(table["posterior"], posterior.reindex(table.index, fill_value=0))
    assert table.sum().to_numpy() == pytest.approx([1.0, 1.0], abs=1e-12)
    assert result.mode == int(table["posterior"].idxmax()) and result.mode >= 3
    draws = advi_fits["sparse"].posterior["alpha"].values.ravel()
    assert result.alpha["mean"] == pytest.approx(draws.mean(), rel=1e-12)
    assert result.alpha["hdi_low"] < result.alpha["mean"] < result.alpha["hdi_high"]
    assert "Gamma(10, 60)" in result.alpha_prior and "K+" in str(result)

    fixed = n_clusters(advi_fits["fixed"])
    assert fixed.alpha is None and fixed.alpha_prior == "alpha = 0.2 (fixed)"
    np.testing.assert_allclose(fixed.table["prior"], prior_n_clusters_fixed(200, 6, 0.2))


@pytest.mark.timeout(120)
def test_n_clusters_bad_inputs_say_what_to_do(advi_fits) -> None:
    from bayesgmm.analysis import n_clusters

    with pytest.raises(ValueError, match="occupied_components"):
        n_clusters(advi_fits["sparse"], threshold=2)
    with pytest.raises(ValueError, match="hdi_prob"):
        n_clusters(advi_fits["sparse"], hdi_prob=1.5)
    bare = advi_fits["sparse"].copy()
    bare.attrs = {}
    for group in bare.groups():
        bare[group].attrs = {}
    with pytest.raises(ValueError, match="no stored model config"):
        n_clusters(bare)
    with pytest.raises(TypeError, match="InferenceData"):
        n_clusters(np.zeros(3))


@pytest.mark.timeout(120)
def test_plot_n_clusters_draws_prior_and_posterior_bars(advi_fits) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayesgmm.analysis import n_clusters
    from bayesgmm.plotting import plot_n_clusters

    result = n_clusters(advi_fits["sparse"], random_seed=3)
    ax = plot_n_clusters(result)
    bars = ax.patches
    assert len(bars) == 2 * 6
    heights = np.array([bar.get_height() for bar in bars])
    np.testing.assert_allclose(heights[:6], result.table["prior"])
    np.testing.assert_allclose(heights[6:], result.table["posterior"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["prior", "posterior"]
    plt.close(ax.figure)
    ax = plot_n_clusters(advi_fits["fixed"])  # from a fit directly
    assert len(ax.patches) == 12
    plt.close(ax.figure)


# ---------------------------------------------------------------------------------------
# done when: 3 well-separated clusters, K = 10, NUTS on the kernel
# ---------------------------------------------------------------------------------------


def _label_invariant_rhat(idata) -> dict[str, float]:
    """R-hat of alpha, of the four largest weights (sorted per draw) and of the total
    log-likelihood: quantities that do not change when the components are relabelled."""
    sorted_w = np.sort(idata.posterior["weights"].values, axis=-1)[..., ::-1]
    loglik = idata.log_likelihood["x"].sum("obs").values
    out = {"alpha": float(az.rhat(idata.posterior["alpha"].values))}
    out.update({f"weight_{j}": float(az.rhat(sorted_w[..., j])) for j in range(4)})
    out["log_likelihood"] = float(az.rhat(loglik))
    return out


def _recover_three(cov_type: str, n: int, iterations: int, seed: int, **kwargs):
    from bayesgmm.analysis import n_clusters
    from bayesgmm.bayes.inference import sample_nuts

    gmm = build_model(three_clusters(n, seed), 10, cov_type, priors=GMMPriors(alpha_prior="sparse"))
    idata = sample_nuts(
        gmm, draws=iterations, tune=iterations, chains=2, random_seed=seed, progressbar=False,
        **kwargs,
    )  # fmt: skip
    assert idata.attrs["sampler"] == "nutpie+bayesgmm-kernel"
    return n_clusters(idata, random_seed=seed), _label_invariant_rhat(idata)


@pytest.mark.timeout(300)
def test_sparse_mixture_finds_three_clusters_cheaply() -> None:
    """The default run's version (~15 s): diagonal covariances, N = 200, 500 + 500
    iterations. R-hat is held to 1.05 here (1000 draws in all estimate it to about
    +-0.01); the slow test below holds the done-when 1.01 with 4 times the draws.
    nutpie's low-rank mass matrix at its own target 0.8, as BayesianGMM samples a sparse
    prior: seeds 1 and 2 gave R-hat 1.009 and 1.004 at most in 12-17 s, against 1.006 and
    1.009 in 22-45 s at 0.95 (2026-12-06)."""
    result, rhat = _recover_three("diag", 200, 500, seed=1)
    assert result.mode == 3, result.table
    assert result.table["posterior"][3] > 0.5 > result.table["prior"][3]
    assert max(rhat.values()) <= 1.05, rhat


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sparse_mixture_finds_three_clusters_with_rhat_below_1_01() -> None:
    """Done when: K = 10, full covariances, N = 300, 1000 + 1000 iterations; the mode of
    K+ is 3 and R-hat <= 1.01 on alpha, the sorted weights and the log-likelihood.
    The empty components' log weights and alpha form a funnel: on a diagonal mass matrix
    at target_accept 0.8 this seed gave R-hat 1.10 for alpha. nutpie's low-rank mass
    matrix learns it: at its own 0.8, as BayesianGMM samples a sparse prior, R-hat 1.004
    at most in 41 s, against 1.009 in 90 s at 0.95 (2026-12-06)."""
    result, rhat = _recover_three("full", 300, 1000, seed=0)
    assert result.mode == 3, result.table
    assert max(rhat.values()) <= 1.01, rhat


@pytest.mark.timeout(300)
def test_a_saved_sparse_fit_reloads_with_its_alpha_prior(tmp_path) -> None:
    """save / load through the netCDF attrs: the prior, the layout and K+ come back."""
    from bayesgmm import BayesianGMM
    from bayesgmm.analysis import n_clusters

    fit = BayesianGMM(
        5,
        covariance_type="diag",
        priors=GMMPriors(alpha_prior=("gamma", 4.0, 20.0)),
        method="advi",
        advi_steps=1000,
        draws=100,
        progressbar=False,
        random_seed=0,
    ).fit(three_clusters(150))
    fit.save(tmp_path / "sparse.nc")
    loaded = BayesianGMM.load(tmp_path / "sparse.nc")
    assert loaded.model_.spec.sparse and loaded.model_.spec.blocks == fit.model_.spec.blocks
    assert loaded.priors.alpha_gamma == (4.0, 20.0)
    before, after = n_clusters(fit, random_seed=5), n_clusters(loaded, random_seed=5)
    assert before.table.equals(after.table) and before.alpha.equals(after.alpha)


@pytest.mark.timeout(60)
def test_sbc_prior_draws_draw_alpha_from_its_prior() -> None:
    """Simulation-based calibration simulates from the prior that is fitted: with a
    sparse prior every data set gets its own alpha ~ Gamma(a, b). The largest weight of
    2000 prior draws against an independent simulation (alpha ~ Gamma, weights as
    normalised Gamma(alpha) variables): a two-sample KS test passes (p > 1e-3), and it
    rejects the fixed alpha at the prior mean (p < 1e-6), so it can tell them apart."""
    from bayesgmm.bayes.calibration.prior import simulate_prior

    base = {"mean_loc": 0.0, "mean_scale": 1.0, "std_scale": 1.0}
    rng, k, n, hyper = np.random.default_rng(0), 4, 2000, (1.0, 0.5)

    def largest(priors: GMMPriors) -> np.ndarray:
        draws = [simulate_prior(priors, k, "diag", 5, rng, n_features=1) for _ in range(n)]
        return np.array([draw.weights.max() for draw in draws])

    sparse = largest(GMMPriors(alpha_prior=("gamma", *hyper), **base))
    alpha = rng.gamma(hyper[0], 1.0 / hyper[1], size=n)
    gammas = rng.gamma(np.repeat(alpha[:, None], k, axis=1))
    with np.errstate(invalid="ignore"):
        reference = (gammas / gammas.sum(axis=1, keepdims=True)).max(axis=1)
    reference = np.where(np.isfinite(reference), reference, 1.0)  # all-underflow rows
    assert stats.ks_2samp(sparse, reference).pvalue > 1e-3
    fixed = largest(GMMPriors(alpha=hyper[0] / hyper[1], **base))
    assert stats.ks_2samp(fixed, reference).pvalue < 1e-6


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("alpha_prior", "given", "mass_matrix", "expected"),
    [
        ("sparse", None, "auto", None),
        ("sparse", None, "diag", 0.95),
        (None, None, "auto", None),
        (None, None, "diag", None),
        ("sparse", 0.9, "diag", 0.9),
        (None, 0.85, "auto", 0.85),
    ],
)
def test_bayesian_gmm_targets_a_higher_acceptance_under_the_sparse_prior(
    monkeypatch, alpha_prior, given, mass_matrix, expected
) -> None:
    """BayesianGMM hands NUTS target_accept: 0.95 for the sparse prior's funnel on a
    diagonal mass matrix, nutpie's own 0.8 on its low-rank one (the default, which learns
    the funnel's correlation) and without the sparse prior, and always what the user
    gave."""
    from bayesgmm import BayesianGMM
    from bayesgmm.bayes.inference import run

    seen = {}

    def fake_sample_nuts(gmm, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop after the call")

    monkeypatch.setattr(run, "sample_nuts", fake_sample_nuts)  # the one runner's NUTS
    fit = BayesianGMM(
        3, covariance_type="diag", priors=GMMPriors(alpha_prior=alpha_prior),
        target_accept=given, mass_matrix=mass_matrix, progressbar=False, random_seed=0,
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="stop after the call"):
        fit.fit(three_clusters(60))
    assert seen["target_accept"] == expected
