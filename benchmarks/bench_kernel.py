"""Time the compiled kernel's value + gradient against its flop count.

One call of ``bgmm_logp_grad`` (value and gradient, full covariances) at
N=10,000, D=5, K=4 and N=100,000, D=10, K=10, against the flop count of the per-point
work and the machine's single-core rate, measured here with a 256 x 256 numpy matmul
(BLAS on one thread: set OPENBLAS_NUM_THREADS=1; a call about as long as the kernel's at
N=10,000, so both catch the same quiet moments of a shared machine). A matmul runs near
the FMA units' peak: 16 flops per cycle with AVX2 (two 4-wide FMA units), ~39 Gflop/s at
this machine's 2.45 GHz. ``--before PATH`` also times another build of the kernel (e.g.
the previous commit's .so) in the same run, so that load hits both alike; it must read the
same buffer layout (``HEADER`` in ``kernel.py``), else its values are garbage and the
"rel diff" columns say so (NaN).

Flop count per point and component (full covariance, D features), the work the value and
gradient need:

- forward: centre and scale (2D), triangular solve (D(D-1)), scale by 1/L_ii (D),
  the quadratic form (2D): D^2 + 4D;
- reverse: back substitution (D(D-1) + D), the mean and sd sums (4D), the Cholesky
  factor's sums (D(D+1)): 2D^2 + 5D;

so 3D^2 + 9D, plus one exp per point and component and one log per point (not counted).

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_kernel.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_kernel.py --before /tmp/old_kernel.so

The builds take turns call by call and the minimum over the calls is reported (with the
median): on a shared machine the minimum is the least disturbed figure.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import time
from collections.abc import Callable

import numpy as np

CASES = ((10_000, 5, 4), (100_000, 10, 10))
EXTRA_CASES = ((3_000, 3, 2), (20_000, 8, 6))  # --extra-cases: a small and a middle shape
_P = ctypes.POINTER(ctypes.c_double)


def flops_per_call(n: int, d: int, k: int) -> float:
    """Flops of one value + gradient call, per the count in the module docstring."""
    return float(n * k * (3 * d * d + 9 * d))


def matmul_rate(size: int, repeats: int) -> float:
    """Flop/s of a float64 size x size matmul (min time of ``repeats``)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(size, size)), rng.normal(size=(size, size))
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2.0 * size**3 / best


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def problem(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(theta, buffer): standardised mixture data, a position near its components."""
    from bayesgmm.bayes.kernel import bindings as kernel
    from bayesgmm.bayes.model.priors import GMMPriors

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(k, d))
    X = centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    spec = kernel.kernel_spec(GMMPriors().resolve(X, k), k, d, "full")
    theta = rng.normal(scale=0.3, size=spec.ndim)
    theta[k - 1 : k - 1 + k * d] = X[rng.choice(n, size=k, replace=False)].ravel()
    return theta, kernel.kernel_buffer(X, spec)


def load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.bgmm_logp_grad.restype = ctypes.c_double
    lib.bgmm_logp_grad.argtypes = [_P, _P, _P, _P]
    return lib


def call(
    lib: ctypes.CDLL, theta: np.ndarray, buffer: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """(seconds, value, gradient) of one value + gradient call."""
    grad = np.empty_like(theta)
    args = (theta.ctypes.data_as(_P), buffer.ctypes.data_as(_P), grad.ctypes.data_as(_P), None)
    start = time.perf_counter()
    value = lib.bgmm_logp_grad(*args)
    return time.perf_counter() - start, value, grad


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="another build of the kernel to time alongside")
    parser.add_argument("--repeats", type=int, default=300, help="calls per build, N=10,000")
    parser.add_argument("--extra-cases", action="store_true", help=f"also {EXTRA_CASES}")
    args = parser.parse_args(argv)
    from bayesgmm.bayes.kernel import _kernel

    libs = {"this build": load(_kernel.__file__)}
    if args.before:
        libs["before"] = load(args.before)
    rate = matmul_rate(256, 200)
    print(
        f"load average {os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS')}; numpy matmul 256x256, min of 200: "
        f"{rate / 1e9:.1f} Gflop/s (the single-core rate assumed below)"
    )
    print(
        f"{'case':<22} {'build':<11} {'min us':>9} {'median us':>10} {'Mflop':>7} "
        f"{'limit us':>9} {'x limit':>8}"
    )
    for n, d, k in CASES + (EXTRA_CASES if args.extra_cases else ()):
        theta, buffer = problem(n, d, k)
        flops = flops_per_call(n, d, k)
        limit = flops / rate
        repeats = max(10, args.repeats * 40_000 // (n * k))
        # The builds take turns call by call, so that a change in load hits both alike.
        runs = {name: [] for name in libs}
        for _ in range(repeats):
            for name, lib in libs.items():
                runs[name].append(call(lib, theta, buffer))
        for name, results in runs.items():
            times = [seconds for seconds, _, _ in results]
            best, median = min(times), float(np.median(times))
            print(
                f"N={n} D={d} K={k:<6} {name:<11} {best * 1e6:>9.0f} {median * 1e6:>10.0f} "
                f"{flops / 1e6:>7.1f} {limit * 1e6:>9.0f} {best / limit:>8.2f}"
            )
        if "before" in runs:
            before, after = runs["before"], runs["this build"]
            ratio_min = min(r[0] for r in before) / min(r[0] for r in after)
            ratio_med = np.median([r[0] for r in before]) / np.median([r[0] for r in after])
            (_, v0, g0), (_, v1, g1) = before[0], after[0]
            diff = np.max(np.abs(g1 - g0) / np.maximum(np.abs(g0), 1.0))
            print(
                f"  before / this build: min {ratio_min:.2f}x, median {ratio_med:.2f}x; "
                f"value rel diff {abs(v1 - v0) / max(abs(v0), 1):.1e}, grad {diff:.1e}"
            )


if __name__ == "__main__":
    main()
