"""``bayesgmm fit data.csv -k K --method ... --out fit.nc``: fit a CSV file and write it."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayesgmm.cli._common import (
    COVARIANCE_TYPES,
    FIT_METHODS,
    RELABEL_CHOICES,
    SAMPLERS,
    UsageError,
    _emit_fit_warnings,
    _emit_warnings,
    _fit_summary,
    _progressbar,
    _timed_with_warnings,
    _wrap,
    add_csv_arguments,
    add_observation_arguments,
    read_observed_csv,
)
from bayesgmm.cli._format import (
    _format_summary,
    _print_bayes_summary,
    format_parameters,
)
from bayesgmm.cli._outputs import (
    add_force_argument,
    check_output_file,
    input_files,
    write_output,
)

if TYPE_CHECKING:
    import pandas as pd


def _check_fit_options(args: argparse.Namespace) -> None:
    if args.n_components < 1:
        raise UsageError(f"-k/--n-components must be >= 1; got {args.n_components}.")
    for option, value, low in (
        ("--draws", args.draws, 1),
        ("--tune", args.tune, 0),
        ("--chains", args.chains, 1),
        ("--n-starts", args.n_starts, 1),
        ("--advi-steps", args.advi_steps, 1),
        ("--n-init", args.n_init, 1),
    ):
        if value < low:
            raise UsageError(f"{option} must be >= {low}; got {value}.")
    if args.method not in ("map", "em") and args.draws < 4:
        raise UsageError(
            f"--draws must be >= 4 for posterior summaries with --method {args.method}; "
            f"got {args.draws}."
        )


def _cmd_fit(args: argparse.Namespace) -> int:
    _check_fit_options(args)
    out = check_output_file(args.out, "--out", input_files(args.data), force=args.force)
    frame, weights, labels = read_observed_csv(args)
    observed = {"sample_weight": weights, "labels": labels}
    n_samples, n_features = frame.shape
    if args.n_components > n_samples:
        raise UsageError(
            f"-k/--n-components={args.n_components} exceeds the number of rows ({n_samples}) "
            f"in {args.data!r}; each component needs data. Use a smaller K."
        )
    names = [str(c) for c in frame.columns]
    head = (
        f"N={n_samples}, D={n_features} ({', '.join(names)}), K={args.n_components}, "
        f"covariance_type={args.covariance_type!r}, seed={args.seed}"
    )
    if args.method == "em":
        return _fit_em_file(args, frame, names, head, out, observed)
    return _fit_bayes(args, frame, names, head, out, observed)


def _fit_em_file(
    args: argparse.Namespace,
    frame: pd.DataFrame,
    names: list[str],
    head: str,
    out: Path,
    observed: dict[str, Any],
) -> int:
    from bayesgmm.em import fit_em

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_em(
            frame.to_numpy(),
            args.n_components,
            args.covariance_type,
            n_init=args.n_init,
            random_seed=args.seed,
            missing=args.missing,
            **observed,
        )
    _emit_warnings(caught, sys.stderr)
    print(f"EM (maximum likelihood, {args.n_init} restarts) on {args.data}: {head}")
    print()
    print(format_parameters(fit.weights, fit.means, fit.covariances, fit.covariance_type, names))
    print()
    print(_format_summary(_fit_summary(fit), map_em=False))
    from bayesgmm.io import em_dataset

    dataset = em_dataset(
        fit, frame.to_numpy(), names, data_file=str(args.data), random_seed=args.seed
    )
    write_output(out, lambda path: dataset.to_netcdf(path, engine="h5netcdf"))
    print(f"\nWrote the EM fit to {out} (netCDF; read it with: bayesgmm report {out})")
    return 0


def _fit_bayes(
    args: argparse.Namespace,
    frame: pd.DataFrame,
    names: list[str],
    head: str,
    out: Path,
    observed: dict[str, Any],
) -> int:
    from bayesgmm.estimators.bayesian import BayesianGMM

    model = BayesianGMM(
        args.n_components,
        covariance_type=args.covariance_type,
        method=args.method,
        sampler=args.sampler,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        n_starts=args.n_starts,
        init=args.init,
        relabel=args.relabel,
        advi_steps=args.advi_steps,
        progressbar=_progressbar(args.progressbar),
        random_seed=args.seed,
        missing=args.missing,
    )
    _, caught, elapsed = _timed_with_warnings(
        lambda: model.fit(frame, sample_weight=observed["sample_weight"], labels=observed["labels"])
    )
    _emit_fit_warnings(caught, sys.stderr)
    idata = model.idata_
    sampler = idata.attrs.get("sampler", args.method)
    if args.method == "nuts":
        how = f"NUTS ({sampler}), {args.chains} chain(s) x {args.draws} draws (+{args.tune} tuning)"
    elif args.method == "map":
        how = "MAP (posterior mode)"
    else:
        how = f"{args.method} ({args.advi_steps} steps, {args.draws} draws)"
    print(f"{how} on {args.data}: {head}; {elapsed:.1f} s")
    _print_bayes_summary(idata, args.method, sys.stdout)
    if getattr(model, "modes_", None) is not None:
        print(_wrap(f"Modes: {model.modes_.message}", ""))
    if model.label_report_ is not None:
        print(_wrap(f"Label switching: {model.label_report_.message}", ""))
    elif args.method == "nuts":
        print("Label switching: not checked (needs K >= 2 and at least 2 chains).")
    if model.collapse_report_ is not None:
        print(_wrap(f"Collapse: {model.collapse_report_.message}", ""))
    write_output(out, model.save)
    print(f"\nWrote the fit to {out} (InferenceData netCDF; read it with: bayesgmm report {out})")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fit = sub.add_parser(
        "fit",
        help="fit a Gaussian mixture to a CSV file (NUTS, ADVI, MAP or EM) and write it",
        description=(
            "Fit a K-component Gaussian mixture to the numeric columns of a CSV file, print a "
            "summary and write the fit to --out (never over the data file; an existing file "
            "only with --force; written whole, so Ctrl-C leaves no partial file). The file "
            "needs a header row unless --no-header; its delimiter and decimal mark are sniffed "
            "(or given by --delimiter / --decimal) and ragged rows are refused. Bayesian methods "
            "(nuts, advi, fullrank_advi, map) write an ArviZ InferenceData netCDF file "
            "(BayesianGMM.save: relabeled posterior, sample stats, observed data, the "
            "relabeling permutations, and the configuration in the attrs; read it back with "
            "BayesianGMM.load or arviz.from_netcdf). --method em writes a plain netCDF "
            "(xarray Dataset) with the variables weights (component), means (component, "
            "feature), covariances (in the covariance type's layout: full (component, "
            "feature, feature_bis), tied (feature, feature_bis), diag (component, feature), "
            "spherical (component)) and x (the data: obs, feature), and the attrs "
            "bayesgmm_kind='em', covariance_type, n_components and em_summary (JSON: "
            "log-likelihood, BIC, AIC, ICL, convergence); read it with xarray.load_dataset. "
            "`bayesgmm report FILE` reads both."
        ),
    )
    fit.add_argument("data", metavar="data.csv", help="CSV file (a header row unless --no-header)")
    fit.add_argument(
        "-k", "--n-components", type=int, required=True, metavar="K", help="number of components"
    )
    fit.add_argument(
        "--method",
        choices=FIT_METHODS,
        default="nuts",
        help="nuts (default), advi, fullrank_advi, map, or em (maximum likelihood)",
    )
    fit.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="covariance structure (default: full)",
    )
    fit.add_argument(
        "--out",
        required=True,
        metavar="fit.nc",
        help="netCDF file to write (never the data file; an existing file needs --force)",
    )
    add_force_argument(fit, "--out")
    fit.add_argument(
        "--draws",
        type=int,
        default=1000,
        help="NUTS draws per chain, or draws from the ADVI approximation (default: 1000)",
    )
    fit.add_argument("--tune", type=int, default=1000, help="NUTS tuning steps (default: 1000)")
    fit.add_argument("--chains", type=int, default=4, help="NUTS chains (default: 4)")
    fit.add_argument(
        "--n-starts",
        type=int,
        default=2,
        help="distinct MAP-EM local maxima the NUTS chains start from (default: 2)",
    )
    fit.add_argument(
        "--sampler", choices=SAMPLERS, default="auto", help="NUTS backend (default: auto)"
    )
    fit.add_argument(
        "--init",
        choices=("em", "default"),
        default="em",
        help="start the chains near a MAP-EM fit (default) or at random",
    )
    fit.add_argument(
        "--relabel",
        choices=RELABEL_CHOICES,
        default="stephens",
        help="relabeling of the draws (default: stephens)",
    )
    fit.add_argument(
        "--advi-steps", type=int, default=20000, help="ADVI optimisation steps (default: 20000)"
    )
    fit.add_argument("--n-init", type=int, default=5, help="EM restarts (default: 5)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    fit.add_argument(
        "--columns", default=None, metavar="A,B", help="comma-separated columns (default: all)"
    )
    fit.add_argument(
        "--progressbar",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on when standard output is a terminal)",
    )
    add_csv_arguments(fit)
    add_observation_arguments(fit)
    fit.set_defaults(func=_cmd_fit)
