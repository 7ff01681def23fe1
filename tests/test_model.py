"""The PyMC model: log density against scipy, the LKJ construction, the compiled kernel."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytest
from conftest import model_point
from scipy import special, stats

from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import GMMModel, build_model, default_start
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.mixture.draws import covariances_from_draws
from bayesgmm.mixture.parametrization import (
    cholesky_from_cpc,
    corr_pairs,
    cpc_beta_parameters,
    cpc_from_cholesky,
)

COV_TYPES = ("full", "tied", "diag", "spherical")
FAMILIES = ("lognormal", "gamma", "inversegamma", "halfnormal")
# Every covariance type with the default family, and every family with full covariance, in
# the default run; the whole cross product in the slow run.
CASES = [(c, "lognormal") for c in COV_TYPES] + [("full", f) for f in FAMILIES[1:]]
ALL_CASES = [
    pytest.param(c, f, marks=pytest.mark.slow)
    for c in COV_TYPES
    for f in FAMILIES
    if (c, f) not in CASES
]
# Python-mode graphs: a few evaluations do not repay PyTensor's C compilation.
FAST = {"mode": "FAST_COMPILE"}


def _data(seed: int = 0, n: int = 40, d: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.array([1.0, 2.0, 0.5])[:d] + np.arange(d)


def _std_logpdf(family: str, stds: np.ndarray, params: dict[str, np.ndarray]) -> float:
    if family == "lognormal":
        return stats.lognorm.logpdf(stds, s=params["sigma"], scale=np.exp(params["mu"])).sum()
    if family == "gamma":
        return stats.gamma.logpdf(stds, a=params["alpha"], scale=1 / params["beta"]).sum()
    if family == "inversegamma":
        return stats.invgamma.logpdf(stds, a=params["alpha"], scale=params["beta"]).sum()
    return stats.halfnorm.logpdf(stds, scale=params["sigma"]).sum()


def _scipy_logp(X, params, priors, cov_type, k):
    """logsumexp(log pi + MVN logpdf) plus every prior term, computed independently."""
    d = X.shape[1]
    cov, _ = covariances_from_draws(
        np.asarray(params["stds"])[None],
        None
        if "partial_corr_unit" not in params
        else np.asarray(params["partial_corr_unit"])[None],
        cov_type,
        k,
        d,
    )
    log_comp = np.column_stack(
        [stats.multivariate_normal.logpdf(X, params["means"][j], cov[0, j]) for j in range(k)]
    )
    total = special.logsumexp(log_comp + np.log(params["weights"]), axis=1).sum()
    total += stats.dirichlet.logpdf(params["weights"], np.full(k, priors.alpha))
    total += stats.norm.logpdf(params["means"], priors.mean_loc, priors.mean_scale).sum()
    std_params = priors.std_parameters(pooled=cov_type == "spherical")
    if cov_type in ("full", "diag"):
        std_params = {n: np.broadcast_to(v, (k, d)) for n, v in std_params.items()}
    elif cov_type == "spherical":
        std_params = {n: np.broadcast_to(v, (k,)) for n, v in std_params.items()}
    total += _std_logpdf(priors.std_family, params["stds"], std_params)
    if "partial_corr_unit" in params:
        beta = cpc_beta_parameters(d, priors.eta)
        total += stats.beta.logpdf(params["partial_corr_unit"], beta, beta).sum()
    return total


def _internal(gmm: GMMModel) -> tuple[np.ndarray, GMMPriors]:
    """The data and priors of the model in its own (internal) units."""
    return gmm.internal, gmm.spec.internal_priors


@pytest.mark.parametrize(("cov_type", "family"), CASES + ALL_CASES)
def test_logp_matches_scipy(cov_type: str, family: str) -> None:
    X = _data()
    k, d = 3, X.shape[1]
    priors = GMMPriors(std_family=family, alpha=1.3, eta=1.7)
    gmm = build_model(X, k, cov_type, priors=priors)
    model = gmm.model
    Z, resolved = _internal(gmm)
    spec = kernel.kernel_spec(resolved, k, d, cov_type)
    logp = model.compile_logp(jacobian=False, **FAST)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = rng.normal(scale=0.7, size=spec.ndim)
        params = kernel.unpack(theta, spec)
        # Summation order differs between the two computations: agree to ~1e-12 relative.
        expected = _scipy_logp(Z, params, resolved, cov_type, k)
        assert logp(model_point(model, kernel.pack(params, spec))) == pytest.approx(
            expected, rel=1e-10, abs=1e-8
        )


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("family", FAMILIES)
def test_internal_units_are_an_exact_change_of_variables(cov_type: str, family: str) -> None:
    """The model, written for z = (x - c) / s, is the data-unit model in other coordinates:
    its log density differs from scipy's in data units by the change of variables'
    log-Jacobian alone, N sum(log s) for the data plus log s for every mean and sd."""
    X = _data(seed=7) * np.array([1e-3, 10.0, 1.0]) + np.array([5.0, -2e3, 0.0])
    k, (n, d) = 2, X.shape
    priors = GMMPriors(std_family=family, alpha=1.3, eta=1.7)
    gmm = build_model(X, k, cov_type, priors=priors)
    model = gmm.model
    _, internal = _internal(gmm)
    standard = gmm.spec.standardization
    spec = kernel.kernel_spec(internal, k, d, cov_type)
    logp = model.compile_logp(jacobian=False, **FAST)
    log_s = np.log(standard.scale)
    n_std = {"full": k * log_s.sum(), "diag": k * log_s.sum(), "tied": log_s.sum()}
    expected = (n + k) * log_s.sum() + n_std.get(cov_type, k * log_s[0])
    rng = np.random.default_rng(8)
    for _ in range(3):
        params = kernel.unpack(rng.normal(scale=0.7, size=spec.ndim), spec)
        in_data = standard.params_to_data(params, cov_type)
        data_logp = _scipy_logp(X, in_data, priors.resolve(X, k), cov_type, k)
        model_logp = float(logp(model_point(model, kernel.pack(params, spec))))
        assert model_logp - data_logp == pytest.approx(expected, rel=1e-9, abs=1e-7)


@pytest.mark.parametrize(("cov_type", "family"), CASES + ALL_CASES)
def test_compiled_kernel_matches_pymc(cov_type: str, family: str) -> None:
    """The C density and its hand-written gradient equal PyMC's, Jacobians included."""
    X = _data(seed=2)
    k, d = 3, X.shape[1]
    priors = GMMPriors(std_family=family, alpha=0.7, eta=2.5)
    gmm = build_model(X, k, cov_type, priors=priors)
    model = gmm.model
    Z, internal = _internal(gmm)
    spec = kernel.kernel_spec(internal, k, d, cov_type)
    logp, dlogp = model.compile_logp(**FAST), model.compile_dlogp(**FAST)
    rng = np.random.default_rng(3)
    for _ in range(3):
        theta = rng.normal(scale=0.8, size=spec.ndim)
        value, grad = kernel.logp_and_grad(theta, kernel.kernel_buffer(Z, spec))
        point = model_point(model, theta)
        assert value == pytest.approx(float(logp(point)), rel=1e-11, abs=1e-9)
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9, atol=1e-8)


def test_kernel_gradient_matches_finite_differences() -> None:
    X = _data(seed=4, d=2)
    spec = kernel.kernel_spec(GMMPriors().resolve(X, 2), 2, 2, "full")
    theta = np.random.default_rng(5).normal(scale=0.5, size=spec.ndim)
    buffer = kernel.kernel_buffer(X, spec)
    _, grad = kernel.logp_and_grad(theta, buffer)
    step = 1e-6
    numeric = np.array(
        [
            (
                kernel.logp_and_grad(theta + step * e, buffer)[0]
                - kernel.logp_and_grad(theta - step * e, buffer)[0]
            )
            / (2 * step)
            for e in np.eye(spec.ndim)
        ]
    )
    # Central differences: truncation O(step^2) plus rounding ~1e-16*|logp|/step ~ 1e-8.
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_pack_unpack_round_trip() -> None:
    X = _data()
    for cov_type in COV_TYPES:
        spec = kernel.kernel_spec(GMMPriors().resolve(X, 3), 3, 3, cov_type)
        theta = np.random.default_rng(6).normal(size=spec.ndim)
        np.testing.assert_allclose(kernel.pack(kernel.unpack(theta, spec), spec), theta, atol=1e-12)


@pytest.mark.parametrize("eta", [1.0, 2.5])
def test_cpc_construction_gives_lkj_marginals(eta: float) -> None:
    """Under LKJ(eta) in D dims every correlation is Beta(eta - 1 + D/2) on (-1, 1)."""
    d, n = 4, 20000
    rng = np.random.default_rng(11)
    beta = cpc_beta_parameters(d, eta)
    cpc = 2 * rng.beta(beta, beta, size=(n, len(beta))) - 1
    chol = cholesky_from_cpc(cpc, d)
    corr = chol @ np.swapaxes(chol, -1, -2)
    np.testing.assert_allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0, atol=1e-12)
    shape = eta - 1 + d / 2
    for i, j in corr_pairs(d):
        ks = stats.kstest((corr[:, i, j] + 1) / 2, stats.beta(shape, shape).cdf)
        # KS critical value at the 0.1% level is 1.95 / sqrt(n) (fixed seed: deterministic).
        assert ks.statistic < 1.95 / np.sqrt(n)


def test_cpc_round_trip() -> None:
    cpc = np.random.default_rng(3).uniform(-0.9, 0.9, size=(5, 6))
    chol = cholesky_from_cpc(cpc, 4)
    np.testing.assert_allclose(cpc_from_cholesky(chol), cpc, atol=1e-12)


def test_model_structure_and_names(faithful_df) -> None:
    gmm = build_model(faithful_df, 2, "full")
    model = gmm.model
    assert set(model.named_vars) >= {"weights", "means", "stds", "partial_corr_unit", "x", "X"}
    assert list(model.coords["feature"]) == ["eruptions", "waiting"]
    assert len(model.coords["obs"]) == 272
    assert model.named_vars_to_dims["means"] == ("component", "feature")
    assert gmm.spec.covariance_type == "full"
    assert gmm.spec.to_config()["covariance_type"] == "full"


def test_ordered_means_have_valid_start(faithful_df) -> None:
    gmm = build_model(faithful_df, 3, "diag", ordered="waiting")
    model = gmm.model
    start = model.initial_point()
    ordered_value = model.rvs_to_values[model["means_ordered"]]
    start[ordered_value.name] = (
        model.rvs_to_transforms[model["means_ordered"]]
        .forward(default_start(gmm)["means_ordered"])
        .eval()
    )
    assert np.isfinite(model.compile_logp(**FAST)(start))
    inputs = [model.rvs_to_values[model[name]] for name in ("means_ordered", "means_other")]
    (graph,) = model.replace_rvs_by_values([model["means"]])
    fn = pytensor.function(inputs, graph, on_unused_input="ignore", **FAST)
    means = fn(*(start[v.name] for v in inputs))
    assert np.all(np.diff(means[:, 1]) > 0)
    with pytest.raises(ValueError, match="not a feature"):
        build_model(faithful_df, 2, ordered="nope")


def test_data_can_be_swapped_without_rebuilding(faithful) -> None:
    gmm = build_model(faithful, 2, "diag")
    model = gmm.model
    logp = model.compile_logp(**FAST)
    point = model.initial_point()
    before = logp(point)
    with model:
        pm.set_data({"X": faithful[:100]}, coords={"obs": np.arange(100)})
    # The compiled function reads the shared container: same function, new data.
    assert logp(point) != before


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_prior_predictive(cov_type: str) -> None:
    X = _data()
    gmm = build_model(X, 2, cov_type)
    model = gmm.model
    with model:
        prior = pm.sample_prior_predictive(draws=20, random_seed=1)
    x = prior.prior_predictive["x"]
    assert x.shape == (1, 20, X.shape[0], X.shape[1])
    assert np.all(np.isfinite(x.values))


def test_priors_validation_and_round_trip() -> None:
    priors = GMMPriors(alpha=0.5, std_family="inversegamma", mean_scale=[1.0, 2.0])
    assert GMMPriors.from_dict(priors.to_dict()).to_dict() == priors.to_dict()
    for bad in (
        {"alpha": 0},
        {"alpha": np.nan},
        {"eta": -1},
        {"std_family": "cauchy"},
        {"mean_scale": [1.0, -1.0]},
        {"std_scale": [[1.0]]},
    ):
        with pytest.raises((ValueError, TypeError)):
            GMMPriors(**bad)
    with pytest.raises(ValueError, match="one entry per feature"):
        GMMPriors(mean_loc=[0.0, 1.0, 2.0]).resolve(np.zeros((5, 2)) + np.arange(5)[:, None], 2)
    with pytest.raises(ValueError, match="unknown prior field"):
        GMMPriors.from_dict({"nope": 1})


def test_priors_are_scaled_to_the_data() -> None:
    X = _data() * 1000.0
    resolved = GMMPriors().resolve(X, 4)
    np.testing.assert_allclose(resolved.mean_loc, X.mean(axis=0))
    np.testing.assert_allclose(resolved.mean_scale, 2 * X.std(axis=0, ddof=1))
    np.testing.assert_allclose(resolved.std_scale, X.std(axis=0, ddof=1) / 4 ** (1 / 3))


@pytest.mark.parametrize("cov_type", ["full", "diag", "tied"])
def test_a_constant_feature_is_refused_with_the_fix(faithful_df, cov_type: str) -> None:
    """Its sd's posterior would pile up near exp(-N): refuse, name it, say what to do."""
    data = faithful_df.assign(station=3.0)
    with pytest.raises(ValueError, match=r"feature\(s\) 2 \('station'\) are constant.*Drop"):
        build_model(data, 2, cov_type)


def test_a_constant_feature_is_allowed_with_a_shared_spherical_sd(faithful_df) -> None:
    build_model(faithful_df.assign(station=3.0), 2, "spherical")
    with pytest.raises(ValueError, match=r"are constant.*Drop them\.$"):
        build_model(np.full((20, 1), 2.0), 2, "spherical")  # nothing left to hold the sd
