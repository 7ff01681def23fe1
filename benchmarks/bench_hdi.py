"""HDI of many columns at once: bayesgmm's vectorised HDI against ``arviz.hdi``.

``bayesgmm.mixture.draws.hdi_columns`` is the package's one HDI. ``membership`` takes an HDI of
every (point, component) membership probability, so N x K columns at once. This script
times it against ``arviz.hdi`` (the peer, wrapped below), on the same draws in the same
run, and checks that they agree, so that the choice of keeping an own version stays
measured.

    python benchmarks/bench_hdi.py                      # 4000 draws x 5000 columns
    python benchmarks/bench_hdi.py --draws 1000 --columns 1047 --repeats 5
    python benchmarks/bench_hdi.py --membership     # membership(), N=5000, K=3, 1000 draws
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from bayesgmm.mixture.draws import hdi_columns


def arviz_hdi(draws: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """The peer: ``arviz.hdi`` on one chain holding every draw, columns flattened."""
    import arviz as az

    interval = az.hdi(draws.reshape(1, draws.shape[0], -1), hdi_prob=prob)
    shape = draws.shape[1:]
    return interval[:, 0].reshape(shape), interval[:, 1].reshape(shape)


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _membership_seconds(n_obs: int, n_draws: int, repeats: int) -> None:
    """membership() end to end on a synthetic 3-component posterior, with each HDI."""
    import arviz as az

    from bayesgmm.analysis import memberships

    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    X = centres[rng.integers(0, 3, n_obs)] + rng.standard_normal((n_obs, 2))
    means = centres + 0.05 * rng.standard_normal((n_draws, 3, 2))
    cov = np.broadcast_to(np.eye(2), (n_draws, 3, 2, 2)) * np.exp(
        0.1 * rng.standard_normal((n_draws, 3, 1, 1))
    )
    idata = az.from_dict(
        posterior={
            "weights": rng.dirichlet([300.0] * 3, size=n_draws)[None],
            "means": means[None],
            "stds": np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))[None],
            "covariances": cov[None],
        },
        observed_data={"x": X},
        dims={
            "weights": ["component"],
            "means": ["component", "feature"],
            "stds": ["component", "feature"],
            "covariances": ["component", "feature", "feature_bis"],
            "x": ["obs", "feature"],
        },
    )

    def run() -> None:
        memberships.membership(idata, warn=False)

    numpy_s = _best_of(run, repeats)
    original = memberships.draw_math.hdi_columns
    memberships.draw_math.hdi_columns = arviz_hdi  # the peer, for this measurement only
    try:
        arviz_s = _best_of(run, repeats)
    finally:
        memberships.draw_math.hdi_columns = original
    print(f"membership N={n_obs} K=3 draws={n_draws} (best of {repeats})")
    print(f"with hdi_columns (numpy) {numpy_s:8.3f} s")
    print(f"with arviz.hdi           {arviz_s:8.3f} s   arviz / numpy = {arviz_s / numpy_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--columns", type=int, default=5000)
    parser.add_argument("--prob", type=float, default=0.94)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--membership", action="store_true")
    args = parser.parse_args()
    if args.membership:
        _membership_seconds(5000, 1000, args.repeats)
        return
    values = np.random.default_rng(0).gamma(2.0, size=(args.draws, args.columns))
    arviz_hdi(values[:, :2], args.prob)  # warm up: ArviZ's import and first-call set-up
    numpy_s = _best_of(lambda: hdi_columns(values, args.prob), args.repeats)
    arviz_s = _best_of(lambda: arviz_hdi(values, args.prob), args.repeats)
    low, high = hdi_columns(values, args.prob)
    ref_low, ref_high = arviz_hdi(values, args.prob)
    err = max(np.max(np.abs(low - ref_low)), np.max(np.abs(high - ref_high)))
    print(f"draws={args.draws} columns={args.columns} prob={args.prob} (best of {args.repeats})")
    print(f"hdi_columns (numpy)      {numpy_s:8.3f} s")
    print(f"arviz.hdi                {arviz_s:8.3f} s   arviz / numpy = {arviz_s / numpy_s:.2f}")
    print(f"max |difference|         {err:.1e}")


if __name__ == "__main__":
    main()
