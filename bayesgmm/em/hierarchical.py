"""Model-based agglomerative hierarchical clustering, mclust's start of EM.

Fraley (1998): start with every distinct row as its own cluster and merge, at each step,
the pair whose merge lowers the classification likelihood of a Gaussian model the least.
For the unconstrained model (VVV, mclust's default) a cluster of ``l`` points with scatter
``W`` contributes ``l log(|W / l| + (tr W + alpha) / l)`` to the criterion (``l log((tr W +
alpha) / l)`` while ``l <= D``, where ``|W|`` is 0): the determinant of the VVV
classification likelihood, regularised by the trace so that small clusters are
comparable, with ``alpha`` the data's total scatter per entry (mclust's ``hcVVV`` with
``alpha = traceW(x / sqrt(n p))`` and ``beta = 1``). With no more rows than features,
where the VVV criterion is undefined, mclust uses EII, which merges as Ward's method.

mclust runs it on "SVD-scaled" data (its default ``hcUse = "SVD"`` since 5.4): columns
standardised, then rotated onto their principal axes and each axis divided by the square
root of its singular value, which makes elongated clusters rounder before merging. For
1-D data mclust starts from quantile classes instead (``qclass``).

The merges are found by keeping the whole matrix of merge costs and each row's minimum:
after a merge only the new cluster's row is recomputed (one batch of ``K`` determinants)
and the rows whose best partner was one of the merged pair rescanned, so a tree of ``n``
rows costs ``O(n^2 D^2)`` work in numpy and ``8 n^2`` bytes: the starts of
:func:`~bayesgmm.em.fit_em` run it on at most 2000 rows (mclust's ``subset`` too).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from bayesgmm.mixture.structures import get_structure

__all__ = [
    "HC_MAX_ROWS",
    "MergeTree",
    "hc_labels",
    "hc_rows",
    "merge_tree",
    "quantile_classes",
    "svd_scaled",
]

#: Most rows the tree is built on: mclust's ``subset`` (its ``mclust.options``). The tree
#: costs O(n^2) time and memory: about 1 s and 32 MB at 2000 rows of 5 features.
HC_MAX_ROWS = 2000


class MergeTree(NamedTuple):
    """The merges of an agglomerative clustering of ``n`` rows.

    ``groups`` (n,) puts every row in one of the initial clusters (identical rows share
    one); ``merges`` (m, 2) lists, in order, the pairs of initial-cluster indices merged
    (the second into the first).
    """

    groups: np.ndarray
    merges: np.ndarray

    @property
    def n_initial(self) -> int:
        return int(self.groups.max()) + 1 if self.groups.size else 0

    def labels(self, n_clusters: int) -> np.ndarray:
        """Cluster labels ``0..n_clusters-1`` of the rows after cutting the tree there,
        numbered in order of first appearance (as mclust's ``hclass``)."""
        n_initial = self.n_initial
        if not 1 <= n_clusters <= n_initial:
            raise ValueError(
                f"the tree has {n_initial} distinct rows: it cannot be cut into "
                f"{n_clusters} clusters."
            )
        parent = np.arange(n_initial)
        for kept, merged in self.merges[: n_initial - n_clusters]:
            parent[merged] = kept
        # Follow each chain to its root: a merged cluster points at one merged later.
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        roots = parent[self.groups]
        _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))  # number clusters by first appearance
        return order[inverse]


def hc_rows(n_rows: int) -> slice | np.ndarray:
    """The rows of the starts' rows that the tree is built on: all up to
    :data:`HC_MAX_ROWS`, else that many evenly spaced ones (deterministic: the starts'
    rows are already a random subsample when the data are large)."""
    if n_rows <= HC_MAX_ROWS:
        return slice(None)
    return np.linspace(0, n_rows - 1, HC_MAX_ROWS).round().astype(np.int64)


def svd_scaled(X: np.ndarray) -> np.ndarray:
    """mclust's ``hcUse = "SVD"`` transform: standardised columns (constant ones dropped)
    times ``V diag(d^-1/2)`` from their SVD ``U diag(d) V^T``, i.e. ``U diag(d^1/2)``."""
    sd = X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
    keep = sd > 0
    Z = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]
    left, singular, _ = np.linalg.svd(Z, full_matrices=False)
    positive = singular > singular.max(initial=0.0) * 1e-12  # rank-deficient data
    return left[:, positive] * np.sqrt(singular[positive])


def quantile_classes(x: np.ndarray, n_clusters: int) -> np.ndarray:
    """1-D start: ``n_clusters`` classes between equally spaced sample quantiles
    (mclust's ``qclass``), numbered from the lowest values up."""
    edges = np.quantile(x, np.linspace(0.0, 1.0, n_clusters + 1))
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_clusters - 1)


def _vvv_terms(counts: np.ndarray, scatter: np.ndarray, alpha: float) -> np.ndarray:
    """Each cluster's term of the regularised VVV criterion (see the module docstring)."""
    n_features = scatter.shape[-1]
    regularised = (np.einsum("kii->k", scatter) + alpha) / counts
    terms = np.log(regularised)
    big = counts > n_features
    if np.any(big):
        sign, log_det = np.linalg.slogdet(scatter[big] / counts[big, None, None])
        det = np.where(sign > 0, np.exp(log_det), 0.0)
        terms[big] = np.log(det + regularised[big])
    return counts * terms


def is_ward(model: str) -> bool:
    """Whether ``model`` names mclust's EII tree (Ward's method) rather than its VVV tree
    (the two trees mclust starts from); any registered name of the two structures."""
    structure = get_structure(model)
    trees = {get_structure("VVV"): False, get_structure("EII"): True}
    if structure not in trees:
        raise ValueError(
            f"the hierarchical start has trees for 'VVV' (or 'full') and 'EII'; got {model!r}."
        )
    return trees[structure]


class _Clusters:
    """The state of the agglomeration: sizes, means, scatters and criterion terms of the
    clusters, indexed by their initial cluster; ``ward``: the EII tree, else VVV's."""

    def __init__(self, points: np.ndarray, counts: np.ndarray, ward: bool, alpha: float):
        self.counts = counts.astype(np.float64)
        self.means = points.copy()
        self.ward = ward
        self.alpha = alpha
        n_features = points.shape[1]
        self.scatter = None if ward else np.zeros((len(points), n_features, n_features))
        self.terms = np.zeros(len(points)) if ward else _vvv_terms(self.counts, self.scatter, alpha)

    def merged(self, i: int, others: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The criterion term of ``i`` merged with each of ``others``, and the scatters."""
        n_i, n_o = self.counts[i], self.counts[others]
        total = n_i + n_o
        diff = self.means[others] - self.means[i]
        weight = n_i * n_o / total
        if self.ward:  # EII: the increase of the total within-cluster scatter
            return weight * np.einsum("kd,kd->k", diff, diff), None
        scatter = self.scatter[i] + self.scatter[others]
        scatter += weight[:, None, None] * diff[:, :, None] * diff[:, None, :]
        return _vvv_terms(total, scatter, self.alpha), scatter

    def costs(self, i: int, others: np.ndarray) -> np.ndarray:
        """The change of the criterion when ``i`` merges with each of ``others``."""
        merged, _ = self.merged(i, others)
        if self.ward:  # merged is Ward's increase already
            return merged
        return merged - self.terms[i] - self.terms[others]

    def merge(self, i: int, j: int) -> None:
        terms, scatter = self.merged(i, np.array([j]))
        total = self.counts[i] + self.counts[j]
        self.means[i] = (self.counts[i] * self.means[i] + self.counts[j] * self.means[j]) / total
        self.counts[i] = total
        if scatter is not None:  # VVV: the merged cluster's term and scatter
            self.terms[i] = terms[0]
            self.scatter[i] = scatter[0]


def _initial_costs(clusters: _Clusters) -> np.ndarray:
    """Costs of merging every pair of initial clusters (each a point, or identical rows):
    their merged scatter is a rank-one matrix, so only distances enter. In place on one
    (n, n) array: it is the largest object of the agglomeration."""
    means, counts = clusters.means, clusters.counts
    sq = np.einsum("nd,nd->n", means, means)
    costs = means @ means.T
    costs *= -2.0
    costs += sq[:, None]
    costs += sq[None, :]
    np.maximum(costs, 0.0, out=costs)  # squared distances
    total = counts[:, None] + counts[None, :]
    costs *= counts[:, None] * counts[None, :] / total  # the trace of the merged scatter
    if not clusters.ward:  # VVV: |W| = 0 for a rank-one scatter in D >= 2: trace form
        costs += clusters.alpha
        costs /= total
        np.log(costs, out=costs)
        costs *= total
        costs -= clusters.terms[:, None]
        costs -= clusters.terms[None, :]
    np.fill_diagonal(costs, np.inf)
    return costs


def merge_tree(X: np.ndarray, model: str = "VVV") -> MergeTree:
    """Agglomerate the rows of ``X`` (already transformed) to one cluster.

    Parameters
    ----------
    X : ndarray of shape (n, D)
        ``D >= 2`` for ``"VVV"``.
    model : {"VVV", "EII"}
        The structure whose classification likelihood the merges follow (mclust's
        ``hcVVV``, ``hcEII``); ``"full"`` names VVV too.

    Returns
    -------
    MergeTree
    """
    points, groups, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    groups = groups.reshape(-1)
    n_rows, n_features = X.shape
    # alpha = traceW(X / sqrt(n p)): the total scatter per entry of the data matrix.
    alpha = max(float(np.sum((X - X.mean(axis=0)) ** 2)) / (n_rows * n_features), 2.2e-16)
    clusters = _Clusters(points, counts, is_ward(model), alpha)
    costs = _initial_costs(clusters)
    n_initial = len(points)
    active = np.ones(n_initial, dtype=bool)
    best = costs.argmin(axis=1) if n_initial > 1 else np.zeros(1, dtype=int)
    row_min = costs[np.arange(n_initial), best]
    merges = np.empty((max(n_initial - 1, 0), 2), dtype=np.int64)
    for step in range(n_initial - 1):
        first = int(np.argmin(row_min))
        i, j = sorted((first, int(best[first])))
        merges[step] = i, j
        clusters.merge(i, j)
        active[j] = False
        costs[j, :] = costs[:, j] = np.inf
        row_min[j] = np.inf
        others = np.flatnonzero(active)
        others = others[others != i]
        if others.size == 0:
            break
        new = clusters.costs(i, others)
        costs[i, others] = costs[others, i] = new
        best[i] = others[np.argmin(new)]
        row_min[i] = costs[i, best[i]]
        stale = others[(best[others] == i) | (best[others] == j)]
        if stale.size:
            best[stale] = costs[stale].argmin(axis=1)
            row_min[stale] = costs[stale, best[stale]]
        closer = others[new < row_min[others]]
        best[closer], row_min[closer] = i, costs[closer, i]
    return MergeTree(groups, merges)


@functools.lru_cache(maxsize=8)
def _cached_tree(data: bytes, shape: tuple[int, int]) -> MergeTree:
    X = np.frombuffer(data, dtype=np.float64).reshape(shape)
    Z = svd_scaled(X)
    model = "VVV" if shape[0] > shape[1] and Z.shape[1] >= 2 else "EII"
    return merge_tree(Z, model)


def hc_labels(X: np.ndarray, n_clusters: int) -> np.ndarray:
    """mclust's default start for ``n_clusters`` components: the VVV tree on the
    SVD-scaled rows cut at ``n_clusters`` (the EII tree when ``N <= D``; quantile classes
    for 1-D data).

    The tree does not depend on ``n_clusters``: the last few trees are kept (keyed by
    the rows), so that fits of several K or structures on the same data, as
    :func:`~bayesgmm.em.select_k` runs, build it once.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.shape[1] == 1:
        return quantile_classes(X[:, 0], n_clusters)
    return _cached_tree(X.tobytes(), X.shape).labels(n_clusters)
