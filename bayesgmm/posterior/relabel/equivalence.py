"""ECR: equivalence classes representatives (Papastamoulis & Iliopoulos 2010)."""

from __future__ import annotations

import numpy as np

from bayesgmm.posterior.relabel._checks import (
    check_labels,
    check_n_components,
    int_array,
)
from bayesgmm.posterior.relabel.permutations import (
    RelabelResult,
    relabel_allocations,
    solve_assignments,
)

__all__ = ["ecr", "ecr_iterative"]


def _check_allocations(allocations: object, n_components: object) -> tuple[np.ndarray, int]:
    n_comp = check_n_components(n_components)
    alloc = int_array(allocations, "allocations", 2)
    check_labels(alloc, "allocations", n_comp)
    return alloc, n_comp


def _check_pivot_allocation(pivot_allocation: object, n_obs: int, n_comp: int) -> np.ndarray:
    piv = int_array(pivot_allocation, "pivot_allocation", 1)
    if piv.shape != (n_obs,):
        raise ValueError(
            f"pivot_allocation must have shape (N,) = ({n_obs},) to match allocations, "
            f"got {piv.shape}."
        )
    check_labels(piv, "pivot_allocation", n_comp)
    return piv


def _ecr(alloc: np.ndarray, piv: np.ndarray, n_comp: int) -> np.ndarray:
    n_draws = alloc.shape[0]
    # counts[s, k, j] = #{n : pivot label k and draw-s label j}, built in one bincount.
    flat = (np.arange(n_draws)[:, None] * n_comp + piv[None, :]) * n_comp + alloc
    counts = np.bincount(flat.ravel(), minlength=n_draws * n_comp * n_comp)
    return solve_assignments(counts.reshape(n_draws, n_comp, n_comp), maximize=True)


def ecr(allocations: np.ndarray, pivot_allocation: np.ndarray, n_components: int) -> np.ndarray:
    """ECR algorithm, pivot version (Papastamoulis & Iliopoulos, 2010).

    Each draw is relabeled so that its relabeled allocation vector agrees with
    ``pivot_allocation`` on as many observations as possible.

    Parameters
    ----------
    allocations : numpy.ndarray
        Integer labels in ``[0, K)``, shape ``(S, N)``.
    pivot_allocation : numpy.ndarray
        Reference allocation vector, shape ``(N,)`` (e.g. the MAP draw's allocations).
    n_components : int
        Number of components ``K``.

    Returns
    -------
    numpy.ndarray
        Permutations, shape ``(S, K)``.
    """
    alloc, n_comp = _check_allocations(allocations, n_components)
    piv = _check_pivot_allocation(pivot_allocation, alloc.shape[1], n_comp)
    return _ecr(alloc, piv, n_comp)


def _modal_labels(alloc: np.ndarray, n_comp: int) -> np.ndarray:
    """Per-observation most frequent label over draws (ties go to the smallest label)."""
    n_obs = alloc.shape[1]
    counts = np.bincount(
        (np.arange(n_obs)[None, :] * n_comp + alloc).ravel(), minlength=n_obs * n_comp
    )
    return counts.reshape(n_obs, n_comp).argmax(axis=1)


def ecr_iterative(
    allocations: np.ndarray,
    n_components: int,
    max_iter: int = 100,
    pivot_allocation: np.ndarray | None = None,
) -> RelabelResult:
    """ECR-ITERATIVE-1 (Papastamoulis & Iliopoulos, 2010).

    Starting from a pivot allocation, repeatedly relabel with :func:`ecr` and replace the
    pivot by the per-observation modal label of the relabeled allocations, until the
    permutations stop changing.

    Parameters
    ----------
    allocations : numpy.ndarray
        Integer labels in ``[0, K)``, shape ``(S, N)``.
    n_components : int
        Number of components ``K``.
    max_iter : int, default 100
        Maximum number of ECR passes.
    pivot_allocation : numpy.ndarray, optional
        Initial pivot, shape ``(N,)``. Defaults to the first draw's allocations.

    Returns
    -------
    RelabelResult
        ``perms`` (S, K), ``n_iter`` (ECR passes) and ``converged``.
    """
    alloc, n_comp = _check_allocations(allocations, n_components)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if alloc.shape[0] == 0:
        raise ValueError("allocations must contain at least one draw.")
    piv = (
        alloc[0]
        if pivot_allocation is None
        else _check_pivot_allocation(pivot_allocation, alloc.shape[1], n_comp)
    )
    perms = _ecr(alloc, piv, n_comp)
    for n_iter in range(2, max_iter + 1):
        piv = _modal_labels(relabel_allocations(alloc, perms), n_comp)
        new_perms = _ecr(alloc, piv, n_comp)
        if np.array_equal(new_perms, perms):
            return RelabelResult(new_perms, n_iter, True)
        perms = new_perms
    return RelabelResult(perms, max_iter, False)
