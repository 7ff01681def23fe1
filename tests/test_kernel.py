"""The compiled kernel's own contract: build, buffer, callbacks, boundaries, bad arguments.

Its density and gradient are checked against PyMC's in ``test_model.py``.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.mixture.draws import covariances_from_draws

COV_TYPES = ("full", "tied", "diag", "spherical")

# nutpie's callback signatures (nutpie.compile_pymc): logp(dim, x, grad, logp, user_data)
# and expand(dim, n_expanded, x, out, user_data), both returning an error code.
_P = ctypes.POINTER(ctypes.c_double)
_LOGP = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, _P, _P, _P, ctypes.c_void_p)
_EXPAND = ctypes.CFUNCTYPE(
    ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, _P, _P, ctypes.c_void_p
)


def _setup(cov_type: str = "full", k: int = 3, d: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(50, d)) * np.arange(1, d + 1)
    spec = kernel.kernel_spec(GMMPriors().resolve(X, k), k, d, cov_type)
    return X, spec, kernel.kernel_buffer(X, spec)


def test_compiled_kernel_is_built() -> None:
    """CI installs with a C compiler: the fast path must be there, not silently skipped."""
    assert kernel.available()


def test_buffer_layout() -> None:
    X, spec, buffer = _setup("tied")
    assert buffer.dtype == np.float64 and buffer.flags.c_contiguous
    assert buffer.size == int(buffer[8])
    assert tuple(buffer[:7].astype(int)) == (50, 3, 3, 1, 0, spec.n_std, spec.n_cpc)
    np.testing.assert_array_equal(buffer[-X.size :], X.T.ravel())  # feature-major
    with pytest.raises(ValueError, match="features"):
        kernel.kernel_buffer(X[:, :2], spec)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_pointwise_is_the_marginal_mixture_log_density(cov_type: str) -> None:
    X, spec, buffer = _setup(cov_type)
    theta = np.random.default_rng(1).normal(scale=0.5, size=spec.ndim)
    pointwise = np.empty(len(X))
    kernel.logp_and_grad(theta, buffer, pointwise)
    params = kernel.unpack(theta, spec)
    unit = params.get("partial_corr_unit")
    covs, _ = covariances_from_draws(
        params["stds"][None], None if unit is None else unit[None], cov_type, 3, 3
    )
    covs = covs[0]
    weights, means = params["weights"], params["means"]
    direct = logsumexp(
        [np.log(weights[j]) + multivariate_normal(means[j], covs[j]).logpdf(X) for j in range(3)],
        axis=0,
    )
    np.testing.assert_allclose(pointwise, direct, rtol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_expand_matches_unpack(cov_type: str) -> None:
    _, spec, buffer = _setup(cov_type)
    theta = np.random.default_rng(2).normal(size=spec.ndim)
    flat = np.concatenate([v.ravel() for v in kernel.unpack(theta, spec).values()])
    np.testing.assert_allclose(kernel.expand(theta, buffer), flat, rtol=1e-14)


def test_nutpie_callbacks_follow_nutpie_conventions() -> None:
    """Code 0 with the density; a positive (recoverable: a divergence) code at the
    boundary; a negative (fatal) code for a wrong dimension."""
    _, spec, buffer = _setup()
    logp_address, expand_address = kernel.nutpie_callbacks()
    logp_fn, expand_fn = _LOGP(logp_address), _EXPAND(expand_address)
    user = ctypes.c_void_p(buffer.ctypes.data)
    theta = np.random.default_rng(3).normal(scale=0.5, size=spec.ndim)
    grad, value = np.empty(spec.ndim), np.empty(1)
    code = logp_fn(spec.ndim, theta.ctypes.data_as(_P), grad.ctypes.data_as(_P),
                   value.ctypes.data_as(_P), user)  # fmt: skip
    expected, expected_grad = kernel.logp_and_grad(theta, buffer)
    assert code == 0 and value[0] == expected
    np.testing.assert_array_equal(grad, expected_grad)

    far = theta.copy()
    far[spec.ndim - 1] = 800.0  # a CPC's logit: u rounds to exactly 1
    code = logp_fn(spec.ndim, far.ctypes.data_as(_P), grad.ctypes.data_as(_P),
                   value.ctypes.data_as(_P), user)  # fmt: skip
    assert code > 0 and value[0] == -np.inf
    assert logp_fn(spec.ndim + 1, theta.ctypes.data_as(_P), grad.ctypes.data_as(_P),
                   value.ctypes.data_as(_P), user) < 0  # fmt: skip

    n_expanded = spec.n_components * (1 + spec.n_features) + spec.n_std + spec.n_cpc
    out = np.empty(n_expanded)
    assert expand_fn(spec.ndim, n_expanded, theta.ctypes.data_as(_P), out.ctypes.data_as(_P),
                     user) == 0  # fmt: skip
    np.testing.assert_array_equal(out, kernel.expand(theta, buffer))
    assert expand_fn(spec.ndim, n_expanded + 1, theta.ctypes.data_as(_P),
                     out.ctypes.data_as(_P), user) < 0  # fmt: skip


@pytest.mark.parametrize(
    ("index", "value"),
    [(0, 800.0), (-1, -800.0)],  # a weight rounds to 0; a CPC's u rounds to 0
)
def test_boundary_gives_minus_infinity(index: int, value: float) -> None:
    _, spec, buffer = _setup()
    theta = np.zeros(spec.ndim)
    theta[index] = value
    assert kernel.logp_and_grad(theta, buffer)[0] == -np.inf


def test_an_underflowing_sd_gives_minus_infinity() -> None:
    _, spec, buffer = _setup("diag")
    theta = np.zeros(spec.ndim)
    theta[spec.n_components - 1 + spec.n_components * spec.n_features] = -800.0
    assert kernel.logp_and_grad(theta, buffer)[0] == -np.inf


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("where", ["stds", "means"])
def test_overflow_in_every_component_is_a_recoverable_minus_infinity(
    cov_type: str, where: str
) -> None:
    """Far in the tails every component's squared distance overflows to inf, so the
    log-sum-exp meets -inf - -inf. That must be a density of 0 (nutpie: a divergence),
    not NaN, which the kernel keeps for "out of memory" and nutpie treats as fatal."""
    _, spec, buffer = _setup(cov_type)
    k, d = spec.n_components, spec.n_features
    theta = np.zeros(spec.ndim)
    if where == "stds":  # sd = exp(-600) ~ 1e-261: positive, but (x - mu) / sd ~ 1e261
        theta[k - 1 + k * d : k - 1 + k * d + spec.n_std] = -600.0
    else:  # every mean at 1e200: (x - mu)^2 overflows
        theta[k - 1 : k - 1 + k * d] = 1e200
    value, _ = kernel.logp_and_grad(theta, buffer)
    assert value == -np.inf
    pointwise = kernel.pointwise_log_likelihood(theta[None], buffer)
    assert np.all(np.isnan(pointwise))  # marked for the numpy fallback, not silently used

    logp_fn = _LOGP(kernel.nutpie_callbacks()[0])
    grad, out = np.empty(spec.ndim), np.empty(1)
    code = logp_fn(spec.ndim, theta.ctypes.data_as(_P), grad.ctypes.data_as(_P),
                   out.ctypes.data_as(_P), ctypes.c_void_p(buffer.ctypes.data))  # fmt: skip
    assert code > 0 and out[0] == -np.inf


def test_bad_arguments_are_refused_before_reaching_c() -> None:
    X, spec, buffer = _setup()
    with pytest.raises(ValueError, match="length"):
        kernel.logp_and_grad(np.zeros(spec.ndim + 1), buffer)
    with pytest.raises(ValueError, match="buffer"):
        kernel.logp_and_grad(np.zeros(spec.ndim), buffer[:-1].copy())
    with pytest.raises(ValueError, match="pointwise"):
        kernel.logp_and_grad(np.zeros(spec.ndim), buffer, np.empty(len(X) - 1))
    with pytest.raises(ValueError, match="pointwise"):
        kernel.logp_and_grad(np.zeros(spec.ndim), buffer, np.empty(len(X), dtype=np.float32))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_batched_pack_and_pointwise_match_single_draws(cov_type: str) -> None:
    X, spec, buffer = _setup(cov_type)
    thetas = np.random.default_rng(4).normal(scale=0.6, size=(7, spec.ndim))
    thetas[3, 0] = 800.0  # a weight rounds to 0: the boundary
    draws = [kernel.unpack(theta, spec) for theta in thetas]
    batched = {name: np.stack([draw[name] for draw in draws]) for name in draws[0]}
    with np.errstate(divide="ignore", invalid="ignore"):
        packed = kernel.pack(batched, spec)
        singles = np.stack([kernel.pack(draw, spec) for draw in draws])
    np.testing.assert_array_equal(packed, singles)

    loglik = kernel.pointwise_log_likelihood(thetas, buffer, n_threads=3)
    assert loglik.shape == (7, len(X))
    assert np.isnan(loglik[3]).all()
    for s in (0, 1, 2, 4, 5, 6):
        pointwise = np.empty(len(X))
        kernel.logp_and_grad(thetas[s], buffer, pointwise)
        np.testing.assert_array_equal(loglik[s], pointwise)
    with pytest.raises(ValueError, match="shape"):
        kernel.pointwise_log_likelihood(thetas[:, :-1], buffer)


def _sparse_setup(cov_type: str = "full"):
    X = np.random.default_rng(0).normal(size=(50, 3))
    priors = GMMPriors(alpha_prior="sparse").resolve(X, 3)
    spec = kernel.kernel_spec(priors, 3, 3, cov_type)
    return X, spec, kernel.kernel_buffer(X, spec)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_expand_puts_alpha_first_for_the_sparse_model(cov_type: str) -> None:
    _, spec, buffer = _sparse_setup(cov_type)
    theta = np.random.default_rng(2).normal(size=spec.ndim)
    params = kernel.unpack(theta, spec)
    assert next(iter(params)) == "alpha" and params["alpha"] == pytest.approx(np.exp(theta[0]))
    flat = np.concatenate([np.ravel(v) for v in params.values()])
    np.testing.assert_allclose(kernel.expand(theta, buffer), flat, rtol=1e-14)


@pytest.mark.timeout(60)
def test_nutpie_callbacks_count_the_alpha_block() -> None:
    _, spec, buffer = _sparse_setup()
    logp_fn = _LOGP(kernel.nutpie_callbacks()[0])
    expand_fn = _EXPAND(kernel.nutpie_callbacks()[1])
    user = ctypes.c_void_p(buffer.ctypes.data)
    theta = np.random.default_rng(3).normal(scale=0.5, size=spec.ndim)
    grad, value = np.empty(spec.ndim), np.empty(1)
    code = logp_fn(spec.ndim, theta.ctypes.data_as(_P), grad.ctypes.data_as(_P),
                   value.ctypes.data_as(_P), user)  # fmt: skip
    expected, expected_grad = kernel.logp_and_grad(theta, buffer)
    assert code == 0 and value[0] == expected
    np.testing.assert_array_equal(grad, expected_grad)
    assert logp_fn(spec.ndim - 1, theta.ctypes.data_as(_P), grad.ctypes.data_as(_P),
                   value.ctypes.data_as(_P), user) < 0  # fmt: skip
    out = np.empty(spec.ndim + 1)
    assert expand_fn(spec.ndim, spec.ndim + 1, theta.ctypes.data_as(_P), out.ctypes.data_as(_P),
                     user) == 0  # fmt: skip
    assert out[0] == pytest.approx(np.exp(theta[0]), rel=1e-15)
    theta[0] = 800.0  # alpha overflows: a density of 0, recoverable
    assert kernel.logp_and_grad(theta, buffer)[0] == -np.inf
    theta[0] = -800.0  # alpha underflows to 0
    assert kernel.logp_and_grad(theta, buffer)[0] == -np.inf
