"""Minibatch ADVI end to end at N = 1e6, D = 10, K = 10 (issue: scale).

Simulates well separated components with unequal sds, fits
``BayesianGMM(method="advi", minibatch_size=...)`` and reports the wall time of the whole
``fit`` (start, stochastic ADVI, draws, post-processing), the peak RSS of the process, the
largest error of the posterior-mean component means against the truth (components matched
by the Hungarian algorithm), and whether anything was printed that looks like a traceback.

Run: ``python benchmarks/bench_advi_large.py [--n 1000000] [--method advi]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import sys
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from bayesgmm.datasets import make_gmm_data
from bayesgmm.estimators.bayesian import BayesianGMM


def simulate(n: int, d: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.uniform(-30, 30, size=(k, d))
    sds = rng.uniform(0.5, 2.0, size=(k, d))
    covariances = np.stack([np.diag(s**2) for s in sds])
    weights = rng.dirichlet(np.full(k, 5.0))
    return make_gmm_data(n, weights, means, covariances, random_seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--method", default="advi", choices=["advi", "fullrank_advi"])
    parser.add_argument("--covariance-type", default="full")
    parser.add_argument("--minibatch-size", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20000)
    args = parser.parse_args()

    truth = simulate(args.n, args.d, args.k)
    fit = BayesianGMM(
        args.k,
        covariance_type=args.covariance_type,
        method=args.method,
        minibatch_size=args.minibatch_size,
        advi_steps=args.steps,
        random_seed=1,
        progressbar=True,
    )
    stderr = io.StringIO()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr):
        warnings.simplefilter("always")
        fit.fit(truth.X)
    seconds = time.perf_counter() - start
    printed = stderr.getvalue()
    sys.stderr.write(printed)
    cost = np.linalg.norm(fit.means_[:, None, :] - truth.means[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    error = np.abs(fit.means_[rows] - truth.means[cols]).max()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux
    print(f"N={args.n} D={args.d} K={args.k} {args.covariance_type} {args.method}")
    print(f"  sampler attr        : {fit.raw_idata_.attrs['sampler']}")
    print(f"  end-to-end fit      : {seconds:.1f} s")
    print(f"  peak RSS            : {peak_gb:.2f} GB")
    print(f"  max |mean - truth|  : {error:.4f} (data units; component sds 0.5-2)")
    print(f"  traceback printed   : {'Traceback' in printed or 'ERROR' in printed}")
    print(f"  warnings            : {[str(w.message)[:90] for w in caught]}")


if __name__ == "__main__":
    main()
