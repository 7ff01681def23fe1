"""Simulation-based calibration of bayesgmm's fits, per covariance type and per method.

For every covariance type, ``--n-sims`` data sets (N=``--n-samples``, K=2, D=2) are drawn
from one fixed prior and fitted with the same prior by

- ``nuts``: ``sample_nuts(sampler="nutpie")``, nutpie on the compiled C kernel, 2 chains
  of ``--tune`` + ``--draws``, thinned evenly to L=99;
- ``advi`` and ``fullrank_advi``: ``fit_advi`` (``--advi-steps`` steps), L=99
  independent draws of the approximation.

The truth's rank among the L draws is tested for uniformity (chi-square on 20 bins, Holm
over the quantities; and the simultaneous ECDF band). Writes, under ``--out``:
``sbc_<method>_<cov>.png`` (ECDF-difference plots, 95 % simultaneous bands),
``sbc_<method>_<cov>.npz`` (the ranks) and ``sbc_table.md`` (p-values per quantity).

Usage::

    python benchmarks/sbc.py                          # 1000 per type, all methods (hours)
    python benchmarks/sbc.py --n-sims 200 --methods nuts
    python benchmarks/sbc.py --n-sims 100 --methods advi fullrank_advi --types full diag
    python benchmarks/sbc.py --table-only             # rebuild the table from the .npz files
    python benchmarks/sbc.py --n-sims 200 --methods nuts --types full diag --missing-rate 0.2
    python benchmarks/sbc.py --n-sims 200 --methods nuts --types full diag --label-rate 0.3

``--missing-rate`` removes that share of entries completely at random before each fit (which
marginalises them), ``--label-rate`` gives the fit that share of the true labels
(``bayesgmm.bayes.calibration.sbc.observe``); the files then carry the suffix
``_missing<rate>`` / ``_labels<rate>``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")

import numpy as np

from bayesgmm.bayes.calibration.sbc import SBCResult, run_sbc, uniformity_p_values
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.plotting import plot_sbc

TYPES = ("full", "diag", "spherical", "tied")
METHODS = ("nuts", "advi", "fullrank_advi")
N_DRAWS, N_BINS, ALPHA = 99, 20, 0.01

#: The benchmark prior: the package defaults (alpha=1, lognormal sds with log-sd 1, eta=2)
#: on data of unit scale, with the component means two sds apart a priori.
PRIORS = GMMPriors(mean_loc=[0.0, 0.0], mean_scale=2.0, std_scale=1.0)


def _save(result: SBCResult, path: Path) -> None:
    np.savez(
        path,
        ranks=result.ranks,
        quantities=np.array(result.quantities),
        n_draws=result.n_draws,
        n_bins=result.n_bins,
        min_ess=result.min_ess,
        points=result.points,
    )


def _load(path: Path) -> SBCResult:
    data = np.load(path)
    ranks, n_draws, n_bins = data["ranks"], int(data["n_draws"]), int(data["n_bins"])
    return SBCResult(
        ranks=ranks,
        quantities=tuple(str(q) for q in data["quantities"]),
        n_draws=n_draws,
        n_bins=n_bins,
        p_values=uniformity_p_values(ranks, n_draws, n_bins),
        min_ess=data["min_ess"],
        points=data["points"],
    )


def _plot(result: SBCResult, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    axes = plot_sbc(result, ci_prob=0.95, ncols=5)
    axes[0].figure.suptitle(title, fontsize="medium")
    axes[0].figure.savefig(path, dpi=90)
    plt.close(axes[0].figure)


def _extreme_share(result: SBCResult) -> float:
    """Share of ranks at 0 or L over every quantity: the truth outside all the draws.
    Uniform ranks put 2 / (L + 1) there; an overconfident fit puts more."""
    return float(np.mean((result.ranks == 0) | (result.ranks == result.n_draws)))


def _table(results: dict[tuple[str, str], SBCResult]) -> str:
    keys = sorted(results, key=lambda k: (METHODS.index(k[0]), TYPES.index(k[1])))
    quantities = results[keys[0]].quantities
    header = "| quantity | " + " | ".join(f"{m} {c}" for m, c in keys) + " |"
    lines = [header, "|---" * (len(keys) + 1) + "|"]
    for q, name in enumerate(quantities):
        cells = []
        for key in keys:
            p = results[key].p_values[q]
            cells.append(f"**{p:.1e}**" if p * len(quantities) <= ALPHA else f"{p:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "| **passed** (Holm, α=0.01) | "
        + " | ".join("yes" if results[k].passed(ALPHA) else "**no**" for k in keys)
        + " |"
    )
    lines.append(
        "| outside 99 % ECDF band | "
        + " | ".join(", ".join(results[k].outside_band(ALPHA)) or "-" for k in keys)
        + " |"
    )
    lines.append(
        "| overconfident (tails, Holm α=0.01) | "
        + " | ".join(", ".join(results[k].overconfident(ALPHA)) or "-" for k in keys)
        + " |"
    )
    lines.append("| simulations | " + " | ".join(str(results[k].n_sims) for k in keys) + " |")
    lines.append(
        "| sims with min ESS < L | "
        + " | ".join(
            "-"
            if np.isnan(results[k].min_ess).all()
            else f"{int(np.sum(results[k].min_ess < N_DRAWS))}"
            for k in keys
        )
        + " |"
    )
    lines.append(
        f"| truth outside all L draws, % (expected {200 / (N_DRAWS + 1):.1f}) | "
        + " | ".join(f"{100 * _extreme_share(results[k]):.1f}" for k in keys)
        + " |"
    )
    lines.append(
        "| median min ESS (of 2 × draws) | "
        + " | ".join(
            "-" if np.isnan(results[k].min_ess).all() else f"{np.median(results[k].min_ess):.0f}"
            for k in keys
        )
        + " |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=1000)
    parser.add_argument("--n-samples", type=int, default=50)
    parser.add_argument("--types", nargs="+", default=list(TYPES), choices=TYPES)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--advi-steps", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "figures")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument(
        "--missing-rate", type=float, default=0.0, help="share of entries removed (MCAR)"
    )
    parser.add_argument(
        "--label-rate", type=float, default=0.0, help="share of rows given their true label"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = (f"_missing{args.missing_rate:g}" if args.missing_rate else "") + (
        f"_labels{args.label_rate:g}" if args.label_rate else ""
    )
    results = {}
    for method in args.methods:
        for cov in args.types:
            stem = args.out / f"sbc_{method}_{cov}{suffix}"
            if args.table_only:
                if Path(f"{stem}.npz").exists():
                    results[method, cov] = _load(Path(f"{stem}.npz"))
                continue
            start = time.perf_counter()
            result = run_sbc(
                PRIORS,
                2,
                cov,
                n_samples=args.n_samples,
                n_sims=args.n_sims,
                method=method,
                n_draws=N_DRAWS,
                n_bins=N_BINS,
                draws=args.draws,
                tune=args.tune,
                advi_steps=args.advi_steps,
                missing_rate=args.missing_rate,
                label_rate=args.label_rate,
                random_seed=args.seed,
                progressbar=True,
            )
            seconds = time.perf_counter() - start
            print(f"{method} {cov}: {args.n_sims} sims in {seconds:.0f} s", flush=True)
            _save(result, Path(f"{stem}.npz"))
            title = f"SBC {method}, {cov}{suffix}: {args.n_sims} sims, N={args.n_samples}, K=2, D=2"
            _plot(result, title, Path(f"{stem}.png"))
            results[method, cov] = result
            print(result.table().to_string(float_format="%.3g"), flush=True)
    if results:
        table = _table(results)
        (args.out / f"sbc_table{suffix}.md").write_text(table + "\n")
        print(table)


if __name__ == "__main__":
    main()
