"""Benchmark bayesgmm's EM against scikit-learn's GaussianMixture.

Both libraries start from IDENTICAL initial parameters (bayesgmm's k-means++ start, handed
to scikit-learn as ``weights_init`` / ``means_init`` / ``precisions_init``), run with
``tol=0`` for a fixed number of iterations and the same ``reg_covar``, in the same process
and alternating, so that machine noise hits both alike.

Seconds per iteration are measured differentially: ``(T(1 + n_iter) - T(1)) / n_iter``
with ``T(m)`` the median over repeats of a fit of ``m`` iterations. This removes what each
library does once per fit (input validation and copy, initialisation from the given
parameters, the final E-step), leaving the cost of one E-step plus one M-step. (The base is
one iteration, not zero: scikit-learn 1.9 fails with ``max_iter=0`` and ``precisions_init``.)

The last column is the difference of the final log-likelihoods (bayesgmm - scikit-learn),
which must be at rounding level: the two run the same iteration from the same start.

``--large`` adds N=1,000,000, D=10, K=10, full: seconds per iteration against
scikit-learn, a profile of one iteration (pair features, log densities, normalisation,
statistics, M-step), and the iteration against its flop-count limit 2 N K D^2 (N K D^2 for
the triangular ``(x - mu) U`` products of the E-step, N K D^2 for the weighted scatter),
at the GEMM rate measured at the E-step's shape in the same run. ``--init`` times the
initialisation (``fit_em(max_iter=0)``: checks, k-means++ start, one full E-step) at
N=1e5 and 1e6, D=10, K=10, full, with the start on the subsample and on all rows.

Usage::

    python benchmarks/bench_em.py            # Faithful and N=200,000, D=8, K=6
    python benchmarks/bench_em.py --quick    # smaller simulated data, fewer repeats
    python benchmarks/bench_em.py --threads 1 --large --init --skip-default
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import threadpoolctl

import bayesgmm
from bayesgmm import em
from bayesgmm.datasets import load_faithful, make_gmm_data

REG_COVAR = 1e-6


def simulated(n: int, n_features: int, n_components: int, seed: int) -> np.ndarray:
    """A K-component mixture with random means and random (Wishart-like) covariances."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(n_components, n_features))
    factors = rng.normal(size=(n_components, n_features, n_features)) / np.sqrt(n_features)
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.1 * np.eye(n_features)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    return make_gmm_data(n, weights, means, covariances, random_seed=rng).X


def initial_parameters(
    X: np.ndarray, n_components: int, covariance_type: str, seed: int
) -> dict[str, np.ndarray]:
    """bayesgmm's k-means++ start (``max_iter=0`` returns the initial parameters)."""
    start = em.fit_em(
        X, n_components, covariance_type, max_iter=0, reg_covar=REG_COVAR, random_seed=seed
    )
    return {"weights": start.weights, "means": start.means, "covariances": start.covariances}


def precisions(init: dict[str, np.ndarray], covariance_type: str) -> np.ndarray:
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(init["covariances"])
    return 1.0 / init["covariances"]


def run_bayesgmm(
    X: np.ndarray, init: dict[str, np.ndarray], covariance_type: str, n_iter: int
) -> float:
    result = em.fit_em(
        X,
        len(init["weights"]),
        covariance_type,
        init=init,
        tol=0.0,
        max_iter=n_iter,
        reg_covar=REG_COVAR,
        warn=False,
    )
    return result.log_likelihood


def run_sklearn(
    X: np.ndarray, init: dict[str, np.ndarray], covariance_type: str, n_iter: int
) -> float:
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(
        len(init["weights"]),
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=n_iter,
        reg_covar=REG_COVAR,
        # Every parameter is given; "random_from_data" keeps the discarded initial
        # responsibilities cheap (the default runs a full KMeans first).
        init_params="random_from_data",
        weights_init=init["weights"],
        means_init=init["means"],
        precisions_init=precisions(init, covariance_type),
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 never "converges"
        model.fit(X)
    return float(model.score(X) * X.shape[0])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def benchmark(
    X: np.ndarray,
    n_components: int,
    covariance_type: str,
    *,
    n_iter: int,
    repeats: int,
    seed: int,
) -> dict[str, float]:
    init = initial_parameters(X, n_components, covariance_type, seed)
    runners = {"bayesgmm": run_bayesgmm, "sklearn": run_sklearn}
    times: dict[tuple[str, int], list[float]] = {
        (name, it): [] for name in runners for it in (1, 1 + n_iter)
    }
    final: dict[str, float] = {}
    for _ in range(repeats + 1):  # the first round warms caches and BLAS up; discarded
        round_times = {}
        for it in (1, 1 + n_iter):
            for name, run in runners.items():  # alternate the libraries
                seconds, loglik = timed(lambda run=run, it=it: run(X, init, covariance_type, it))
                round_times[(name, it)] = seconds
                if it == 1 + n_iter:
                    final[name] = loglik
        if _ > 0:
            for key, seconds in round_times.items():
                times[key].append(seconds)
        # Reverse the order every round so neither library always runs first.
        runners = dict(reversed(list(runners.items())))
    per_iter = {
        name: (statistics.median(times[(name, 1 + n_iter)]) - statistics.median(times[(name, 1)]))
        / n_iter
        for name in ("bayesgmm", "sklearn")
    }
    return {
        "bayesgmm": per_iter["bayesgmm"],
        "sklearn": per_iter["sklearn"],
        "ratio": per_iter["bayesgmm"] / per_iter["sklearn"],
        "dloglik": final["bayesgmm"] - final["sklearn"],
        "rel": abs(final["bayesgmm"] - final["sklearn"]) / abs(final["sklearn"]),
    }


def gemm_flops_per_second(size: int = 1000, repeats: int = 5) -> float:
    """The BLAS GEMM rate on this machine now (multiply and add count as 2 flops)."""
    a = np.random.default_rng(0).normal(size=(size, size))
    best = min(timed(lambda: a @ a)[0] for _ in range(repeats))
    return 2.0 * size**3 / best


def shaped_gemm_flops_per_second(n_components: int, n_features: int, repeats: int = 200) -> float:
    """The GEMM rate at the shape of the E-step's products, (K, P + D + 1) @ (P + D + 1, rows)
    with ``rows`` the E-step's block, best of ``repeats``: the peak the E-step can reach."""
    rows = em._block_rows(n_components, n_features, "full")
    width = (n_features + 1) * (n_features + 2) // 2
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n_components, width)), rng.normal(size=(width, rows))
    best = min(timed(lambda: a @ b)[0] for _ in range(repeats))
    return 2.0 * n_components * width * rows / best


def profile_iteration(
    X: np.ndarray, init: dict[str, np.ndarray], covariance_type: str, repeats: int
) -> dict[str, float]:
    """Median seconds of the parts of one EM iteration, over all of X (full covariances)."""
    from bayesgmm.mixture.covariance import ComponentDensity, pair_features

    n_components = len(init["weights"])
    prec = em.precisions_cholesky(init["covariances"], covariance_type)
    center = X.mean(axis=0)  # as fit_em: EM runs on centred data
    X = X - center
    params = em.GMMParams(
        init["weights"], init["means"] - center, init["covariances"], prec, covariance_type
    )
    rows = em._block_rows(n_components, X.shape[1], covariance_type)
    blocks = [X[i : i + rows] for i in range(0, len(X), rows)]
    radius = float(np.sqrt(np.einsum("nd,nd->n", X, X).max()))
    density = ComponentDensity(
        params.means, prec, covariance_type, log_weights=np.log(params.weights), radius=radius
    )
    print(f"  components on the direct form: {len(density.unsafe)} of {n_components}")
    features = [pair_features(block) for block in blocks]
    weighted = [
        density(b, component_major=True, features=f) for b, f in zip(blocks, features, strict=True)
    ]
    resp = [em._normalize(w.copy())[1] for w in weighted]

    def normalise() -> None:
        for w in weighted:
            em._normalize(w.copy())

    stats = em.sufficient_statistics(X, params)
    parts = {
        # Fresh arrays for every block, as the E-step makes them (page faults included).
        "pair features": lambda: [pair_features(block) for block in blocks],
        "log densities (GEMM)": lambda: [
            density(b, component_major=True, features=f)
            for b, f in zip(blocks, features, strict=True)
        ],
        "normalise (+ copy)": normalise,
        "statistics (GEMM)": lambda: [r @ f.T for r, f in zip(resp, features, strict=True)],
        "E-step + statistics": lambda: em.sufficient_statistics(X, params),
        "M-step": lambda: em.m_step(stats, covariance_type, reg_covar=REG_COVAR),
    }
    out = {
        name: statistics.median(timed(fn)[0] for _ in range(repeats)) for name, fn in parts.items()
    }
    # CPU seconds of this process (BLAS single-threaded): what the E-step costs when the
    # machine is shared and wall time counts the other processes' turns too.
    cpu = []
    for _ in range(repeats):
        start = time.process_time()
        em.sufficient_statistics(X, params)
        cpu.append(time.process_time() - start)
    out["E-step + statistics, CPU s"] = statistics.median(cpu)
    return out


def large_case(args: argparse.Namespace) -> None:
    n, d, k = args.large_n, 10, 10
    X = simulated(n, d, k, args.seed)
    init = initial_parameters(X, k, "full", args.seed)
    row = None
    if not args.profile_only:
        row = benchmark(
            X, k, "full", n_iter=args.large_iter, repeats=args.large_repeats, seed=args.seed
        )
    square = gemm_flops_per_second()
    rate = shaped_gemm_flops_per_second(k, d)
    # Flop count of one iteration: N K D^2 for the E-step's quadratic forms (the triangular
    # (x - mu) U products) and N K D^2 for the weighted scatter of the statistics.
    limit = 2.0 * n * k * d * d / rate
    print(
        f"\nN={n:,}, D={d}, K={k}, full; GEMM rate now {rate / 1e9:.1f} GFLOP/s at the "
        f"E-step's shape, {square / 1e9:.1f} GFLOP/s at 1000x1000"
    )
    print(f"flop-count limit of one iteration, 2 N K D^2 / rate: {limit:.3f} s")
    for name, seconds in profile_iteration(X, init, "full", args.large_repeats).items():
        print(f"  {name:<22} {seconds:8.3f} s  ({seconds / limit:5.2f} x limit)")
    if row is None:
        return
    print(
        f"  s/iter: bayesgmm {row['bayesgmm']:.3f} ({row['bayesgmm'] / limit:.2f} x limit), "
        f"scikit-learn {row['sklearn']:.3f}, ratio {row['ratio']:.2f}; rel. diff. of "
        f"log-lik {row['rel']:.1e}",
        flush=True,
    )


def init_case(args: argparse.Namespace) -> None:
    """Initialisation seconds: the start on the subsample, and on all rows (as before)."""
    print("\ninit = fit_em(max_iter=0): checks, centring, k-means++ start, one full E-step")
    print(f"{'N':>10} {'start on':<16} {'init s':>8} {'E-step s':>9}")
    for n in (100_000, 1_000_000):
        X = simulated(n, 10, 10, args.seed)
        start = initial_parameters(X, 10, "full", args.seed)
        prec = em.precisions_cholesky(start["covariances"], "full")
        params = em.GMMParams(start["weights"], start["means"], start["covariances"], prec, "full")
        e_step = min(
            timed(lambda X=X, p=params: em.sufficient_statistics(X, p))[0] for _ in range(3)
        )
        for label, minimum in (
            ("2000-row sample", em.starts._INIT_SUBSAMPLE_MIN),
            ("all rows", 10**12),
        ):
            saved, em.starts._INIT_SUBSAMPLE_MIN = em.starts._INIT_SUBSAMPLE_MIN, minimum
            try:
                seconds = statistics.median(
                    timed(lambda X=X: initial_parameters(X, 10, "full", args.seed))[0]
                    for _ in range(3)
                )
            finally:
                em.starts._INIT_SUBSAMPLE_MIN = saved
            print(f"{n:>10,} {label:<16} {seconds:>8.3f} {e_step:>9.3f}", flush=True)


def print_environment() -> None:
    import scipy
    import sklearn

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, bayesgmm "
        f"{bayesgmm.__version__}, {platform.machine()}"
    )
    for pool in threadpoolctl.threadpool_info():
        print(
            f"threadpool: {pool.get('user_api')} / {pool.get('internal_api')} "
            f"{pool.get('version')}, num_threads={pool.get('num_threads')}, "
            f"prefix={pool.get('prefix')}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=20,000 and 3 repeats")
    parser.add_argument("--n-iter", type=int, default=20, help="EM iterations per fit")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    parser.add_argument("--n", type=int, default=None, help="rows of the simulated data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--large", action="store_true", help="add N=1e6, D=10, K=10, full")
    parser.add_argument("--large-n", type=int, default=1_000_000)
    parser.add_argument("--large-iter", type=int, default=3, help="iterations, large case")
    parser.add_argument("--large-repeats", type=int, default=2, help="repeats, large case")
    parser.add_argument("--profile-only", action="store_true", help="--large without peers")
    parser.add_argument("--init", action="store_true", help="time the initialisation")
    parser.add_argument("--skip-default", action="store_true", help="only --large / --init")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl)",
    )
    args = parser.parse_args(argv)
    n_sim = args.n or (20_000 if args.quick else 200_000)
    repeats = args.repeats or (3 if args.quick else 5)

    if args.threads is not None:
        limiter = threadpoolctl.threadpool_limits(limits=args.threads)  # noqa: F841 - held
    print_environment()
    print(
        f"tol=0, 1 + {args.n_iter} iterations, reg_covar={REG_COVAR:g}, median of {repeats} "
        "repeats; s/iter = (T(1 + n_iter) - T(1)) / n_iter\n"
    )
    datasets = {
        "faithful (272x2, K=2)": (load_faithful().to_numpy(dtype=np.float64), 2),
        f"simulated ({n_sim}x8, K=6)": (simulated(n_sim, 8, 6, args.seed), 6),
    }
    header = (
        f"{'dataset':<28} {'cov':<5} {'bayesgmm s/it':>14} {'sklearn s/it':>13} "
        f"{'ratio':>6} {'dloglik':>11} {'rel':>9}"
    )
    if args.skip_default:
        datasets = {}
    else:
        print(header)
        print("-" * len(header))
    for label, (X, n_components) in datasets.items():
        for covariance_type in ("full", "diag"):
            row = benchmark(
                X,
                n_components,
                covariance_type,
                n_iter=args.n_iter,
                repeats=repeats,
                seed=args.seed,
            )
            print(
                f"{label:<28} {covariance_type:<5} {row['bayesgmm']:>14.3e} "
                f"{row['sklearn']:>13.3e} {row['ratio']:>6.2f} {row['dloglik']:>11.2e} "
                f"{row['rel']:>9.1e}",
                flush=True,
            )
    if args.large:
        large_case(args)
    if args.init:
        init_case(args)


if __name__ == "__main__":
    main()
