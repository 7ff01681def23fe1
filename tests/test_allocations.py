"""Tests for bayesgmm.mixture.allocations, the one allocation sampler.

Reference responsibilities come from scipy's multivariate normal (an implementation
independent of the package's density); frequencies are checked by chi-square at a
significance of 1e-6, so a correct sampler fails by chance once in a million seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from bayesgmm.mixture.allocations import (
    AllocationBlock,
    allocation_blocks,
    allocation_counts,
    block_counts,
    categorical_from_uniforms,
    sample_allocations,
)

ALPHA = 1e-6
WEIGHTS = np.array([0.5, 0.3, 0.2])
MEANS = np.array([[0.0, 0.0], [2.0, 0.5], [0.5, 2.5]])
COVS = np.array([np.eye(2), [[1.0, 0.4], [0.4, 0.8]], [[0.6, -0.2], [-0.2, 1.2]]])
# Rows between the components: every membership probability is well above 0.
X = np.array([[0.8, 0.6], [1.2, 0.2], [0.4, 1.4], [1.0, 1.0], [0.2, 0.3]])


def _tiled(n_draws: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_draws`` copies of one parameter set: allocations then repeat one distribution."""
    return (
        np.tile(WEIGHTS, (n_draws, 1)),
        np.tile(MEANS, (n_draws, 1, 1)),
        np.tile(COVS, (n_draws, 1, 1, 1)),
    )


def _varied(n_draws: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws that differ from one another, so that a block mix-up would show."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(3), size=n_draws)
    means = MEANS + 0.3 * rng.standard_normal((n_draws, 3, 2))
    return weights, means, np.tile(COVS, (n_draws, 1, 1, 1))


def _scipy_responsibilities(rows: np.ndarray, observed: slice = slice(None)) -> np.ndarray:
    dens = np.column_stack(
        [
            w * stats.multivariate_normal(m[observed], c[observed, observed]).pdf(rows[:, observed])
            for w, m, c in zip(WEIGHTS, MEANS, COVS, strict=True)
        ]
    )
    return dens / dens.sum(axis=1, keepdims=True)


def _chi_square_p(alloc: np.ndarray, prob: np.ndarray) -> float:
    """p-value of the pooled chi-square of each row's allocation counts, (S, N) vs (N, K)."""
    n_draws, n_comp = alloc.shape[0], prob.shape[1]
    observed = np.stack([np.bincount(col, minlength=n_comp) for col in alloc.T])
    expected = n_draws * prob
    statistic = ((observed - expected) ** 2 / expected).sum()
    return float(stats.chi2.sf(statistic, df=prob.shape[0] * (n_comp - 1)))


@pytest.mark.timeout(60)
def test_frequencies_match_the_responsibilities() -> None:
    z = sample_allocations(X, *_tiled(20_000), np.random.default_rng(1))
    assert _chi_square_p(z, _scipy_responsibilities(X)) > ALPHA


@pytest.mark.timeout(60)
def test_rows_and_draws_get_independent_uniforms() -> None:
    # Two copies of one row: if they shared a uniform they would always agree; independent,
    # they agree with probability sum_k p_k^2.
    rows = np.vstack([X[3], X[3]])
    z = sample_allocations(rows, *_tiled(20_000), np.random.default_rng(2))
    p = _scipy_responsibilities(rows[:1])[0]
    agree = int((z[:, 0] == z[:, 1]).sum())
    assert stats.binomtest(agree, z.shape[0], float(p @ p)).pvalue > ALPHA


@pytest.mark.timeout(60)
def test_a_missing_coordinate_leaves_the_observed_ones_to_decide() -> None:
    rows = X.copy()
    rows[:, 1] = np.nan
    z = sample_allocations(rows, *_tiled(20_000), np.random.default_rng(4))
    assert _chi_square_p(z, _scipy_responsibilities(X, observed=slice(0, 1))) > ALPHA


@pytest.mark.timeout(60)
def test_labelled_rows_keep_their_label_and_the_others_are_sampled() -> None:
    labels = np.array([2, -1, 0, -1, 1])
    z = sample_allocations(X, *_tiled(20_000), np.random.default_rng(5), labels=labels)
    known = labels >= 0
    assert (z[:, known] == labels[known]).all()
    assert _chi_square_p(z[:, ~known], _scipy_responsibilities(X[~known])) > ALPHA


@pytest.mark.timeout(60)
def test_seeds_reproduce_and_differ() -> None:
    draws = _varied(50)
    first = sample_allocations(X, *draws, np.random.default_rng(7))
    again = sample_allocations(X, *draws, np.random.default_rng(7))
    other = sample_allocations(X, *draws, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


@pytest.mark.timeout(60)
def test_without_a_generator_the_allocation_is_the_argmax() -> None:
    draws = _varied(20)
    z = sample_allocations(X, *draws, None)
    weights, means, covs = draws
    for s in range(20):
        dens = np.column_stack(
            [
                weights[s, k] * stats.multivariate_normal(means[s, k], covs[s, k]).pdf(X)
                for k in range(3)
            ]
        )
        np.testing.assert_array_equal(z[s], dens.argmax(axis=1))


def _gathered(blocks: list[AllocationBlock], shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, -1, dtype=np.intp)
    for block in blocks:
        out[block.draws, block.rows] = block.allocations
    return out


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None)
@given(
    budget=st.integers(1, 200),
    by=st.sampled_from(["draws", "rows"]),
    n_rows=st.integers(1, 11),
)
def test_blocks_do_not_change_the_allocations(budget: int, by: str, n_rows: int) -> None:
    rows = np.random.default_rng(n_rows).normal(size=(n_rows, 2))
    draws = _varied(9)
    whole = sample_allocations(rows, *draws, np.random.default_rng(11), budget=10**9)
    blocks = list(allocation_blocks(rows, *draws, np.random.default_rng(11), by=by, budget=budget))
    np.testing.assert_array_equal(_gathered(blocks, whole.shape), whole)


@pytest.mark.timeout(60)
def test_blocks_carry_the_probabilities_of_their_draws_and_rows() -> None:
    draws = _varied(6)
    labels = np.array([-1, 1, -1, -1, 0])
    for block in allocation_blocks(
        X, *draws, np.random.default_rng(0), labels=labels, by="rows", budget=3 * 6 * 2
    ):
        weights, means, covs = (a[block.draws] for a in draws)
        expected = np.stack(
            [
                np.column_stack(
                    [
                        weights[s, k]
                        * stats.multivariate_normal(means[s, k], covs[s, k]).pdf(X[block.rows])
                        for k in range(3)
                    ]
                )
                for s in range(weights.shape[0])
            ]
        )
        expected /= expected.sum(axis=2, keepdims=True)
        block_labels = labels[block.rows]
        expected[:, block_labels >= 0] = np.eye(3)[block_labels[block_labels >= 0]]
        np.testing.assert_allclose(block.probabilities, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.timeout(60)
def test_counts_weigh_each_row_by_its_observation_weight() -> None:
    draws = _varied(30)
    sample_weight = np.array([0.5, 2.0, 1.0, 3.0, 0.0])
    z = sample_allocations(X, *draws, np.random.default_rng(12))
    counts = allocation_counts(
        X, *draws, np.random.default_rng(12), sample_weight=sample_weight, budget=7
    )
    expected = np.stack([np.bincount(row, weights=sample_weight, minlength=3) for row in z])
    np.testing.assert_allclose(counts, expected)
    unweighted = allocation_counts(X, *draws, np.random.default_rng(12))
    np.testing.assert_array_equal(unweighted, [np.bincount(row, minlength=3) for row in z])
    assert block_counts(
        AllocationBlock(slice(0, 1), slice(0, 2), np.empty((1, 2, 3)), np.array([[2, 2]])), 3
    ).tolist() == [[0.0, 0.0, 2.0]]


@pytest.mark.timeout(60)
@settings(max_examples=50, deadline=None)
@given(
    prob=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6).filter(lambda p: sum(p) > 1e-3),
    u=st.floats(0.0, 1.0, exclude_max=True),
)
def test_inverse_cdf_picks_the_component_whose_interval_holds_u(
    prob: list[float], u: float
) -> None:
    p = np.asarray(prob) / np.sum(prob)
    k = int(categorical_from_uniforms(p[None], np.array([u]))[0])
    cdf = np.cumsum(p)
    assert p[k] > 0
    assert u * cdf[-1] < cdf[k] or k == p.size - 1
    assert k == 0 or cdf[k - 1] <= u * cdf[-1]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_allocations(X, *_tiled(2), 1), "Generator"),
        (lambda: list(allocation_blocks(X, *_tiled(2), None, by="cols")), "by must be"),
        (lambda: sample_allocations(X, *_tiled(2), None, budget=0), "budget"),
        (lambda: sample_allocations(X[:, :1], *_tiled(2), None), "D=1"),
    ],
)
def test_bad_arguments_are_refused(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
