"""The partition estimate (SALSO on Binder / VI lower bound) and its credible ball.

References are independent: brute force over every set partition for N <= 8, pairwise
counting and scikit-learn's Rand index for Binder, entropies and scikit-learn's mutual
information for VI, and a loop transcription of mcclust.ext's credible ball.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, mutual_info_score, rand_score

from bayesgmm.analysis.partition.estimate import (
    PartitionResult,
    allocation_draws,
    partition,
    partition_from_allocations,
)
from bayesgmm.analysis.partition.loss import (
    binder_distance,
    canonical_labels,
    credible_ball,
    expected_binder,
    psm_from_allocations,
    vi_distance,
    vi_lower_bound,
)
from bayesgmm.analysis.partition.search import _State, _sweeten, salso


def set_partitions(n: int):
    """Every partition of n items, as restricted growth strings (Bell(n) of them)."""

    def grow(prefix: list[int], top: int):
        if len(prefix) == n:
            yield np.array(prefix)
            return
        for k in range(top + 2):
            yield from grow([*prefix, k], max(top, k))

    yield from grow([0], 0)


def noisy_draws(n_items: int, n_draws: int, noise: float, seed: int, k: int = 3) -> np.ndarray:
    """Allocation draws around a random k-cluster truth, each label redrawn w.p. noise."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    flip = rng.random((n_draws, n_items)) < noise
    return np.where(flip, rng.integers(0, k + 1, (n_draws, n_items)), truth)


# ---------------------------------------------------------------------------------------
# Loss functions against independent formulas
# ---------------------------------------------------------------------------------------


def binder_by_pairs(est: np.ndarray, truth: np.ndarray, a: float, b: float) -> float:
    n = est.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            together_t, together_e = truth[i] == truth[j], est[i] == est[j]
            total += a * (together_t and not together_e) + b * (together_e and not together_t)
    return 2.0 * total / n**2


def entropy_bits(labels: np.ndarray) -> float:
    p = np.bincount(labels) / labels.shape[0]
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("a, b", [(1.0, None), (0.5, None), (1.0, 3.0)])
def test_binder_distance_matches_pair_counting(a, b):
    rng = np.random.default_rng(0)
    est = rng.integers(0, 3, 30)
    draws = rng.integers(0, 4, (5, 30))
    got = binder_distance(est, draws, a, b)
    b_value = 2.0 - a if b is None else b
    want = [binder_by_pairs(est, d, a, b_value) for d in draws]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.timeout(60)
def test_symmetric_binder_is_one_minus_rand_index():
    rng = np.random.default_rng(1)
    n = 40
    est, draws = rng.integers(0, 3, n), rng.integers(0, 5, (6, n))
    rand = np.array([rand_score(d, est) for d in draws])
    want = 2.0 / n**2 * (1 - rand) * n * (n - 1) / 2
    np.testing.assert_allclose(binder_distance(est, draws), want, rtol=1e-12)


@pytest.mark.timeout(60)
def test_vi_distance_matches_entropies_and_sklearn_mutual_information():
    rng = np.random.default_rng(2)
    est, draws = rng.integers(0, 3, 50), rng.integers(0, 6, (6, 50))
    want = [
        entropy_bits(est) + entropy_bits(d) - 2 * mutual_info_score(est, d) / math.log(2)
        for d in draws
    ]
    np.testing.assert_allclose(vi_distance(est, draws), want, rtol=1e-10, atol=1e-12)
    assert vi_distance(est, est[None])[0] == 0.0


@pytest.mark.timeout(60)
def test_psm_and_expected_losses_against_direct_formulas():
    draws = noisy_draws(12, 40, 0.3, seed=3)
    psm = psm_from_allocations(draws)
    direct = np.mean(draws[:, :, None] == draws[:, None, :], axis=0)
    np.testing.assert_array_equal(psm, direct)
    rng = np.random.default_rng(4)
    for a in (1.0, 0.3):
        est = rng.integers(0, 4, 12)
        # E[Binder] is linear in the PSM: the mean loss over the draws that made it.
        np.testing.assert_allclose(
            expected_binder(est, psm, a), binder_distance(est, draws, a).mean(), rtol=1e-12
        )
    est = rng.integers(0, 3, 12)
    # mcclust.ext's VI.lb, transcribed as a loop over items.
    want = np.mean(
        [
            math.log2(np.sum(est == est[i]))
            + math.log2(psm[i].sum())
            - 2 * math.log2(psm[i, est == est[i]].sum())
            for i in range(12)
        ]
    )
    assert vi_lower_bound(est, psm) == pytest.approx(want, rel=1e-12)
    # Jensen: the bound is below the Monte Carlo expected VI over the same draws.
    assert vi_lower_bound(est, psm) <= vi_distance(est, draws).mean() + 1e-12


@pytest.mark.timeout(60)
def test_canonical_labels_order_of_first_appearance():
    np.testing.assert_array_equal(canonical_labels(np.array([7, 7, -2, 9, -2])), [0, 0, 1, 2, 1])
    rows = canonical_labels(np.array([[3, 1, 3, 0], [5, 5, 5, 5]]))
    np.testing.assert_array_equal(rows, [[0, 1, 0, 2], [0, 0, 0, 0]])


# ---------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n_items, noise, seed", [(7, 0.3, 0), (8, 0.4, 1), (8, 0.9, 2)])
@pytest.mark.parametrize("loss, a", [("VI", 1.0), ("binder", 1.0), ("binder", 0.4)])
def test_salso_finds_the_brute_force_minimum(n_items, noise, seed, loss, a):
    draws = noisy_draws(n_items, 30, noise, seed)
    psm = psm_from_allocations(draws)
    if loss == "VI":
        values = [vi_lower_bound(c, psm) for c in set_partitions(n_items)]
    else:
        values = [expected_binder(c, psm, a) for c in set_partitions(n_items)]
    assert len(values) == {7: 877, 8: 4140}[n_items]  # Bell numbers
    found = salso(psm, loss, a=a, max_clusters=n_items, n_runs=8, random_seed=seed)
    assert found.expected_loss == pytest.approx(min(values), abs=1e-12)
    again = (
        vi_lower_bound(found.labels, psm) if loss == "VI" else expected_binder(found.labels, psm, a)
    )
    assert again == pytest.approx(found.expected_loss, abs=1e-14)


@pytest.mark.timeout(60)
def test_max_clusters_bounds_the_estimate_and_brute_force_agrees_within_it():
    draws = noisy_draws(8, 30, 0.9, seed=5, k=5)
    psm = psm_from_allocations(draws)
    best = min(expected_binder(c, psm, 1.6) for c in set_partitions(8) if c.max() < 2)
    found = salso(psm, "binder", a=1.6, max_clusters=2, n_runs=8, random_seed=0)
    assert found.labels.max() < 2
    assert found.expected_loss == pytest.approx(best, abs=1e-12)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("vi", [True, False])
def test_incremental_costs_equal_loss_differences_from_scratch(vi):
    """The O(N) move costs (exact where they can matter) against recomputed losses."""
    rng = np.random.default_rng(6)
    n = 25
    psm = psm_from_allocations(noisy_draws(n, 50, 0.5, seed=7))
    labels = canonical_labels(rng.integers(0, 4, n))
    state = _State(psm, labels, vi)

    def scaled(lab):  # the search's units: N * VI_lb (bits), or N^2 / 2 * Binder
        return n * vi_lower_bound(lab, psm) if vi else n**2 / 2 * expected_binder(lab, psm)

    for own in range(int(labels.max()) + 1):
        items = np.flatnonzero(labels == own)
        cost = state.deltas(items, own, 1.0, 1.0)
        for row, item in enumerate(items):
            here = scaled(labels)
            for k in range(int(labels.max()) + 1):
                moved = labels.copy()
                moved[item] = k
                exact = cost[row, own] + scaled(moved) - here
                if not vi or k == own or cost[row, k] < cost[row, own]:
                    assert cost[row, k] == pytest.approx(exact, abs=1e-9)
                else:  # a lower bound, shown unable to beat staying
                    assert cost[row, k] <= exact + 1e-9


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loss", ["VI", "binder"])
def test_sweetening_from_a_bad_start_ends_at_a_single_move_local_optimum(loss):
    """Many moves, emptied and new clusters: the end state no single move improves."""
    vi = loss == "VI"
    n = 40
    psm = psm_from_allocations(noisy_draws(n, 60, 0.3, seed=14, k=4))
    rng = np.random.default_rng(15)
    start = canonical_labels(rng.integers(0, 9, n))
    state = _State(psm, start, vi)
    sweeps = _sweeten(state, rng, 1.0, 1.0, n, 100, 1e-10 * n)
    assert sweeps >= 2  # it moved items, then confirmed

    def value(lab):
        return vi_lower_bound(lab, psm) if vi else expected_binder(lab, psm)

    end = canonical_labels(state.labels)
    assert value(end) < value(start)
    k_end = int(end.max()) + 1
    for item in range(n):
        for k in range(k_end + 1):  # every existing cluster and a new one
            moved = end.copy()
            moved[item] = k
            assert value(moved) >= value(end) - 1e-12


@pytest.mark.timeout(60)
def test_search_is_seeded_and_does_not_modify_inputs():
    draws = noisy_draws(60, 40, 0.3, seed=8)
    frozen = draws.copy()
    psm = psm_from_allocations(draws)
    psm.setflags(write=False)
    first = partition_from_allocations(draws, psm=psm, random_seed=3)
    second = partition_from_allocations(draws, psm=psm, random_seed=3)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(draws, frozen)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loss", ["VI", "binder"])
def test_recovers_the_partition_behind_clear_draws(loss):
    rng = np.random.default_rng(9)
    truth = rng.choice(4, size=300, p=[0.4, 0.3, 0.2, 0.1])
    flip = rng.random((200, 300)) < 0.15
    draws = np.where(flip, rng.integers(0, 5, (200, 300)), truth)
    result = partition_from_allocations(draws, loss, random_seed=0)
    assert isinstance(result, PartitionResult)
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.n_clusters == 4
    np.testing.assert_array_equal(result.labels, canonical_labels(result.labels))
    assert result.cluster_sizes.sum() == 300
    assert result.settings["max_clusters"] == 5  # the most clusters in any draw
    assert "4 clusters" in str(result)


# ---------------------------------------------------------------------------------------
# The credible ball
# ---------------------------------------------------------------------------------------


def mcclust_ball(est, draws, dist, level):
    """mcclust.ext's credibleball, transcribed: radius and the three bound distances."""
    d = np.array([dist(est, z) for z in draws])
    order = np.argsort(d, kind="stable")
    m = math.ceil(level * len(d))
    inside, radius = order[:m], d[order[m - 1]]
    k = np.array([len(set(z)) for z in draws])[inside]
    upper = d[inside][k == k.min()].max()
    lower = d[inside][k == k.max()].max()
    return radius, upper, lower


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loss", ["VI", "binder"])
def test_credible_ball_matches_mcclust_definition(loss):
    draws = noisy_draws(40, 120, 0.2, seed=10)
    est = partition_from_allocations(draws, loss).labels

    def one(e, z):
        return vi_distance(e, z[None])[0] if loss == "VI" else binder_distance(e, z[None])[0]

    ball = credible_ball(est, draws, loss, 0.95)
    radius, upper, lower = mcclust_ball(est, draws, one, 0.95)
    assert ball.radius == pytest.approx(radius, abs=1e-12)
    assert ball.upper_vertical_distance == pytest.approx(upper, abs=1e-12)
    assert ball.lower_vertical_distance == pytest.approx(lower, abs=1e-12)
    # The estimate is in its ball; every bound is a draw inside it.
    assert one(est, est) == 0.0 <= ball.radius
    for bound in (ball.horizontal, ball.upper_vertical, ball.lower_vertical):
        dists = vi_distance(est, bound) if loss == "VI" else binder_distance(est, bound)
        assert np.all(dists <= ball.radius + 1e-12)
    assert ball.horizontal_distance == pytest.approx(ball.radius, abs=1e-12)
    assert set(ball.upper_vertical.max(axis=1) + 1) == {ball.n_clusters_range[0]}
    assert set(ball.lower_vertical.max(axis=1) + 1) == {ball.n_clusters_range[1]}
    inside = np.mean(ball.distances <= ball.radius)
    assert inside >= 0.95 and np.mean(ball.distances < ball.radius) < 0.95


@pytest.mark.timeout(60)
def test_credible_ball_radius_grows_with_the_level():
    draws = noisy_draws(30, 200, 0.3, seed=11)
    est = partition_from_allocations(draws).labels
    levels = np.linspace(0.05, 0.99, 15)
    radii = [credible_ball(est, draws, "VI", level).radius for level in levels]
    assert np.all(np.diff(radii) >= 0)
    assert radii[-1] > radii[0]


# ---------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "allocations, match",
    [
        (np.zeros(5, dtype=int), "2-D"),
        (np.zeros((2, 3, 4), dtype=int), "2-D"),
        (np.zeros((0, 5), dtype=int), "empty"),
        (np.array([[0.0, np.nan, 1.0]]), "NaN"),
        (np.array([[0.0, 0.5, 1.0]]), "non-integer"),
        (np.array([[True, False]]), "integer cluster labels"),
        (np.array([["a", "b"]]), "integer cluster labels"),
    ],
)
def test_bad_allocations_give_clear_errors(allocations, match):
    with pytest.raises(ValueError, match=match):
        partition_from_allocations(allocations)


@pytest.mark.timeout(60)
def test_bad_settings_and_psm_give_clear_errors():
    draws = noisy_draws(6, 10, 0.2, seed=12)
    psm = psm_from_allocations(draws)
    cases = [
        ({"loss": "rand"}, "loss must be one of"),
        ({"level": 0.0}, "level must be in"),
        ({"level": 1.0}, "level must be in"),
        ({"level": "high"}, "level must be a number"),
        ({"a": -1.0}, "non-negative"),
        ({"a": 1.0, "b": np.nan}, "finite"),
        ({"n_runs": 0}, "n_runs must be an integer"),
        ({"max_clusters": 0}, "max_clusters must be an integer"),
        ({"psm": psm[:5, :5]}, "expected N = 6"),
        ({"psm": np.ones((6, 5))}, "square"),
        ({"psm": np.where(np.eye(6) > 0, 1.0, np.nan)}, "NaN"),
        ({"psm": psm * 2}, "diagonal|probabilities"),
        ({"psm": np.triu(psm)}, "symmetric"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            partition_from_allocations(draws, **kwargs)
    with pytest.raises(ValueError, match="expected 6"):
        expected_binder(np.zeros(5, dtype=int), psm)
    with pytest.raises(ValueError, match="items"):
        vi_distance(np.zeros(5, dtype=int), draws)


@pytest.mark.timeout(60)
def test_partition_of_a_non_fit_says_what_to_pass():
    with pytest.raises(TypeError, match="partition_from_allocations"):
        partition(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="psm must be one of"):
        partition(object(), psm="draws")


# ---------------------------------------------------------------------------------------
# From a BayesianGMM fit
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def separated_fit():
    from bayesgmm import BayesianGMM, make_gmm_data

    data = make_gmm_data(
        150,
        np.array([0.4, 0.35, 0.25]),
        np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]]),
        np.broadcast_to(np.eye(2), (3, 2, 2)).copy(),
        random_seed=13,
    )
    fit = BayesianGMM(
        3, sampler="nutpie", draws=150, tune=200, chains=2, progressbar=False, random_seed=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(data.X)
    return data, fit


@pytest.mark.timeout(300)
@pytest.mark.parametrize("loss, psm", [("VI", "responsibilities"), ("binder", "allocations")])
def test_partition_recovers_simulated_truth_from_a_fit(separated_fit, loss, psm):
    data, fit = separated_fit
    result = partition(fit, loss, psm=psm, max_draws=200, random_seed=2)
    assert adjusted_rand_score(data.labels, result.labels) >= 0.95
    assert result.n_clusters == 3
    assert result.settings["psm"] == psm
    assert result.credible_ball.n_clusters_range[0] >= 1


@pytest.mark.timeout(300)
def test_allocation_draws_are_seeded_and_follow_the_fit(separated_fit):
    data, fit = separated_fit
    first = allocation_draws(fit, max_draws=50, random_seed=4)
    second = allocation_draws(fit.idata_, max_draws=50, random_seed=4)
    assert first.shape == (50, data.X.shape[0])
    np.testing.assert_array_equal(first, second)
    # Well separated: every draw's partition is the truth's, up to label names.
    ari = [adjusted_rand_score(data.labels, z) for z in first]
    assert min(ari) >= 0.95
