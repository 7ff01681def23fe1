"""EM on Dask: seconds per iteration with 1 and 2 workers, and peak memory per worker.

Every configuration fits the same simulated data (generated on the workers, chunk by
chunk, from fixed seeds) from the same start, with ``tol=0``. Seconds per iteration are
differential, ``(T(1 + n_iter) - T(1)) / n_iter``, so that the pass computing the moments
and persisting the chunks (done once per fit) drops out. In-memory EM on the same rows, in
this process, is the peer in the same run.

Peak memory per worker is the worker process's peak resident set (VmHWM), which includes
the Python interpreter and the libraries (about 150 MB).

Usage::

    python benchmarks/bench_dask.py                       # N=2e6, D=10, K=10, diag
    python benchmarks/bench_dask.py --n 10000000          # the full-size run (needs ~2 GB)
    python benchmarks/bench_dask.py --scheduler tcp://host:8786 --workers 0   # a cluster
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from typing import Any

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from bayesgmm import em


def simulate_block(seed: int, n_rows: int, n_features: int, n_components: int) -> np.ndarray:
    """Rows of a K-component mixture with well-apart means; the same for the same seed."""
    means = np.random.default_rng(12345).normal(scale=3.0, size=(n_components, n_features))
    rng = np.random.default_rng(seed)
    labels = rng.integers(n_components, size=n_rows)
    scales = 0.5 + (np.arange(n_components) % 3) * 0.25
    return means[labels] + rng.normal(size=(n_rows, n_features)) * scales[labels, None]


def simulated(n: int, n_features: int, n_components: int, chunk_rows: int) -> Any:
    sizes = [min(chunk_rows, n - lo) for lo in range(0, n, chunk_rows)]
    blocks = [
        da.from_delayed(
            dask.delayed(simulate_block)(i, size, n_features, n_components),
            shape=(size, n_features),
            dtype=np.float64,
        )
        for i, size in enumerate(sizes)
    ]
    return da.concatenate(blocks)


def peak_rss_mb() -> float:
    """This process's peak resident set, in MB.

    VmHWM, not ``ru_maxrss``: a worker forked from the driver and then exec'd keeps the
    driver's ``ru_maxrss`` (Linux carries it across exec), but starts a fresh VmHWM.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def per_iteration(fit: Any, n_iter: int, repeats: int) -> float:
    """Median differential seconds per iteration of ``fit(max_iter)``."""
    times: dict[int, list[float]] = {1: [], 1 + n_iter: []}
    for _ in range(repeats):
        for max_iter in times:
            start = time.perf_counter()
            fit(max_iter)
            times[max_iter].append(time.perf_counter() - start)
    return (statistics.median(times[1 + n_iter]) - statistics.median(times[1])) / n_iter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--covariance-type", default="diag")
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--n-iter", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="LocalCluster sizes; 0 = --scheduler")
    parser.add_argument("--scheduler", default=None, help="address of a running scheduler")
    parser.add_argument("--skip-memory", action="store_true", help="no in-memory peer")
    args = parser.parse_args(argv)

    n, d, k, cov = args.n, args.d, args.k, args.covariance_type
    X = simulated(n, d, k, args.chunk_rows)
    first = simulate_block(0, min(args.chunk_rows, n), d, k)
    start = em.fit_em(first, k, cov, max_iter=0, random_seed=0, warn=False)
    init = {"weights": start.weights, "means": start.means, "covariances": start.covariances}
    print(
        f"N={n:,}, D={d}, K={k}, {cov}; {X.numblocks[0]} chunks of {args.chunk_rows:,} rows "
        f"({n * d * 8 / 1e6:.0f} MB); tol=0, s/iter = (T(1 + {args.n_iter}) - T(1)) / "
        f"{args.n_iter}, median of {args.repeats}"
    )
    rows: list[tuple[str, float, str]] = []
    if not args.skip_memory:
        X_memory = X.compute(scheduler="synchronous")
        seconds = per_iteration(
            lambda m: em.fit_em(X_memory, k, cov, init=init, tol=0.0, max_iter=m, warn=False),
            args.n_iter,
            args.repeats,
        )
        rows.append(("in memory (this process)", seconds, f"{peak_rss_mb():.0f} (driver)"))
        del X_memory
        print(f"{rows[-1][0]:<28} {seconds:8.3f} s/iter", flush=True)
    for n_workers in (int(w) for w in args.workers.split(",")):
        if n_workers == 0:
            client, cluster, label = Client(args.scheduler), None, f"cluster {args.scheduler}"
        else:
            cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            client, label = Client(cluster), f"LocalCluster, {n_workers} worker(s)"
        try:

            def fit(max_iter: int, client: Client = client) -> None:
                em.fit_em(
                    X, k, cov, init=init, tol=0.0, max_iter=max_iter, warn=False, client=client
                )

            fit(1)  # warm-up: the workers import bayesgmm, numpy and scipy on their first task
            seconds = per_iteration(fit, args.n_iter, args.repeats)
            peaks = client.run(peak_rss_mb)
            memory = ", ".join(f"{v:.0f}" for v in peaks.values())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        rows.append((label, seconds, memory))
        print(f"{label:<28} {seconds:8.3f} s/iter, peak RSS per worker (MB): {memory}", flush=True)
    dask_rows = [r for r in rows if not r[0].startswith("in memory")]
    if len(dask_rows) >= 2:
        print(f"speed-up {dask_rows[0][0]} -> {dask_rows[-1][0]}: "
              f"{dask_rows[0][1] / dask_rows[-1][1]:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
