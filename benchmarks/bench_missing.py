"""Missing values: the compiled kernel against PyMC's graph, and what EM for incomplete
data costs against the complete-data EM.

This times, in one run (so that the machine's load is shared), NUTS on the same data and
draws with nutpie on the compiled kernel (the default since the kernel covers missing
values), PyMC's own NUTS on the pattern-wise PyMC graph (C backend) and nutpie on that
graph (``nutpie.compile_pymc_model``, numba backend: jax is not installed), compile
included; one log density and gradient of the kernel and of the graph on iris; and EM with
20% MCAR against EM on the same data complete (the ratio is the number to quote).

Run: ``python benchmarks/bench_missing.py`` (everything: nutpie on the graph alone took
~400 s), or e.g. ``python benchmarks/bench_missing.py --parts graph samplers --samplers
kernel pymc --cov diag`` for a short run.
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings

import numpy as np

from bayesgmm.bayes.inference import sample_nuts
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.datasets import make_gmm_data
from bayesgmm.em import fit_em


def _data(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    corr = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
    sim = make_gmm_data(
        n, [0.3, 0.3, 0.4], [[0, 0, 0], [6, 0, 3], [0, 6, -3]], [corr, 0.5 * corr, np.eye(3)],
        random_seed=seed,
    )  # fmt: skip
    X = sim.X.copy()
    X[np.random.default_rng(seed).random(X.shape) < fraction] = np.nan
    return sim.X, X[~np.isnan(X).all(axis=1)]


def bench_samplers(
    n: int = 300,
    draws: int = 300,
    samplers: tuple[str, ...] = ("kernel", "pymc", "nutpie"),
    cov_types: tuple[str, ...] = ("diag", "full"),
) -> None:
    """NUTS on the same data and draws: ``kernel`` (nutpie on the compiled kernel),
    ``pymc`` (PyMC's NUTS on the graph), ``nutpie`` (nutpie on the numba-compiled graph)."""
    _, X = _data(n, 0.2)
    for cov_type in cov_types:
        seconds = {}
        for sampler in samplers:
            began = time.perf_counter()
            gmm = build_model(X, 3, cov_type, missing="marginalize")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if sampler == "nutpie":
                    idata = _nutpie_on_graph(gmm, draws)
                else:
                    idata = sample_nuts(
                        gmm, draws=draws, tune=draws, chains=2,
                        sampler="nutpie" if sampler == "kernel" else "pymc",
                        random_seed=0, progressbar=False,
                    )  # fmt: skip
            seconds[sampler] = time.perf_counter() - began
            used = idata.posterior.attrs.get("sampler", sampler)
            print(
                f"{cov_type:5s} {sampler:7s} N={n} draws=tune={draws} x2 chains: "
                f"{seconds[sampler]:6.1f} s (sampler {used})"
            )
        for other in (s for s in seconds if s != "kernel" and "kernel" in seconds):
            print(f"{cov_type:5s} {other} / kernel: {seconds[other] / seconds['kernel']:.1f}x")


def _nutpie_on_graph(gmm, draws: int):
    import nutpie

    compiled = nutpie.compile_pymc_model(gmm.model, backend="numba")
    return nutpie.sample(compiled, draws=draws, tune=draws, chains=2, seed=0, progress_bar=False)


def bench_em(n: int = 20_000, repeats: int = 3) -> None:
    complete, X = _data(n, 0.2)
    for cov_type in ("full", "diag"):
        times = {}
        for name, data, missing in (
            ("complete", complete, "raise"),
            ("20% MCAR", X, "marginalize"),
        ):
            best = np.inf
            for _ in range(repeats):
                began = time.perf_counter()
                fit = fit_em(data, 3, cov_type, random_seed=0, missing=missing, warn=False)
                best = min(best, (time.perf_counter() - began) / max(fit.n_iter, 1))
            times[name] = best
        print(f"EM {cov_type:5s} N={n}: complete {1e3 * times['complete']:.2f} ms/iter, "
              f"20% MCAR {1e3 * times['20% MCAR']:.2f} ms/iter, "
              f"ratio {times['20% MCAR'] / times['complete']:.1f}x")  # fmt: skip


def bench_graph(repeats: int = 200) -> None:
    """Compile time and cost of one log density + gradient: the missing-value model on
    iris with 20% MCAR against the complete-data model, K=3 full."""
    from sklearn.datasets import load_iris

    complete = load_iris().data.astype(np.float64)
    X = complete.copy()
    X[np.random.default_rng(2026).random(X.shape) < 0.2] = np.nan
    from bayesgmm.bayes.kernel import bindings as kernel

    for name, data, missing in (("complete", complete, "raise"), ("20% MCAR", X, "marginalize")):
        gmm = build_model(data, 3, "full", missing=missing)
        model = gmm.model
        began = time.perf_counter()
        func = model.logp_dlogp_function(ravel_inputs=True)
        compiled = time.perf_counter() - began
        func.set_extra_values({})
        point = np.concatenate([v.ravel() for v in model.initial_point().values()])
        began = time.perf_counter()
        for _ in range(repeats):
            func(point)
        per_eval = (time.perf_counter() - began) / repeats
        buffer = gmm.kernel_buffer()
        began = time.perf_counter()
        for _ in range(100 * repeats):
            kernel.logp_and_grad(point, buffer)
        per_kernel = (time.perf_counter() - began) / (100 * repeats)
        print(
            f"iris {name:9s}: compile {compiled:5.1f} s, logp+grad {1e3 * per_eval:.2f} ms; "
            f"kernel {1e6 * per_kernel:.1f} us (ctypes call included)"
        )


def _best(call, repeats: int, rounds: int = 5) -> float:
    """Seconds per call, the best of a few rounds (the machine is shared)."""
    call()  # warm: page faults, the dispatch
    best = np.inf
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(repeats):
            call()
        best = min(best, (time.perf_counter() - began) / repeats)
    return best


def bench_patterns(n: int = 10_000, repeats: int = 20) -> None:
    """The kernel's cost per missingness pattern: one value + gradient at D=K=10 (20% MCAR
    leaves ~600 patterns in 10,000 rows, each factorised per component) against the
    complete data, and a minibatch step of 1000 rows (one buffer packed per step)."""
    from bayesgmm.bayes.kernel import bindings as kernel
    from bayesgmm.bayes.kernel.minibatch import MinibatchDensity
    from bayesgmm.bayes.model.priors import GMMPriors

    rng = np.random.default_rng(0)
    for d, k in ((3, 3), (10, 10)):
        complete = rng.normal(size=(n, d))
        spec = kernel.kernel_spec(GMMPriors().resolve(complete, k), k, d, "full")
        X = complete.copy()
        X[rng.random(X.shape) < 0.2] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 0.0
        theta = np.zeros(spec.ndim)
        for name, data in (("complete", complete), ("20% MCAR", X)):
            buffer = kernel.kernel_buffer(data, spec)
            density = MinibatchDensity(data, spec, 1000, np.random.default_rng(1))
            full = _best(functools.partial(kernel.logp_and_grad, theta, buffer), repeats)
            step = _best(functools.partial(density, theta), 10 * repeats)
            print(
                f"D={d} K={k} {name:9s}: N={n} logp+grad {1e3 * full:.2f} ms "
                f"({int(buffer[14])} incomplete patterns); minibatch step (b=1000) "
                f"{1e3 * step:.3f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["graph", "patterns", "em", "samplers"])
    parser.add_argument("--samplers", nargs="+", default=["kernel", "pymc", "nutpie"])
    parser.add_argument("--cov", nargs="+", default=["diag", "full"])
    args = parser.parse_args()
    if "graph" in args.parts:
        bench_graph()
    if "patterns" in args.parts:
        bench_patterns()
    if "em" in args.parts:
        bench_em()
    if "samplers" in args.parts:
        bench_samplers(samplers=tuple(args.samplers), cov_types=tuple(args.cov))


if __name__ == "__main__":
    main()
