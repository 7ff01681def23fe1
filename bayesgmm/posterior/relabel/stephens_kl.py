"""Stephens' (2000) Kullback-Leibler relabeling, in memory or over blocks of draws."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bayesgmm.posterior.relabel._checks import (
    check_perms,
    check_probabilities,
)
from bayesgmm.posterior.relabel.permutations import RelabelResult, permute_one, solve_assignments

__all__ = ["stephens", "stephens_blocks"]

# Floor for probabilities inside logarithms (Stephens): keeps costs finite when a point
# has (numerically) zero probability under a component.
_LOG_FLOOR = 1e-12


def _check_stephens_args(max_iter: object, tol: object) -> None:
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if not 0.0 <= tol < 1.0:  # type: ignore[operator]
        raise ValueError(f"tol must lie in [0, 1), got {tol!r}.")


def _initial_perms(init_perms: np.ndarray | None, n_draws: int, n_comp: int) -> np.ndarray:
    if init_perms is None:
        return np.tile(np.arange(n_comp, dtype=np.intp), (n_draws, 1))
    perms = check_perms(init_perms, "init_perms", n_components=n_comp)
    if perms.shape[0] != n_draws:
        raise ValueError(f"init_perms has {perms.shape[0]} draws but probabilities has {n_draws}.")
    return perms.copy()


def _stephens_loop(
    mean_relabeled: Callable[[np.ndarray], np.ndarray],
    costs: Callable[[np.ndarray], np.ndarray],
    perms: np.ndarray,
    max_iter: int,
    tol: float,
) -> RelabelResult:
    """The iterations of Stephens' algorithm, whatever holds the probabilities.

    ``mean_relabeled(perms)`` is ``Q`` (N, K), the mean relabeled probabilities, and
    ``costs(log_q)`` the (S, K, K) assignment costs ``-sum_n p[s, n, j] log Q[n, k]``.
    """
    for n_iter in range(1, max_iter + 1):
        log_q = np.log(np.maximum(mean_relabeled(perms), _LOG_FLOOR))
        new_perms = solve_assignments(costs(log_q))
        changed = np.mean(np.any(new_perms != perms, axis=1))
        perms = new_perms
        if changed <= tol:
            return RelabelResult(perms, n_iter, True)
    return RelabelResult(perms, max_iter, False)


def stephens(
    probabilities: np.ndarray,
    max_iter: int = 100,
    tol: float = 0.0,
    init_perms: np.ndarray | None = None,
) -> RelabelResult:
    """Stephens' (2000) Kullback-Leibler relabeling algorithm.

    Alternates between (a) ``Q[n, k]``, the mean over draws of the relabeled membership
    probabilities, and (b) for each draw, the permutation minimising
    ``sum_n sum_k p~[s, n, k] * log(p~[s, n, k] / Q[n, k])`` where ``p~`` is the draw's
    relabeled probabilities. Each step cannot increase the total KL divergence.

    Parameters
    ----------
    probabilities : numpy.ndarray
        Membership probabilities ``p[s, n, k] = P(z_n = k | theta_s, x)``, shape
        ``(S, N, K)``; entries in [0, 1], summing to 1 over ``k``.
    max_iter : int, default 100
        Maximum number of (Q, permutation) updates.
    tol : float, default 0.0
        Stop when the fraction of draws whose permutation changed in an iteration is
        ``<= tol``. The default stops only when no permutation changes.
    init_perms : numpy.ndarray, optional
        Initial permutations, shape ``(S, K)``; defaults to the identity (e.g. pass the
        output of :func:`pivot` or :func:`ecr` as a warm start).

    Returns
    -------
    RelabelResult
        ``perms`` (S, K), ``n_iter`` (permutation updates) and ``converged``.

    Notes
    -----
    The ``sum p log p`` term does not depend on the permutation and is dropped, so the cost
    of giving new label ``k`` to old component ``j`` of draw ``s`` is
    ``-sum_n p[s, n, j] * log Q[n, k]``. With the probabilities stored once as an
    ``(N, S*K)`` matrix, both ``Q`` and all ``S`` cost matrices are single matrix products;
    only the ``K x K`` assignment problems are solved in a loop. ``Q`` is floored at
    ``1e-12`` before taking logs. Memory: one float64 copy of ``probabilities``; see
    :func:`stephens_blocks` when that does not fit.
    """
    _check_stephens_args(max_iter, tol)
    prob = check_probabilities(probabilities)
    n_draws, n_obs, n_comp = prob.shape
    if n_draws == 0:
        raise ValueError("probabilities must contain at least one draw.")
    perms = _initial_perms(init_perms, n_draws, n_comp)
    # (N, S*K) layout: column s*K + j holds p[s, :, j]; both updates become one GEMM each.
    prob_t = np.ascontiguousarray(prob.transpose(1, 0, 2)).reshape(n_obs, n_draws * n_comp)
    draw_offsets = (np.arange(n_draws) * n_comp)[:, None]

    def mean_relabeled(current: np.ndarray) -> np.ndarray:
        # selector[s*K + perms[s, k], k] = 1, so prob_t @ selector sums relabeled draws.
        selector = np.zeros((n_draws * n_comp, n_comp))
        selector[(draw_offsets + current).ravel(), np.tile(np.arange(n_comp), n_draws)] = 1.0
        return (prob_t @ selector) / n_draws

    def costs(log_q: np.ndarray) -> np.ndarray:
        return -(log_q.T @ prob_t).reshape(n_comp, n_draws, n_comp).transpose(1, 0, 2)

    return _stephens_loop(mean_relabeled, costs, perms, int(max_iter), float(tol))


def stephens_blocks(
    probability_block: Callable[[slice], np.ndarray],
    blocks: Sequence[slice],
    max_iter: int = 100,
    tol: float = 0.0,
    init_perms: np.ndarray | None = None,
) -> RelabelResult:
    """Stephens' algorithm on membership probabilities recomputed block by block.

    The same iterations as :func:`stephens`, for when the (S, N, K) probabilities do not
    fit in memory: each iteration makes two passes over the blocks of draws, one summing
    ``Q`` and one forming the (S, K, K) costs, so only one block is held at a time.

    Parameters
    ----------
    probability_block : callable
        ``probability_block(part)`` returns the probabilities (s, N, K) of the draws
        ``part`` (a slice of ``range(S)``).
    blocks : sequence of slice
        Contiguous slices covering ``range(S)`` in order.
    max_iter, tol
        As for :func:`stephens`.
    init_perms : numpy.ndarray, optional
        Initial permutations (S, K); required here, since S and K are read from it.

    Returns
    -------
    RelabelResult
    """
    _check_stephens_args(max_iter, tol)
    if init_perms is None:
        raise ValueError("stephens_blocks needs init_perms (S, K), e.g. the identity or pivot.")
    blocks = list(blocks)
    n_draws, n_comp = np.shape(init_perms)
    if not blocks or blocks[0].start != 0 or blocks[-1].stop != n_draws:
        raise ValueError(f"blocks must cover the {n_draws} draws of init_perms in order.")
    perms = _initial_perms(init_perms, n_draws, n_comp)

    def mean_relabeled(current: np.ndarray) -> np.ndarray:
        total = sum(
            permute_one(probability_block(part), current[part], 2, "block").sum(axis=0)
            for part in blocks
        )
        return np.asarray(total) / n_draws

    def costs(log_q: np.ndarray) -> np.ndarray:
        parts = [
            np.einsum("nk,snj->skj", log_q, probability_block(p), optimize=True) for p in blocks
        ]
        return -np.concatenate(parts, axis=0)

    return _stephens_loop(mean_relabeled, costs, perms, int(max_iter), float(tol))
