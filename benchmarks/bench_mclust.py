"""Cost of mclust's structures and of its hierarchical start in bayesgmm's EM.

Part 1, one EM iteration per structure against full (VVV) at N=100,000, D=5, K=4: the
E-step (``sufficient_statistics``, which every structure shares with full) plus the
structure's M-step, timed from the same parameters (the structure's fit after 30
iterations, so that the iterative M-steps start warm, as inside EM), alternating the
structures in rounds so that machine noise hits all alike; the median over rounds and the
ratio to full measured in the same run. The M-step alone is reported too.

Part 2, the default start: the seconds of ``fit_em`` at defaults (``init="auto"``: the
hierarchical start's run besides the k-means++ restarts) against ``init="kmeans++"``
alone (what "auto" was before), and of building the tree on 2000 rows.

Usage::

    python benchmarks/bench_mclust.py            # both parts
    python benchmarks/bench_mclust.py --rounds 5 # fewer rounds
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import threadpoolctl

import bayesgmm
from bayesgmm import em
from bayesgmm.datasets import make_gmm_data
from bayesgmm.em.hierarchical import _cached_tree, hc_labels
from bayesgmm.em.steps import m_step, sufficient_statistics
from bayesgmm.mixture.structures import mclust_family


def simulated(n: int, n_features: int, n_components: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(n_components, n_features))
    factors = rng.normal(size=(n_components, n_features, n_features)) / np.sqrt(n_features)
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.1 * np.eye(n_features)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    return make_gmm_data(n, weights, means, covariances, random_seed=rng).X


def iteration_costs(X: np.ndarray, n_components: int, rounds: int) -> None:
    names = ["VVV", *(name for name in mclust_family() if name != "VVV")]
    params = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            params[name] = em.fit_em(X, n_components, name, init="kmeans++", max_iter=30,
                                     tol=0.0, random_seed=0).params  # fmt: skip
    total = {name: [] for name in names}
    mstep = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            start = time.perf_counter()
            stats = sufficient_statistics(X, params[name])
            middle = time.perf_counter()
            m_step(stats, params[name].covariance_type, reg_covar=1e-6, previous=params[name])
            end = time.perf_counter()
            total[name].append(end - start)
            mstep[name].append(end - middle)
    base = statistics.median(total["VVV"])
    print(f"one EM iteration, N={X.shape[0]}, D={X.shape[1]}, K={n_components}, "
          f"median of {rounds} rounds")  # fmt: skip
    print(f"{'structure':>9} {'iteration ms':>13} {'M-step ms':>10} {'ratio to VVV':>13}")
    for name in names:
        seconds = statistics.median(total[name])
        print(f"{name:>9} {1e3 * seconds:13.2f} {1e3 * statistics.median(mstep[name]):10.3f} "
              f"{seconds / base:13.2f}")  # fmt: skip


def start_costs(rounds: int) -> None:
    from sklearn.datasets import load_iris

    faithful = np.asarray(bayesgmm.load_faithful(), dtype=np.float64)
    cases = [
        ("faithful", faithful, 3, "EEE"),
        ("iris", load_iris().data, 2, "VEV"),
        ("simulated N=20000 D=5", simulated(20_000, 5, 4, 1), 4, "VVV"),
    ]
    print("\nfit_em at defaults (hc run + k-means++) against init='kmeans++' alone, seconds")
    print(f"{'data':>22} {'model':>7} {'auto':>8} {'kmeans++':>9} {'ratio':>6}")
    for label, X, k, name in cases:
        times = {"auto": [], "kmeans++": []}
        for _ in range(rounds):
            for init in times:
                _cached_tree.cache_clear()  # count the tree in every fit
                start = time.perf_counter()
                em.fit_em(X, k, name, init=init, random_seed=0, warn=False)
                times[init].append(time.perf_counter() - start)
        auto, kmeans = (statistics.median(times[i]) for i in ("auto", "kmeans++"))
        print(f"{label:>22} {name:>7} {auto:8.3f} {kmeans:9.3f} {auto / kmeans:6.2f}")
    X = simulated(2000, 5, 4, 2)
    seconds = []
    for _ in range(rounds):
        _cached_tree.cache_clear()
        start = time.perf_counter()
        hc_labels(X, 4)
        seconds.append(time.perf_counter() - start)
    print(f"\nhierarchical tree on 2000 rows, D=5: {statistics.median(seconds):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with threadpoolctl.threadpool_limits(args.threads):
        iteration_costs(simulated(100_000, 5, 4, 0), 4, args.rounds)
        start_costs(max(3, args.rounds // 3))


if __name__ == "__main__":
    main()
