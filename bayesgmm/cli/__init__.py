"""Command-line interface: ``bayesgmm demo``, ``fit``, ``report`` and ``fit-em``.

* ``bayesgmm demo``: the whole workflow on the bundled Old Faithful data (EM model selection
  by BIC, NUTS, relabeling, EM versus posterior, membership uncertainty, plots).
* ``bayesgmm fit data.csv -k K --method nuts|advi|fullrank_advi|map|em --out fit.nc``: fit
  a CSV file and write the fit to netCDF.
* ``bayesgmm report fit.nc [--out DIR]``: summaries and plots of a written fit.
* ``bayesgmm fit-em data.csv -k K``: EM or MAP-EM only, printed (no file needed).

One module per command: :mod:`~bayesgmm.cli.demo` (its steps in ``_demo_steps``),
:mod:`~bayesgmm.cli.fit`, :mod:`~bayesgmm.cli.report` and :mod:`~bayesgmm.cli.fit_em`, each
with its ``add_parser``; ``_common`` (option constants, the usage error, warnings),
``_format`` (text output) and ``_plots`` (plot files) are shared. The file formats they read
and write live in :mod:`bayesgmm.io`.

The package imports only the standard library at import time. numpy, pandas and the EM code
load inside the subcommands; PyMC / ArviZ / matplotlib load only in the steps that need them
(never in the EM commands), so ``bayesgmm --help`` starts fast.

Exit codes: 0 success, 1 the fit itself failed (every restart collapsed), 2 bad input or
bad options (the message, never a traceback, goes to stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bayesgmm.cli import demo, fit, fit_em, report
from bayesgmm.cli._common import DEMO_OUT as DEMO_OUT
from bayesgmm.cli._common import UsageError, _version
from bayesgmm.cli._demo_steps import DEMO_STEPS, DemoState, DemoStep
from bayesgmm.cli.demo import run_demo

__all__ = ["DEMO_STEPS", "DemoState", "DemoStep", "UsageError", "build_parser", "main", "run_demo"]


def build_parser() -> argparse.ArgumentParser:
    """The ``bayesgmm`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="bayesgmm",
        description="Bayesian Gaussian mixture models on PyMC, with a reference EM.",
    )
    parser.add_argument("--version", action="version", version=f"bayesgmm {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # The order of the commands in ``bayesgmm --help``.
    for command in (demo, fit, report, fit_em):
        command.add_parser(sub)
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
        options (including unreadable or unwritable files and missing optional packages).
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
    except (OSError, ImportError) as exc:  # unwritable output, a missing optional package
        print(f"bayesgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
