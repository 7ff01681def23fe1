"""Time the compiled kernel's value + gradient per covariance structure, against full's.

Issue 21 asks that the kernel's value and gradient for any of mclust's structures cost at
most 2x full's. Each structure's ``bgmm_logp_grad`` is called on the same standardised
data (N=10,000, D=5, K=4 by default) at a position near the components; the structures
take turns call by call, so that load on a shared machine hits them alike, and the
minimum over the calls (with the median) is reported with its ratio to full's.

EEV and VEV (an orientation per component) exist for D = 2, 3, 4 only: at the default
D = 5 they are skipped with a note; ``--d 4`` times them.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_kernel_structures.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_kernel_structures.py --n 2000 --d 3 --k 2
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_kernel_structures.py --d 4
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

STRUCTURES = ("full", "EII", "EEI", "VEI", "EVI", "VEE", "EVV", "EEV", "VEV")


def problem(
    covariance_type: str, n: int, d: int, k: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(theta, buffer) of one structure: mixture data in internal units and a position
    with the means at data points, the rest of theta small noise."""
    from bayesgmm.bayes.kernel import bindings as kernel
    from bayesgmm.bayes.model.priors import GMMPriors

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(k, d))
    X = centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    spec = kernel.kernel_spec(GMMPriors().resolve(X, k), k, d, covariance_type)
    theta = rng.normal(scale=0.3, size=spec.ndim)
    theta[k - 1 : k - 1 + k * d] = X[rng.choice(n, size=k, replace=False)].ravel()
    return theta, kernel.kernel_buffer(X, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=5)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=300, help="calls per structure")
    parser.add_argument("--structures", nargs="+", default=list(STRUCTURES))
    args = parser.parse_args(argv)
    from bayesgmm.bayes.kernel import bindings as kernel
    from bayesgmm.mixture.structures import bayesian_structure

    problems = {}
    for name in ["full", *(name for name in args.structures if name != "full")]:
        try:  # the registry refuses a structure these sizes do not allow (EEV at D = 5)
            bayesian_structure(name, n_features=args.d)
        except ValueError as error:
            print(f"{name} skipped: {error}")
            continue
        problems[name] = problem(name, args.n, args.d, args.k)
    names = list(problems)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:  # take turns, call by call
            theta, buffer = problems[name]
            start = time.perf_counter()
            value, grad = kernel.logp_and_grad(theta, buffer)
            times[name].append(time.perf_counter() - start)
            assert np.isfinite(value) and np.all(np.isfinite(grad)), name
    print(
        f"N={args.n} D={args.d} K={args.k}, {args.repeats} calls each; load average "
        f"{os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    header = ("structure", "min us", "median us", "min / full", "median / full")
    print(f"{header[0]:<10} {header[1]:>9} {header[2]:>10} {header[3]:>11} {header[4]:>14}")
    base_min, base_median = min(times["full"]), float(np.median(times["full"]))
    for name in names:
        low, mid = min(times[name]), float(np.median(times[name]))
        print(
            f"{name:<10} {1e6 * low:>9.0f} {1e6 * mid:>10.0f} {low / base_min:>11.2f} "
            f"{mid / base_median:>14.2f}"
        )


if __name__ == "__main__":
    main()
