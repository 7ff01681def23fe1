"""``bayesgmm report fit.nc [--out DIR]``: summaries and plots of a written fit."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bayesgmm.cli._common import (
    REPORT_FILES,
    UsageError,
    _emit_fit_warnings,
    _emit_warnings,
    _indent,
    _read_csv,
    _wrap,
    add_csv_arguments,
    csv_format,
)
from bayesgmm.cli._format import (
    _format_comparison,
    _format_summary,
    _membership_text,
    _print_bayes_summary,
    format_parameters,
)
from bayesgmm.cli._outputs import add_force_argument, check_output_folder, input_files
from bayesgmm.cli._plots import (
    _density_pair,
    _draw_plots,
    _import_pyplot,
    _plot_comparison,
    _Writer,
)

if TYPE_CHECKING:
    import arviz as az
    import pandas as pd
    import xarray as xr

    from bayesgmm.bayes.inference.idata import PosteriorDraws


def _fit_meta(idata: az.InferenceData) -> dict[str, Any]:
    """The estimator parameters stored by BayesianGMM.save ({} for a bare InferenceData)."""
    raw = idata.posterior.attrs.get("bayesgmm_estimator_params")
    if raw is None:
        return {}
    try:
        return dict(json.loads(raw).get("params", {}))
    except (TypeError, ValueError):
        return {}


def _report_data(args: argparse.Namespace, feature_names: list[str]) -> Any:
    """``--data`` as a DataFrame with the fit's feature names, or None without --data."""
    if args.data is None:
        return None
    columns = args.columns
    if columns is None:
        from bayesgmm.io import read_csv_header

        header = read_csv_header(args.data, csv_format(args))
        if set(feature_names) <= set(header):
            columns = ",".join(feature_names)
    frame = _read_csv(args.data, columns, args)
    if frame.shape[1] != len(feature_names):
        raise UsageError(
            f"--data {args.data!r} has {frame.shape[1]} numeric column(s) "
            f"{[str(c) for c in frame.columns]} but the fit has {len(feature_names)} features "
            f"{feature_names}; pick them with --columns."
        )
    frame.columns = feature_names
    return frame


def _report_features(args: argparse.Namespace, feature_names: list[str]) -> tuple[int, int]:
    """The two features the plots show: ``--features A,B`` (names or 0-based indices)."""
    if args.features is None:
        return (0, 1)
    given = [f.strip() for f in args.features.split(",") if f.strip()]
    if len(given) != 2:
        raise UsageError(
            f"--features must name two features, as A,B; got {args.features!r}. The fit's "
            f"features: {feature_names}."
        )
    chosen = []
    for item in given:
        if item in feature_names:
            chosen.append(feature_names.index(item))
        elif item.isdigit() and int(item) < len(feature_names):
            chosen.append(int(item))
        else:
            raise UsageError(
                f"--features: {item!r} is not one of the fit's features {feature_names} "
                f"(or an index 0..{len(feature_names) - 1})."
            )
    if chosen[0] == chosen[1]:
        raise UsageError(f"--features names the same feature twice: {args.features!r}.")
    return chosen[0], chosen[1]


def _report_out_dir(args: argparse.Namespace) -> Path | None:
    if args.out is None:
        return None
    inputs = input_files(args.fit, args.data)
    return check_output_folder(args.out, "--out", REPORT_FILES, inputs, force=args.force)


def _cmd_report(args: argparse.Namespace) -> int:
    if args.columns is not None and args.data is None:
        raise UsageError("--columns selects columns of --data; give --data data.csv too.")
    from bayesgmm.io import read_fit_file

    kind, fit = read_fit_file(args.fit)
    if kind == "em":
        names = [str(n) for n in fit["feature"].values]
    else:
        names = [str(n) for n in fit.posterior["feature"].values]
    new_data = _report_data(args, names)  # checked before anything is printed
    args.feature_pair = _report_features(args, names)
    out_dir = _report_out_dir(args)
    write = _Writer(out_dir, REPORT_FILES)
    if kind == "em":
        _report_em(args, fit, write, new_data)
    else:
        _report_bayes(args, fit, write, new_data)
    if out_dir is None:
        print("\nNo plots drawn: pass --out DIR to write them.")
    elif write.files:
        print("\nWrote:")
        for path in write.files:
            print(f"  {path}")
    return 0


def _report_em(
    args: argparse.Namespace, ds: xr.Dataset, write: _Writer, new_data: pd.DataFrame | None
) -> None:
    import pandas as pd

    from bayesgmm.io import em_params_from_dataset

    params = em_params_from_dataset(ds)
    names = [str(n) for n in ds["feature"].values]
    observed = ds["x"].values if "x" in ds else None
    print(
        f"EM fit file {args.fit} (bayesgmm {ds.attrs.get('bayesgmm_version', '?')}): "
        f"K={params.means.shape[0]}, covariance_type={params.covariance_type!r}, "
        f"features {names}" + ("" if observed is None else f", N={observed.shape[0]}")
    )
    print()
    print(
        format_parameters(
            params.weights, params.means, params.covariances, params.covariance_type, names
        )
    )
    summary = json.loads(ds.attrs.get("em_summary", "{}"))
    if summary:
        print()
        print(_format_summary(summary, map_em=False))
    print("\n(No posterior in an EM fit: refit with --method nuts for uncertainty.)")
    data = new_data
    if data is None and observed is not None:
        data = pd.DataFrame(observed, columns=names)
    if write.out_dir is None or data is None:
        return
    plt = _import_pyplot(sys.stdout)
    if plt is None:
        return
    from bayesgmm import plotting

    specs = [
        (
            "clusters.png",
            lambda: plotting.plot_clusters(data, em=params, features=args.feature_pair),
        ),
        ("density.png", lambda: plotting.plot_density(data, params, features=args.feature_pair)),
    ]
    _draw_plots(plt, specs, write, sys.stdout)


def _report_bayes(
    args: argparse.Namespace, idata: az.InferenceData, write: _Writer, new_data: pd.DataFrame | None
) -> None:
    """Summaries of a Bayesian fit file, then its plots into ``write`` (with --out)."""
    import pandas as pd

    from bayesgmm.posterior import collapse_report, posterior_draws, unrelabel_idata

    draws = posterior_draws(idata)
    observed = _observed(idata)
    _print_bayes_header(args, idata, draws, observed)
    raw = unrelabel_idata(idata)
    _print_label_switching(idata, raw, draws)
    if observed is not None:
        print(_wrap(f"Collapse: {collapse_report(idata).message}", ""))
    em_fit, table = _report_em_vs_posterior(args, idata, draws, observed, new_data, write)
    data = new_data
    if data is None and observed is not None:
        data = pd.DataFrame(observed, columns=draws.feature_names)
    result = None
    if data is not None:
        result = _report_membership(args, idata, new_data)
    if write.out_dir is None or data is None:
        return
    posterior = _ReportedPosterior(idata, raw, draws.weights.shape[0] > 1, em_fit, table, result)
    _report_bayes_plots(args, posterior, data, write)


def _observed(idata: az.InferenceData) -> Any:
    """The fit's data (obs, feature) stored in the file, or None."""
    import numpy as np

    if "observed_data" in idata.groups() and "x" in idata.observed_data:
        return np.asarray(idata.observed_data["x"].transpose("obs", ...).values)
    return None


def _print_bayes_header(
    args: argparse.Namespace,
    idata: az.InferenceData,
    draws: PosteriorDraws,
    observed: np.ndarray | None,
) -> None:
    """The file's method, sampler, shape and model, then the posterior summary."""
    meta = _fit_meta(idata)
    attrs = idata.attrs or {}
    sampler = str(attrs.get("sampler", "unknown"))
    method = str(meta.get("method") or ("map" if sampler == "map" else "nuts"))
    print(
        f"Fit file {args.fit} (bayesgmm {attrs.get('bayesgmm_version', '?')}): method "
        f"{method!r}, sampler {sampler}, {draws.n_chains} chain(s) x "
        f"{draws.n_draws_per_chain} draw(s); "
        f"K={draws.weights.shape[1]}, covariance_type={draws.covariance_type!r}, "
        f"features {draws.feature_names}" + ("" if observed is None else f", N={observed.shape[0]}")
    )
    _print_bayes_summary(idata, method, sys.stdout)


def _print_label_switching(
    idata: az.InferenceData, raw: az.InferenceData | None, draws: PosteriorDraws
) -> None:
    """The label-switching report, recomputed from the stored permutations, or why not."""
    from bayesgmm.posterior import label_switching_report

    n_draws, n_comp = draws.weights.shape
    if n_comp > 1 and draws.n_chains > 1 and n_draws > 1 and raw is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the message says it all
            report = label_switching_report(raw, relabeled=idata)
        print(_wrap(f"Label switching: {report.message}", ""))
    elif n_draws > 1:
        why = (
            "one component"
            if n_comp == 1
            else "one chain"
            if draws.n_chains == 1
            else "the draws were not relabeled"
        )
        print(f"Label switching: not checked ({why}).")


def _report_em_vs_posterior(
    args: argparse.Namespace,
    idata: az.InferenceData,
    draws: PosteriorDraws,
    observed: np.ndarray | None,
    new_data: pd.DataFrame | None,
    write: _Writer,
) -> tuple[Any, Any]:
    """EM refitted to the data beside the posterior: ``(em_fit, table)``, or Nones."""
    from bayesgmm.analysis import compare
    from bayesgmm.em import fit_em

    n_draws, n_comp = draws.weights.shape
    cov_type = draws.covariance_type
    em_data = observed
    if em_data is None and new_data is not None:
        em_data = new_data.to_numpy()
    if n_draws < 2:
        print("\nEM versus posterior: not available for a MAP fit (one point, no draws).")
        return None, None
    if em_data is None:
        print("\nEM versus posterior: the file holds no data; pass --data data.csv.")
        return None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        em_fit = fit_em(
            em_data,
            n_comp,
            cov_type,
            n_init=5,
            random_seed=args.seed,
            missing="marginalize" if np.isnan(em_data).any() else "raise",
        )
    _emit_warnings(caught, sys.stderr)
    table = compare(em_fit, idata)
    source = "the fit's data" if observed is not None else args.data
    print(
        f"\nEM versus posterior (EM refitted to {source}: K={n_comp}, {cov_type!r}, "
        f"5 restarts, seed {args.seed}):"
    )
    print(_indent(_format_comparison(table)))
    print()
    print(_wrap(table.summary))
    write("comparison.csv", table.table.to_csv)
    return em_fit, table


def _report_membership(
    args: argparse.Namespace, idata: az.InferenceData, new_data: pd.DataFrame | None
) -> Any:
    """Membership uncertainty of --data (or the fit's data), printed and returned."""
    from bayesgmm.analysis import membership

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = membership(idata, new_data, random_seed=args.seed)
    _emit_fit_warnings(caught, sys.stderr)
    source = "the fit's data" if args.data is None else args.data
    print(f"\nMembership ({source}):")
    print(_indent(_membership_text(result)))
    return result


class _ReportedPosterior(NamedTuple):
    """What the report of a Bayesian fit computed, for its plots."""

    idata: Any  # relabeled
    raw: Any  # as sampled, or None when the draws were not relabeled
    has_draws: bool  # False for a MAP fit (one point)
    em_fit: Any  # EM refitted to the data, or None
    table: Any  # the EM-versus-posterior ComparisonTable, or None
    result: Any  # the Membership, or None


def _report_bayes_plots(
    args: argparse.Namespace, posterior: _ReportedPosterior, data: pd.DataFrame, write: _Writer
) -> None:
    """Draw the report's plots of a posterior into ``write``."""
    plt = _import_pyplot(sys.stdout)
    if plt is None:
        return
    from bayesgmm import plotting

    idata, raw, has_draws, em_fit, table, result = posterior
    pair = args.feature_pair

    specs: list[tuple[str, Callable[[], Any]]] = [
        (
            "clusters.png",
            lambda: plotting.plot_clusters(
                data,
                em=em_fit,
                idata=idata,
                membership=result,
                features=pair,
                random_seed=args.seed,
            ),
        ),
        (
            "density.png",
            (lambda: _density_pair(plt, data, em_fit, idata, features=pair))
            if em_fit is not None
            else (lambda: plotting.plot_density(data, idata, features=pair)),
        ),
    ]
    if table is not None:
        specs.append(("comparison.png", lambda: _plot_comparison(table)))
    if result is not None and has_draws:
        specs.append(
            ("membership_uncertainty.png", lambda: plotting.plot_membership_uncertainty(result))
        )
    if raw is not None and has_draws:
        specs.append(("trace_relabel.png", lambda: plotting.plot_trace_relabel(raw, idata)))
    _draw_plots(plt, specs, write, sys.stdout)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="summaries and plots of a fit written by `bayesgmm fit` (or BayesianGMM.save)",
        description=(
            "Load a fit file and print its summaries: the posterior summary, the relabeling, "
            "the label-switching report (recomputed from the stored permutations), the "
            "collapse report, the EM estimate (refitted to the data in the file) beside the "
            "posterior, and membership uncertainty. With --out, draw clusters.png, "
            "density.png, comparison.png, membership_uncertainty.png and trace_relabel.png "
            "into DIR and write comparison.csv. An EM fit file gets its parameters and "
            "clusters / density plots."
        ),
    )
    report.add_argument("fit", metavar="fit.nc", help="file written by `bayesgmm fit`")
    report.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder for the plots and comparison.csv (created if missing)",
    )
    add_force_argument(report, "plots and tables in --out DIR")
    report.add_argument(
        "--data",
        metavar="data.csv",
        default=None,
        help="points to plot and classify (default: the data stored in the fit)",
    )
    report.add_argument(
        "--columns",
        default=None,
        metavar="A,B",
        help="columns of --data (default: the fit's feature names, else all)",
    )
    add_csv_arguments(report, "--data")
    report.add_argument(
        "--features",
        default=None,
        metavar="A,B",
        help="the two features clusters.png and density.png show, by name or 0-based index "
        "(default: the first two)",
    )
    report.add_argument(
        "--seed", type=int, default=0, help="seed of the EM refit and the plots (default: 0)"
    )
    report.set_defaults(func=_cmd_report)
