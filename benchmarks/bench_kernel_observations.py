"""The compiled kernel with and without observation weights and partial labels.

Times one value+gradient at N=10,000, D=3, K=3 (full) for the plain buffer, weights,
labels (10% labelled) and both, against a peer measured in the same run: the kernel of
another checkout (``--peer path/to/_kernel*.so``, e.g. the main branch's) on the plain
buffer. Run: ``python benchmarks/bench_kernel_observations.py --peer OTHER/_kernel.so``.
"""

from __future__ import annotations

import argparse
import ctypes
import time

import numpy as np

from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import build_model

_P = ctypes.POINTER(ctypes.c_double)


def _lib(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.bgmm_logp_grad.restype = ctypes.c_double
    lib.bgmm_logp_grad.argtypes = [_P, _P, _P, _P]
    return lib


def _once(lib: ctypes.CDLL, theta: np.ndarray, buffer: np.ndarray, reps: int) -> float:
    grad = np.empty(theta.size)
    start = time.perf_counter()
    for _ in range(reps):
        lib.bgmm_logp_grad(
            theta.ctypes.data_as(_P), buffer.ctypes.data_as(_P), grad.ctypes.data_as(_P), None
        )
    return (time.perf_counter() - start) / reps * 1e6


def _times(runs: dict[str, tuple], rounds: int = 9, reps: int = 100) -> dict[str, float]:
    """Best time per call (us) of every run, the runs interleaved round by round so that
    the machine's changing load hits them alike."""
    best = dict.fromkeys(runs, np.inf)
    for _ in range(rounds):
        for name, (lib, theta, buffer) in runs.items():
            best[name] = min(best[name], _once(lib, theta, buffer, reps))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", help="another build of the kernel, timed on the plain buffer")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 3)) + 4.0 * rng.integers(0, 3, size=(10_000, 1))
    gmm = build_model(X, 3, "full")
    spec = gmm.spec.kernel
    theta = rng.normal(scale=0.3, size=spec.ndim)
    w = rng.uniform(size=10_000)
    y = np.where(rng.uniform(size=10_000) < 0.1, rng.integers(0, 3, size=10_000), -1)
    buffers = {
        "plain": kernel.kernel_buffer(gmm.internal, spec),
        "weights": kernel.kernel_buffer(gmm.internal, spec, w),
        "labels": kernel.kernel_buffer(gmm.internal, spec, None, y),
        "both": kernel.kernel_buffer(gmm.internal, spec, w, y),
    }
    own = kernel._require()
    runs = {name: (own, theta, buffer) for name, buffer in buffers.items()}
    if args.peer:
        runs["peer, plain"] = (_lib(args.peer), theta, buffers["plain"])
    best = _times(runs)
    base = best.get("peer, plain")
    for name, value in best.items():
        ratio = f"  ({value / base:.2f}x the peer)" if base else ""
        print(f"{name}: {value:.0f} us{ratio}")


if __name__ == "__main__":
    main()
