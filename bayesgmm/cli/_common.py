"""What every command shares: option constants (``COVARIANCE_TYPES`` from the structure
registry), the usage error, warnings and wrapping."""

from __future__ import annotations

import sys
import textwrap
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

# The CLI's choices: every registered structure (an explicit re-export).
from bayesgmm.mixture.structures import COVARIANCE_TYPES as COVARIANCE_TYPES

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from bayesgmm.em.results import EMResult

DEMO_KS = (1, 2, 3, 4)
DEMO_N_INIT = 3
#: NUTS settings of the demo: chains x (tune + draws); ``--quick`` uses QUICK_DRAWS for both.
DEMO_CHAINS = 2
DEMO_DRAWS = 1000
DEMO_TUNE = 1000
QUICK_DRAWS = 200
#: Default output folder of ``bayesgmm demo``.
DEMO_OUT = "bayesgmm-demo"
#: Every file ``bayesgmm demo`` may write into its folder (checked before it starts).
DEMO_FILES = (
    "em_bic_table.csv",
    "em_model_selection.csv",
    "em_best_fit.json",
    "fit.nc",
    "comparison.csv",
    "membership.csv",
    "clusters.png",
    "density.png",
    "trace_relabel.png",
    "comparison.png",
    "membership_uncertainty.png",
)
#: Every file ``bayesgmm report --out DIR`` may write into DIR.
REPORT_FILES = (
    "comparison.csv",
    "clusters.png",
    "density.png",
    "comparison.png",
    "membership_uncertainty.png",
    "trace_relabel.png",
)
#: ``bayesgmm fit --method`` choices: the BayesianGMM methods plus the reference EM.
FIT_METHODS = ("nuts", "advi", "fullrank_advi", "map", "em")
RELABEL_CHOICES = ("stephens", "pivot", "ecr", "ordering", "none")
SAMPLERS = ("auto", "nutpie", "pymc", "numpyro")
#: ``--missing`` choices: the fits' ``missing`` option.
MISSING_CHOICES = ("raise", "marginalize")
PLOT_INSTALL_HINT = 'plots need matplotlib: pip install "bayesgmm[plot]"'


class UsageError(Exception):
    """Bad input or options: reported on stderr with exit code 2, without a traceback."""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


def _wrap(text: str, prefix: str = "  ") -> str:
    """Wrap every line of ``text`` at 100 columns, indented by ``prefix``."""
    return "\n".join(
        textwrap.fill(line, 100, initial_indent=prefix, subsequent_indent=prefix + "  ")
        for line in text.splitlines()
        if line.strip()
    )


def _timed_with_warnings(run: Callable[[], Any]) -> tuple[Any, list[Any], float]:
    """Call ``run()`` recording every warning (printed later as one-liners) and its time."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    return result, caught, time.perf_counter() - start


def _emit_warnings(caught: Sequence[warnings.WarningMessage], stream: TextIO) -> None:
    seen = set()
    for w in caught:
        text = f"warning: {w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            print(text, file=stream)


def _emit_fit_warnings(
    caught: Sequence[warnings.WarningMessage],
    stream: TextIO,
    skip: tuple[type[Warning], ...] = (),
) -> None:
    """Print the package's own warnings from a fit, except the ``skip`` categories.

    Warnings of bayesgmm's classes (label switching, collapse, convergence) or issued from
    its code are kept; those of the libraries underneath (PyTensor's BLAS notice,
    deprecations) say nothing about the fit and are left out.
    """
    package_dir = str(Path(__file__).resolve().parents[1])  # bayesgmm/

    def ours(w: warnings.WarningMessage) -> bool:
        module = getattr(w.category, "__module__", "")
        return module.split(".")[0] == "bayesgmm" or str(w.filename).startswith(package_dir)

    _emit_warnings([w for w in caught if ours(w) and not issubclass(w.category, skip)], stream)


def _progressbar(choice: bool | None) -> bool:
    """The user's --progressbar choice, else on only when standard output is a terminal."""
    if choice is not None:
        return bool(choice)
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesgmm")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _read_csv(
    path_text: str, columns: str | None, args: argparse.Namespace, *, allow_missing: bool = False
) -> Any:
    """The numeric columns of a CSV file (:func:`bayesgmm.io.read_numeric_csv`), read with
    the command's --delimiter / --decimal / --no-header, hints naming those flags; empty
    values are NaN with ``allow_missing`` (``--missing marginalize``), else refused."""
    from bayesgmm.io import read_numeric_csv
    from bayesgmm.io.csv_dialect import CLI_OPTIONS

    return read_numeric_csv(
        path_text, columns, fmt=csv_format(args), options=CLI_OPTIONS, allow_missing=allow_missing
    )


def csv_format(args: argparse.Namespace) -> Any:
    """The :class:`bayesgmm.io.csv_dialect.CsvFormat` of the command's CSV options."""
    from bayesgmm.io.csv_dialect import CsvFormat

    delimiter = {"tab": "\t", "\\t": "\t"}.get(args.delimiter, args.delimiter)
    return CsvFormat(delimiter, args.decimal, not args.no_header)


def add_csv_arguments(parser: argparse.ArgumentParser, what: str = "the data file") -> None:
    """``--delimiter``, ``--decimal`` and ``--no-header`` for reading ``what``."""
    parser.add_argument(
        "--delimiter",
        choices=(",", ";", "tab", "|"),
        default=None,
        metavar="SEP",
        help=f"field separator of {what}: ',', ';', tab or '|' (default: sniffed)",
    )
    parser.add_argument(
        "--decimal",
        choices=(".", ","),
        default=None,
        metavar="MARK",
        help=f"decimal mark of {what}, '.' or ',' (default: ',' when its numbers are written "
        "1,5 and the delimiter is not a comma, else '.')",
    )
    parser.add_argument(
        "--no-header",
        action="store_true",
        help=f"{what} has no header row: every row is data, the columns are named x0, x1, ... "
        "(a first row of numbers is otherwise refused)",
    )


def _fit_summary(fit: EMResult) -> dict[str, Any]:
    """An EM fit's criteria and convergence (:func:`bayesgmm.io.em_summary`)."""
    from bayesgmm.io import em_summary

    return em_summary(fit)


def add_observation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--weights COLUMN``, ``--labels COLUMN`` and ``--missing`` (``fit``, ``fit-em``)."""
    parser.add_argument(
        "--missing",
        choices=MISSING_CHOICES,
        default="raise",
        help="empty values in the feature columns: refuse them (raise, the default) or "
        "marginalise them out of the likelihood (marginalize; assumes missing at random)",
    )
    parser.add_argument(
        "--weights",
        metavar="COLUMN",
        default=None,
        help="column of non-negative observation weights (not used as a feature)",
    )
    parser.add_argument(
        "--labels",
        metavar="COLUMN",
        default=None,
        help="column of partial labels: a component index 0..K-1, or -1 where unknown "
        "(not used as a feature)",
    )


def read_observed_csv(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The feature columns of ``args.data`` and its ``--weights`` / ``--labels`` columns.

    Returns the frame without those columns, then the weights and the labels (``None``
    where the option is not given).
    """
    allow_missing = getattr(args, "missing", "raise") == "marginalize"
    extra = [name for name in (args.weights, args.labels) if name]
    if not extra:
        return _read_csv(args.data, args.columns, args, allow_missing=allow_missing), None, None
    if args.weights and args.weights == args.labels:
        raise UsageError("--weights and --labels name the same column; give two columns.")
    columns = None if args.columns is None else ",".join([args.columns, *extra])
    frame = _read_csv(args.data, columns, args, allow_missing=allow_missing)
    for option, name in (("--weights", args.weights), ("--labels", args.labels)):
        if name and name not in frame.columns:
            raise UsageError(
                f"{option}: no numeric column {name!r} in {args.data!r}; columns: "
                f"{[str(c) for c in frame.columns]}."
            )
    frame = frame.loc[:, ~frame.columns.duplicated()]
    weights = frame.pop(args.weights).to_numpy() if args.weights else None
    labels = frame.pop(args.labels).to_numpy() if args.labels else None
    if frame.shape[1] == 0:
        raise UsageError("no feature columns are left besides --weights / --labels.")
    return frame, weights, labels
