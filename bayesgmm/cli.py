"""Command-line interface: ``bayesgmm demo`` and ``bayesgmm fit-em``.

The module imports only the standard library at import time. numpy, pandas and the EM code
load inside the subcommands, and PyMC / ArviZ / matplotlib are never imported by the EM
commands, so ``bayesgmm --help`` and ``bayesgmm demo`` start fast.

Exit codes: 0 success, 1 the fit itself failed (every restart collapsed), 2 bad input or
bad options (the message, never a traceback, goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = ["DemoState", "DemoStep", "UsageError", "main", "run_demo"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DEMO_KS = (1, 2, 3, 4)
DEMO_N_INIT = 3


class UsageError(Exception):
    """Bad input or options: reported on stderr with exit code 2, without a traceback."""


# ---------------------------------------------------------------------------------------
# Formatting helpers (shared by ``demo`` and ``fit-em``)
# ---------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


def format_parameters(
    weights: Any,
    means: Any,
    covariances: Any,
    covariance_type: str,
    feature_names: Sequence[str],
) -> str:
    """Human-readable table of mixture parameters.

    Parameters
    ----------
    weights : array-like of shape (K,)
    means : array-like of shape (K, D)
    covariances : array-like
        In the layout of ``covariance_type`` (see :mod:`bayesgmm.covariance`).
    covariance_type : {"full", "tied", "diag", "spherical"}
    feature_names : sequence of str
        One name per feature (column).

    Returns
    -------
    str
        Weights and means as one table (a row per component), then the covariances.
    """
    import numpy as np
    import pandas as pd

    weights = np.asarray(weights)
    means = np.atleast_2d(np.asarray(means))
    covariances = np.asarray(covariances)
    names = [str(n) for n in feature_names]
    n_components = means.shape[0]
    index = pd.Index(range(n_components), name="component")

    table = pd.DataFrame(means, index=index, columns=[f"mean[{n}]" for n in names])
    table.insert(0, "weight", weights)
    lines = ["Weights and means:", _indent(table.to_string(float_format=_fmt)), ""]

    if covariance_type == "full":
        lines.append("Covariances (one matrix per component):")
        for k in range(n_components):
            matrix = pd.DataFrame(covariances[k], index=names, columns=names)
            lines += [f"  component {k}:", _indent(matrix.to_string(float_format=_fmt), "    ")]
    elif covariance_type == "tied":
        lines.append("Covariance (tied: shared by all components):")
        matrix = pd.DataFrame(covariances, index=names, columns=names)
        lines.append(_indent(matrix.to_string(float_format=_fmt)))
    elif covariance_type == "diag":
        lines.append("Variances (diag: per component and feature; covariances are 0):")
        variances = pd.DataFrame(covariances, index=index, columns=[f"var[{n}]" for n in names])
        lines.append(_indent(variances.to_string(float_format=_fmt)))
    else:
        lines.append("Variances (spherical: one variance per component, shared by all features):")
        variances = pd.DataFrame({"variance": covariances}, index=index)
        lines.append(_indent(variances.to_string(float_format=_fmt)))
    return "\n".join(lines)


def _fit_summary(fit: Any) -> dict[str, Any]:
    from bayesgmm import em

    return {
        "log_likelihood": float(fit.log_likelihood),
        "log_prior": float(fit.log_prior),
        "n_parameters": int(em.n_free_parameters(fit)),
        "bic": float(em.bic(fit)),
        "aic": float(em.aic(fit)),
        "icl": float(em.icl(fit)),
        "converged": bool(fit.converged),
        "n_iter": int(fit.n_iter),
        "degenerate_components": [int(k) for k in fit.degenerate_components],
    }


def _format_summary(summary: dict[str, Any], *, map_em: bool) -> str:
    lines = [f"log-likelihood    {summary['log_likelihood']:.4f}"]
    if map_em:
        lines.append(f"log prior         {summary['log_prior']:.4f}  (MAP-EM objective = sum)")
    lines += [
        f"free parameters   {summary['n_parameters']}",
        f"BIC               {summary['bic']:.4f}  (lower is better)",
        f"AIC               {summary['aic']:.4f}  (lower is better)",
        f"ICL               {summary['icl']:.4f}  (lower is better)",
        f"converged         {'yes' if summary['converged'] else 'NO'} "
        f"after {summary['n_iter']} iteration(s)",
    ]
    if summary["degenerate_components"]:
        lines.append(f"degenerate        components {summary['degenerate_components']}")
    return "\n".join(lines)


def _emit_warnings(caught: Sequence[warnings.WarningMessage], stream: TextIO) -> None:
    seen = set()
    for w in caught:
        text = f"warning: {w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            print(text, file=stream)


def _params_json(fit: Any, feature_names: Sequence[str]) -> dict[str, Any]:
    return {
        "n_components": int(fit.means.shape[0]),
        "covariance_type": fit.covariance_type,
        "features": [str(n) for n in feature_names],
        "weights": fit.weights.tolist(),
        "means": fit.means.tolist(),
        "covariances": fit.covariances.tolist(),
        **_fit_summary(fit),
    }


# ---------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------


@dataclass
class DemoState:
    """What the demo steps share.

    Attributes
    ----------
    out_dir : Path or None
        Where steps write files; ``None`` writes nothing.
    seed : int
        Seed of every random choice in the demo.
    stream : text stream
        Where the steps print.
    results : dict
        Filled by the steps; :func:`run_demo` returns it.
    """

    out_dir: Path | None
    seed: int
    stream: TextIO
    results: dict[str, Any] = field(default_factory=dict)

    def write(self, name: str, writer: Callable[[Path], None]) -> None:
        """Call ``writer(path)`` for ``out_dir / name`` and record the path (if out_dir)."""
        if self.out_dir is None:
            return
        path = self.out_dir / name
        writer(path)
        self.results.setdefault("files", []).append(path)


@dataclass(frozen=True)
class DemoStep:
    """One titled step of :func:`run_demo`: a function that reads and extends the state."""

    title: str
    run: Callable[[DemoState], None]


def _demo_load_data(state: DemoState) -> None:
    from bayesgmm.datasets import load_faithful

    data = load_faithful()
    state.results["data"] = data
    print(
        f"Old Faithful: {len(data)} eruptions, features {list(data.columns)} "
        "(eruption time and waiting time to the next eruption, minutes).",
        file=state.stream,
    )


def _demo_em_select(state: DemoState) -> None:
    from bayesgmm.em import select_k

    data = state.results["data"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = select_k(
            data.to_numpy(),
            ks=DEMO_KS,
            covariance_types=COVARIANCE_TYPES,
            criterion="bic",
            n_init=DEMO_N_INIT,
            random_seed=state.seed,
        )
    _emit_warnings(caught, state.stream)
    best = table.attrs["best"]
    if best is None:
        raise RuntimeError("every EM fit of the demo was degenerate; this should not happen.")
    state.results["bic_table"] = table
    state.results["best"] = best

    shown = table.map(lambda v: "failed" if v != v else f"{v:.2f}")
    shown.loc[best[0], best[1]] += " *"
    shown.columns.name = "K \\ covariance"
    shown.index.name = None
    print(
        f"BIC = -2 log L + p log N for K = {DEMO_KS[0]}..{DEMO_KS[-1]} and each covariance type "
        f"(EM, {DEMO_N_INIT} restarts, seed {state.seed}).\n"
        "LOWER IS BETTER (mclust reports -BIC, where higher is better). * marks the chosen "
        "model.",
        file=state.stream,
    )
    print(_indent(shown.to_string()), file=state.stream)
    print(f"Chosen: K={best[0]}, covariance_type={best[1]!r}.", file=state.stream)
    state.write("em_bic_table.csv", table.to_csv)
    state.write("em_model_selection.csv", lambda p: table.attrs["long"].to_csv(p, index=False))


def _demo_em_best(state: DemoState) -> None:
    from bayesgmm.em import fit_em

    data = state.results["data"]
    n_components, cov_type = state.results["best"]
    # Same call as inside select_k, so this is the fit whose BIC won the table.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_em(
            data.to_numpy(),
            n_components,
            cov_type,
            n_init=DEMO_N_INIT,
            random_seed=state.seed,
        )
    _emit_warnings(caught, state.stream)
    summary = _fit_summary(fit)
    state.results["em_fit"] = fit
    state.results["em_summary"] = summary
    print(f"EM fit, K={n_components}, covariance_type={cov_type!r}:", file=state.stream)
    print(
        _indent(format_parameters(fit.weights, fit.means, fit.covariances, cov_type, data.columns)),
        file=state.stream,
    )
    print("", file=state.stream)
    print(_indent(_format_summary(summary, map_em=False)), file=state.stream)

    def write_json(path: Path) -> None:
        path.write_text(json.dumps(_params_json(fit, list(data.columns)), indent=2) + "\n")

    state.write("em_best_fit.json", write_json)


DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep("Data", _demo_load_data),
    DemoStep("EM model selection by BIC", _demo_em_select),
    DemoStep("The chosen EM model", _demo_em_best),
    # --- Bayesian steps go here ----------------------------------------------------------
    # Append DemoStep entries once bayesgmm.inference / posterior / compare / plotting exist:
    # NUTS on the chosen K (reading state.results["best"] and ["em_fit"]), relabeling of the
    # draws, the EM-vs-posterior table (estimate, posterior mean, HDI, inside-HDI), and plots
    # written with state.write(...). Import PyMC / ArviZ / matplotlib inside those steps only.
)


def run_demo(
    out_dir: str | Path | None = None,
    seed: int = 0,
    stream: TextIO | None = None,
    steps: Sequence[DemoStep] = DEMO_STEPS,
) -> dict[str, Any]:
    """Run the demo on the bundled Old Faithful data.

    Parameters
    ----------
    out_dir : str or Path, optional
        Directory for the outputs (created if missing): ``em_bic_table.csv``,
        ``em_model_selection.csv`` and ``em_best_fit.json``. ``None`` writes nothing.
    seed : int
        Seed of every random choice.
    stream : text stream, optional
        Where to print; standard output by default.
    steps : sequence of DemoStep
        The steps to run, in order; :data:`DEMO_STEPS` by default.

    Returns
    -------
    dict
        ``data`` (DataFrame), ``bic_table`` (K x covariance-type DataFrame of BIC, lower is
        better), ``best`` ((K, covariance_type)), ``em_fit`` (:class:`bayesgmm.em.EMResult`),
        ``em_summary`` (log-likelihood, BIC, AIC, ICL ...), and ``files`` (paths written)
        when ``out_dir`` is given.
    """
    stream = sys.stdout if stream is None else stream
    path = None if out_dir is None else Path(out_dir)
    if path is not None:
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {str(path)!r} exists and is not a directory.")
        path.mkdir(parents=True, exist_ok=True)
    state = DemoState(out_dir=path, seed=seed, stream=stream)
    for i, step in enumerate(steps, start=1):
        title = f"Step {i}/{len(steps)}: {step.title}"
        print(f"\n{title}\n{'=' * len(title)}", file=stream)
        step.run(state)
    if state.results.get("files"):
        print("\nWrote:", file=stream)
        for written in state.results["files"]:
            print(f"  {written}", file=stream)
    return state.results


def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.out, args.seed, sys.stdout)
    return 0


# ---------------------------------------------------------------------------------------
# fit-em
# ---------------------------------------------------------------------------------------


def _read_csv(path_text: str, columns: str | None) -> Any:
    """Read a CSV with a header row and return the selected numeric columns."""
    import pandas as pd

    path = Path(path_text)
    if not path.exists():
        raise UsageError(f"data file {path_text!r} does not exist.")
    if path.is_dir():
        raise UsageError(f"data file {path_text!r} is a directory, not a CSV file.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise UsageError(f"data file {path_text!r} is empty (no header, no rows).") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UsageError(f"could not parse {path_text!r} as CSV: {exc}") from None
    if len(frame) == 0:
        raise UsageError(f"data file {path_text!r} has a header but no data rows.")

    if columns is not None:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        if not wanted:
            raise UsageError("--columns is empty; give comma-separated column names.")
        unknown = [c for c in wanted if c not in frame.columns]
        if unknown:
            raise UsageError(
                f"unknown column(s) {unknown} in --columns; {path_text!r} has columns "
                f"{[str(c) for c in frame.columns]}."
            )
        frame = frame[wanted]

    non_numeric = [
        str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]
    if non_numeric:
        numeric = [str(c) for c in frame.columns if str(c) not in non_numeric]
        hint = f" (for example --columns {','.join(numeric)})" if numeric else ""
        raise UsageError(
            f"non-numeric column(s) {non_numeric} in {path_text!r}; Gaussian mixtures need "
            f"numbers. Select numeric columns with --columns{hint}, or encode them first."
        )

    missing = frame.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        described = ", ".join(f"{c!r} ({n} missing)" for c, n in missing.items())
        raise UsageError(
            f"{path_text!r} has NaN / empty values in column(s) {described}. "
            "Drop or impute those rows first (for example with pandas' dropna()); "
            "bayesgmm never imputes silently."
        )
    return frame.astype("float64")


def _write_labels(path_text: str, labels: Any, proba: Any) -> Path:
    import numpy as np
    import pandas as pd

    path = Path(path_text)
    if path.parent != Path() and not path.parent.is_dir():
        raise UsageError(f"--labels-out: directory {str(path.parent)!r} does not exist.")
    table = pd.DataFrame({"label": labels, "uncertainty": 1.0 - np.max(proba, axis=1)})
    for k in range(proba.shape[1]):
        table[f"prob_{k}"] = proba[:, k]
    table.index.name = "row"
    table.to_csv(path)
    return path


def _cmd_fit_em(args: argparse.Namespace) -> int:
    # Cheap option checks first, before reading any data.
    if args.n_components < 1:
        raise UsageError(f"-k/--n-components must be >= 1; got {args.n_components}.")
    if args.n_init < 1:
        raise UsageError(f"--n-init must be >= 1; got {args.n_init}.")
    if args.max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1; got {args.max_iter}.")
    if args.reg_covar < 0:
        raise UsageError(f"--reg-covar must be >= 0; got {args.reg_covar}.")

    frame = _read_csv(args.data, args.columns)
    n_samples, n_features = frame.shape
    if args.n_components > n_samples:
        raise UsageError(
            f"-k/--n-components={args.n_components} exceeds the number of rows ({n_samples}) "
            f"in {args.data!r}; each component needs data. Use a smaller K."
        )

    from bayesgmm.estimator import GaussianMixtureEM

    model = GaussianMixtureEM(
        args.n_components,
        covariance_type=args.covariance_type,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        reg_covar=args.reg_covar,
        prior=None if args.prior == "none" else "default",
        random_seed=args.seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(frame)
        proba = model.predict_proba(frame)
    _emit_warnings(caught, sys.stderr)

    fit = model.result_
    names = [str(c) for c in frame.columns]
    mode = "MAP-EM (Fraley & Raftery 2007 prior)" if args.prior == "default" else "EM (ML)"
    print(
        f"{mode} on {args.data}: N={n_samples}, D={n_features} ({', '.join(names)}), "
        f"K={args.n_components}, covariance_type={args.covariance_type!r}, "
        f"n_init={args.n_init}, seed={args.seed}",
    )
    print()
    print(format_parameters(fit.weights, fit.means, fit.covariances, fit.covariance_type, names))
    print()
    print(_format_summary(_fit_summary(fit), map_em=args.prior == "default"))
    if args.labels_out is not None:
        written = _write_labels(args.labels_out, proba.argmax(axis=1), proba)
        print(f"\nWrote labels and membership probabilities to {written}")
    return 0


# ---------------------------------------------------------------------------------------
# Parser and entry point
# ---------------------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesgmm")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``bayesgmm`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="bayesgmm",
        description="Bayesian Gaussian mixture models on PyMC, with a reference EM.",
    )
    parser.add_argument("--version", action="version", version=f"bayesgmm {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="EM model selection on the bundled Old Faithful data",
        description=(
            "Fit EM for K=1..4 and every covariance type to Old Faithful, print the BIC "
            "table (lower is better) and the chosen model's parameters."
        ),
    )
    demo.add_argument("--out", metavar="DIR", default=None, help="write the tables and fit to DIR")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.set_defaults(func=_cmd_demo)

    fit = sub.add_parser(
        "fit-em",
        help="fit a Gaussian mixture to a CSV file by EM or MAP-EM",
        description=(
            "Fit a K-component Gaussian mixture to the numeric columns of a CSV file "
            "(header row required) and print the parameters, log-likelihood, BIC, AIC, ICL "
            "and convergence."
        ),
    )
    fit.add_argument("data", metavar="data.csv", help="CSV file with a header row")
    fit.add_argument(
        "-k",
        "--n-components",
        type=int,
        required=True,
        metavar="K",
        help="number of components",
    )
    fit.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="covariance structure (default: full)",
    )
    fit.add_argument("--n-init", type=int, default=5, help="EM restarts (default: 5)")
    fit.add_argument(
        "--prior",
        choices=("none", "default"),
        default="none",
        help="none: maximum likelihood; default: MAP-EM with the Fraley & Raftery (2007) prior",
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    fit.add_argument(
        "--columns",
        default=None,
        metavar="A,B",
        help="comma-separated columns to use (default: all)",
    )
    fit.add_argument("--max-iter", type=int, default=100, help="EM iterations (default: 100)")
    fit.add_argument("--tol", type=float, default=1e-3, help="tolerance per sample (default: 1e-3)")
    fit.add_argument(
        "--reg-covar",
        type=float,
        default=1e-6,
        help="floor added to covariance diagonals (default: 1e-6)",
    )
    fit.add_argument(
        "--labels-out",
        metavar="labels.csv",
        default=None,
        help="write the predicted label, uncertainty and membership probabilities per row",
    )
    fit.set_defaults(func=_cmd_fit_em)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesgmm`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit code: 0 success, 1 the fit failed (every restart collapsed), 2 bad input or
        options.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, or argparse's own usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)

    from bayesgmm.exceptions import BayesGMMError

    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"bayesgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BayesGMMError as exc:  # CollapseError and friends: the fit itself failed
        print(f"bayesgmm {args.command}: fit failed: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:  # the package's input validation
        print(f"bayesgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
