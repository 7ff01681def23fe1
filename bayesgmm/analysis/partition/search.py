"""SALSO search for the partition minimising a posterior expected loss (numpy only).

Dahl, Johnson & Müller (2022, JCGS) "Search algorithms and loss functions for Bayesian
clustering": each run allocates the items one at a time in a random order, each to the
cluster (existing or new) that minimises the loss of the items allocated so far, then
*sweetens*: revisits every item and moves it to its best cluster, until a whole sweep
moves nothing. The best of many seeded runs is kept. (Their zealous updates, which
dissolve and re-allocate a whole cluster, are not implemented.)

Both objectives are functions of the posterior similarity matrix ``P``; the change when
item ``i`` joins cluster ``k`` (with ``i`` itself left out) is O(N) from the row ``P_i``:

* Binder (``2/N^2`` dropped): ``b n_k - (a + b) S_k`` with ``S_k = sum_{j in k} P_ij``.
* VI lower bound (times N, in bits): with ``A_j = sum_{l in c_j} P_jl`` kept per item,
  ``f(n_k + 1) - f(n_k) - 2 [sum_{j in k} log2(1 + P_ij / A_j) + log2(1 + S_k)]``,
  ``f(n) = n log2 n``; a new cluster costs 0.

Binder keeps ``C[k, i] = S_k`` for every item and cluster, updated by one PSM row per
move, so scoring an item reads K numbers and a sweep that moves nothing costs O(N K).
VI needs the log sums, so sweetening scores a block of items of one cluster at once:
the own cluster's log sums over its members, matrix products with the one-hot membership
matrix for ``S_k`` and for the linear bound ``sum_{j in k} P_ij / A_j`` (``log1p(x) <= x``),
and the other clusters' log sums only on the rows where the bound shows a move might
gain. It then applies the block's first improving move only and rescores the rest of the
block, so every item is judged against the current partition, exactly as in the
one-at-a-time algorithm, while the numpy overhead is paid per block.

A run whose sequential allocation lands on a partition already shown to be a local
optimum skips sweetening (a sweep from it moves nothing, in any order).

Pure numpy: the measured times are in ``docs/partition.md`` (``benchmarks/bench_partition.py``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from bayesgmm.analysis.partition.loss import (
    _expected_binder,
    _vi_lower_bound,
    binder_weights,
    canonical_labels,
    check_loss,
    check_psm,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike

__all__ = ["SearchResult", "salso"]

# Floats per (block, N) temporary in sweetening (32 MB at float64).
_BLOCK_BUDGET = 2**22
_MAX_BLOCK = 256
_MIN_BLOCK = 8
# Sweeps between recomputations of the incrementally kept sums (an N^2 K product): their
# rounding drift, about 1e-16 N per move, stays far below the move tolerance 1e-10 N.
_REFRESH_SWEEPS = 10
_INV_LN2 = 1.0 / np.log(2.0)
_TWO_OVER_LN2 = 2.0 / np.log(2.0)


class SearchResult(NamedTuple):
    """Best partition found by :func:`salso`.

    Attributes
    ----------
    labels : ndarray of shape (N,)
        Cluster labels 0..K-1 in order of first appearance.
    expected_loss : float
        The objective at ``labels`` (expected Binder loss, or the VI lower bound in bits),
        recomputed from scratch.
    run_losses : ndarray of shape (n_runs,)
        The objective reached by every run.
    n_sweeps : ndarray of shape (n_runs,)
        Sweetening sweeps of every run (the last one moves nothing); 0 when the run's
        sequential allocation gave a partition already known to be a local optimum.
    """

    labels: np.ndarray
    expected_loss: float
    run_losses: np.ndarray
    n_sweeps: np.ndarray


def _xlog2x(n: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=np.float64)
    return n * np.log2(np.maximum(n, 1.0))


class _State:
    """One run's partition: labels, cluster sizes, one-hot matrix and (VI) row sums A."""

    def __init__(self, P: np.ndarray, labels: np.ndarray, vi: bool) -> None:
        n_items = P.shape[0]
        self.P, self.vi = P, vi
        self.labels = labels.astype(np.intp)
        n_clusters = int(labels.max()) + 1
        self.hot = np.zeros((n_items, max(n_clusters, 4)))
        self.counts = np.zeros(self.hot.shape[1])
        self.refresh()

    def refresh(self) -> None:
        """Recompute sizes, one-hot and A from the labels (clears incremental rounding)."""
        n_items = self.labels.shape[0]
        self.hot[...] = 0
        self.hot[np.arange(n_items), self.labels] = 1
        self.counts = self.hot.sum(axis=0)
        if self.vi:
            self.A = (self.P @ self.hot)[np.arange(n_items), self.labels]
            self.invA = 1.0 / self.A
        else:  # cluster sums C[k, i] = sum_{j in k} P_ij of every item, kept on moves
            self.C = self.hot.T @ self.P

    def _free_column(self) -> int:
        empty = np.flatnonzero(self.counts == 0)
        if empty.size:
            return int(empty[0])
        extra = self.hot.shape[1]
        self.hot = np.hstack([self.hot, np.zeros((self.hot.shape[0], extra))])
        self.counts = np.concatenate([self.counts, np.zeros(extra)])
        if not self.vi:
            self.C = np.vstack([self.C, np.zeros((extra, self.C.shape[1]))])
        return extra

    def deltas(self, items: np.ndarray, own: int, a: float, b: float) -> np.ndarray:
        """Cost of placing each item of cluster ``own`` in each column: (m, columns).

        Relative to the partition with the item removed. Columns of empty clusters
        cost 0 (a new cluster); the caller masks them. For VI, columns other than
        ``own`` hold a lower bound unless the bound shows they might beat staying.
        """
        rows = np.arange(items.shape[0])
        if not self.vi:
            S = self.C[:, items].T
            S[:, own] -= 1.0  # P_ii = 1 is not a pair
            n = np.broadcast_to(self.counts, S.shape).copy()
            n[:, own] -= 1.0
            return b * n - (a + b) * S
        Pb = self.P[items]
        width = self.hot.shape[1]
        # One product for S and for U = sum_{j in k} P_ij / A_j.
        SU = Pb @ np.hstack([self.hot, self.hot * self.invA[:, None]])
        S, U = SU[:, :width], SU[:, width:]
        S[:, own] -= 1.0  # P_ii = 1 is not a pair
        n = np.broadcast_to(self.counts, S.shape).copy()
        n[:, own] -= 1.0
        size = _xlog2x(n + 1) - _xlog2x(n)
        # Staying: the exact log sums over the own cluster's members only.
        members = np.flatnonzero(self.labels == own)
        W = Pb[:, members] * self.invA[members]
        W[rows, np.searchsorted(members, items)] = 0.0  # the item itself
        stay_G = -_INV_LN2 * np.log1p(-W).sum(axis=1)
        cost = size - 2.0 * np.log2(1.0 + S)
        # Other clusters: log1p(x) <= x bounds sum_j log2(1 + P_ij / A_j) from above.
        cost_bound = cost - (2.0 * _INV_LN2) * U
        cost[:, own] -= 2.0 * stay_G
        cost_bound[:, own] = cost[:, own]
        might = (cost_bound < cost[:, own, None]) & (self.counts > 0)[None, :]
        need = might.any(axis=1)
        if need.any():  # exact log sums on the rows where another cluster might win
            rows_need = np.flatnonzero(need)
            L = np.log1p(Pb[rows_need] * self.invA[None, :]) @ self.hot
            L[:, own] = 0.0
            exact = cost[rows_need] - (2.0 * _INV_LN2) * L
            exact[:, own] = cost[rows_need, own]
            cost_bound[rows_need] = exact
        return cost_bound

    def move(self, item: int, target: int) -> None:
        """Move ``item`` to column ``target`` (may be empty), updating everything in O(N)."""
        source = int(self.labels[item])
        if self.vi:
            row = self.P[item]
            in_source = self.labels == source
            in_source[item] = False
            in_target = self.labels == target
            self.A[in_source] -= row[in_source]
            self.A[in_target] += row[in_target]
            self.A[item] = 1.0 + row[in_target].sum()
            changed = in_source | in_target
            changed[item] = True
            self.invA[changed] = 1.0 / self.A[changed]
        else:
            self.C[source] -= self.P[item]
            self.C[target] += self.P[item]
        self.hot[item, source] = 0.0
        self.hot[item, target] = 1.0
        self.counts[source] -= 1
        self.counts[target] += 1
        self.labels[item] = target


def _sequential_allocation(
    P: np.ndarray, perm: np.ndarray, vi: bool, a: float, b: float, max_clusters: int
) -> np.ndarray:
    """Allocate items in the order ``perm``, each to its best cluster given those before."""
    if not vi:
        return _sequential_binder(P, perm, a, b, max_clusters)
    return _sequential_vi(P, perm, max_clusters)


def _sequential_binder(
    P: np.ndarray, perm: np.ndarray, a: float, b: float, max_clusters: int
) -> np.ndarray:
    """Binder: the cluster sums ``C[k, i] = sum_{j placed in k} P_ij`` are kept for every
    item, so a step reads K of them and adds one PSM row (O(N), contiguous)."""
    n_items = P.shape[0]
    labels = np.empty(n_items, dtype=np.intp)
    C = np.zeros((min(8, max_clusters), n_items))
    size_cost = np.zeros(max_clusters)  # b n_k
    n_used = 0
    for item in perm:
        cost = size_cost[:n_used] - (a + b) * C[:n_used, item]
        best = int(np.argmin(cost)) if n_used else -1
        if n_used < max_clusters and (best < 0 or cost[best] > 0.0):
            best, n_used = n_used, n_used + 1
            if n_used > C.shape[0]:
                C = np.vstack([C, np.zeros((min(C.shape[0], max_clusters - C.shape[0]), n_items))])
        C[best] += P[item]
        size_cost[best] += b
        labels[item] = best
    return labels


def _sequential_vi(P: np.ndarray, perm: np.ndarray, max_clusters: int) -> np.ndarray:
    """VI lower bound: per step O(t) work on the t items already placed (held in ``perm``
    order, so they are a prefix). The size term is cached; it changes only on a join.
    (Two alternatives were measured slower: running the runs in lockstep, whose 2-D
    gathers of PSM rows cost more than the call overhead saved, and skipping the log
    sums of clusters whose linear bound cannot win, whose extra passes cost more than
    the logs saved.)"""
    n_items = P.shape[0]
    lab = np.empty(n_items, dtype=np.intp)  # labels in perm order
    A = np.empty(n_items, dtype=P.dtype)
    counts = np.zeros(max_clusters)
    size_cost = np.zeros(max_clusters)  # f(n + 1) - f(n), f(n) = n log2 n
    n_used = 0
    for t in range(n_items):
        row = P[perm[t]][perm[:t]]
        prev = lab[:t]
        S = np.bincount(prev, weights=row, minlength=n_used)
        ratio = np.divide(row, A[:t])
        # log(1 + x) as log of a sum: numpy's log is vectorised, log1p is not (2x).
        np.log(np.add(ratio, 1.0, out=ratio), out=ratio)
        G = np.bincount(prev, weights=ratio, minlength=n_used)
        cost = size_cost[:n_used] - _TWO_OVER_LN2 * (G + np.log1p(S))
        best = int(np.argmin(cost)) if n_used else -1
        if n_used < max_clusters and (best < 0 or cost[best] > 0.0):
            best, n_used, s_best = n_used, n_used + 1, 0.0
        else:  # the members of the joined cluster gain P_ij in their A_j
            s_best = S[best]
            np.add(A[:t], row, out=A[:t], where=prev == best)
        A[t] = 1.0 + s_best
        lab[t] = best
        counts[best] += 1
        n = float(counts[best])
        size_cost[best] = (n + 1) * math.log2(n + 1) - n * math.log2(n)
    labels = np.empty(n_items, dtype=np.intp)
    labels[perm] = lab
    return labels


def _sweeten_block(
    state: _State,
    block: np.ndarray,
    own: int,
    a: float,
    b: float,
    max_clusters: int,
    tol: float,
) -> int:
    """Sweeten the items of ``block`` (all in cluster ``own``) in order, each against the
    current partition: evaluate the rest of the block, apply its first improving move."""
    moves, pos = 0, 0
    while pos < block.shape[0]:
        items = block[pos:]
        cost = state.deltas(items, own, a, b)
        stay = cost[:, own].copy()
        occupied = state.counts > 0
        allowed = np.broadcast_to(occupied, cost.shape).copy()
        allowed[:, own] = True
        cost = np.where(allowed, cost, np.inf)
        best = cost.argmin(axis=1)
        best_cost = cost[np.arange(items.shape[0]), best]
        # A new cluster costs 0; it is open unless the bound is reached (an item leaving a
        # singleton frees its own cluster, but staying then costs 0 too).
        if occupied.sum() < max_clusters:
            new = best_cost > 0.0
            best = np.where(new, -1, best)
            best_cost = np.where(new, 0.0, best_cost)
        improving = stay - best_cost > tol
        if not improving.any():
            break
        first = int(np.argmax(improving))
        target = int(best[first])
        if target < 0:
            target = state._free_column()
        state.move(int(items[first]), target)
        moves += 1
        pos += first + 1
    return moves


def _sweeten(
    state: _State,
    rng: np.random.Generator,
    a: float,
    b: float,
    max_clusters: int,
    max_sweeps: int,
    tol: float,
) -> int:
    """Sweeps over all items until one moves nothing; returns the number of sweeps.

    Each sweep visits the clusters in turn (items in random order within each), so that a
    block shares its own cluster, whose exact VI terms are the only ones always needed.
    """
    n_items = state.labels.shape[0]
    largest = int(max(_MIN_BLOCK, min(_MAX_BLOCK, _BLOCK_BUDGET // n_items)))
    size = largest
    for sweep in range(1, max_sweeps + 1):
        order = rng.permutation(n_items)
        order = order[np.argsort(state.labels[order], kind="stable")]
        bounds = np.flatnonzero(np.diff(state.labels[order])) + 1
        moves = 0
        for group in np.split(order, bounds):
            own = int(state.labels[group[0]])
            start = 0
            while start < group.shape[0]:
                block = group[start : start + size]
                moved = _sweeten_block(state, block, own, a, b, max_clusters, tol)
                # Each move rescores the rest of its block: smaller blocks while items
                # move, larger ones while they do not.
                size = max(_MIN_BLOCK, size // 2) if moved else min(largest, 2 * size)
                moves += moved
                start += block.shape[0]
        if moves == 0:
            return sweep
        if sweep % _REFRESH_SWEEPS == 0:
            state.refresh()
    return max_sweeps


def _check_count(value: int, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def salso(
    psm: ArrayLike,
    loss: str = "VI",
    *,
    a: float = 1.0,
    b: float | None = None,
    n_runs: int = 16,
    max_clusters: int | None = None,
    max_sweeps: int = 100,
    random_seed: SeedLike = 0,
) -> SearchResult:
    """Minimise the posterior expected loss over partitions by SALSO.

    Parameters
    ----------
    psm : array-like of shape (N, N)
        Posterior similarity matrix ``P(z_i = z_j | X)``.
    loss : {"VI", "binder"}
        ``"VI"`` minimises the lower bound of the expected VI
        (:func:`bayesgmm.analysis.partition.loss.vi_lower_bound`); ``"binder"`` the expected Binder
        loss with weights ``a``, ``b`` (:func:`bayesgmm.analysis.partition.loss.expected_binder`).
    a, b : float
        Binder weights: cost of separating items that belong together (``a``) and of
        joining items that belong apart (``b``, default ``2 - a`` as in salso).
    n_runs : int
        Independent runs (random allocation orders); the best is returned.
    max_clusters : int, optional
        Most clusters a partition may have (default N: no bound).
    max_sweeps : int
        Safety cap on sweetening sweeps per run.
    random_seed : int or numpy.random.Generator

    Returns
    -------
    SearchResult
    """
    loss = check_loss(loss)
    a, b = binder_weights(a, b)
    P = check_psm(psm)
    n_items = P.shape[0]
    n_runs = _check_count(n_runs, "n_runs")
    max_sweeps = _check_count(max_sweeps, "max_sweeps")
    limit = n_items if max_clusters is None else _check_count(max_clusters, "max_clusters")
    limit = min(limit, n_items)
    rng = np.random.default_rng(random_seed)
    vi = loss == "VI"
    # Moves must gain more than rounding can fake: sums of N terms of order 1.
    tol = 1e-10 * n_items
    best, best_loss = None, np.inf
    run_losses, sweeps = np.empty(n_runs), np.empty(n_runs, dtype=np.intp)
    # Partitions known to be local optima: a sweep from one moves nothing in any order
    # (no item can gain, and nothing changes), so a run that starts there skips it.
    optima: dict[bytes, float] = {}
    for run in range(n_runs):
        labels = _sequential_allocation(P, rng.permutation(n_items), vi, a, b, limit)
        key = canonical_labels(labels).tobytes()
        if key in optima:
            sweeps[run], run_losses[run] = 0, optima[key]
            continue
        state = _State(P, labels, vi)
        sweeps[run] = _sweeten(state, rng, a, b, limit, max_sweeps, tol)
        labels = canonical_labels(state.labels)
        value = _vi_lower_bound(labels, P) if vi else _expected_binder(labels, P, a, b)
        optima[labels.tobytes()] = run_losses[run] = value
        if value < best_loss:
            best, best_loss = labels, value
    return SearchResult(
        labels=best, expected_loss=float(best_loss), run_losses=run_losses, n_sweeps=sweeps
    )
