"""The compiled kernel's EEV (code 10) and VEV (code 11), D = 2, 3, 4
(``bayesgmm/bayes/kernel/_kernel_orient.h``), against an independent numpy reference.

The reference builds each Sigma_k from the free values as the spec says, but by other
means: D = 2 from the half angle of (c, s), D = 3 with scipy's ``Rotation.from_quat``,
D = 4 with Hamilton products ``p e_j q`` (not the kernel's sign tables); the likelihood is
scipy's multivariate normal on each row's observed coordinates with log-sum-exp, and the
priors are scipy's densities (the shape's ZeroSumNormal as a normal on Helmert
coordinates). Buffers are packed by ``bindings.kernel_buffer`` from a hand-built
``KernelSpec`` that follows the spec's buffer fields, so these tests need nothing of the
Python side of the structures (registry, graph, starts).

Checked: the value (and each row's pointwise term) to 1e-10 relative on a grid of D, K,
EEV / VEV, the four sd prior families, the sparse alpha prior, integer weights, partial
labels and NaN rows; the gradient against central differences of the kernel's own value;
the orientation's sign invariances; the ring prior as the only term that sees |x|;
``bgmm_expand`` and the nutpie callbacks' dimension checks; -inf (never NaN) where the
arithmetic breaks down.
"""

from __future__ import annotations

import ctypes
import math
from typing import NamedTuple

import numpy as np
import pytest
from scipy import linalg, special, stats
from scipy.spatial.transform import Rotation

from bayesgmm.bayes.kernel import bindings as kernel

pytestmark = pytest.mark.skipif(not kernel.available(), reason="compiled kernel not built")

EEV, VEV = 10, 11
RING_SD = 0.25
#: Value agreement: both sides sum a few hundred terms of size ~10 in double precision
#: (~1e-14 relative each); the factorisations of well-conditioned Sigma (cond < 1e3 here)
#: add ~1e-13.
VALUE_RTOL = 1e-10
#: Central differences with step H: truncation H^2 f'''/6 (~1e-12 here) and rounding
#: eps |f| / H (|f| < 1e3: ~2e-7 absolute), so 1e-5 relative with an absolute floor of
#: 1e3 * eps * |f| / H.
H = 1e-6
GRAD_RTOL = 1e-5
EPS = np.finfo(np.float64).eps


class Case(NamedTuple):
    """One problem: structure, sizes, priors and data options."""

    code: int
    n_components: int
    n_features: int
    family: int = 0
    sparse: bool = False
    weights: bool = False
    labels: bool = False
    nan: bool = False
    n_samples: int = 40
    seed: int = 0
    vol_shift: float = 0.0  # added to the volumes' log sqrt(lambda) after the data are drawn
    mean_shift: float = 0.0  # added to every mean after the data are drawn


def _width(d: int) -> int:
    return 2 if d == 2 else 4


def _n_vol(case: Case) -> int:
    return case.n_components if case.code == VEV else 1


def _n_cpc(case: Case) -> int:
    k, d = case.n_components, case.n_features
    return k * _width(d) + (k * 4 if d == 4 else 0)


# sd prior parameters per family (p1, p2): lognormal (mu, sigma), gamma and inverse gamma
# (alpha, beta), half-normal (sigma, unused)
FAMILY_PARAMS = {0: (-0.2, 0.8), 1: (3.0, 2.5), 2: (2.5, 1.7), 3: (1.3, 0.0)}
SHAPE_SD = 0.7
ALPHA, ALPHA_GAMMA = 1.3, (2.0, 1.5)


def make_spec(case: Case) -> kernel.KernelSpec:
    """The kernel's buffer fields for EEV / VEV as the spec lays them out: n_std = n_vol +
    D - 1, the volume prior per volume, then sigma (the shape sd) and zeros; n_cpc
    orientation values whose cpc_beta entries are zeros."""
    d, n_vol = case.n_features, _n_vol(case)
    p1, p2 = FAMILY_PARAMS[case.family]
    std_p1 = np.concatenate([np.full(n_vol, p1), [SHAPE_SD], np.zeros(d - 2)])
    std_p2 = np.concatenate([np.full(n_vol, p2), np.zeros(d - 1)])
    rng = np.random.default_rng(case.seed + 1)
    return kernel.KernelSpec(
        case.code,
        case.n_components,
        d,
        ALPHA,
        rng.normal(scale=0.3, size=d),
        rng.uniform(1.5, 3.0, size=d),
        case.family,
        std_p1,
        std_p2,
        np.zeros(_n_cpc(case)),
        n_vol + d - 1,
        _n_cpc(case),
        *((1, *ALPHA_GAMMA) if case.sparse else (0, 0.0, 0.0)),
    )


def make_problem(case: Case) -> tuple[np.ndarray, dict, np.ndarray]:
    """(theta, data, buffer): a random position and data scattered around its means."""
    rng = np.random.default_rng(case.seed)
    k, d, n = case.n_components, case.n_features, case.n_samples
    spec = make_spec(case)
    theta = np.concatenate(
        [
            rng.normal(0.0, 0.5, size=int(case.sparse)),
            rng.normal(0.0, 0.5, size=k - 1),
            rng.normal(0.0, 1.5, size=k * d),  # means
            rng.normal(0.0, 0.3, size=_n_vol(case)),  # log sqrt(lambda)
            rng.normal(-0.5, 0.5, size=d - 1),  # log gaps
            rng.normal(0.0, 0.7, size=_n_cpc(case)),  # raw orientation values
        ]
    )
    means = theta[int(case.sparse) + k - 1 :][: k * d].reshape(k, d)
    X = means[rng.integers(k, size=n)] + rng.normal(scale=1.2, size=(n, d))
    if case.nan:  # every row keeps at least one coordinate
        drop = rng.random((n, d)) < 0.3
        drop[np.arange(n), rng.integers(d, size=n)] = False
        X[drop] = np.nan
    theta[int(case.sparse) + k - 1 :][: k * d] += case.mean_shift
    theta[int(case.sparse) + k - 1 + k * d :][: _n_vol(case)] += case.vol_shift
    data = {
        "X": X,
        "weights": rng.integers(0, 4, size=n).astype(float) if case.weights else None,
        "labels": np.where(rng.random(n) < 0.4, rng.integers(k, size=n), -1).astype(float)
        if case.labels
        else None,
    }
    buffer = kernel.kernel_buffer(X, spec, data["weights"], data["labels"])
    return theta, data, buffer


# ---------------------------------------------------------------------------------------
# The independent reference
# ---------------------------------------------------------------------------------------


def _hamilton(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    a1, b1, c1, d1 = p
    a2, b2, c2, d2 = q
    return np.array(
        [
            a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
            a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
            a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
        ]
    )


def reference_rotation(d: int, p: np.ndarray, q: np.ndarray | None) -> np.ndarray:
    """The orientation R (D x D) of unit vectors p (and q for D = 4)."""
    if d == 2:  # (c, s) at twice the first eigenvector's angle
        angle = 0.5 * np.arctan2(p[1], p[0])
        return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if d == 3:  # scipy's quaternions are scalar-last
        return Rotation.from_quat([p[1], p[2], p[3], p[0]]).as_matrix()
    return np.column_stack([_hamilton(_hamilton(p, e), q) for e in np.eye(4)])


def _std_logpdf(family: int, s: float, p1: float, p2: float) -> float:
    if family == 0:
        return stats.lognorm.logpdf(s, p2, scale=np.exp(p1))
    if family == 1:
        return stats.gamma.logpdf(s, p1, scale=1.0 / p2)
    if family == 2:
        return stats.invgamma.logpdf(s, p1, scale=p2)
    return stats.halfnorm.logpdf(s, scale=p1)


def reference(theta: np.ndarray, case: Case, data: dict) -> tuple[float, np.ndarray]:
    """Log density (with the transforms' Jacobians) and each row's term."""
    k, d = case.n_components, case.n_features
    spec = make_spec(case)
    pos, logp = 0, 0.0
    alpha = spec.alpha
    if case.sparse:
        log_alpha = theta[0]
        alpha = np.exp(log_alpha)
        a, b = ALPHA_GAMMA
        logp += stats.gamma.logpdf(alpha, a, scale=1.0 / b) + log_alpha
        pos = 1
    y = theta[pos : pos + k - 1]
    pos += k - 1
    weights = special.softmax(np.concatenate([y, [-y.sum()]]))
    if k > 1:  # PyMC's SimplexTransform.log_jac_det, and the Dirichlet
        expanded = np.concatenate([y + y.sum(), [0.0]])
        logp += np.log(k) + k * y.sum() - k * special.logsumexp(expanded)
        logp += stats.dirichlet.logpdf(weights, np.full(k, alpha))
    means = theta[pos : pos + k * d].reshape(k, d)
    pos += k * d
    logp += stats.norm.logpdf(means, spec.mean_loc, spec.mean_scale).sum()
    n_vol = _n_vol(case)
    t_vol = theta[pos : pos + n_vol]
    pos += n_vol
    for i, t in enumerate(t_vol):
        logp += _std_logpdf(case.family, np.exp(t), spec.std_p1[i], spec.std_p2[i]) + t
    t_gap = theta[pos : pos + d - 1]
    pos += d - 1
    tops = np.concatenate([[0.0], -np.cumsum(np.exp(t_gap))])
    z = tops - tops.mean()
    helmert = linalg.helmert(d)  # (D-1, D), orthonormal rows orthogonal to ones
    logp += stats.multivariate_normal.logpdf(helmert @ z, np.zeros(d - 1), SHAPE_SD**2)
    logp += math.log(math.factorial(d)) + t_gap.sum()
    m = _width(d)
    free = theta[pos : pos + k * m].reshape(k, m)
    right = theta[pos + k * m :].reshape(k, 4) if d == 4 else None
    for block in (free, right):
        if block is not None:
            radius = np.linalg.norm(block, axis=1)
            logp -= np.sum((radius - 1.0) ** 2) / (2 * RING_SD**2)
    lam = np.broadcast_to(np.exp(2 * t_vol), (k,))
    covs = []
    for c in range(k):
        p = free[c] / np.linalg.norm(free[c])
        q = None if right is None else right[c] / np.linalg.norm(right[c])
        rot = reference_rotation(d, p, q)
        covs.append(lam[c] * rot @ np.diag(np.exp(z)) @ rot.T)
    X, w, labels = data["X"], data["weights"], data["labels"]
    terms = np.empty(X.shape[0])
    for n, row in enumerate(X):
        obs = ~np.isnan(row)
        comp = [
            np.log(weights[c])
            + stats.multivariate_normal.logpdf(row[obs], means[c, obs], covs[c][np.ix_(obs, obs)])
            for c in range(k)
        ]
        if labels is not None and labels[n] >= 0:
            comp = [comp[int(labels[n])]]
        terms[n] = special.logsumexp(comp)
        if w is not None:
            terms[n] = w[n] * terms[n] if w[n] > 0 else 0.0
    return float(logp + terms.sum()), terms


def central_differences(theta: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    out = np.empty_like(theta)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += H
        down[i] -= H
        out[i] = (kernel.logp_and_grad(up, buffer)[0] - kernel.logp_and_grad(down, buffer)[0]) / (
            2 * H
        )
    return out


def check_case(case: Case) -> None:
    theta, data, buffer = make_problem(case)
    pointwise = np.empty(case.n_samples)
    value, grad = kernel.logp_and_grad(theta, buffer, pointwise)
    expected, terms = reference(theta, case, data)
    assert np.isfinite(value)
    np.testing.assert_allclose(value, expected, rtol=VALUE_RTOL, err_msg=str(case))
    np.testing.assert_allclose(
        pointwise, terms, rtol=VALUE_RTOL, atol=VALUE_RTOL * np.abs(terms).max(), err_msg=str(case)
    )
    numeric = central_differences(theta, buffer)
    floor = 1e3 * EPS * abs(value) / H
    np.testing.assert_allclose(grad, numeric, rtol=GRAD_RTOL, atol=floor, err_msg=str(case))


def _grid() -> list[Case]:
    """Every (D, K, structure) by default, the sd family and the options rotating over
    them so that each appears several times; the full product under -m slow."""
    default, slow = [], []
    options = [
        dict(),
        dict(sparse=True),
        dict(weights=True),
        dict(labels=True),
        dict(nan=True),
        dict(sparse=True, weights=True, labels=True, nan=True),
    ]
    i = 0
    for d in (2, 3, 4):
        for k in (1, 2, 3):
            for code in (EEV, VEV):
                for family in range(4):
                    for j, option in enumerate(options):
                        case = Case(code, k, d, family, seed=10 * i + j, **option)
                        picked = family == i % 4 and j == i % len(options)
                        (default if picked else slow).append(case)
                i += 1
    return default + [pytest.param(c, marks=pytest.mark.slow) for c in slow]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", _grid(), ids=str)
def test_value_and_gradient(case: Case) -> None:
    check_case(case)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "case",
    [
        Case(VEV, 3, 4, family=1, weights=True, labels=True, nan=True, n_samples=700, seed=5),
        Case(EEV, 2, 3, family=3, nan=True, n_samples=600, seed=6),
    ],
    ids=str,
)
def test_past_one_block(case: Case) -> None:
    """Several blocks of 256 rows, complete and incomplete."""
    check_case(case)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "case",
    [
        Case(EEV, 2, 3, family=0, nan=True, vol_shift=-np.log(1e3), seed=11),
        Case(VEV, 3, 4, family=1, weights=True, vol_shift=np.log(1e3), seed=12),
        Case(VEV, 2, 2, family=3, labels=True, mean_shift=50.0, seed=13),
        Case(EEV, 3, 4, family=2, nan=True, mean_shift=-40.0, vol_shift=-2.0, seed=14),
    ],
    ids=str,
)
def test_far_in_the_tails(case: Case) -> None:
    """Volumes 1e3 times too small or too large for the data, means 40-50 data sds away:
    finite, and still the reference's value and gradient."""
    check_case(case)


def _orient_slice(case: Case, theta: np.ndarray) -> int:
    return theta.size - _n_cpc(case)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("d", [3, 4])
def test_sign_invariance(d: int) -> None:
    """q and -q (D = 3), (p, q) and (-p, -q) (D = 4): the same Sigma, so the same value,
    and a gradient that flips sign with the flipped values."""
    case = Case(VEV, 3, d, family=2, nan=True, labels=True, seed=3)
    theta, _, buffer = make_problem(case)
    value, grad = kernel.logp_and_grad(theta, buffer)
    start, k = _orient_slice(case, theta), case.n_components
    flipped = theta.copy()
    idx = [start + 4 + i for i in range(4)]  # component 1's p
    if d == 4:
        idx += [start + 4 * k + 4 + i for i in range(4)]  # and its q
    flipped[idx] *= -1.0
    value2, grad2 = kernel.logp_and_grad(flipped, buffer)
    np.testing.assert_allclose(value2, value, rtol=1e-13)
    expected = grad.copy()
    expected[idx] *= -1.0
    np.testing.assert_allclose(grad2, expected, rtol=1e-9, atol=1e-11 * np.abs(grad).max())
    if d == 4:  # p alone flipped: R -> -R, Sigma unchanged as well
        half = theta.copy()
        half[idx[:4]] *= -1.0
        np.testing.assert_allclose(kernel.logp_and_grad(half, buffer)[0], value, rtol=1e-13)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("d", [2, 3, 4])
def test_ring_is_the_only_radial_term(d: int) -> None:
    """Scaling an x by c > 0 changes only its ring prior, -(|x| - 1)^2 / (2 * 0.25^2)."""
    case = Case(EEV, 2, d, family=0, weights=True, seed=4)
    theta, _, buffer = make_problem(case)
    value = kernel.logp_and_grad(theta, buffer)[0]
    start, m = _orient_slice(case, theta), _width(d)
    x = theta[start + m : start + 2 * m]  # component 1's first vector
    scaled = theta.copy()
    scaled[start + m : start + 2 * m] *= 1.7
    radius = np.linalg.norm(x)

    def ring(r: float) -> float:
        return -((r - 1.0) ** 2) / (2 * RING_SD**2)

    expected = value - ring(radius) + ring(1.7 * radius)
    np.testing.assert_allclose(kernel.logp_and_grad(scaled, buffer)[0], expected, rtol=1e-12)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", [Case(EEV, 2, 2, sparse=True), Case(VEV, 3, 4)], ids=str)
def test_expand(case: Case) -> None:
    """alpha (sparse), weights, means, volume sds, gaps (exp of their free values), then
    the orientation values as they are; nutpie's callbacks check both dimensions."""
    theta, _, buffer = make_problem(case)
    k, d = case.n_components, case.n_features
    n_alpha, n_std, n_cpc = int(case.sparse), _n_vol(case) + d - 1, _n_cpc(case)
    n_expanded = n_alpha + k + k * d + n_std + n_cpc
    out = np.full(n_expanded + 1, np.nan)  # one spare: nothing is written past the end
    lib = kernel._require()
    p = ctypes.POINTER(ctypes.c_double)
    lib.bgmm_expand(theta.ctypes.data_as(p), buffer.ctypes.data_as(p), out.ctypes.data_as(p))
    pos = n_alpha + k - 1
    y = theta[n_alpha:pos]
    expected = np.concatenate(
        [
            np.exp(theta[:n_alpha]),
            special.softmax(np.concatenate([y, [-y.sum()]])),
            theta[pos : pos + k * d],
            np.exp(theta[pos + k * d : pos + k * d + n_std]),
            theta[pos + k * d + n_std :],
        ]
    )
    np.testing.assert_allclose(out[:-1], expected, rtol=1e-15)
    assert np.isnan(out[-1])

    logp_address, expand_address = kernel.nutpie_callbacks()
    u64, i64, vp = ctypes.c_uint64, ctypes.c_int64, ctypes.c_void_p
    nutpie_expand = ctypes.CFUNCTYPE(i64, u64, u64, p, p, vp)(expand_address)
    nutpie_logp = ctypes.CFUNCTYPE(i64, u64, p, p, p, vp)(logp_address)
    data, x = buffer.ctypes.data_as(vp), theta.ctypes.data_as(p)
    assert nutpie_expand(theta.size, n_expanded, x, out.ctypes.data_as(p), data) == 0
    assert nutpie_expand(theta.size, n_expanded + 1, x, out.ctypes.data_as(p), data) == -1
    grad, logp = np.empty(theta.size), ctypes.c_double()
    assert nutpie_logp(theta.size, x, grad.ctypes.data_as(p), ctypes.byref(logp), data) == 0
    value, expected_grad = kernel.logp_and_grad(theta, buffer)
    assert logp.value == value
    np.testing.assert_array_equal(grad, expected_grad)
    assert nutpie_logp(theta.size - 1, x, grad.ctypes.data_as(p), ctypes.byref(logp), data) == -1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("d", [2, 3, 4])
def test_breakdown_is_minus_inf(d: int) -> None:
    """|x| = 0, a vanishing shape (a gap of exp(800)) and an overflowing volume give -inf,
    never NaN, and a zero gradient."""
    case = Case(VEV, 2, d, nan=True, seed=7)
    theta, _, buffer = make_problem(case)
    start, m = _orient_slice(case, theta), _width(d)
    off_std = start - (_n_vol(case) + d - 1)
    bad = {
        "zero x": (slice(start + m, start + 2 * m), 0.0),
        "huge gap": (slice(start - 1, start), 800.0),
        "huge volume": (slice(off_std, off_std + 1), 400.0),
        "infinite x": (slice(start, start + 1), np.inf),
    }
    for name, (where, fill) in bad.items():
        broken = theta.copy()
        broken[where] = fill
        value, grad = kernel.logp_and_grad(broken, buffer)
        assert value == -np.inf, name
        assert np.all(grad == 0.0), name


@pytest.mark.timeout(30)
def test_five_features_are_refused_as_minus_inf() -> None:
    """D = 5 has no orientation parametrisation (bindings refuses it first); a buffer that
    says so anyway gets -inf, not a rotation read past its 4 x 4."""
    case = Case(VEV, 2, 5, seed=8)
    theta, _, buffer = make_problem(case)
    value, grad = kernel.logp_and_grad(theta, buffer)
    assert value == -np.inf
    assert np.all(grad == 0.0)


#: Kernel = PyMC on the Python side's model (branch orient2: registry entry, graph,
#: buffer writer); skipped until EEV has a Bayesian model in the registry. Slow: PyTensor
#: compiles the graph in C (its Python mode cannot run these graphs at D = 4: the
#: gradient of a quaternion sums 34 terms in one Add, past numpy's 32-operand ufuncs).
PYMC_CASES = [
    ("EEV", 2, 2, "gamma", dict(sparse=True, weights=True, labels=True, nan=True)),
    ("VEV", 3, 3, "halfnormal", dict(nan=True)),
    ("VEV", 2, 4, "lognormal", dict(weights=True, labels=True, nan=True)),
    ("EEV", 3, 4, "inversegamma", dict(sparse=True)),
]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", PYMC_CASES, ids=lambda c: f"{c[0]}-K{c[1]}-D{c[2]}-{c[3]}")
def test_kernel_matches_pymc(case: tuple) -> None:
    from bayesgmm.mixture.structures import get_structure

    if get_structure("EEV").bayesian is None:
        pytest.skip("EEV and VEV have no Bayesian model in this checkout (branch orient2)")
    from conftest import model_point

    from bayesgmm.bayes.inference import em_initial_point
    from bayesgmm.bayes.model.graph import build_model
    from bayesgmm.bayes.model.priors import GMMPriors

    cov_type, k, d, family, options = case
    rng = np.random.default_rng(k + 7 * d)
    centres = rng.normal(scale=3.0, size=(3, d))
    X = centres[rng.integers(3, size=300)] + rng.normal(size=(300, d)) * rng.uniform(0.5, 2, d)
    kwargs = {}
    if options.get("nan"):
        drop = rng.random(X.shape) < 0.2
        drop[np.arange(300), rng.integers(d, size=300)] = False
        X[drop] = np.nan
        kwargs["missing"] = "marginalize"
    if options.get("weights"):
        kwargs["sample_weight"] = rng.gamma(2.0, size=300) * (rng.random(300) > 0.05)
    if options.get("labels"):
        kwargs["labels"] = np.where(rng.random(300) < 0.3, rng.integers(0, k, 300), -1)
    priors = GMMPriors(
        std_family=family,
        alpha=0.8,
        std_spread=0.7,
        alpha_prior="sparse" if options.get("sparse") else None,
    )
    gmm = build_model(X, k, cov_type, priors=priors, **kwargs)
    assert gmm.kernel_supported
    model = gmm.model
    both = model.compile_fn([model.logp(), model.dlogp()])
    spec, buffer, internal = gmm.spec.kernel, gmm.kernel_buffer(), gmm.internal
    complete = internal[~np.isnan(internal).any(axis=1)]
    n_alpha = int(spec.alpha_prior != 0)
    positions = [kernel.pack(em_initial_point(gmm, random_seed=3), spec)]
    for _ in range(4):
        theta = rng.normal(scale=0.6, size=spec.ndim)
        theta[n_alpha + k - 1 : n_alpha + k - 1 + k * d] = complete[
            rng.choice(len(complete), k)
        ].ravel()
        positions.append(theta)
    for theta in positions:
        value, grad = kernel.logp_and_grad(theta, buffer)
        ref_value, ref_grad = both(model_point(model, theta))
        assert np.isfinite(value)
        np.testing.assert_allclose(value, ref_value, rtol=1e-10)
        scale = max(np.abs(ref_grad).max(), 1.0)
        np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1e-9 * scale)


@pytest.mark.timeout(30)
def test_minibatch_views_find_the_data() -> None:
    """The minibatch density refills X, weights and labels in place (bindings.data_views,
    which skips n_std + n_cpc prior entries): for EEV / VEV it finds them too, and a
    refilled buffer evaluates as a freshly packed one."""
    case = Case(VEV, 2, 4, weights=True, labels=True, seed=9)
    theta, data, buffer = make_problem(case)
    X, weights, labels = kernel.data_views(buffer)
    np.testing.assert_array_equal(X, data["X"].T)
    np.testing.assert_array_equal(weights, data["weights"])
    np.testing.assert_array_equal(labels, data["labels"])
    other = make_problem(case._replace(seed=10))[1]
    X[:], weights[:], labels[:] = other["X"].T, other["weights"], other["labels"]
    fresh = kernel.kernel_buffer(other["X"], make_spec(case), other["weights"], other["labels"])
    assert kernel.logp_and_grad(theta, buffer)[0] == kernel.logp_and_grad(theta, fresh)[0]
