"""Benchmark bayesgmm's default NUTS against the plain PyMC mixture formulation.

Everything runs in one process, in the same run, so that machine load hits every sampler
in about the same way. Two chains of ``tune`` + ``draws`` iterations (1000 + 1000 by
default) for every sampler.

Contenders
----------
bayesgmm
    ``build_model(Xs, K, "full")`` + ``sample_nuts(model, ...)`` with ``sampler="auto"``
    (nutpie driving bayesgmm's compiled C density through C callbacks, chains started
    near a MAP-EM fit).
plain model
    What a PyMC user would write: ``pm.Mixture`` over a Python list of K
    ``pm.MvNormal.dist(mu=mu[k], chol=chol_k)``, one ``pm.LKJCholeskyCov`` (eta=2,
    Exponential(1) scales) per component, Normal(0, 2) means (standardized data) and
    Dirichlet(1) weights, no ordering constraint. Sampled with
    ``pymc``: PyMC's default NUTS (``pm.sample(..., cores=2)``);
    ``numpyro``: ``pm.sample(..., nuts_sampler="numpyro")``, chains in parallel on two
    XLA host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=2`` is set
    before JAX is imported, unless the flag is already there);
    ``nutpie``: ``nutpie.compile_pymc_model`` + ``nutpie.sample`` (``--plain-nutpie``).

Metrics
-------
wall
    ``time.perf_counter`` around building the model and sampling, so compilation (PyTensor,
    JAX) is included. Library imports happen beforehand and are reported separately.
    bayesgmm's kernel is compiled C, built when the package is installed, so it has no
    compilation to pay at run time; its first run is its every run.
ESS, R-hat
    Weights and means are relabeled draw by draw with ``bayesgmm.posterior.relabel.pivot`` (squared
    Mahalanobis distance of the means, pooled EM covariance) to the EM estimate
    ``fit_em(Xs, K, "full", n_init=5, random_seed=0)``, for every contender alike; then
    ``arviz.ess`` (bulk) and ``arviz.rhat`` (rank-normalized split R-hat) on the
    ``(chain, draw, ...)`` arrays. ``min ESS`` and ``max R-hat`` run over every weight and
    every mean coordinate. ``R-hat raw`` is the same before relabeling (label switching
    shows there), ``switched`` the share of draws whose pivot permutation differs from the
    most common one, ``div`` the number of divergent transitions, ``steps`` the mean number
    of leapfrog steps (gradient evaluations) per kept draw.

Targets for bayesgmm: wall-time ratio to plain-numpyro <= 0.25, min bulk ESS >= half the
kept draws (1000 of 2000), relabeled max R-hat <= 1.01.

Usage::

    python benchmarks/bench_nuts.py --quick            # smoke run: 300 + 300, small data
    python benchmarks/bench_nuts.py --skip-pymc        # everything but PyMC's own sampler
    python benchmarks/bench_nuts.py                    # + PyMC's sampler on Faithful (~5 min)
    python benchmarks/bench_nuts.py --skip-faithful --large-bayesgmm-only  # N=10,000 alone
    python benchmarks/bench_nuts.py --skip-faithful --skip-large --huge    # N=100,000 alone

``--huge`` adds simulated N=100,000, D=10, K=10 (full), bayesgmm alone: no peer gets
through it in hours. Its gradient costs ~0.1 s, so ``--huge-tune`` / ``--huge-draws``
shorten it on a shared machine; ESS per second is the figure to compare across lengths.

On a busy 2-core machine the plain model's JAX gradient costs ~0.1 s at N=10,000 (D=5,
K=4), so plain-numpyro on the full large case runs for an hour or more; ``--large-n``
shrinks it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

TARGET_RATIO = 0.25
TARGET_RHAT = 1.01


@dataclass
class Row:
    """One contender on one dataset."""

    name: str
    wall: float
    min_ess: float
    max_rhat: float
    max_rhat_raw: float
    switched: float
    divergences: int
    steps: float
    note: str = ""

    @property
    def ess_per_second(self) -> float:
        return self.min_ess / self.wall


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


def standardize(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((X - X.mean(axis=0)) / X.std(axis=0))


def large_data(n: int, n_features: int, n_components: int, seed: int) -> np.ndarray:
    """Well separated means, random (Wishart-like) full covariances; standardized."""
    from bayesgmm import make_gmm_data

    rng = np.random.default_rng(seed)
    # Means on a scaled simplex-like design: every pair at distance >= 6 sd units.
    means = np.zeros((n_components, n_features))
    for k in range(n_components):
        means[k, k % n_features] = 6.0 / np.sqrt(2.0) * (1 + k // n_features)
    means += rng.normal(scale=0.3, size=means.shape)
    factors = rng.normal(size=(n_components, n_features, n_features)) / np.sqrt(n_features)
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.2 * np.eye(n_features)
    weights = np.linspace(1.0, 0.5, n_components)
    weights /= weights.sum()
    return standardize(make_gmm_data(n, weights, means, covariances, random_seed=rng).X)


# ---------------------------------------------------------------------------------------
# Diagnostics (identical for every contender)
# ---------------------------------------------------------------------------------------


def diagnostics(
    weights: np.ndarray, means: np.ndarray, reference: Any
) -> tuple[float, float, float, float]:
    """(min bulk ESS, max R-hat, max R-hat before relabeling, share of switched draws).

    ``weights`` (chain, draw, K) and ``means`` (chain, draw, K, D); ``reference`` an
    ``EMResult`` (full covariances).
    """
    import arviz as az

    from bayesgmm.posterior.relabel import apply_permutations, pivot

    n_chains, n_draws, k, d = means.shape
    perms = pivot(
        means.reshape(-1, k, d),
        reference_means=reference.means,
        reference_covariances=reference.covariances,
    )
    relabeled = apply_permutations(
        {"weights": weights.reshape(-1, k), "means": means.reshape(-1, k, d)}, perms
    )
    after = az.convert_to_dataset(
        {
            name: value.reshape(n_chains, n_draws, *value.shape[1:])
            for name, value in relabeled.items()
        }
    )
    before = az.convert_to_dataset({"weights": weights, "means": means})
    ess = az.ess(after, method="bulk")
    rhat = az.rhat(after)
    rhat_raw = az.rhat(before)

    def extreme(ds: Any, fn: Callable[[np.ndarray], float]) -> float:
        return float(fn(np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])))

    # Draws labeled differently from the most common labeling (the reference's own label
    # order is arbitrary, so the identity is not the yardstick).
    _, counts = np.unique(perms, axis=0, return_counts=True)
    switched = 1.0 - counts.max() / perms.shape[0]
    return extreme(ess, np.min), extreme(rhat, np.max), extreme(rhat_raw, np.max), switched


def count_divergences(idata: Any) -> int:
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "diverging" not in stats:
        return -1
    return int(stats["diverging"].values.sum())


def mean_steps(idata: Any) -> float:
    """Mean leapfrog steps per kept draw (gradient evaluations per draw)."""
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "n_steps" not in stats:
        return float("nan")
    return float(stats["n_steps"].values.mean())


# ---------------------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------------------


def run_bayesgmm(X: np.ndarray, k: int, draws: int, tune: int, seed: int, reference: Any) -> Row:
    import bayesgmm

    def fit() -> Any:
        model = bayesgmm.build_model(X, k, "full")
        return bayesgmm.sample_nuts(
            model, draws=draws, tune=tune, chains=2, random_seed=seed, progressbar=False
        )

    seconds, idata = timed(fit)
    post = idata.posterior
    stats = diagnostics(post["weights"].values, post["means"].values, reference)
    sampling = float(idata.attrs.get("sampling_seconds", np.nan))
    note = f"{idata.attrs.get('sampler')}; sampling {sampling:.2f}s"
    return Row(
        "bayesgmm (default)",
        seconds,
        *stats,
        count_divergences(idata),
        mean_steps(idata),
        note,
    )


def build_plain(X: np.ndarray, k: int) -> Any:
    """The textbook PyMC mixture: no ordering, one LKJCholeskyCov per component."""
    import pymc as pm

    d = X.shape[1]
    with pm.Model() as model:
        w = pm.Dirichlet("w", a=np.ones(k))
        mu = pm.Normal("mu", 0.0, 2.0, shape=(k, d))
        components = []
        for j in range(k):
            chol, _, _ = pm.LKJCholeskyCov(
                f"chol_{j}",
                n=d,
                eta=2.0,
                sd_dist=pm.Exponential.dist(1.0, size=d),
                compute_corr=True,
            )
            components.append(pm.MvNormal.dist(mu=mu[j], chol=chol))
        pm.Mixture("x", w=w, comp_dists=components, observed=X)
    return model


def run_plain(
    X: np.ndarray,
    k: int,
    draws: int,
    tune: int,
    seed: int,
    reference: Any,
    sampler: str,
    chain_method: str,
) -> Row:
    import pymc as pm

    # PyMC forks its chain processes; forking after JAX started its threads can deadlock.
    mp_ctx = "forkserver" if "jax" in sys.modules else "fork"

    def fit() -> Any:
        model = build_plain(X, k)
        if sampler == "nutpie":
            import nutpie

            compiled = nutpie.compile_pymc_model(model)
            return nutpie.sample(
                compiled, draws=draws, tune=tune, chains=2, seed=seed, progress_bar=False
            )
        with model:
            if sampler == "numpyro":
                return pm.sample(
                    draws,
                    tune=tune,
                    chains=2,
                    nuts_sampler="numpyro",
                    nuts_sampler_kwargs={"chain_method": chain_method},
                    random_seed=seed,
                    progressbar=False,
                )
            return pm.sample(
                draws,
                tune=tune,
                chains=2,
                cores=2,
                random_seed=seed,
                progressbar=False,
                mp_ctx=mp_ctx,
            )

    seconds, idata = timed(fit)
    post = idata.posterior
    stats = diagnostics(post["w"].values, post["mu"].values, reference)
    note = {"numpyro": f"chain_method={chain_method}", "pymc": f"mp_ctx={mp_ctx}"}.get(sampler, "")
    return Row(
        f"plain-{sampler}", seconds, *stats, count_divergences(idata), mean_steps(idata), note
    )


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def print_environment(import_seconds: dict[str, float]) -> None:
    from importlib.metadata import version

    import bayesgmm

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = os.cpu_count()
    print(
        f"python {platform.python_version()} ({platform.machine()}), cores: "
        f"os.cpu_count()={os.cpu_count()}, usable={affinity}"
    )
    names = ("pymc", "pytensor", "nutpie", "numpyro", "jax", "jaxlib", "arviz")
    print(
        f"bayesgmm {bayesgmm.__version__}, "
        + ", ".join(f"{name} {version(name)}" for name in names)
        + f", numpy {np.__version__}"
    )
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS')}, load average (1 min) {os.getloadavg()[0]:.2f}")
    print(
        "imports (excluded from wall times): "
        + ", ".join(f"{name} {sec:.2f}s" for name, sec in import_seconds.items())
    )


def print_table(title: str, rows: list[Row], total_draws: int) -> None:
    print(f"\n{title}")
    header = (
        f"{'contender':<20} {'wall s':>8} {'min ESS':>8} {'ESS/s':>8} {'R-hat':>7} "
        f"{'R-hat raw':>9} {'switched':>8} {'div':>5} {'steps':>6}  note"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.name:<20} {row.wall:>8.2f} {row.min_ess:>8.0f} {row.ess_per_second:>8.1f} "
            f"{row.max_rhat:>7.3f} {row.max_rhat_raw:>9.3f} {row.switched:>8.1%} "
            f"{row.divergences:>5d} {row.steps:>6.1f}  {row.note}"
        )
    ours = rows[0]
    for peer in rows[1:]:
        ratio = ours.wall / peer.wall
        flag = ""
        if peer.name == "plain-numpyro":
            flag = "  (target <= 0.25: " + ("met" if ratio <= TARGET_RATIO else "MISSED") + ")"
        print(
            f"wall-time ratio bayesgmm / {peer.name}: {ratio:.3f}; "
            f"ESS/s ratio: {ours.ess_per_second / peer.ess_per_second:.1f}x{flag}"
        )
    min_ess_target = total_draws / 2
    checks = [
        (f"min bulk ESS >= {min_ess_target:.0f}", ours.min_ess >= min_ess_target, ours.min_ess),
        (f"max R-hat <= {TARGET_RHAT}", ours.max_rhat <= TARGET_RHAT, ours.max_rhat),
    ]
    for label, ok, value in checks:
        print(f"bayesgmm {label}: {'met' if ok else 'MISSED'} ({value:.4g})")
    sys.stdout.flush()


def run_case(
    title: str,
    X: np.ndarray,
    k: int,
    args: argparse.Namespace,
    samplers: list[str],
) -> None:
    from bayesgmm.em import fit_em

    reference = fit_em(X, k, "full", n_init=5, random_seed=0)
    rows = [run_bayesgmm(X, k, args.draws, args.tune, args.seed, reference)]
    print(f"  ... {rows[-1].name}: {rows[-1].wall:.1f}s", flush=True)
    for sampler in samplers:
        if sampler == "numpyro" and "jax" not in sys.modules:
            seconds, _ = timed(lambda: (__import__("numpyro"), __import__("pymc.sampling.jax")))
            print(f"  (import jax + numpyro: {seconds:.2f}s, excluded from wall times)")
        rows.append(
            run_plain(X, k, args.draws, args.tune, args.seed, reference, sampler, args.chain_method)
        )
        print(f"  ... {rows[-1].name}: {rows[-1].wall:.1f}s", flush=True)
    print_table(title, rows, 2 * args.draws)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 + 300 draws, N=1,000 large")
    parser.add_argument("--draws", type=int, default=None, help="kept draws per chain")
    parser.add_argument("--tune", type=int, default=None, help="warm-up draws per chain")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-pymc", action="store_true", help="skip PyMC's own sampler")
    parser.add_argument("--skip-large", action="store_true", help="skip the N=10,000 case")
    parser.add_argument("--skip-faithful", action="store_true", help="skip Old Faithful")
    parser.add_argument(
        "--large-pymc", action="store_true", help="also PyMC's own sampler on the large case"
    )
    parser.add_argument("--plain-nutpie", action="store_true", help="also nutpie, plain model")
    parser.add_argument(
        "--large-bayesgmm-only",
        action="store_true",
        help="large case without peers (plain-numpyro needs ~0.1 s per gradient at N=10,000)",
    )
    parser.add_argument("--large-n", type=int, default=None, help="rows of the large case")
    parser.add_argument("--huge", action="store_true", help="N=100,000, D=10, K=10, bayesgmm")
    parser.add_argument("--huge-n", type=int, default=100_000, help="rows of the huge case")
    parser.add_argument("--huge-tune", type=int, default=None, help="warm-up, huge case")
    parser.add_argument("--huge-draws", type=int, default=None, help="kept draws, huge case")
    parser.add_argument(
        "--chain-method",
        default="parallel",
        choices=["parallel", "vectorized", "sequential"],
        help="numpyro's chain_method for the plain model (parallel: one XLA host device "
        "per chain is forced via XLA_FLAGS)",
    )
    args = parser.parse_args(argv)
    args.draws = args.draws or (300 if args.quick else 1000)
    args.tune = args.tune or (300 if args.quick else 1000)
    large_n = args.large_n or (1_000 if args.quick else 10_000)

    # Must be set before jax is imported.
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
        ).strip()

    import_seconds = {}
    import_seconds["pymc"], _ = timed(lambda: __import__("pymc"))
    import_seconds["nutpie"], _ = timed(lambda: __import__("nutpie"))
    import_seconds["bayesgmm"], _ = timed(
        lambda: (
            __import__("bayesgmm.bayes.inference"),
            __import__("bayesgmm.bayes.kernel.bindings"),
        )
    )
    print_environment(import_seconds)

    import logging

    import bayesgmm
    from bayesgmm.bayes.kernel import bindings as kernel
    from bayesgmm.bayes.model.priors import GMMPriors

    for name in ("pymc", "pymc.sampling.jax", "pymc.stats.convergence"):
        logging.getLogger(name).setLevel(logging.ERROR)

    faithful = standardize(bayesgmm.load_faithful().to_numpy(dtype=np.float64))
    if not kernel.available():
        sys.exit("bayesgmm's compiled kernel is not built: reinstall with a C compiler.")
    spec = kernel.kernel_spec(GMMPriors().resolve(faithful, 2), 2, 2, "full")
    buffer = kernel.kernel_buffer(faithful, spec)
    theta = np.zeros(spec.ndim)
    per_call, _ = timed(lambda: [kernel.logp_and_grad(theta, buffer) for _ in range(1000)])
    print(
        f"kernel gradient on Faithful (through ctypes, single thread): {per_call * 1e3:.0f} us. "
        f"chains=2, tune={args.tune}, draws={args.draws}, seed={args.seed}"
    )

    samplers = [] if args.skip_pymc else ["pymc"]
    samplers.append("numpyro")
    if args.plain_nutpie:
        samplers.append("nutpie")
    if not args.skip_faithful:
        run_case(
            f"Old Faithful standardized (272x2), K=2, full [tune={args.tune}, draws={args.draws}]",
            faithful,
            2,
            args,
            samplers,
        )
    if not args.skip_large:
        large = large_data(large_n, 5, 4, seed=args.seed)
        samplers = (["pymc"] if args.large_pymc else []) + ["numpyro"]
        if args.plain_nutpie:
            samplers.append("nutpie")
        if args.large_bayesgmm_only:
            samplers = []
        run_case(
            f"simulated ({large_n}x5), K=4, full, standardized "
            f"[tune={args.tune}, draws={args.draws}]",
            large,
            4,
            args,
            samplers,
        )
    if args.huge:
        huge_args = argparse.Namespace(**vars(args))
        huge_args.tune = args.huge_tune or args.tune
        huge_args.draws = args.huge_draws or args.draws
        huge = large_data(args.huge_n, 10, 10, seed=args.seed)
        run_case(
            f"simulated ({args.huge_n}x10), K=10, full, standardized "
            f"[tune={huge_args.tune}, draws={huge_args.draws}]",
            huge,
            10,
            huge_args,
            [],
        )
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
