"""The compiled kernel against PyMC on a grid that reaches where the kernel can break.

``bayesgmm/bayes/kernel/_kernel.c`` takes the points in blocks of 256 and sums the gradient across
blocks, has special paths for one feature (no correlations) and one component (an empty
simplex), and writes every prior family and covariance type by hand. Here its value and
gradient are compared with PyMC's own log density and gradient of the *same* model, for
K in {1, 2, 4} x D in {1, 2, 4} x N in {5, 257, 1000} x every covariance type x every sd
prior family, at typical points and far in the tails. The default run takes a slice that
holds every case that changes the code path once; the whole grid is marked slow. The
sparse finite mixture (a free alpha ~ Gamma(a, b), one more block in front) runs on its
own slice: every covariance type, K from 1 to 10, D from 1 to 4, the same N.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pymc as pm
import pytest
from conftest import model_point
from pytensor.compile.mode import get_mode

from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import GMMModel, build_model
from bayesgmm.bayes.model.priors import STD_FAMILIES, GMMPriors
from bayesgmm.mixture.structures import bayesian_structure

COV_TYPES = ("full", "tied", "diag", "spherical")
N_GRID = (5, 257, 1000)  # inside one block, one past a block, several blocks and a remainder
# Python-mode graphs (a few evaluations do not repay PyTensor's C compilation), but with the
# stabilising rewrites that every compiled PyMC model gets: without them PyTensor's
# logsumexp is log(sum(exp(.))), which underflows to -inf far in the tails.
FAST = {"mode": get_mode("FAST_COMPILE").including("canonicalize", "stabilize")}

# Value: both sides sum the same O(N K D) terms in different orders, so they differ by a few
# ulps of the largest partial sums; 1e-10 relative is ~1e6 ulps, far above rounding and far
# below any missing term. Gradient: the same, per entry, relative to the entry's own scale
# (see _grad_scale).
VALUE_RTOL = 1e-10
GRAD_RTOL = 1e-9


def kernel_of(gmm: GMMModel) -> tuple[kernel.KernelSpec, np.ndarray]:
    """The kernel spec and data buffer of *this* model, from its spec and the data its
    container holds now (the grid swaps in row subsets).

    The one place that derives the kernel from a model (as ``bayesgmm.bayes.inference`` does).
    """
    X = np.asarray(gmm.model["X"].get_value())
    return gmm.spec.kernel, kernel.kernel_buffer(X, gmm.spec.kernel)


def _data(n_features: int, seed: int) -> np.ndarray:
    """1000 rows of a 3-component mixture, offset and scaled differently per feature."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=1000, p=[0.5, 0.3, 0.2])
    centres = rng.normal(scale=3.0, size=(3, n_features))
    X = centres[labels] + rng.normal(size=(1000, n_features))
    return X * np.linspace(0.5, 4.0, n_features) + 10.0 * np.arange(1, n_features + 1)


class Layout(NamedTuple):
    """Slices of the unconstrained vector (kernel.py's layout)."""

    alpha: slice  # empty unless alpha has a prior
    weights: slice
    means: slice
    stds: slice
    cpc: slice


def _layout(spec: kernel.KernelSpec) -> Layout:
    k, d = spec.n_components, spec.n_features
    ends = np.cumsum([int(spec.alpha_prior != 0), k - 1, k * d, spec.n_std, spec.n_cpc])
    return Layout(
        slice(0, ends[0]),
        slice(ends[0], ends[1]),
        slice(ends[1], ends[2]),
        slice(ends[2], ends[3]),
        slice(ends[3], None),
    )


def _log_sds(spec: kernel.KernelSpec, sd: np.ndarray) -> np.ndarray:
    """The log data sd per free sd, in the kernel's order: per feature where the sds are
    (the geometric mean over the features where one sd serves them all), repeated over
    the components where they are per component. A volume-shape layout: the geometric
    mean per volume (sqrt(lambda)), then 0 (the spherical shape) per free log shape."""
    layout = bayesian_structure(kernel.COV_NAMES[spec.cov_code]).bayesian
    if layout.has_volume:
        n_volume = int(np.prod(layout.volume_shape(spec.n_components), dtype=int))
        volume = np.full(n_volume, np.mean(np.log(sd)))
        return np.concatenate([volume, np.zeros(spec.n_std - n_volume)])
    per_feature = np.log(sd)
    if layout.pooled:
        per_feature = np.full(1, np.mean(per_feature))
    return layout.broadcast_std_parameter(per_feature, spec.n_components)


def _positions(spec: kernel.KernelSpec, X: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Typical and far-tail unconstrained points, scaled to the data.

    Far-tail: every mean 40-60 data sds away; every sd 1e-3 or 1e3 times the data's; CPCs at
    logit +-6 (partial correlations +-0.995; with D=4 the correlation matrix's condition
    number reaches ~1e8, and the gradient's rounding error grows with it: measured <= 1e-12
    relative, against 1e-10 at logit +-9, where it would crowd GRAD_RTOL); one weight near
    1e-13. With a free alpha: alpha at its prior mean times e^+-0.5 typically, and at
    e^-5 and e^+5 times it (a Dirichlet far sparser, and far flatter, than the prior says).
    """
    rng = np.random.default_rng(seed)
    k, d = spec.n_components, spec.n_features
    part = _layout(spec)
    centre, sd = X.mean(axis=0), X.std(axis=0)
    log_sd = _log_sds(spec, sd)

    log_alpha = np.log(spec.alpha_a / spec.alpha_b) if spec.alpha_prior else 0.0

    def typical() -> np.ndarray:
        theta = np.empty(spec.ndim)
        theta[part.alpha] = log_alpha + rng.normal(scale=0.5, size=part.alpha.stop)
        theta[part.weights] = rng.normal(scale=0.7, size=k - 1)
        theta[part.means] = (centre + sd * rng.normal(size=(k, d))).ravel()
        theta[part.stds] = log_sd + rng.normal(scale=0.5, size=spec.n_std)
        theta[part.cpc] = rng.normal(scale=1.0, size=spec.n_cpc)
        return theta

    points = {"typical": typical()}
    far = typical()
    shift = rng.choice([-60.0, -40.0, 40.0, 60.0], size=(k, d))
    far[part.means] = (centre + sd * shift).ravel()
    points["means_far_from_data"] = far
    # The sds scale by 1e-3 / 1e3; an oriented layout's (EEV, VEV) sd block also holds
    # its shape's log gaps, which are not scales (a gap times 1e3 is an eigenvalue ratio
    # of e^1000, beyond float64): its volumes alone move.
    layout = bayesian_structure(kernel.COV_NAMES[spec.cov_code]).bayesian
    n_scales = spec.n_std - (d - 1 if layout.oriented else 0)
    scales = slice(part.stds.start, part.stds.start + n_scales)
    for name, step in (("tiny_sds", -np.log(1e3)), ("huge_sds", np.log(1e3))):
        theta = typical()
        theta[scales] += step
        points[name] = theta
    if spec.n_cpc:
        theta = typical()
        theta[part.cpc] = 6.0 * rng.choice([-1.0, 1.0], size=spec.n_cpc)
        points["corr_near_plus_minus_one"] = theta
    if spec.alpha_prior:
        for name, step in (("alpha_small", -5.0), ("alpha_large", 5.0)):
            theta = typical()
            theta[part.alpha] = log_alpha + step
            points[name] = theta
    if k > 1:
        theta = typical()
        theta[part.weights] = 0.0
        # zeta = [-15, 0, ..., 15]: weight 0 is ~e^-30 of the last
        theta[part.weights.start] = -15.0
        points["weight_near_zero"] = theta
    return points


def _grad_scale(grad: np.ndarray, spec: kernel.KernelSpec) -> np.ndarray:
    """The scale that rounding error in each gradient entry is relative to.

    An entry is a sum over points of terms of the size of the gradient of its own group
    (weights, a component's means, sds, CPCs), and near a stationary point those terms can
    cancel; so an entry's tolerance is relative to the largest entry of its group, not only
    to itself. A dropped term of a block of 256 points (or any prior) changes its entry by a
    fraction of the group scale of order 1, far above GRAD_RTOL.
    """
    scale = np.abs(grad).copy()
    for part in _layout(spec):
        if grad[part].size:
            scale[part] = np.maximum(scale[part], np.abs(grad[part]).max())
    return np.maximum(scale, 1.0)


def position_mismatches(
    model: pm.Model,
    both: Callable[[dict], tuple[np.ndarray, np.ndarray]],
    spec: kernel.KernelSpec,
    buffer: np.ndarray,
    positions: dict[str, np.ndarray],
    tolerance: Callable[[str, np.ndarray], tuple[float, float]] | None = None,
    where: str = "",
) -> list[str]:
    """The kernel against PyMC's compiled ``(logp, dlogp)`` (``both``) at each named
    position, the mismatches in words. ``tolerance(name, theta)`` gives the value's and the
    gradient's relative tolerances (``VALUE_RTOL``, ``GRAD_RTOL`` when ``None``); the
    gradient is relative to :func:`_grad_scale`. Both values must be finite."""
    failures = []
    for name, theta in positions.items():
        value, grad = kernel.logp_and_grad(theta, buffer)
        ref_value, ref_grad = both(model_point(model, theta))
        ref_value = float(ref_value)
        label = f"{where}{name}"
        if not (np.isfinite(ref_value) and np.isfinite(value)):
            failures.append(f"{label}: kernel {value}, PyMC {ref_value} (both must be finite)")
            continue
        value_tol, grad_tol = (
            (VALUE_RTOL, GRAD_RTOL) if tolerance is None else tolerance(name, theta)
        )
        value_err = abs(value - ref_value) / max(abs(ref_value), 1.0)
        if value_err > value_tol:
            failures.append(f"{label}: value {value!r} vs {ref_value!r} (rel {value_err:.1e})")
        grad_err = np.abs(grad - ref_grad) / _grad_scale(ref_grad, spec)
        if grad_err.max() > grad_tol:
            i = int(np.argmax(grad_err))
            failures.append(
                f"{label}: grad[{i}] {grad[i]!r} vs {ref_grad[i]!r} (rel {grad_err[i]:.1e})"
            )
    return failures


def _compare(gmm: GMMModel, n_rows: tuple[int, ...], seed: int) -> list[str]:
    """Evaluate kernel and PyMC at every position for every N; return the mismatches."""
    model = gmm.model
    both = model.compile_fn([model.logp(), model.dlogp()], **FAST)
    full_data = np.asarray(model["X"].get_value()).copy()
    failures = []
    for n in n_rows:
        with model:  # the model's own data, first n rows: the same function, new data
            pm.set_data({"X": full_data[:n]}, coords={"obs": np.arange(n)})
        spec, buffer = kernel_of(gmm)
        positions = _positions(spec, full_data, seed)
        failures += position_mismatches(model, both, spec, buffer, positions, where=f"N={n} ")
    return failures


def _case(k: int, d: int, cov_type: str, family: str, alpha_prior: object = None) -> None:
    X = _data(d, seed=10 * k + d)
    priors = GMMPriors(
        std_family=family, alpha=0.8, eta=1.6, std_spread=0.7, alpha_prior=alpha_prior
    )
    gmm = build_model(X, k, cov_type, priors=priors)
    failures = _compare(gmm, N_GRID, seed=k + 7 * d)
    label = f"K={k} D={d} {cov_type} {family} alpha_prior={alpha_prior}"
    assert not failures, f"{label}:\n" + "\n".join(failures)


# Every special case once: D=1, K=1, D=4, every covariance type, every family; every case
# runs N=5, 257 (one past a block) and 1000 (several blocks and a remainder).
DEFAULT_SLICE = [
    (1, 1, "diag", "lognormal"),
    (2, 1, "tied", "gamma"),
    (1, 2, "full", "gamma"),
    (4, 4, "full", "inversegamma"),
    (2, 4, "tied", "halfnormal"),
    (4, 2, "spherical", "lognormal"),
]
GRID = [
    case
    for case in itertools.product((1, 2, 4), (1, 2, 4), COV_TYPES, STD_FAMILIES)
    if case not in DEFAULT_SLICE
]


# The sparse finite mixture: its default prior Gamma(10, 10 K) and a broad Gamma(1, 2).
# Every covariance type once by default (~15 s a case); two more cases in the slow run.
SPARSE_SLICE = [
    (1, 1, "diag", "lognormal", "sparse"),
    (2, 1, "tied", "gamma", ("gamma", 1.0, 2.0)),
    (4, 4, "full", "inversegamma", "sparse"),
    (10, 2, "spherical", "lognormal", "sparse"),
]
SPARSE_MORE = [
    (3, 3, "diag", "halfnormal", "sparse"),
    (4, 2, "tied", "lognormal", ("gamma", 1.0, 2.0)),
]


def _id(case: tuple) -> str:
    k, d, cov_type, family = case[:4]
    return f"K{k}-D{d}-{cov_type}-{family}" + ("-sparse" if len(case) > 4 else "")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", DEFAULT_SLICE, ids=_id)
def test_kernel_matches_pymc_on_the_default_slice(case: tuple[int, int, str, str]) -> None:
    _case(*case)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", SPARSE_SLICE, ids=_id)
def test_kernel_matches_pymc_for_the_sparse_finite_mixture(case: tuple) -> None:
    """alpha ~ Gamma(a, b): the Dirichlet's normaliser, its digamma gradient and the
    weights' gradient at the current alpha, against PyMC."""
    _case(*case)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", SPARSE_MORE, ids=_id)
def test_kernel_matches_pymc_for_more_sparse_finite_mixtures(case: tuple) -> None:
    _case(*case)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", GRID, ids=_id)
def test_kernel_matches_pymc_on_the_whole_grid(case: tuple[int, int, str, str]) -> None:
    _case(*case)


@pytest.mark.timeout(60)
def test_the_default_slice_covers_every_special_case() -> None:
    """The slice must keep D=1, K=1, D=4 and every covariance type and family."""
    ks, ds, covs, families = (set(column) for column in zip(*DEFAULT_SLICE, strict=True))
    assert {1, 4} <= ks and {1, 4} <= ds
    assert covs == set(COV_TYPES) and families == set(STD_FAMILIES)
    assert len(GRID) + len(DEFAULT_SLICE) == 3 * 3 * len(COV_TYPES) * len(STD_FAMILIES)


@pytest.mark.timeout(120)
def test_kernel_of_reads_the_model_it_is_given() -> None:
    """The helper takes the data and priors from the model, not from the caller."""
    X = _data(2, seed=3)
    gmm = build_model(X, 2, "tied", priors=GMMPriors(std_family="gamma", std_scale=[0.5, 2.0]))
    model = gmm.model
    spec, buffer = kernel_of(gmm)
    assert (spec.n_components, spec.n_features, spec.cov_code) == (2, 2, kernel.COV_CODES["tied"])
    np.testing.assert_array_equal(buffer[-X.size :], np.asarray(model["X"].get_value()).T.ravel())
    shape = 2.0 + 1.0 / 1.0**2
    # In the model's internal units the scale is std_scale / s (bayesgmm.bayes.model.units).
    internal_scale = np.array([0.5, 2.0]) / gmm.spec.standardization.scale
    np.testing.assert_allclose(spec.std_p2, shape / internal_scale, rtol=1e-14)
