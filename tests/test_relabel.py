"""Tests for bayesgmm.posterior.relabel (label-switching algorithms on plain arrays).

Recovery is measured on the permutations themselves: if ``sigma`` scrambled a clean trace
and an algorithm returns ``perms``, draw ``s`` is mapped back to the clean labels by
``compose_permutations(sigma, perms)[s]``; a correct algorithm makes this the same global
permutation for (almost) every draw.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from scipy.stats import multivariate_normal

from bayesgmm.posterior.relabel import (
    RelabelResult,
    allocations_from_probabilities,
    apply_permutations,
    compose_permutations,
    ecr,
    ecr_iterative,
    invert_permutations,
    order_by_feature,
    pivot,
    relabel_allocations,
    stephens,
    stephens_blocks,
)
from bayesgmm.posterior.relabel.pivotal import _symmetrised_kl

N_DRAWS = 1000
N_OBS = 300


# ---------------------------------------------------------------------------
# Synthetic posterior-like traces
# ---------------------------------------------------------------------------


def random_perms(rng: np.random.Generator, n_draws: int, n_comp: int) -> np.ndarray:
    return rng.permuted(np.tile(np.arange(n_comp), (n_draws, 1)), axis=1)


def make_trace(
    seed: int,
    true_means: np.ndarray,
    true_covs: np.ndarray,
    true_weights: np.ndarray,
    n_draws: int = N_DRAWS,
    n_obs: int = N_OBS,
    mean_sd: float = 0.1,
) -> dict[str, np.ndarray]:
    """Clean, label-consistent trace: component k of every draw is true component k."""
    rng = np.random.default_rng(seed)
    n_comp, n_dim = true_means.shape
    z_true = rng.choice(n_comp, size=n_obs, p=true_weights)
    data = np.stack([rng.multivariate_normal(true_means[k], true_covs[k]) for k in z_true])

    # Posterior-like noise: sd 0.1 on means matches ~100 unit-variance points per component.
    means = true_means + mean_sd * rng.standard_normal((n_draws, n_comp, n_dim))
    jitter = np.eye(n_dim) + 0.03 * rng.standard_normal((n_draws, n_comp, n_dim, n_dim))
    covs = jitter @ true_covs @ np.swapaxes(jitter, -1, -2)
    weights = rng.dirichlet(300 * true_weights, size=n_draws)

    log_dens = np.empty((n_draws, n_obs, n_comp))
    for s in range(n_draws):
        for k in range(n_comp):
            log_dens[s, :, k] = multivariate_normal(means[s, k], covs[s, k]).logpdf(data)
    log_joint = log_dens + np.log(weights)[:, None, :]
    probabilities = np.exp(log_joint - logsumexp(log_joint, axis=2, keepdims=True))
    allocations = allocations_from_probabilities(probabilities, rng=rng)
    return {
        "means": means,
        "covs": covs,
        "weights": weights,
        "probabilities": probabilities,
        "allocations": allocations,
    }


def scramble(trace: dict[str, np.ndarray], sigma: np.ndarray) -> dict[str, np.ndarray]:
    """Apply per-draw permutations consistently to every part of a trace."""
    out = apply_permutations(
        {k: trace[k] for k in ("means", "covs", "weights", "probabilities")},
        sigma,
        axis={"probabilities": 2},
    )
    out["allocations"] = relabel_allocations(trace["allocations"], sigma)
    return out


def global_agreement(effective: np.ndarray) -> tuple[float, np.ndarray]:
    """Fraction of draws whose clean->relabeled map equals the most common one, and it."""
    rows, counts = np.unique(effective, axis=0, return_counts=True)
    best = np.argmax(counts)
    return counts[best] / effective.shape[0], rows[best]


SEPARATED_MEANS = np.array([[-5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
SEPARATED_COVS = np.array(
    [[[1.0, 0.3], [0.3, 0.8]], [[0.7, -0.2], [-0.2, 1.2]], [[1.0, 0.0], [0.0, 1.0]]]
)
SEPARATED_WEIGHTS = np.array([0.3, 0.3, 0.4])

# Components 0 and 1 coincide in feature 0 and are separated only in feature 1.
OVERLAP_MEANS = np.array([[0.0, -4.0], [0.0, 4.0], [6.0, 0.0]])


@pytest.fixture(scope="module")
def clean() -> dict[str, np.ndarray]:
    return make_trace(11, SEPARATED_MEANS, SEPARATED_COVS, SEPARATED_WEIGHTS)


@pytest.fixture(scope="module")
def scrambled(clean) -> tuple[dict[str, np.ndarray], np.ndarray]:
    sigma = random_perms(np.random.default_rng(12), N_DRAWS, 3)
    return scramble(clean, sigma), sigma


@pytest.fixture(scope="module")
def overlap_scrambled() -> tuple[dict[str, np.ndarray], np.ndarray]:
    trace = make_trace(21, OVERLAP_MEANS, SEPARATED_COVS, SEPARATED_WEIGHTS)
    sigma = random_perms(np.random.default_rng(22), N_DRAWS, 3)
    return scramble(trace, sigma), sigma


# Every algorithm as trace -> perms. References are taken from draw 0 of the (scrambled)
# trace itself, as a user would take a MAP draw: no knowledge of the truth is used.
ALGORITHMS: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "order_by_feature": lambda t: order_by_feature(t["means"], feature=0),
    "pivot_euclidean": lambda t: pivot(t["means"], reference_means=t["means"][0]),
    "pivot_mahalanobis": lambda t: pivot(
        t["means"],
        weights=t["weights"],
        reference_means=t["means"][0],
        reference_covariances=t["covs"][0],
    ),
    "pivot_kl": lambda t: pivot(
        t["means"],
        t["covs"],
        t["weights"],
        reference_means=t["means"][0],
        reference_covariances=t["covs"][0],
    ),
    "ecr": lambda t: ecr(t["allocations"], t["allocations"][0], 3),
    "ecr_iterative": lambda t: ecr_iterative(t["allocations"], 3).perms,
    "stephens": lambda t: stephens(t["probabilities"]).perms,
}


# ---------------------------------------------------------------------------
# Key acceptance test: recovery of a scrambled clean trace
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_recovers_clean_trace_up_to_one_global_permutation(name, clean, scrambled):
    trace, sigma = scrambled
    perms = ALGORITHMS[name](trace)
    assert perms.shape == (N_DRAWS, 3)

    frac, glob = global_agreement(compose_permutations(sigma, perms))
    assert frac >= 0.99, f"{name} recovered only {frac:.3f} of draws"

    # The permutations relabel the actual arrays back to the clean trace (permuted by glob).
    good = np.all(compose_permutations(sigma, perms) == glob, axis=1)
    relabeled = apply_permutations(trace["means"], perms)
    np.testing.assert_array_equal(relabeled[good], clean["means"][good][:, glob])
    rel_alloc = relabel_allocations(trace["allocations"], perms)
    np.testing.assert_array_equal(
        rel_alloc[good],
        relabel_allocations(clean["allocations"], np.tile(glob, (N_DRAWS, 1)))[good],
    )


# ---------------------------------------------------------------------------
# Documented failure of ordering constraints
# ---------------------------------------------------------------------------


def test_ordering_constraint_fails_when_components_overlap_in_feature(overlap_scrambled):
    trace, sigma = overlap_scrambled
    perms = order_by_feature(trace["means"], feature=0)
    frac, _ = global_agreement(compose_permutations(sigma, perms))
    # Components 0 and 1 share feature 0, so their order is a fair coin per draw:
    # expected recovery 0.5 (sd ~0.016 over 1000 draws), far below 0.99.
    assert frac < 0.99

    # Distorted summaries: the two lowest labels each average the feature-1 means of both
    # components (+4 and -4). With swap fraction f, E[mean] = 4 (1 - 2 f) ~ 0 here;
    # |.| < 2 needs f in (0.25, 0.75), > 15 sd from f = 0.5.
    summary = apply_permutations(trace["means"], perms).mean(axis=0)
    assert np.all(np.abs(summary[:2, 1]) < 2.0)


@pytest.mark.parametrize("name", ["pivot_euclidean", "pivot_kl", "ecr", "stephens"])
def test_other_algorithms_succeed_where_ordering_fails(name, overlap_scrambled):
    trace, sigma = overlap_scrambled
    frac, _ = global_agreement(compose_permutations(sigma, ALGORITHMS[name](trace)))
    assert frac >= 0.99


def test_pivot_kl_uses_covariances_when_means_coincide():
    # Two components with the same location but very different scales: means carry no
    # label information (Euclidean pivoting is a coin flip), the covariances do.
    rng = np.random.default_rng(31)
    n_draws = 500
    true_covs = np.array([0.5 * np.eye(2), 4.0 * np.eye(2)])
    means = 0.1 * rng.standard_normal((n_draws, 2, 2))
    covs = true_covs * np.exp(0.05 * rng.standard_normal((n_draws, 2, 1, 1)))
    sigma = random_perms(rng, n_draws, 2)
    m_s, c_s = apply_permutations(means, sigma), apply_permutations(covs, sigma)

    kl = pivot(m_s, c_s, reference_means=np.zeros((2, 2)), reference_covariances=true_covs)
    frac, glob = global_agreement(compose_permutations(sigma, kl))
    assert frac == 1.0
    np.testing.assert_array_equal(glob, [0, 1])  # reference is the truth: identity map

    euclid = pivot(m_s, reference_means=np.zeros((2, 2)))
    frac_euclid, _ = global_agreement(compose_permutations(sigma, euclid))
    # Euclidean matching ignores the covariances: ~0.5 (sd 0.022 over 500 draws).
    assert frac_euclid < 0.75


def test_symmetrised_kl_matches_direct_formula():
    rng = np.random.default_rng(41)
    n_draws, n_comp, n_dim = 3, 2, 3
    a = rng.standard_normal((n_draws, n_comp, n_dim, n_dim))
    cov = a @ np.swapaxes(a, -1, -2) + np.eye(n_dim)
    b = rng.standard_normal((n_comp, n_dim, n_dim))
    ref_cov = b @ np.swapaxes(b, -1, -2) + np.eye(n_dim)
    means = rng.standard_normal((n_draws, n_comp, n_dim))
    ref_means = rng.standard_normal((n_comp, n_dim))

    def kl(m0, s0, m1, s1):
        s1_inv = np.linalg.inv(s1)
        d = m1 - m0
        logdet = np.linalg.slogdet(s1)[1] - np.linalg.slogdet(s0)[1]
        return 0.5 * (np.trace(s1_inv @ s0) + d @ s1_inv @ d - n_dim + logdet)

    got = _symmetrised_kl(
        means, np.linalg.inv(cov), cov, ref_means, np.linalg.inv(ref_cov), ref_cov
    )
    for s, k, j in itertools.product(range(n_draws), range(n_comp), range(n_comp)):
        want = kl(means[s, j], cov[s, j], ref_means[k], ref_cov[k]) + kl(
            ref_means[k], ref_cov[k], means[s, j], cov[s, j]
        )
        np.testing.assert_allclose(got[s, k, j], want, rtol=1e-10)


# ---------------------------------------------------------------------------
# Invariance to further label permutations of the input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in ALGORITHMS if n != "order_by_feature"] + ["order"])
def test_output_invariant_to_further_input_permutation(name, scrambled):
    algorithm = ALGORITHMS["order_by_feature" if name == "order" else name]
    trace, _ = scrambled
    tau = random_perms(np.random.default_rng(51), N_DRAWS, 3)
    perms1 = algorithm(trace)
    perms2 = algorithm(scramble(trace, tau))
    # relabeled2 = apply(relabeled1, x) with x = compose(inv(perms1), compose(tau, perms2));
    # invariance means x is one global permutation for every draw.
    x = compose_permutations(invert_permutations(perms1), compose_permutations(tau, perms2))
    assert np.all(x == x[0])


# ---------------------------------------------------------------------------
# Permutation algebra and apply_permutations
# ---------------------------------------------------------------------------


def test_apply_permutations_convention():
    x = np.array([[10, 20, 30], [10, 20, 30]])
    perms = np.array([[2, 0, 1], [0, 1, 2]])
    # relabeled[s, k] = original[s, perms[s, k]]
    np.testing.assert_array_equal(apply_permutations(x, perms), [[30, 10, 20], [10, 20, 30]])
    np.testing.assert_array_equal(invert_permutations(perms), [[1, 2, 0], [0, 1, 2]])


def test_apply_then_inverse_roundtrips_for_any_axis():
    rng = np.random.default_rng(61)
    perms = random_perms(rng, 50, 4)
    inv = invert_permutations(perms)
    covs = rng.standard_normal((50, 4, 3, 3))
    probs = rng.random((50, 7, 4))
    for arr, axis in [(covs, 1), (probs, 2), (probs, -1)]:
        out = apply_permutations(arr, perms, axis=axis)
        assert out.shape == arr.shape
        np.testing.assert_array_equal(apply_permutations(out, inv, axis=axis), arr)
    identity = np.tile(np.arange(4), (50, 1))
    np.testing.assert_array_equal(compose_permutations(perms, inv), identity)
    np.testing.assert_array_equal(compose_permutations(inv, perms), identity)


def test_compose_matches_sequential_application():
    rng = np.random.default_rng(62)
    first, second = random_perms(rng, 40, 5), random_perms(rng, 40, 5)
    x = rng.standard_normal((40, 5, 2))
    np.testing.assert_array_equal(
        apply_permutations(x, compose_permutations(first, second)),
        apply_permutations(apply_permutations(x, first), second),
    )
    # A 1-D (K,) permutation broadcasts as one global relabeling.
    glob = np.array([4, 2, 0, 1, 3])
    np.testing.assert_array_equal(
        compose_permutations(first, glob), compose_permutations(first, np.tile(glob, (40, 1)))
    )


def test_apply_permutations_dict_and_inputs_untouched():
    rng = np.random.default_rng(63)
    perms = random_perms(rng, 20, 3)
    arrays = {
        "means": rng.standard_normal((20, 3, 2)),
        "weights": rng.dirichlet(np.ones(3), size=20),
        "probabilities": rng.dirichlet(np.ones(3), size=(20, 5)),
    }
    before = {k: v.copy() for k, v in arrays.items()}
    perms_before = perms.copy()
    out = apply_permutations(arrays, perms, axis={"probabilities": 2})
    assert isinstance(out, dict) and set(out) == set(arrays)
    for k in arrays:
        np.testing.assert_array_equal(arrays[k], before[k])
        assert not np.shares_memory(out[k], arrays[k])
    np.testing.assert_array_equal(perms, perms_before)
    np.testing.assert_array_equal(out["means"], apply_permutations(arrays["means"], perms))
    np.testing.assert_array_equal(
        out["probabilities"], apply_permutations(arrays["probabilities"], perms, axis=2)
    )


def test_relabel_allocations_consistent_with_parameters():
    # A point's component parameter is label-free: means[s, z[s, n]] must not change.
    rng = np.random.default_rng(64)
    perms = random_perms(rng, 30, 4)
    means = rng.standard_normal((30, 4))
    z = rng.integers(0, 4, size=(30, 12))
    z_before = z.copy()
    new_means, new_z = apply_permutations(means, perms), relabel_allocations(z, perms)
    np.testing.assert_array_equal(
        np.take_along_axis(new_means, new_z, 1), np.take_along_axis(means, z, 1)
    )
    np.testing.assert_array_equal(z, z_before)


def test_inputs_not_modified_by_algorithms(scrambled):
    trace, _ = scrambled
    before = {k: v.copy() for k, v in trace.items()}
    for algorithm in ALGORITHMS.values():
        algorithm(trace)
    for k in trace:
        np.testing.assert_array_equal(trace[k], before[k])


# ---------------------------------------------------------------------------
# ECR and Stephens specifics
# ---------------------------------------------------------------------------


def test_ecr_small_example():
    pivot_alloc = np.array([0, 0, 1, 1, 2, 2])
    alloc = np.array([[2, 2, 0, 0, 1, 1], [0, 0, 1, 1, 2, 2], [1, 1, 2, 2, 2, 0]])
    perms = ecr(alloc, pivot_alloc, 3)
    np.testing.assert_array_equal(perms[:2], [[2, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(relabel_allocations(alloc, perms)[:2], [pivot_alloc] * 2)
    # Draw 2 agrees on 5 of 6 points at best (old 1->0, old 2->1, old 0->2).
    np.testing.assert_array_equal(perms[2], [1, 2, 0])


def test_ecr_attains_maximal_agreement_by_brute_force():
    # Random allocations make many near-ties, so compare the attained agreement, which is
    # unique, rather than the (possibly non-unique) maximising permutation.
    rng = np.random.default_rng(65)
    alloc = rng.integers(0, 4, size=(50, 25))
    piv = rng.integers(0, 4, size=25)
    relabeled = relabel_allocations(alloc, ecr(alloc, piv, 4))
    got = (relabeled == piv).sum(axis=1)
    all_perms = np.array(list(itertools.permutations(range(4))))
    for s in range(50):
        best = max((relabel_allocations(alloc[s : s + 1], p[None]) == piv).sum() for p in all_perms)
        assert got[s] == best


def naive_stephens(probs: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Textbook Stephens (2000): explicit relabeling and K! search per draw."""
    n_draws, _, n_comp = probs.shape
    all_perms = [list(p) for p in itertools.permutations(range(n_comp))]
    perms = [list(range(n_comp))] * n_draws
    for _ in range(max_iter):
        q = np.mean([probs[s][:, perms[s]] for s in range(n_draws)], axis=0)
        log_q = np.log(np.maximum(q, 1e-12))
        new = []
        for s in range(n_draws):
            kl = [np.sum(probs[s][:, p] * (np.log(probs[s][:, p]) - log_q)) for p in all_perms]
            new.append(all_perms[int(np.argmin(kl))])
        if new == perms:
            break
        perms = new
    return np.array(perms)


def test_stephens_matches_naive_implementation():
    # Unstructured probabilities: a non-trivial optimisation with no exact ties.
    rng = np.random.default_rng(66)
    probs = rng.dirichlet(0.5 * np.ones(4), size=(40, 30))
    res = stephens(probs)
    assert res.converged
    np.testing.assert_array_equal(res.perms, naive_stephens(probs))


def test_ecr_iterative_reports_convergence(scrambled):
    trace, _ = scrambled
    res = ecr_iterative(trace["allocations"], 3)
    assert isinstance(res, RelabelResult)
    assert res.converged and 2 <= res.n_iter < 100
    res1 = ecr_iterative(trace["allocations"], 3, max_iter=1)
    assert res1.n_iter == 1 and not res1.converged


def test_stephens_max_iter_and_warm_start(scrambled):
    trace, sigma = scrambled
    res = stephens(trace["probabilities"], max_iter=1)
    assert res.n_iter == 1 and not res.converged  # identity start is far from the answer
    # Warm start at the exact answer: nothing changes, converged after one update.
    inv = invert_permutations(sigma)
    warm = stephens(trace["probabilities"], init_perms=inv)
    assert warm.converged and warm.n_iter == 1
    np.testing.assert_array_equal(warm.perms, inv)


def stephens_problem(seed: int, n_draws: int, n_obs: int, n_comp: int):
    """Scrambled membership probabilities of a 1-D, well-separated K-component mixture."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * np.arange(n_comp)
    x = rng.normal(centres[rng.integers(0, n_comp, n_obs)], 1.0)
    means = centres + 0.1 * rng.standard_normal((n_draws, n_comp))
    probs = softmax(-0.5 * (x[None, :, None] - means[:, None, :]) ** 2, axis=2)
    sigma = random_perms(rng, n_draws, n_comp)
    return apply_permutations(probs, sigma, axis=2), sigma


def _check_stephens_recovery(n_draws, n_obs, n_comp):
    """Stephens recovers the scrambling; its speed is measured in benchmarks/bench_relabel.py."""
    probs, sigma = stephens_problem(71, n_draws, n_obs, n_comp)
    res = stephens(probs)
    assert res.converged
    frac, _ = global_agreement(compose_permutations(sigma, res.perms))
    assert frac >= 0.99


def test_stephens_recovers_a_small_problem():
    _check_stephens_recovery(400, 200, 5)


@pytest.mark.slow
def test_stephens_recovers_4000_draws_1000_points_5_components():
    _check_stephens_recovery(4000, 1000, 5)


# ---------------------------------------------------------------------------
# allocations_from_probabilities
# ---------------------------------------------------------------------------


def test_allocations_argmax_and_sampling_frequencies():
    probs = np.array([[[0.2, 0.3, 0.5], [0.9, 0.1, 0.0]]])
    np.testing.assert_array_equal(allocations_from_probabilities(probs), [[2, 0]])

    n = 200_000
    tiled = np.broadcast_to(probs, (n, 2, 3))
    z = allocations_from_probabilities(tiled, rng=np.random.default_rng(81))
    assert z.shape == (n, 2) and z.dtype == np.intp
    for i in range(2):
        freq = np.bincount(z[:, i], minlength=3) / n
        sd = np.sqrt(probs[0, i] * (1 - probs[0, i]) / n)
        assert np.all(np.abs(freq - probs[0, i]) <= 5 * sd + 1e-12)
    assert not np.any(z[:, 1] == 2)  # zero-probability component is never drawn


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

_PERMS = np.array([[0, 1, 2], [2, 1, 0]])
_MEANS = np.zeros((2, 3, 2))
_PROBS = np.full((2, 4, 3), 1 / 3)
_ALLOC = np.zeros((2, 4), dtype=int)
_NAN_MEANS = _MEANS.copy()
_NAN_MEANS[0, 0, 0] = np.nan
_BAD_COV = np.tile(np.eye(2), (2, 3, 1, 1))
_BAD_COV[1, 2] = [[1.0, 2.0], [2.0, 1.0]]  # symmetric, indefinite


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: apply_permutations(_MEANS, np.array([[0, 0, 2], [0, 1, 2]])), "permutation"),
        (lambda: apply_permutations(_MEANS, _PERMS.astype(float)), "integer dtype"),
        (lambda: apply_permutations(_MEANS, _PERMS[:1]), "draws"),
        (lambda: apply_permutations(np.zeros((2, 4, 2)), _PERMS), "components"),
        (lambda: apply_permutations(_MEANS, _PERMS, axis=0), "axis 0"),
        (lambda: apply_permutations(_MEANS, _PERMS, axis=5), "out of bounds"),
        (lambda: apply_permutations({"m": _MEANS}, _PERMS, axis={"x": 1}), "not keys"),
        (lambda: compose_permutations(_PERMS, np.array([1, 0])), "K=2"),
        (lambda: order_by_feature(_MEANS[:, :, 0]), "3-D"),
        (lambda: order_by_feature(_NAN_MEANS), "non-finite"),
        (lambda: order_by_feature(_MEANS, feature=2), "out of range"),
        (lambda: pivot(_MEANS, reference_means=np.zeros((2, 2))), "reference_means must"),
        (lambda: pivot(_NAN_MEANS, reference_means=np.zeros((3, 2))), "non-finite"),
        (
            lambda: pivot(_MEANS, np.tile(np.eye(2), (2, 3, 1, 1)), reference_means=_MEANS[0]),
            "reference_covariances is missing",
        ),
        (
            lambda: pivot(
                _MEANS, _BAD_COV, reference_means=_MEANS[0], reference_covariances=_BAD_COV[0]
            ),
            "positive definite",
        ),
        (
            lambda: pivot(_MEANS, weights=np.ones((2, 3)), reference_means=_MEANS[0]),
            "sum to 1",
        ),
        (
            lambda: pivot(_MEANS, weights=np.ones((2, 4)) / 4, reference_means=_MEANS[0]),
            r"\(S, K\)",
        ),
        (lambda: ecr(_ALLOC + 3, _ALLOC[0], 3), r"labels must lie in \[0, 3\)"),
        (lambda: ecr(_ALLOC, _ALLOC[0, :3], 3), "pivot_allocation must have shape"),
        (lambda: ecr(_ALLOC, _ALLOC[0], 0), "n_components must be >= 1"),
        (lambda: ecr(_ALLOC + 0.5, _ALLOC[0], 3), "integer labels"),
        (lambda: ecr_iterative(_ALLOC, 3, max_iter=0), "max_iter"),
        (lambda: stephens(_PROBS * 1.1), "sum to 1"),
        (lambda: stephens(np.where(_PROBS > 0, np.nan, 0.0)), "non-finite"),
        (lambda: stephens(_PROBS[0]), "3-D"),
        (lambda: stephens(_PROBS, init_perms=np.array([[0, 1], [1, 0]])), "K=2"),
        (lambda: stephens(_PROBS, init_perms=_PERMS[:1]), "init_perms has 1 draws"),
        (lambda: stephens(_PROBS, tol=1.5), "tol"),
        (lambda: allocations_from_probabilities(-_PROBS), r"\[0, 1\]"),
        (lambda: allocations_from_probabilities(_PROBS, rng=1), "Generator"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------
# Stephens over blocks of draws, and the package staying light
# ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("block", [1, 7, 400])
def test_stephens_blocks_matches_stephens_in_memory(block: int) -> None:
    probs, _ = stephens_problem(5, 400, 120, 4)
    rng = np.random.default_rng(11)
    start = random_perms(rng, 400, 4)
    whole = stephens(probs, init_perms=start)
    parts = [slice(i, min(i + block, 400)) for i in range(0, 400, block)]
    streamed = stephens_blocks(lambda part: probs[part], parts, init_perms=start)
    assert streamed.converged and whole.converged
    assert streamed.n_iter == whole.n_iter
    np.testing.assert_array_equal(streamed.perms, whole.perms)


@pytest.mark.timeout(30)
def test_stephens_blocks_rejects_bad_input() -> None:
    probs, _ = stephens_problem(5, 10, 20, 3)
    identity = np.tile(np.arange(3), (10, 1))
    with pytest.raises(ValueError, match="needs init_perms"):
        stephens_blocks(lambda part: probs[part], [slice(0, 10)])
    with pytest.raises(ValueError, match="cover the 10 draws"):
        stephens_blocks(lambda part: probs[part], [slice(0, 5)], init_perms=identity)
    with pytest.raises(ValueError, match="max_iter"):
        stephens_blocks(lambda part: probs[part], [slice(0, 10)], 0, init_perms=identity)


@pytest.mark.timeout(120)
def test_relabel_and_draws_import_light() -> None:
    # The permutation algorithms and the draws maths are numpy + scipy only.
    code = (
        "import sys, bayesgmm.posterior.relabel, bayesgmm.posterior.relabel.stephens_kl\n"
        "import bayesgmm.mixture.draws\n"
        "heavy = ('pymc', 'pytensor', 'arviz', 'matplotlib', 'dask')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=100
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
