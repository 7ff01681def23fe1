"""Time the allocation sampler against the block loop it replaced, in the same run.

``sample_allocations`` (bayesgmm.mixture.allocations) draws ``z_sn ~ Categorical(r_sn)``
with one Philox counter stream per draw, so that its blocks never change the result. The
peer is the loop the call sites used to write: the responsibilities of a block of draws,
then ``allocations_from_probabilities`` with one ordinary Generator. Both compute the same
responsibilities; the ratio says what the block-invariant uniforms cost. Times are the
fastest of the repeats (the least disturbed by other load on a shared machine),
alternating the two.

Usage::

    python benchmarks/bench_allocations.py             # S=1000, N=2000 and S=200, N=20000; K=3, D=2
    python benchmarks/bench_allocations.py --repeats 5
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from bayesgmm.mixture import draws as draw_math
from bayesgmm.mixture.allocations import sample_allocations
from bayesgmm.posterior.relabel import allocations_from_probabilities

PROBLEMS = ((1000, 2000, 3, 2), (200, 20000, 3, 2))


def problem(
    n_draws: int, n_obs: int, n_comp: int, n_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Data and draws of a well-mixed mixture: X (N, D), weights, means, covariances."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_obs, n_features))
    weights = rng.dirichlet(np.ones(n_comp), size=n_draws)
    means = rng.normal(scale=1.5, size=(n_draws, n_comp, n_features))
    covariances = np.tile(np.eye(n_features), (n_draws, n_comp, 1, 1))
    return X, weights, means, covariances


def old_loop(X: np.ndarray, weights: np.ndarray, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    out = np.empty((weights.shape[0], X.shape[0]), dtype=np.intp)
    blocks = draw_math.chunked_draws(weights.shape[0], X.shape[0], weights.shape[1])
    for part in blocks:
        prob = draw_math.responsibilities(X, weights[part], means[part], cov[part])
        out[part] = allocations_from_probabilities(prob, rng)
    return out


def _seconds(fn: Callable[..., np.ndarray], *args: np.ndarray) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _sampler(X: np.ndarray, weights: np.ndarray, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    return sample_allocations(X, weights, means, cov, np.random.default_rng(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| S | N | K | sampler (s) | old loop (s) | ratio |")
    print("|---|---|---|---|---|---|")
    for n_draws, n_obs, n_comp, n_features in PROBLEMS:
        data = problem(n_draws, n_obs, n_comp, n_features)
        new_times, old_times = [], []
        for _ in range(args.repeats):  # alternating, so that both see the same load
            new_times.append(_seconds(_sampler, *data))
            old_times.append(_seconds(old_loop, *data))
        new, old = min(new_times), min(old_times)
        print(f"| {n_draws} | {n_obs} | {n_comp} | {new:.3f} | {old:.3f} | {new / old:.2f} |")


if __name__ == "__main__":
    main()
