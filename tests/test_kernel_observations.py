"""Observation weights and partial labels in the compiled kernel and the PyMC model.

The kernel's value and gradient with weights and labels are compared with PyMC's own
``logp`` / ``dlogp`` of the same model (the patterns of ``test_kernel_grid.py``), past the
kernel's block of 256 points; integer weights against the rows repeated; unit weights and
all-unknown labels against the plain buffer, exactly; the minibatch density's gathered
weights and labels against the full density.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from conftest import model_point
from test_kernel_grid import (
    FAST,
    GRAD_RTOL,
    VALUE_RTOL,
    _data,
    _positions,
    position_mismatches,
)

from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.kernel.minibatch import MinibatchDensity
from bayesgmm.bayes.model.graph import GMMModel, build_model
from bayesgmm.bayes.model.priors import GMMPriors

N_ROWS = 600  # two full blocks of 256 and a remainder


def _observations(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights in [0, 3] with some exact zeros, and ~30% of the rows labelled."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.0, 3.0, size=n)
    weights[rng.choice(n, size=n // 10, replace=False)] = 0.0
    labels = np.where(rng.uniform(size=n) < 0.3, rng.integers(0, k, size=n), -1)
    return weights, labels


def _mismatches(gmm: GMMModel, seed: int) -> list[str]:
    """Kernel vs PyMC at typical and far-tail positions; the failures, in words."""
    model = gmm.model
    both = model.compile_fn([model.logp(), model.dlogp()], **FAST)
    spec, buffer = gmm.spec.kernel, gmm.kernel_buffer()
    return position_mismatches(model, both, spec, buffer, _positions(spec, gmm.internal, seed))


# Every covariance type, D = 1 and K = 1; each PyMC comparison compiles a graph (~6 s), so
# the default run takes weights and labels together on three cases, the rest is slow.
CASES = [
    (3, 2, "full"),
    (2, 3, "tied"),
    (4, 1, "diag"),
    (3, 2, "spherical"),
    (1, 2, "full"),
    (2, 1, "tied"),
]
DEFAULT = [((3, 2, "full"), "both"), ((4, 1, "diag"), "both"), ((2, 3, "tied"), "both")]
SLOW = [
    pytest.param(case, what, marks=pytest.mark.slow)
    for case in CASES
    for what in ("weights", "labels", "both")
    if (case, what) not in DEFAULT
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("case", "what"), [*DEFAULT, *SLOW])
def test_kernel_matches_pymc_with_weights_and_labels(case, what):
    k, d, cov_type = case
    X = _data(d, seed=k + 10 * d)[:N_ROWS]
    weights, labels = _observations(N_ROWS, k, seed=k * d)
    gmm = build_model(
        X,
        k,
        cov_type,
        priors=GMMPriors(alpha=0.8, eta=1.6),
        sample_weight=weights if what != "labels" else None,
        labels=labels if what != "weights" else None,
    )
    failures = _mismatches(gmm, seed=k + d)
    assert not failures, f"K={k} D={d} {cov_type} {what}:\n" + "\n".join(failures)


def _theta(gmm: GMMModel, seed: int) -> np.ndarray:
    return _positions(gmm.spec.kernel, gmm.internal, seed)["typical"]


def _repeated_pair(cov_type: str) -> tuple[GMMModel, GMMModel]:
    """A model with integer weights (and labels) and the model of its rows repeated."""
    X = _data(2, seed=3)[:300]
    w = np.random.default_rng(4).integers(0, 4, size=300)
    labels = np.where(np.arange(300) % 7 == 0, np.arange(300) % 3, -1)
    weighted = build_model(X, 3, cov_type, sample_weight=w, labels=labels)
    repeated = build_model(np.repeat(X, w, axis=0), 3, cov_type, labels=np.repeat(labels, w))
    return weighted, repeated


# Repetition and weighting add the same terms in another order: round-off only, so the
# tolerances of the kernel-vs-PyMC comparison (1e-10 value, 1e-9 gradient) apply.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_integer_weights_equal_repeated_rows_in_the_kernel(cov_type):
    weighted, repeated = _repeated_pair(cov_type)
    # The data-scaled priors and internal units come from the weighted moments.
    np.testing.assert_allclose(
        weighted.spec.standardization.scale, repeated.spec.standardization.scale, rtol=1e-13
    )
    theta = _theta(weighted, seed=5)
    value_w, grad_w = kernel.logp_and_grad(theta, weighted.kernel_buffer())
    value_r, grad_r = kernel.logp_and_grad(theta, repeated.kernel_buffer())
    assert value_w == pytest.approx(value_r, rel=VALUE_RTOL)
    np.testing.assert_allclose(grad_w, grad_r, rtol=0, atol=GRAD_RTOL * np.abs(grad_r).max())


PYMC_REPEATED = [
    "full",
    *(pytest.param(c, marks=pytest.mark.slow) for c in ("tied", "diag", "spherical")),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", PYMC_REPEATED)
def test_integer_weights_equal_repeated_rows_in_pymc(cov_type):
    weighted, repeated = _repeated_pair(cov_type)
    point = model_point(weighted.model, _theta(weighted, seed=5))
    values = []
    for gmm in (weighted, repeated):
        both = gmm.model.compile_fn([gmm.model.logp(), gmm.model.dlogp()], **FAST)
        values.append(both(point))
    (logp_w, dlogp_w), (logp_r, dlogp_r) = values
    assert float(logp_w) == pytest.approx(float(logp_r), rel=VALUE_RTOL)
    np.testing.assert_allclose(dlogp_w, dlogp_r, rtol=0, atol=GRAD_RTOL * np.abs(dlogp_r).max())


@pytest.mark.timeout(60)
def test_unit_weights_and_unknown_labels_are_the_plain_pymc_model():
    """The quick check that the weighted model with weights 1 is the old model."""
    X = _data(2, seed=16)[:100]
    plain = build_model(X, 2, "full")
    ones = build_model(X, 2, "full", sample_weight=np.ones(100), labels=np.full(100, -1))
    point = model_point(plain.model, _theta(plain, seed=3))
    logp = [g.model.compile_logp(**FAST)(point) for g in (plain, ones)]
    assert logp[1] == pytest.approx(logp[0], rel=1e-14)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_unit_weights_and_unknown_labels_are_the_plain_kernel_exactly(cov_type):
    X = _data(3, seed=6)[:N_ROWS]
    plain = build_model(X, 3, cov_type)
    spec, theta = plain.spec.kernel, _theta(plain, seed=7)
    value, grad = kernel.logp_and_grad(theta, plain.kernel_buffer())
    buffer = kernel.kernel_buffer(plain.internal, spec, np.ones(N_ROWS), np.full(N_ROWS, -1))
    value_o, grad_o = kernel.logp_and_grad(theta, buffer)
    assert value_o == value
    np.testing.assert_array_equal(grad_o, grad)
    # Weight 0 is the row dropped (the same spec: only the data differ).
    w = np.ones(N_ROWS)
    w[::3] = 0.0
    zero = kernel.logp_and_grad(theta, kernel.kernel_buffer(plain.internal, spec, w))
    dropped = kernel.logp_and_grad(theta, kernel.kernel_buffer(plain.internal[w > 0], spec))
    assert zero[0] == pytest.approx(dropped[0], rel=1e-12)
    np.testing.assert_allclose(zero[1], dropped[1], rtol=1e-10, atol=1e-10)


def test_pointwise_terms_are_weighted_and_labelled():
    X = _data(2, seed=8)[:300]
    w, labels = _observations(300, 2, seed=9)
    gmm = build_model(X, 2, "full", sample_weight=w, labels=labels)
    theta = _theta(gmm, seed=1)
    pointwise = np.empty(300)
    value, _ = kernel.logp_and_grad(theta, gmm.kernel_buffer(), pointwise)
    plain = np.empty(300)
    kernel.logp_and_grad(theta, kernel.kernel_buffer(gmm.internal, gmm.spec.kernel), plain)
    unknown = labels < 0
    np.testing.assert_allclose(pointwise[unknown], (w * plain)[unknown], rtol=1e-13)
    assert np.all(pointwise[w == 0] == 0.0)
    # A labelled row's own component's term is at most the mixture's log-sum-exp.
    known = (labels >= 0) & (w > 0)
    assert np.all(pointwise[known] <= (w * plain)[known] + 1e-12)
    prior, _ = kernel.logp_and_grad(theta, kernel.kernel_buffer(gmm.internal[:0], gmm.spec.kernel))
    assert value - prior == pytest.approx(pointwise.sum(), rel=1e-12)


class _AllRows:
    """A stand-in random stream whose batch is every row, in order."""

    def integers(self, low: int, high: int, size: int) -> np.ndarray:
        return np.arange(size)


@pytest.mark.timeout(30)
def test_minibatch_gathers_the_rows_weights_and_labels():
    X = _data(2, seed=11)[:400]
    w, labels = _observations(400, 3, seed=12)
    gmm = build_model(X, 3, "tied", sample_weight=w, labels=labels)
    spec, theta = gmm.spec.kernel, _theta(gmm, seed=2)
    density = MinibatchDensity(gmm.internal, spec, 400, _AllRows(), w, labels)
    value, grad = density(theta)
    ref_value, ref_grad = kernel.logp_and_grad(theta, gmm.kernel_buffer())
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-10 * np.abs(ref_grad).max())
    # A random batch: the views are refilled with the batch's own weights and labels.
    rng = np.random.default_rng(0)
    batch = MinibatchDensity(gmm.internal, spec, 50, rng, w, labels)
    batch(theta)
    rows = np.random.default_rng(0).integers(0, 400, 50)
    X_view, w_view, l_view = kernel.data_views(batch._buffer)
    np.testing.assert_array_equal(X_view, gmm.internal[rows].T)
    np.testing.assert_array_equal(w_view, w[rows])
    np.testing.assert_array_equal(l_view, labels[rows])


@pytest.mark.timeout(60)
def test_pymc_minibatch_model_takes_the_weights_and_labels():
    X = _data(2, seed=13)[:200]
    w, labels = _observations(200, 2, seed=14)
    gmm = build_model(X, 2, "diag", sample_weight=w, labels=labels, minibatch_size=200)
    names = {v.name for v in gmm.model.data_vars}
    assert {"X", "sample_weight", "labels"} <= names
    with gmm.model:
        logp = gmm.model.compile_logp(**FAST)(gmm.model.initial_point())
    assert np.isfinite(logp)


@pytest.mark.timeout(30)
def test_bad_observations_are_refused_by_build_model():
    X = _data(2, seed=15)[:50]
    with pytest.raises(ValueError, match="negative"):
        build_model(X, 2, sample_weight=-np.ones(50))
    with pytest.raises(ValueError, match=r"outside -1 and 0\.\.1"):
        build_model(X, 2, labels=np.full(50, 5))
    with pytest.raises(ValueError, match="one entry per row"):
        kernel.kernel_buffer(X, build_model(X, 2).spec.kernel, np.ones(3))
    assert pm is not None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", [(3, 2, "full"), (4, 1, "diag")])
def test_kernel_matches_pymc_with_weights_labels_and_a_sparse_alpha(case):
    """All three extensions of the density at once: the weighted, labelled likelihood
    under a free alpha (its log block first), against PyMC's logp and dlogp."""
    k, d, cov_type = case
    X = _data(d, seed=k + 10 * d)[:N_ROWS]
    weights, labels = _observations(N_ROWS, k, seed=k * d)
    priors = GMMPriors(alpha_prior=("gamma", 3.0, 6.0), eta=1.6)
    gmm = build_model(X, k, cov_type, priors=priors, sample_weight=weights, labels=labels)
    assert gmm.spec.blocks[0].name == "alpha"
    failures = _mismatches(gmm, seed=k + d)
    assert not failures, f"K={k} D={d} {cov_type} sparse + weights + labels:\n" + "\n".join(
        failures
    )
