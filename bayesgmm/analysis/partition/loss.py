"""Partition losses, the posterior similarity matrix and the credible ball (numpy only).

The losses compare an estimate ``c`` with a "true" partition ``c'`` of the same N items:

* **Binder** with weights ``a`` and ``b`` (salso's parametrisation, ``b = 2 - a`` by
  default so ``a = 1`` is the symmetric loss)::

      L(c, c') = 2 / N^2 * sum_{i<j} [ a 1(c'_i = c'_j, c_i != c_j) + b 1(c'_i != c'_j, c_i = c_j) ]

  ``a`` is the cost of separating two items that belong together, ``b`` that of joining
  two that belong apart. With ``a = b = 1`` this is mcclust.ext's ``dist.binder``.
  Its posterior expectation is linear in the posterior similarity matrix (PSM)
  ``P_ij = P(z_i = z_j | X)``, so :func:`expected_binder` is exact given the PSM.
* **Variation of information** (Meila 2007), in bits::

      VI(c, c') = H(c) + H(c') - 2 I(c, c')

  Its expectation is not a function of the PSM; :func:`vi_lower_bound` is the lower bound
  of Wade & Ghahramani (2018, eq. 4.1), Jensen's inequality applied to the
  expectation, that mcclust.ext's ``minVI`` and salso's ``VI.lb`` minimise.

:func:`credible_ball` is Wade & Ghahramani's (2018) credible ball around an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bayesgmm._utils.deprecation import DEPRECATED, renamed, warn_renamed

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "LOSSES",
    "CredibleBall",
    "binder_distance",
    "binder_weights",
    "canonical_labels",
    "check_allocations",
    "check_labels",
    "check_psm",
    "credible_ball",
    "expected_binder",
    "psm_from_allocations",
    "vi_distance",
    "vi_lower_bound",
]

LOSSES = ("VI", "binder")

# Largest (N, draws x clusters) one-hot block formed at once by psm_from_allocations.
_ONE_HOT_BUDGET = 2**24
# How far (in absolute value) a PSM entry may stray outside [0, 1] or from symmetry.
_PSM_TOL = 1e-6


def check_loss(loss: str) -> str:
    """The canonical loss name ("VI" or "binder"), case-insensitive."""
    names = {name.lower(): name for name in LOSSES}
    if not isinstance(loss, str) or loss.lower() not in names:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}.")
    return names[loss.lower()]


def binder_weights(a: float = 1.0, b: float | None = None) -> tuple[float, float]:
    """Validated Binder weights; ``b`` defaults to ``2 - a`` as in salso."""
    a = float(a)
    b = 2.0 - a if b is None else float(b)
    if not (np.isfinite(a) and np.isfinite(b) and a >= 0 and b >= 0 and a + b > 0):
        raise ValueError(
            f"Binder weights must be finite, non-negative and not both zero; got a={a}, b={b}. "
            "Use a in [0, 2] with the default b = 2 - a."
        )
    return a, b


def _integer_array(values: ArrayLike, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != ndim:
        shape = "(N,)" if ndim == 1 else "(S, N): one row per posterior draw"
        raise ValueError(f"{name} must be {ndim}-D of shape {shape}; got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one item (and one draw).")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "f":
        raise ValueError(f"{name} must hold integer cluster labels; got dtype {arr.dtype}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; labels must be integers.")
    if np.any(arr != np.round(arr)):
        raise ValueError(
            f"{name} holds non-integer values; pass integer cluster labels (e.g. sampled "
            "allocations), not membership probabilities."
        )
    return arr.astype(np.int64)


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel every row to 0, 1, ... in order of first appearance (same partitions).

    Accepts ``(N,)`` or ``(S, N)`` integer labels; returns the same shape, dtype intp.
    """
    lab = np.atleast_2d(labels)
    n_rows, n_items = lab.shape
    order = np.argsort(lab, axis=1, kind="stable")
    sorted_lab = np.take_along_axis(lab, order, axis=1)
    starts = np.ones((n_rows, n_items), dtype=bool)
    starts[:, 1:] = sorted_lab[:, 1:] != sorted_lab[:, :-1]
    group = np.cumsum(starts, axis=1) - 1  # value rank of each sorted item, per row
    # The stable sort puts each value's first occurrence at the start of its run.
    first = np.full((n_rows, int(group[:, -1].max()) + 1), n_items)
    row, pos = np.nonzero(starts)
    first[row, group[row, pos]] = order[row, pos]
    rank = np.argsort(np.argsort(first, axis=1, kind="stable"), axis=1)
    out = np.empty(lab.shape, dtype=np.intp)
    np.put_along_axis(out, order, np.take_along_axis(rank, group, axis=1), axis=1)
    return out.reshape(np.shape(labels))


def check_labels(labels: ArrayLike, n_items: int | None = None, name: str = "labels") -> np.ndarray:
    """One partition as canonical labels ``(N,)``; errors say what is wrong."""
    arr = _integer_array(labels, name, 1)
    if n_items is not None and arr.shape[0] != n_items:
        raise ValueError(f"{name} has {arr.shape[0]} items; expected {n_items}.")
    return canonical_labels(arr)


def check_allocations(allocations: ArrayLike) -> np.ndarray:
    """Allocation draws ``(S, N)`` as canonical labels (each row relabeled 0..K_s-1)."""
    return canonical_labels(_integer_array(allocations, "allocations", 2))


def check_psm(psm: ArrayLike, n_items: int | None = None) -> np.ndarray:
    """A posterior similarity matrix as float64 ``(N, N)``: symmetric, in [0, 1], unit diagonal."""
    arr = np.asarray(psm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"psm must be a square (N, N) matrix; got shape {arr.shape}.")
    if n_items is not None and arr.shape[0] != n_items:
        raise ValueError(f"psm is {arr.shape[0]} x {arr.shape[0]}; expected N = {n_items}.")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"psm must be numeric; got dtype {arr.dtype}.")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("psm contains NaN or infinite values.")
    if arr.min() < -_PSM_TOL or arr.max() > 1 + _PSM_TOL:
        raise ValueError("psm entries must be probabilities in [0, 1].")
    if np.max(np.abs(np.diagonal(arr) - 1.0)) > _PSM_TOL:
        raise ValueError("psm must have ones on its diagonal (P(z_i = z_i) = 1).")
    if np.max(np.abs(arr - arr.T)) > _PSM_TOL:
        raise ValueError("psm must be symmetric.")
    return arr


def _one_hot(labels: np.ndarray, n_clusters: int, dtype: DTypeLike = np.float64) -> np.ndarray:
    out = np.zeros((labels.shape[0], n_clusters), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def psm_from_allocations(allocations: ArrayLike) -> np.ndarray:
    """Posterior similarity matrix ``P_ij = mean_s 1(z_si = z_sj)`` from allocation draws.

    Counts are summed as float32 one-hot products in blocks of draws (exact: integer
    counts below 2**24), then divided by S in float64.

    Parameters
    ----------
    allocations : array-like of int, shape (S, N)

    Returns
    -------
    numpy.ndarray of shape (N, N), float64
    """
    alloc = check_allocations(allocations)
    n_draws, n_items = alloc.shape
    n_clusters = int(alloc.max()) + 1
    step = max(1, min(n_draws, _ONE_HOT_BUDGET // max(1, n_items * n_clusters)))
    count = np.zeros((n_items, n_items), dtype=np.float32)
    for start in range(0, n_draws, step):
        block = alloc[start : start + step]
        flat = (block + n_clusters * np.arange(block.shape[0])[:, None]).T  # (N, s)
        hot = np.zeros((n_items, block.shape[0] * n_clusters), dtype=np.float32)
        np.put_along_axis(hot, flat, 1.0, axis=1)
        count += hot @ hot.T
    psm = count.astype(np.float64) / n_draws
    np.fill_diagonal(psm, 1.0)
    return psm


def _xlogx(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x * np.log2(np.where(x > 0, x, 1.0)), 0.0)


def expected_binder(
    labels: ArrayLike, psm: ArrayLike, a: float = 1.0, b: float | None = None
) -> float:
    """Posterior expected Binder loss of one partition, exact given the PSM.

    ``E L(c) = 2/N^2 sum_{i<j} [a P_ij 1(c_i != c_j) + b (1 - P_ij) 1(c_i = c_j)]``.
    """
    a, b = binder_weights(a, b)
    P = check_psm(psm)
    return _expected_binder(check_labels(labels, P.shape[0]), P, a, b)


def _expected_binder(lab: np.ndarray, P: np.ndarray, a: float, b: float) -> float:
    n_items = P.shape[0]
    hot = _one_hot(lab, int(lab.max()) + 1)
    within = (np.sum(hot * (P @ hot)) - n_items) / 2  # sum_{i<j, same} P_ij
    total = (P.sum() - n_items) / 2
    counts = hot.sum(axis=0)
    same_pairs = float(np.sum(counts * (counts - 1)) / 2)
    return 2.0 / n_items**2 * (a * (total - within) + b * (same_pairs - within))


def vi_lower_bound(labels: ArrayLike, psm: ArrayLike) -> float:
    """Lower bound of the posterior expected VI (Wade & Ghahramani 2018), in bits.

    ``VI_lb(c) = 1/N sum_i [log2 n_{c_i} + log2 sum_j P_ij - 2 log2 sum_j 1(c_j = c_i) P_ij]``.
    """
    P = check_psm(psm)
    return _vi_lower_bound(check_labels(labels, P.shape[0]), P)


def _vi_lower_bound(lab: np.ndarray, P: np.ndarray) -> float:
    hot = _one_hot(lab, int(lab.max()) + 1)
    within = (P @ hot)[np.arange(lab.shape[0]), lab]
    sizes = hot.sum(axis=0)[lab]
    terms = np.log2(sizes) + np.log2(P.sum(axis=1)) - 2 * np.log2(within)
    return float(terms.mean())


def _contingency(estimate: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Counts n_skl of items with estimate label k and draw-s label l: (S, K, L)."""
    n_draws = draws.shape[0]
    k_est, k_draw = int(estimate.max()) + 1, int(draws.max()) + 1
    flat = (np.arange(n_draws)[:, None] * k_est + estimate[None, :]) * k_draw + draws
    counts = np.bincount(flat.ravel(), minlength=n_draws * k_est * k_draw)
    return counts.reshape(n_draws, k_est, k_draw).astype(np.float64)


def binder_distance(
    estimate: ArrayLike, draws: ArrayLike, a: float = 1.0, b: float | None = None
) -> np.ndarray:
    """Binder loss ``L(estimate, draw)`` of the estimate against every draw: shape (S,)."""
    a, b = binder_weights(a, b)
    est = check_labels(estimate)
    alloc = check_allocations(np.atleast_2d(draws))
    if alloc.shape[1] != est.shape[0]:
        raise ValueError(f"draws have {alloc.shape[1]} items; the estimate has {est.shape[0]}.")
    table = _contingency(est, alloc)
    pairs = table * (table - 1) / 2
    both = pairs.sum(axis=(1, 2))
    in_est = (lambda n: n * (n - 1) / 2)(table.sum(axis=2)).sum(axis=1)
    in_draw = (lambda n: n * (n - 1) / 2)(table.sum(axis=1)).sum(axis=1)
    return 2.0 / est.shape[0] ** 2 * (a * (in_draw - both) + b * (in_est - both))


def vi_distance(estimate: ArrayLike, draws: ArrayLike) -> np.ndarray:
    """Variation of information (bits) between the estimate and every draw: shape (S,)."""
    est = check_labels(estimate)
    alloc = check_allocations(np.atleast_2d(draws))
    if alloc.shape[1] != est.shape[0]:
        raise ValueError(f"draws have {alloc.shape[1]} items; the estimate has {est.shape[0]}.")
    table = _contingency(est, alloc)
    joint = _xlogx(table).sum(axis=(1, 2))
    rows = _xlogx(table.sum(axis=2)).sum(axis=1)
    cols = _xlogx(table.sum(axis=1)).sum(axis=1)
    return np.maximum((rows + cols - 2 * joint) / est.shape[0], 0.0)


@dataclass(frozen=True)
class CredibleBall:
    """Wade & Ghahramani's (2018) credible ball around a partition estimate.

    Attributes
    ----------
    hdi_prob : float
        Posterior mass the ball holds (at least this fraction of the draws); ``level`` is
        its deprecated name.
    radius : float
        Smallest ``eps`` such that the ball ``{c : d(estimate, c) <= eps}`` holds
        ``hdi_prob`` of the draws, under the loss of the estimate.
    horizontal : numpy.ndarray of shape (m, N)
        Horizontal bound: the distinct draws in the ball farthest from the estimate
        (at distance ``radius``).
    upper_vertical : numpy.ndarray of shape (m, N)
        Upper vertical bound: among the draws in the ball with the *fewest* clusters,
        those farthest from the estimate (the coarsest partitions the ball admits).
    lower_vertical : numpy.ndarray of shape (m, N)
        Lower vertical bound: among the draws in the ball with the *most* clusters, those
        farthest from the estimate (the finest partitions the ball admits).
    horizontal_distance, upper_vertical_distance, lower_vertical_distance : float
        Distances of the bounds from the estimate.
    n_clusters_range : tuple of int
        Fewest and most clusters among the draws in the ball.
    n_in_ball : int
        Draws inside the ball.
    distances : numpy.ndarray of shape (S,)
        Distance of every draw from the estimate.
    """

    hdi_prob: float
    radius: float
    horizontal: np.ndarray
    upper_vertical: np.ndarray
    lower_vertical: np.ndarray
    horizontal_distance: float
    upper_vertical_distance: float
    lower_vertical_distance: float
    n_clusters_range: tuple[int, int]
    n_in_ball: int
    distances: np.ndarray

    @property
    def level(self) -> float:
        """Deprecated name of :attr:`hdi_prob`."""
        warn_renamed("CredibleBall", "level", "hdi_prob")
        return self.hdi_prob


def check_hdi_prob(value: float, name: str = "hdi_prob") -> float:
    """A credible mass strictly between 0 and 1 (``name``: the argument the user gave)."""
    try:
        mass = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), e.g. 0.95; got {value!r}.") from None
    if not 0 < mass < 1:
        raise ValueError(f"{name} must be in (0, 1), e.g. 0.95; got {value!r}.")
    return mass


def resolve_hdi_prob(where: str, hdi_prob: float, level: float | str) -> float:
    """``hdi_prob``, or the deprecated ``level`` when that was given; checked."""
    name = "hdi_prob" if isinstance(level, str) and level == DEPRECATED else "level"
    mass = renamed(where, "level", level, "hdi_prob", hdi_prob, 0.95, stacklevel=5)
    return check_hdi_prob(mass, name)


def _farthest(draws: np.ndarray, dist: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    far = float(dist[mask].max())
    chosen = draws[mask & (dist == far)]
    return np.unique(chosen, axis=0), far


def credible_ball(
    estimate: ArrayLike,
    allocations: ArrayLike,
    loss: str = "VI",
    hdi_prob: float = 0.95,
    *,
    a: float = 1.0,
    b: float | None = None,
    level: float | str = DEPRECATED,
) -> CredibleBall:
    """The credible ball around ``estimate`` from allocation draws (Wade & Ghahramani 2018).

    The radius is the ``ceil(hdi_prob * S)``-th smallest distance from the estimate to the
    draws (as mcclust.ext's ``credibleball``); every draw within it is in the ball, so ties
    at the edge are all included. Bounds are distinct canonical partitions among the draws.

    Parameters
    ----------
    estimate : array-like of int, shape (N,)
    allocations : array-like of int, shape (S, N)
        Posterior draws of the partition.
    loss : {"VI", "binder"}
        The distance: VI in bits, or the Binder loss with weights ``a``, ``b``.
    hdi_prob : float in (0, 1)
        Posterior mass of the ball.
    level : float
        Deprecated alias of ``hdi_prob``.

    Returns
    -------
    CredibleBall
    """
    hdi_prob = resolve_hdi_prob("credible_ball", hdi_prob, level)
    loss = check_loss(loss)
    est = check_labels(estimate)
    alloc = check_allocations(allocations)
    if loss == "VI":
        dist = vi_distance(est, alloc)
    else:
        dist = binder_distance(est, alloc, a, b)
    n_draws = alloc.shape[0]
    rank = int(np.ceil(hdi_prob * n_draws - 1e-9))
    radius = float(np.sort(dist)[max(rank, 1) - 1])
    inside = dist <= radius
    n_clusters = alloc.max(axis=1) + 1
    fewest, most = int(n_clusters[inside].min()), int(n_clusters[inside].max())
    horizontal, far = _farthest(alloc, dist, inside)
    upper, upper_d = _farthest(alloc, dist, inside & (n_clusters == fewest))
    lower, lower_d = _farthest(alloc, dist, inside & (n_clusters == most))
    return CredibleBall(
        hdi_prob=hdi_prob,
        radius=radius,
        horizontal=horizontal,
        upper_vertical=upper,
        lower_vertical=lower,
        horizontal_distance=far,
        upper_vertical_distance=upper_d,
        lower_vertical_distance=lower_d,
        n_clusters_range=(fewest, most),
        n_in_ball=int(inside.sum()),
        distances=dist,
    )
