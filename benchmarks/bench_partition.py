"""Time the SALSO partition search and the credible ball at N = 5,000 (issue 13: < 30 s).

The allocation draws are simulated, not fitted, so that only the partition code is timed:
four clusters of unequal sizes, each draw moving every item to a random one of five labels
with probability ``noise`` (0.1: a clear posterior; 0.3: a diffuse one; 0.6: so diffuse
that no pair is together more often than not, so that the Binder estimate is pinned at
the cluster bound and sweetening makes many small moves).
The PSM is computed from the draws (``psm_from_allocations``) and timed separately.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_partition.py [--n 5000] [--draws 500] [--runs 16] \
        [--noise 0.1 0.3 0.6]

The machine is shared, so the script also times a peer in the same run: one float64
(N, N) @ (N, 16) product, the cost unit of a sweetening sweep's BLAS work.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from bayesgmm.analysis.partition.loss import credible_ball, psm_from_allocations
from bayesgmm.analysis.partition.search import salso


def simulate(n_items: int, n_draws: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.choice(4, size=n_items, p=[0.4, 0.3, 0.2, 0.1])
    flip = rng.random((n_draws, n_items)) < noise
    draws = np.where(flip, rng.integers(0, 5, (n_draws, n_items)), truth)
    return truth, draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.3])
    args = parser.parse_args()
    print(f"N={args.n} draws={args.draws} runs={args.runs} load={os.getloadavg()[0]:.1f}")
    peer_a = np.random.default_rng(0).random((args.n, args.n))
    peer_b = np.random.default_rng(1).random((args.n, 16))
    start = time.perf_counter()
    peer_a @ peer_b
    peer = time.perf_counter() - start
    print(f"peer (N,N)@(N,16) float64: {peer:.3f} s")
    del peer_a
    for noise in args.noise:
        truth, draws = simulate(args.n, args.draws, noise, seed=1)
        start = time.perf_counter()
        psm = psm_from_allocations(draws)
        t_psm = time.perf_counter() - start
        for loss in ("VI", "binder"):
            start = time.perf_counter()
            res = salso(psm, loss, n_runs=args.runs, max_clusters=int(draws.max()) + 1)
            t_search = time.perf_counter() - start
            start = time.perf_counter()
            ball = credible_ball(res.labels, draws, loss, 0.95)
            t_ball = time.perf_counter() - start
            ari = adjusted_rand_score(truth, res.labels)
            print(
                f"noise={noise} loss={loss:6s} psm {t_psm:6.2f} s  search {t_search:6.2f} s "
                f"({t_search / peer:6.0f} peers)  ball {t_ball:5.2f} s  "
                f"K={res.labels.max() + 1} sweeps={res.n_sweeps.tolist()} "
                f"loss={res.expected_loss:.5f} radius={ball.radius:.4f} ARI={ari:.3f}"
            )


if __name__ == "__main__":
    main()
