"""Every prior of the model against scipy, from the *documented* meaning of its parameters.

The references here never call ``GMMPriors.std_parameters`` (which the model and the kernel
both use, so a wrong parameterisation there would pass a test that used it too). Each
family is written out from the ``GMMPriors`` docstring:

- ``std_scale`` is the median (lognormal), the mean (gamma), the mode (inversegamma) or
  the scale (halfnormal) of the sd prior;
- ``std_spread`` is the sd of log(sd) (lognormal), or sets the shape 2 + 1/spread^2
  (gamma and inversegamma);
- a spherical (pooled) sd uses the geometric mean of the per-feature scales;
- means ~ Normal(mean_loc, mean_scale); weights ~ Dirichlet(alpha); correlations ~ LKJ(eta).

Model densities come from PyMC's ``compile_logp`` restricted to one variable; the
transforms' Jacobians are checked against the log-determinant of the documented
back-transform, differentiated by complex step (exact to rounding).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytest
from scipy import optimize, special, stats

from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import GMMModel, build_model
from bayesgmm.bayes.model.priors import STD_FAMILIES, GMMPriors
from bayesgmm.mixture.parametrization import cholesky_from_cpc, corr_pairs

COV_TYPES = ("full", "tied", "diag", "spherical")
FAST = {"mode": "FAST_COMPILE"}  # tiny prior-only graphs: Python mode is enough
STD_SCALE = np.array([0.3, 2.0, 5.0])
SPREAD = 0.6
# Different summation orders of O(10) terms of size O(10): a few ulps.
RTOL = 1e-12


def kernel_of(gmm: GMMModel) -> tuple[kernel.KernelSpec, np.ndarray]:
    """A kernel on *this* model's data with its priors in data units, the documented
    parameterisation the scipy references below are written in."""
    spec = gmm.spec
    priors = kernel.kernel_spec(
        spec.priors, spec.n_components, spec.n_features, spec.covariance_type
    )
    return priors, kernel.kernel_buffer(gmm.internal, priors)


def _documented_sd_prior(family: str, scale: float, spread: float) -> stats.rv_continuous:
    """The sd prior as the GMMPriors docstring defines it, in scipy's own parameters."""
    if family == "lognormal":  # median exp(mu) = scale, sd of log = spread
        return stats.lognorm(s=spread, scale=scale)
    shape = 2.0 + 1.0 / spread**2
    if family == "gamma":  # mean shape * theta = scale
        return stats.gamma(a=shape, scale=scale / shape)
    if family == "inversegamma":  # mode b / (shape + 1) = scale
        return stats.invgamma(a=shape, scale=scale * (shape + 1.0))
    return stats.halfnorm(scale=scale)


def _data(n_features: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(30, n_features)) * np.arange(1.0, n_features + 1) + 4.0


# The documented transforms to the unconstrained space (bayesgmm/bayes/kernel/bindings.py's
# layout); a
# mismatch with PyMC's own back-transforms would show as a wrong density below.
_FORWARD = {
    "weights": lambda w: np.log(w[:-1]) - np.log(w).mean(),
    "means": lambda m: m,
    "stds": np.log,
    "partial_corr_unit": lambda u: np.log(u) - np.log1p(-u),
}


def _prior_logp(gmm: GMMModel, name: str):
    """PyMC's log density of one variable, without and with its transform's Jacobian, as a
    function of the constrained value."""
    model = gmm.model
    rv = model[name]
    # The variable's own terms of model.logp, with its value variable as the only input (a
    # prior that depended on another variable would fail to compile here).
    logp = pytensor.function(
        [model.rvs_to_values[rv]],
        [model.logp(vars=[rv], jacobian=False), model.logp(vars=[rv], jacobian=True)],
        **FAST,
    )

    # The model lives in internal units, z = (x - c) / s (bayesgmm.bayes.model.units): a mean or
    # an sd of z is that of x over s. ``at`` takes values in data units and returns their
    # data-unit densities, so the references below stay in the documented (data) units.
    standard = gmm.spec.standardization
    cov_type = gmm.spec.covariance_type

    def at(value: np.ndarray) -> tuple[float, float]:
        value = np.asarray(value, dtype=np.float64)
        log_s = 0.0  # sum of log s over the entries of value
        if name == "means":
            log_s = float(np.broadcast_to(np.log(standard.scale), value.shape).sum())
        elif name == "stds":
            ones = standard.params_to_data({name: np.ones_like(value)}, cov_type)[name]
            log_s = float(np.log(ones).sum())
        if name in ("means", "stds"):
            value = standard.params_to_internal({name: value}, cov_type)[name]
        free = np.asarray(_FORWARD[name](value), dtype=np.float64)
        without, with_jacobian = logp(free)
        # density of x = density of z / s per entry; for the unconstrained value the same
        # holds for a mean (identity transform), while log sd only shifts by log s.
        return float(without) - log_s, float(with_jacobian) - (log_s if name == "means" else 0.0)

    return at


def _log_abs_det(function, theta: np.ndarray) -> float:
    """log |det d function / d theta| by complex step (no subtraction, so no rounding loss)."""
    step = 1e-30
    columns = [np.imag(function(theta + 1j * step * e)) / step for e in np.eye(theta.size)]
    return float(np.linalg.slogdet(np.column_stack(columns))[1])


# ---------------------------------------------------------------------------------------
# the documented meaning, in scipy's terms
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("family", STD_FAMILIES)
def test_the_scipy_references_have_the_documented_meaning(family: str) -> None:
    """Guards the references below: the scale is the median / mean / mode / scale."""
    prior = _documented_sd_prior(family, 1.7, SPREAD)
    if family == "lognormal":
        assert prior.median() == pytest.approx(1.7, rel=1e-14)
        # log(sd) ~ Normal(log 1.7, spread): its quartiles are spread * z_0.75 either side.
        upper = np.log(prior.ppf(0.75)) - np.log(1.7)
        assert upper == pytest.approx(SPREAD * stats.norm.ppf(0.75), rel=1e-12)
    elif family == "gamma":
        assert prior.mean() == pytest.approx(1.7, rel=1e-14)
        assert prior.std() / prior.mean() == pytest.approx(1 / np.sqrt(2 + SPREAD**-2))
    elif family == "inversegamma":
        mode = optimize.minimize_scalar(
            lambda s: -prior.logpdf(s),
            bounds=(0.1, 10.0),
            method="bounded",
            options={"xatol": 1e-10},
        ).x
        assert mode == pytest.approx(1.7, rel=1e-7)  # the optimiser's own tolerance
    else:
        assert prior.std() ** 2 + prior.mean() ** 2 == pytest.approx(1.7**2, rel=1e-14)


# ---------------------------------------------------------------------------------------
# the model's priors against those references
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("family", STD_FAMILIES)
def test_sd_prior_is_the_documented_family(family: str, cov_type: str) -> None:
    k = 2
    priors = GMMPriors(std_family=family, std_scale=STD_SCALE, std_spread=SPREAD)
    gmm = build_model(_data(), k, cov_type, priors=priors)
    if cov_type == "spherical":  # one sd per component: the geometric mean of the scales
        scales = np.full(k, np.prod(STD_SCALE) ** (1 / 3))
    elif cov_type == "tied":
        scales = STD_SCALE
    else:
        scales = np.tile(STD_SCALE, (k, 1))
    logp = _prior_logp(gmm, "stds")
    rng = np.random.default_rng(1)
    for _ in range(3):
        stds = scales * np.exp(rng.normal(scale=0.8, size=scales.shape))
        expected = sum(
            _documented_sd_prior(family, float(c), SPREAD).logpdf(s)
            for s, c in zip(stds.ravel(), scales.ravel(), strict=True)
        )
        without, with_jacobian = logp(stds)
        assert without == pytest.approx(expected, rel=RTOL)
        # log transform: d sd / d log sd = sd
        assert with_jacobian == pytest.approx(expected + np.log(stds).sum(), rel=RTOL)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", ["diag", "spherical"])
def test_default_scales_follow_the_data(cov_type: str) -> None:
    """Defaults: mean ~ Normal(data mean, 2 data sd); sd scale data sd / K^(1/D)."""
    X, k = _data(seed=2), 3
    gmm = build_model(X, k, cov_type)  # lognormal, spread 1
    sd = X.std(axis=0, ddof=1)
    scale = sd / k ** (1 / 3)
    if cov_type == "spherical":
        scale = np.full(k, np.exp(np.log(scale).mean()))
    else:
        scale = np.tile(scale, (k, 1))
    stds = scale * 1.3
    expected = stats.lognorm(s=1.0, scale=scale).logpdf(stds).sum()
    assert _prior_logp(gmm, "stds")(stds)[0] == pytest.approx(expected, rel=RTOL)
    means = X.mean(axis=0) + np.arange(k * 3).reshape(k, 3) * 0.1
    expected = stats.norm(X.mean(axis=0), 2.0 * sd).logpdf(means).sum()
    assert _prior_logp(gmm, "means")(means)[0] == pytest.approx(expected, rel=RTOL)


@pytest.mark.timeout(60)
def test_means_prior_is_normal_with_the_given_location_and_scale() -> None:
    loc, scale = np.array([-1.0, 0.0, 3.0]), np.array([0.5, 2.0, 7.0])
    gmm = build_model(_data(), 2, "diag", priors=GMMPriors(mean_loc=loc, mean_scale=scale))
    means = np.random.default_rng(3).normal(loc, 2 * scale, size=(2, 3))
    expected = stats.norm(loc, scale).logpdf(means).sum()
    # no transform: both the same
    for logp in _prior_logp(gmm, "means")(means):
        assert logp == pytest.approx(expected, rel=RTOL)


def _softmax_backward(theta: np.ndarray) -> np.ndarray:
    """The simplex back-transform documented in bayesgmm/bayes/kernel/bindings.py, first K-1
    weights."""
    zeta = np.append(theta, -theta.sum())
    weights = np.exp(zeta - zeta.real.max())
    return (weights / weights.sum())[:-1]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("k", [2, 4])
def test_weights_prior_is_dirichlet_with_the_simplex_jacobian(k: int) -> None:
    alpha = 0.7
    gmm = build_model(_data(), k, "spherical", priors=GMMPriors(alpha=alpha))
    model = gmm.model
    transform = model.rvs_to_transforms[model["weights"]]
    logp = _prior_logp(gmm, "weights")
    rng = np.random.default_rng(4)
    for _ in range(3):
        weights = rng.dirichlet(np.full(k, 2.0))
        expected = stats.dirichlet(np.full(k, alpha)).logpdf(weights)
        without, with_jacobian = logp(weights)
        assert without == pytest.approx(expected, rel=RTOL)
        theta = _FORWARD["weights"](weights)
        np.testing.assert_allclose(transform.forward(weights).eval(), theta, rtol=1e-13)
        np.testing.assert_allclose(_softmax_backward(theta), weights[:-1], rtol=1e-13)
        log_jacobian = _log_abs_det(_softmax_backward, theta)
        assert with_jacobian == pytest.approx(expected + log_jacobian, rel=RTOL)


@pytest.mark.timeout(60)
def test_one_component_has_weight_one_and_no_weights_density() -> None:
    gmm = build_model(_data(), 1, "diag")
    model = gmm.model
    assert model.initial_point()["weights_simplex__"].shape == (0,)
    assert _prior_logp(gmm, "weights")(np.array([1.0])) == (0.0, 0.0)


def _lkj_logpdf(corr: np.ndarray, eta: float) -> float:
    """LKJ(eta) log density (Lewandowski, Kurowicka & Joe 2009, eq. 16), written out."""
    d = corr.shape[-1]
    log_c = 0.0
    for i in range(1, d):
        b = eta + (d - 1 - i) / 2.0
        log_c += (2.0 * eta - 2.0 + d - i) * (d - i) * np.log(2.0)
        log_c += (d - i) * special.betaln(b, b)
    return float((eta - 1.0) * np.linalg.slogdet(corr)[1] - log_c)


def _corr_entries(unit: np.ndarray, d: int) -> np.ndarray:
    """Below-diagonal correlations from CPCs mapped to (0, 1) (the model's construction)."""
    chol = cholesky_from_cpc(2.0 * unit - 1.0, d)
    corr = chol @ chol.T  # not .conj(): the complex step needs the analytic continuation
    return np.array([corr[i, j] for i, j in corr_pairs(d)])


@pytest.mark.timeout(60)
def test_the_lkj_reference_is_the_beta_law_for_two_features() -> None:
    """D=2: LKJ(eta) is (1 + r) / 2 ~ Beta(eta, eta), a guard on _lkj_logpdf itself."""
    for eta, r in [(0.5, 0.3), (1.0, -0.7), (2.5, 0.95)]:
        corr = np.array([[1.0, r], [r, 1.0]])
        expected = stats.beta(eta, eta).logpdf((1 + r) / 2) - np.log(2.0)
        assert _lkj_logpdf(corr, eta) == pytest.approx(expected, rel=1e-13)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("cov_type", "d"), [("full", 2), ("full", 3), ("tied", 4)])
def test_correlation_prior_is_lkj(cov_type: str, d: int) -> None:
    """The density the model puts on u, moved to the correlations, is LKJ(eta)."""
    eta, k = 1.8, 2
    gmm = build_model(_data(d, seed=5), k, cov_type, priors=GMMPriors(eta=eta))
    n_pairs = len(corr_pairs(d))
    n_chol = k if cov_type == "full" else 1
    logp = _prior_logp(gmm, "partial_corr_unit")
    rng = np.random.default_rng(6)
    for _ in range(3):
        unit = rng.uniform(0.05, 0.95, size=(n_chol, n_pairs))
        expected = 0.0
        for row in unit:
            chol = cholesky_from_cpc(2.0 * row - 1.0, d)
            # p_u(u) = p_R(R(u)) |dR/du|: the model's density on u from LKJ on R.
            expected += _lkj_logpdf(chol @ chol.T, eta)
            expected += _log_abs_det(lambda u: _corr_entries(u, d), row)
        value = unit if cov_type == "full" else unit[0]
        # rel 1e-11: the complex-step determinant of an up to 6 x 6 Jacobian
        without, with_jacobian = logp(value)
        assert without == pytest.approx(expected, rel=1e-11)
        # logodds transform: du / dlogit = u (1 - u)
        assert with_jacobian == pytest.approx(
            expected + np.sum(np.log(unit) + np.log1p(-unit)), rel=1e-11
        )


# ---------------------------------------------------------------------------------------
# the kernel's prior part: the kernel minus scipy's likelihood
# ---------------------------------------------------------------------------------------


def _scipy_log_likelihood(X: np.ndarray, params: dict[str, np.ndarray], cov_type: str) -> float:
    weights, means, stds = params["weights"], params["means"], params["stds"]
    k, d = means.shape
    stds = {
        "full": stds,
        "diag": stds,
        "tied": np.tile(stds, (k, 1)),
        "spherical": np.repeat(stds[:, None], d, axis=1),
    }[cov_type]
    unit = params.get("partial_corr_unit")
    if unit is not None:  # full: one row per component; tied: one row shared
        unit = np.broadcast_to(np.atleast_2d(unit), (k, len(corr_pairs(d))))
    log_comp = []
    for j in range(k):
        corr = np.eye(d)
        if unit is not None:
            chol = cholesky_from_cpc(2.0 * unit[j] - 1.0, d)
            corr = chol @ chol.T
        cov = corr * np.outer(stds[j], stds[j])
        log_comp.append(np.log(weights[j]) + stats.multivariate_normal(means[j], cov).logpdf(X))
    return float(special.logsumexp(np.column_stack(log_comp), axis=1).sum())


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("cov_type", "family"),
    [
        ("full", "lognormal"),
        ("tied", "gamma"),
        ("diag", "inversegamma"),
        ("spherical", "halfnormal"),
    ],
)
def test_kernel_prior_part_matches_scipy(cov_type: str, family: str) -> None:
    k, d, alpha, eta = 3, 3, 0.8, 1.6
    loc, mean_scale = np.array([4.0, 3.0, 5.0]), np.array([1.0, 2.5, 4.0])
    priors = GMMPriors(
        alpha=alpha,
        mean_loc=loc,
        mean_scale=mean_scale,
        std_family=family,
        std_scale=STD_SCALE,
        std_spread=SPREAD,
        eta=eta,
    )
    gmm = build_model(_data(d, seed=7)[:4], k, cov_type, priors=priors)
    model = gmm.model
    spec, buffer = kernel_of(gmm)
    X = np.asarray(model["X"].get_value())
    rng = np.random.default_rng(8)
    for _ in range(3):
        theta = rng.normal(scale=0.7, size=spec.ndim)
        params = kernel.unpack(theta, spec)
        value, _ = kernel.logp_and_grad(theta, buffer)
        prior = value - _scipy_log_likelihood(X, params, cov_type)

        weights, stds = params["weights"], params["stds"]
        expected = stats.dirichlet(np.full(k, alpha)).logpdf(weights)
        expected += _log_abs_det(_softmax_backward, theta[: k - 1])
        expected += stats.norm(loc, mean_scale).logpdf(params["means"]).sum()
        scales = {
            "full": np.tile(STD_SCALE, (k, 1)),
            "diag": np.tile(STD_SCALE, (k, 1)),
            "tied": STD_SCALE,
            "spherical": np.full(k, np.prod(STD_SCALE) ** (1 / 3)),
        }[cov_type]
        expected += sum(
            _documented_sd_prior(family, float(c), SPREAD).logpdf(s)
            for s, c in zip(stds.ravel(), scales.ravel(), strict=True)
        )
        expected += np.log(stds).sum()
        if "partial_corr_unit" in params:
            for row in np.atleast_2d(params["partial_corr_unit"]):
                chol = cholesky_from_cpc(2.0 * row - 1.0, d)
                expected += _lkj_logpdf(chol @ chol.T, eta)
                expected += _log_abs_det(lambda u: _corr_entries(u, d), row)
                expected += np.sum(np.log(row) + np.log1p(-row))
        # The difference of two O(100) numbers: absolute rounding ~1e-13 of the likelihood.
        assert prior == pytest.approx(expected, rel=1e-10, abs=1e-10)


# ---------------------------------------------------------------------------------------
# the sparse finite mixture: alpha ~ Gamma(a, b), weights | alpha ~ Dirichlet(alpha)
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("alpha_prior", [("gamma", 3.0, 7.0), "sparse"])
def test_alpha_hyperprior_is_scipy_gamma_shape_rate(alpha_prior: object) -> None:
    """``("gamma", a, b)`` is shape a and rate b: scipy.stats.gamma(a, scale=1/b); the
    default "sparse" is a = 10, b = 10 K (Malsiner-Walli et al. 2016)."""
    k = 3
    gmm = build_model(_data(), k, "diag", priors=GMMPriors(alpha_prior=alpha_prior))
    shape, rate = (3.0, 7.0) if alpha_prior != "sparse" else (10.0, 10.0 * k)
    reference = stats.gamma(shape, scale=1.0 / rate)
    model = gmm.model
    rv = model["alpha"]
    logp = pytensor.function(
        [model.rvs_to_values[rv]],
        [model.logp(vars=[rv], jacobian=False), model.logp(vars=[rv], jacobian=True)],
        **FAST,
    )
    for alpha in (0.01, reference.mean(), 0.9, 4.0):
        without, with_jacobian = logp(np.log(alpha))
        assert float(without) == pytest.approx(reference.logpdf(alpha), rel=RTOL)
        # log transform: d alpha / d log alpha = alpha
        assert float(with_jacobian) == pytest.approx(reference.logpdf(alpha) + np.log(alpha))


@pytest.mark.timeout(120)
def test_weights_given_alpha_are_scipy_dirichlet_in_model_and_kernel() -> None:
    """The weights' prior at a free alpha, and the kernel's prior (zero data points: the
    priors and Jacobians alone) moved by alpha, against scipy's Gamma and Dirichlet."""
    k, hyper = 4, (2.0, 5.0)
    gmm = build_model(_data(), k, "diag", priors=GMMPriors(alpha_prior=("gamma", *hyper)))
    model = gmm.model
    alpha_rv, weights_rv = model["alpha"], model["weights"]
    values = [model.rvs_to_values[alpha_rv], model.rvs_to_values[weights_rv]]
    logp = pytensor.function(values, model.logp(vars=[weights_rv], jacobian=False), **FAST)
    weights = np.array([0.5, 0.3, 0.15, 0.05])
    for alpha in (0.05, 0.4, 3.0):
        got = float(logp(np.log(alpha), _FORWARD["weights"](weights)))
        assert got == pytest.approx(stats.dirichlet(np.full(k, alpha)).logpdf(weights), rel=RTOL)

    spec = kernel.kernel_spec(gmm.spec.priors, k, 3, "diag")
    prior_only = kernel.kernel_buffer(_data()[:0], spec)
    rest = np.random.default_rng(3).normal(scale=0.3, size=spec.ndim - 1 - (k - 1))
    theta = np.concatenate([[0.0], _FORWARD["weights"](weights), rest])

    def at(alpha: float) -> float:
        theta[0] = np.log(alpha)
        return kernel.logp_and_grad(theta, prior_only)[0]

    gamma = stats.gamma(hyper[0], scale=1.0 / hyper[1])
    for low, high in ((0.05, 0.4), (0.4, 3.0)):
        expected = sum(
            sign * (gamma.logpdf(a) + np.log(a) + stats.dirichlet(np.full(k, a)).logpdf(weights))
            for sign, a in ((1.0, high), (-1.0, low))
        )
        assert at(high) - at(low) == pytest.approx(expected, rel=1e-11)
