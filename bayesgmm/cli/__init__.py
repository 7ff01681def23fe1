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
bad options (one line, never a traceback, on stderr), 130 interrupted by Ctrl-C (one line;
no half-written file: see ``_outputs`` and ``_interrupt``).

Outputs never overwrite an input file (whatever path leads to it), nor an existing file
without ``--force``, and are written atomically (``_outputs``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from bayesgmm.cli import demo, fit, fit_em, report
from bayesgmm.cli._common import DEMO_OUT as DEMO_OUT
from bayesgmm.cli._common import UsageError, _version
from bayesgmm.cli._demo_steps import DEMO_STEPS, DemoState, DemoStep
from bayesgmm.cli._interrupt import (
    INTERRUPTED_EXIT,
    interrupted,
    note_interrupt,
    watch_interrupts,
)
from bayesgmm.cli._outputs import start_command, written_files
from bayesgmm.cli.demo import run_demo

__all__ = ["DEMO_STEPS", "DemoState", "DemoStep", "UsageError", "build_parser", "main", "run_demo"]


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (the subcommands' parsers are of it too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``bayesgmm`` argument parser with its subcommands."""
    parser = _Parser(
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
        options (including unreadable or unwritable files and missing optional packages),
        130 interrupted by Ctrl-C. Every error is one line on standard error.
    """
    start_command()
    command = "bayesgmm"
    with watch_interrupts():
        try:
            args = build_parser().parse_args(None if argv is None else list(argv))
            command = f"bayesgmm {args.command}"
            code = int(args.func(args))
        except SystemExit as exc:  # --help, --version, or argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except KeyboardInterrupt:
            note_interrupt()
        except BrokenPipeError:  # `bayesgmm ... | head`: the reader left; end quietly
            _silence_stdout()
            code = BROKEN_PIPE_EXIT
        except Exception as exc:
            # After Ctrl-C, whatever a library made of it (an empty trace ...) is the interrupt.
            if not interrupted():
                code, message = _error_line(exc)
                print(f"{command}: {message}", file=sys.stderr)
        if interrupted():  # also when a library swallowed the interrupt and returned
            print(f"{command}: {_interrupted_line()}", file=sys.stderr)
            return INTERRUPTED_EXIT
    return code


#: Exit code when standard output is closed by its reader (128 + SIGPIPE, as shells show).
BROKEN_PIPE_EXIT = 141


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test's captured stream)
        pass


def _error_line(exc: Exception) -> tuple[int, str]:
    """The exit code and the one-line message of an exception that ended a command."""
    from bayesgmm.exceptions import BayesGMMError, DataFileError, FitFileError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (UsageError, FitFileError, DataFileError)):
        return 2, f"error: {text}"
    if isinstance(exc, BayesGMMError):  # CollapseError and friends: the fit itself failed
        return 1, f"fit failed: {text}"
    if isinstance(exc, (ValueError, TypeError, OSError, ImportError)):
        # The package's input validation, an unwritable output, a missing optional package.
        return 2, f"error: {text}"
    return 2, (
        f"error: unexpected {type(exc).__name__}: {text} (this is a bug in bayesgmm; please "
        "report it with the command line)"
    )


def _interrupted_line() -> str:
    written = written_files()
    if not written:
        return "interrupted (Ctrl-C); no file was written."
    return (
        f"interrupted (Ctrl-C); the {len(written)} file(s) written before it are complete "
        f"({', '.join(str(p) for p in written)}), no other file was written."
    )
