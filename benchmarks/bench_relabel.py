"""Time Stephens' relabelling on scrambled membership probabilities, ECR-iterative beside it.

The problem is the one ``tests/test_relabel.py`` checks for recovery: a 1-D mixture of K
well-separated unit-variance components (centres 4 apart), S draws of the means jittered by
0.1, the membership probabilities of N points under each draw, and every draw's labels
scrambled by a random permutation. Stephens (KL on the probabilities) and ECR-iterative (on
the argmax allocations, the cheaper peer) run on the same draws in the same process,
alternating, and each time is the median of the repeats. The last columns say whether
each recovered the scrambling (fraction of draws mapped back by the most common
permutation).

Usage::

    python benchmarks/bench_relabel.py             # S=400, N=200 and S=4000, N=1000; K=5
    python benchmarks/bench_relabel.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy.special import softmax

from bayesgmm.posterior.relabel import (
    allocations_from_probabilities,
    apply_permutations,
    compose_permutations,
    ecr_iterative,
    stephens,
)

PROBLEMS = ((400, 200, 5), (4000, 1000, 5))


def scrambled_problem(
    seed: int, n_draws: int, n_obs: int, n_comp: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scrambled membership probabilities (S, N, K) and the scrambling permutations."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * np.arange(n_comp)
    x = rng.normal(centres[rng.integers(0, n_comp, n_obs)], 1.0)
    means = centres + 0.1 * rng.standard_normal((n_draws, n_comp))
    probs = softmax(-0.5 * (x[None, :, None] - means[:, None, :]) ** 2, axis=2)
    sigma = rng.permuted(np.tile(np.arange(n_comp), (n_draws, 1)), axis=1)
    return apply_permutations(probs, sigma, axis=2), sigma


def agreement(sigma: np.ndarray, perms: np.ndarray) -> float:
    """Fraction of draws whose clean-to-relabelled map is the most common one."""
    _, counts = np.unique(compose_permutations(sigma, perms), axis=0, return_counts=True)
    return counts.max() / sigma.shape[0]


def _median_time(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    times, perms = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        perms = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), perms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"median of {args.repeats} runs, seconds; agreement = fraction of draws recovered")
    print(f"{'S':>5} {'N':>5} {'K':>2} {'stephens':>9} {'ecr_iter':>9} {'ratio':>6} {'agree':>11}")
    for n_draws, n_obs, n_comp in PROBLEMS:
        probs, sigma = scrambled_problem(71, n_draws, n_obs, n_comp)
        alloc = allocations_from_probabilities(probs)
        t_st, p_st = _median_time(lambda p=probs: stephens(p).perms, args.repeats)
        t_ecr, p_ecr = _median_time(
            lambda a=alloc, k=n_comp: ecr_iterative(a, k).perms, args.repeats
        )
        print(
            f"{n_draws:>5} {n_obs:>5} {n_comp:>2} {t_st:9.3f} {t_ecr:9.3f} {t_st / t_ecr:6.1f} "
            f"{agreement(sigma, p_st):5.3f}/{agreement(sigma, p_ecr):5.3f}"
        )


if __name__ == "__main__":
    main()
