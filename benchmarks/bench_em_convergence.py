"""How far below the maximum EM's stopping rules stop, on raw Old Faithful.

For every K, covariance type and seed, the same ``fit_em`` call is made with each stopping
rule: the relative rule ``|df| <= rtol * (1 + |f|)`` (the default, ``tol=None``) for several
``rtol``, scikit-learn's absolute ``tol=1e-3`` per sample (the former default), and the
reference ``tol=1e-10`` with a large ``max_iter``. The figures are the shortfall from the
reference objective (same seed: the convergence error; and from the best over all seeds:
whether the maximum was found at all), iterations and convergence flags.

Usage::

    python benchmarks/bench_em_convergence.py                     # n_init=10, seeds 0..9
    python benchmarks/bench_em_convergence.py --n-init 3 --seeds 5
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bayesgmm import em
from bayesgmm.datasets import load_faithful

RTOLS = (1e-5, 1e-6, 1e-7, 1e-8)
MAX_ITER = 100
REFERENCE = ("tol", 1e-10, 20000)
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _fit(X: np.ndarray, k: int, cov: str, seed: int, n_init: int, rule: tuple) -> tuple:
    """One fit under ``rule``: ("tol", tol, max_iter) or (rtol, max_iter) for the default."""
    kwargs: dict = {"n_init": n_init, "random_seed": seed}
    if rule[0] == "tol":
        _, kwargs["tol"], kwargs["max_iter"] = rule
    else:
        em._DEFAULT_RTOL, kwargs["max_iter"] = rule
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fit = em.fit_em(X, k, cov, **kwargs)
        seconds = time.perf_counter() - start
    warned = any(issubclass(w.category, em.ConvergenceWarning) for w in caught)
    return fit.objective, fit.n_iter, fit.converged, warned, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-init", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--rtols", type=float, nargs="+", default=RTOLS)
    parser.add_argument("--max-iter", type=int, default=MAX_ITER, help="for the rtol rules")
    args = parser.parse_args()
    X = load_faithful().to_numpy()
    default_rtol = em._DEFAULT_RTOL
    rules: list[tuple] = [("tol", 1e-3, 100), *((r, args.max_iter) for r in args.rtols)]
    names = ["tol=1e-3"] + [f"rtol={r:g}" for r in args.rtols]
    print(
        f"raw Old Faithful, n_init={args.n_init}, seeds 0..{args.seeds - 1}, "
        f"max_iter=100 for tol=1e-3 (the former default), {args.max_iter} for rtol"
    )
    print(
        "gap = reference - objective (reference: tol=1e-10 per sample, max_iter=20000, same seed);"
    )
    print("best = shortfall from the best reference over all seeds; iters = max n_iter;")
    print("nc = fits not converged; s = mean seconds per fit")
    header = f"{'K':>2} {'cov':>9} {'rule':>10} {'max gap':>9} {'max best':>9}"
    print(header + f" {'iters':>5} {'nc':>3} {'s':>6}")
    for k in args.ks:
        for cov in COVARIANCE_TYPES:
            refs = [_fit(X, k, cov, s, args.n_init, REFERENCE) for s in range(args.seeds)]
            ref = [row[0] for row in refs]
            best = max(ref)
            for name, rule in zip(names, rules, strict=True):
                rows = [_fit(X, k, cov, s, args.n_init, rule) for s in range(args.seeds)]
                gaps = [r - row[0] for r, row in zip(ref, rows, strict=True)]
                short = [best - row[0] for row in rows]
                print(
                    f"{k:>2} {cov:>9} {name:>10} {max(gaps):9.2e} {max(short):9.2e} "
                    f"{max(row[1] for row in rows):5d} "
                    f"{sum(not row[2] for row in rows):3d} "
                    f"{np.mean([row[4] for row in rows]):6.3f}"
                )
            print(
                f"{'':>2} {'':>9} {'reference':>10} best {best:.6f}, "
                f"iters {max(row[1] for row in refs)}, nc {sum(not row[2] for row in refs)}"
            )
    em._DEFAULT_RTOL = default_rtol


if __name__ == "__main__":
    main()
