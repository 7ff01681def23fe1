"""The one allocation sampler: ``z_sn ~ Categorical(r_sn)`` from posterior draws.

The mixture marginalises the allocations, so every function that needs them (the occupied
components, the partition, the memberships' ``n_occupied``, ECR relabeling) redraws them
from the membership probabilities ``r_snk`` of each draw ``s``. They are computed here in
blocks of draws (or of rows) whose ``(draws, rows, K)`` temporaries stay within a budget,
and the blocks are handed to the caller (:func:`allocation_blocks`) or reduced here
(:func:`sample_allocations`, :func:`allocation_counts`).

The uniform behind ``z_sn`` is a function of the seed and of ``(s, n)`` alone (a Philox
counter stream per draw, positioned at row ``n``), so the allocations do not depend on
how the work is cut into blocks, nor on whether it runs over draws or over rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

import numpy as np

from bayesgmm.mixture import draws as draw_math

__all__ = [
    "ALLOCATION_BUDGET",
    "AllocationBlock",
    "allocation_blocks",
    "allocation_counts",
    "block_counts",
    "categorical_from_uniforms",
    "sample_allocations",
]

#: Floats of one ``(draws, rows, K)`` block of membership probabilities (32 MB).
ALLOCATION_BUDGET = 2**22
# Philox yields four 64-bit words per counter step; a row's uniform is word n % 4 of step n // 4.
_WORDS_PER_STEP = 4


class AllocationBlock(NamedTuple):
    """One block of the sampler's output.

    Attributes
    ----------
    draws, rows : slice
        The draws and rows the block covers.
    probabilities : ndarray of shape (s, n, K)
        Their membership probabilities (labelled rows one-hot).
    allocations : ndarray of int, shape (s, n)
        Their sampled (or MAP) allocations.
    """

    draws: slice
    rows: slice
    probabilities: np.ndarray
    allocations: np.ndarray


def categorical_from_uniforms(probabilities: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: ``z = min{k : u < sum_{j <= k} p_j}``, shape ``probabilities.shape[:-1]``.

    ``u`` is scaled by the row total, so rounding in the cumulative sum cannot push it past
    the last component; the clip covers the remaining rounding edge case.
    """
    cdf = np.cumsum(probabilities, axis=-1)
    scaled = uniforms[..., None] * cdf[..., -1:]
    labels = (cdf <= scaled).sum(axis=-1)
    return np.minimum(labels, probabilities.shape[-1] - 1).astype(np.intp)


def _philox_key(rng: np.random.Generator | None) -> np.ndarray | None:
    if rng is None:
        return None
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {type(rng)}.")
    return rng.integers(0, np.iinfo(np.uint64).max, size=2, dtype=np.uint64, endpoint=True)


def _uniforms(key: np.ndarray, draws: slice, rows: slice) -> np.ndarray:
    """The uniforms of draws x rows: draw s's counter stream, read from row ``rows.start``."""
    step, skip = divmod(rows.start, _WORDS_PER_STEP)
    out = np.empty((draws.stop - draws.start, rows.stop - rows.start))
    for i, draw in enumerate(range(draws.start, draws.stop)):
        counter = np.array([step, draw, 0, 0], dtype=np.uint64)
        stream = np.random.Generator(np.random.Philox(counter=counter, key=key))
        if skip:
            stream.random(skip)
        out[i] = stream.random(out.shape[1])
    return out


def _check_draws(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> None:
    n_draws, n_comp = weights.shape
    n_features = X.shape[1]
    if means.shape != (n_draws, n_comp, n_features) or covariances.shape != (
        n_draws,
        n_comp,
        n_features,
        n_features,
    ):
        raise ValueError(
            f"draws must have weights (S, K), means (S, K, D) and covariances (S, K, D, D) "
            f"with D={n_features} as X; got {weights.shape}, {means.shape}, "
            f"{covariances.shape}."
        )


def _blocks(
    n_draws: int, n_obs: int, n_comp: int, by: str, budget: int
) -> Iterator[tuple[slice, slice]]:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive integer of floats; got {budget!r}.")
    every_draw, every_row = slice(0, n_draws), slice(0, n_obs)
    if by == "draws":
        return (
            (part, every_row) for part in draw_math.chunked_draws(n_draws, n_obs, n_comp, budget)
        )
    if by == "rows":
        return (
            (every_draw, part) for part in draw_math.chunked_rows(n_obs, n_draws, n_comp, budget)
        )
    raise ValueError(f"by must be 'draws' or 'rows'; got {by!r}.")


def allocation_blocks(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    rng: np.random.Generator | None,
    *,
    labels: np.ndarray | None = None,
    by: Literal["draws", "rows"] = "draws",
    budget: int = ALLOCATION_BUDGET,
) -> Iterator[AllocationBlock]:
    """Allocations of every row under every draw, block by block.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        The rows; NaN marks a missing coordinate (the observed ones decide).
    weights, means, covariances : ndarray
        The draws: ``(S, K)``, ``(S, K, D)`` and full ``(S, K, D, D)`` matrices.
    rng : numpy.random.Generator or None
        Seeds the allocations ``z_sn ~ Categorical(r_sn)``; ``None`` gives the MAP
        allocation ``argmax_k r_snk`` instead (no randomness).
    labels : ndarray of int, shape (N,), optional
        Partial labels (-1 unknown): a labelled row is allocated to its label.
    by : {"draws", "rows"}
        Blocks of draws over every row, or blocks of rows over every draw (for summaries
        across draws, such as a row's median membership).
    budget : int
        Largest ``(draws, rows, K)`` block, in floats. It changes the blocks, never the
        allocations.

    Yields
    ------
    AllocationBlock
    """
    _check_draws(X, weights, means, covariances)
    key = _philox_key(rng)
    for draws, rows in _blocks(weights.shape[0], X.shape[0], weights.shape[1], by, budget):
        block_labels = None if labels is None else labels[rows]
        prob = draw_math.responsibilities(
            X[rows], weights[draws], means[draws], covariances[draws], block_labels
        )
        if key is None:
            alloc = prob.argmax(axis=2).astype(np.intp)
        else:
            alloc = categorical_from_uniforms(prob, _uniforms(key, draws, rows))
        yield AllocationBlock(draws, rows, prob, alloc)


def sample_allocations(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    rng: np.random.Generator | None,
    *,
    labels: np.ndarray | None = None,
    budget: int = ALLOCATION_BUDGET,
) -> np.ndarray:
    """All allocations, shape ``(S, N)``: :func:`allocation_blocks` gathered."""
    out = np.empty((weights.shape[0], X.shape[0]), dtype=np.intp)
    for block in allocation_blocks(
        X, weights, means, covariances, rng, labels=labels, budget=budget
    ):
        out[block.draws, block.rows] = block.allocations
    return out


def block_counts(
    block: AllocationBlock, n_components: int, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Rows (or their observation weights) allocated to each component, per draw: (s, K)."""
    alloc = block.allocations
    n_draws = alloc.shape[0]
    flat = (np.arange(n_draws)[:, None] * n_components + alloc).ravel()
    count = None
    if sample_weight is not None:
        count = np.broadcast_to(sample_weight[block.rows], alloc.shape).ravel()
    per_comp = np.bincount(flat, weights=count, minlength=n_draws * n_components)
    return per_comp.reshape(n_draws, n_components)


def allocation_counts(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    rng: np.random.Generator | None,
    *,
    labels: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    budget: int = ALLOCATION_BUDGET,
) -> np.ndarray:
    """Sampled component sizes per draw, shape ``(S, K)``, without an ``(S, N)`` array.

    ``sample_weight`` (shape (N,)) counts row ``n`` ``w_n`` times, as a weighted fit does.
    """
    n_draws, n_comp = weights.shape
    counts = np.zeros((n_draws, n_comp))
    for block in allocation_blocks(
        X, weights, means, covariances, rng, labels=labels, budget=budget
    ):
        counts[block.draws] += block_counts(block, n_comp, sample_weight)
    return counts
