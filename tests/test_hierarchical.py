"""mclust's hierarchical start: the tree against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster import hierarchy
from sklearn.metrics import adjusted_rand_score

from bayesgmm.em import fit_em
from bayesgmm.em.hierarchical import (
    HC_MAX_ROWS,
    hc_labels,
    hc_rows,
    merge_tree,
    quantile_classes,
    svd_scaled,
)


def _vvv_criterion_term(points: np.ndarray, alpha: float) -> float:
    """A cluster's term written from its definition: l log(|W/l| + (tr W + alpha) / l),
    |W| taken as 0 while l <= D."""
    n, d = points.shape
    scatter = (points - points.mean(axis=0)).T @ (points - points.mean(axis=0))
    det = np.linalg.det(scatter / n) if n > d else 0.0
    return n * np.log(max(det, 0.0) + (np.trace(scatter) + alpha) / n)


def _brute_force_merges(X: np.ndarray, n_merges: int) -> list[frozenset]:
    """Greedy agglomeration that recomputes every pair's criterion change from scratch."""
    alpha = np.sum((X - X.mean(axis=0)) ** 2) / X.size
    clusters = [frozenset([i]) for i in range(len(X))]
    merged = []
    for _ in range(n_merges):
        best, pair = np.inf, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                union = clusters[a] | clusters[b]
                change = _vvv_criterion_term(X[sorted(union)], alpha)
                change -= _vvv_criterion_term(X[sorted(clusters[a])], alpha)
                change -= _vvv_criterion_term(X[sorted(clusters[b])], alpha)
                if change < best:
                    best, pair = change, (a, b)
        a, b = pair
        merged.append(clusters[a] | clusters[b])
        clusters = [c for i, c in enumerate(clusters) if i not in pair] + [merged[-1]]
    return merged


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [0, 1])
def test_vvv_tree_equals_a_brute_force_agglomeration(seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(12, 2)), rng.normal(size=(12, 2)) * [2, 0.3] + 4])
    tree = merge_tree(X, "VVV")
    expected = _brute_force_merges(X, len(X) - 3)
    n_clusters = len(X)
    for step, cluster in enumerate(expected):
        labels = tree.labels(n_clusters - step - 1)
        # the cluster made by this merge is one of the tree's clusters at that level
        members = np.flatnonzero(labels == labels[min(cluster)])
        assert frozenset(members.tolist()) == cluster


@pytest.mark.timeout(60)
def test_eii_tree_is_wards_method():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3)) + np.repeat(rng.normal(scale=3, size=(4, 3)), 20, axis=0)
    tree = merge_tree(X, "EII")
    ward = hierarchy.linkage(X, method="ward")
    for k in (2, 3, 4, 6):
        scipy_labels = hierarchy.fcluster(ward, k, criterion="maxclust")
        assert adjusted_rand_score(tree.labels(k), scipy_labels) == 1.0


@pytest.mark.timeout(60)
def test_labels_are_consecutive_nested_and_duplicates_stay_together():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 2))
    X[30:] = X[0]  # ten copies of row 0
    tree = merge_tree(X, "VVV")
    assert tree.n_initial == 30
    previous = None
    for k in range(1, 8):
        labels = tree.labels(k)
        assert sorted(set(labels.tolist())) == list(range(k))
        assert labels[0] == 0  # numbered by first appearance
        assert np.all(labels[30:] == labels[0])
        if previous is not None:  # cutting lower splits one cluster: nested partitions
            for cluster in range(k - 1):
                assert len(set(labels[previous == cluster].tolist())) <= 2
        previous = labels
    with pytest.raises(ValueError, match="cannot be cut into 31 clusters"):
        tree.labels(31)


@pytest.mark.timeout(30)
def test_svd_scaling_and_quantiles():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) @ [[3, 1, 0], [0, 1, 0], [0, 0, 0.1]]
    X = np.column_stack([X, np.ones(50)])  # a constant column is dropped
    Z = svd_scaled(X)
    assert Z.shape == (50, 3)
    # columns orthogonal, each of squared norm its singular value
    gram = Z.T @ Z
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-10)
    labels = quantile_classes(np.arange(100.0), 4)
    np.testing.assert_array_equal(np.bincount(labels), [25, 25, 25, 25])
    assert hc_rows(HC_MAX_ROWS) == slice(None)
    rows = hc_rows(5 * HC_MAX_ROWS)
    assert len(rows) == HC_MAX_ROWS and rows[0] == 0 and rows[-1] == 5 * HC_MAX_ROWS - 1


@pytest.mark.timeout(60)
def test_hc_start_is_deterministic_and_ignores_n_init():
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 5])
    a = fit_em(X, 2, "VEV", init="hc", n_init=5, random_seed=0)
    b = fit_em(X, 2, "VEV", init="hc", random_seed=123)
    assert a.init_objectives.shape == (1,)
    assert a.log_likelihood == b.log_likelihood
    labels = hc_labels(X, 2)
    assert adjusted_rand_score(labels, np.repeat([0, 1], 50)) == 1.0
