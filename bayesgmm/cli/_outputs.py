"""Where the commands write: never onto an input, never over a file without --force, whole.

Every output option goes through :func:`check_output_file` or :func:`check_output_folder`
before any work is done, and every file is written by :func:`write_output`: atomically (a
temporary file, then a rename; :func:`bayesgmm.io.atomic.write_atomically`) and never once
Ctrl-C has been pressed, so an interrupted command leaves no half-written file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bayesgmm.cli._common import UsageError
from bayesgmm.cli._interrupt import interrupted

_written: list[Path] = []


def add_force_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--force``: overwrite existing output files (never the input files)."""
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"overwrite {what} that already exist (an input file is never overwritten)",
    )


def input_files(*paths: str | None) -> tuple[Path, ...]:
    """The command's input files that exist (the others are reported by their readers)."""
    return tuple(Path(p) for p in paths if p is not None and Path(p).is_file())


def _same_input(path: Path, inputs: Iterable[Path]) -> Path | None:
    """The input that ``path`` is (same file: ./x, symlinks and hard links included)."""
    if not path.exists():
        return None
    for source in inputs:
        try:
            if path.samefile(source):
                return source
        except OSError:  # an input that vanished: it cannot be overwritten either
            continue
    return None


def check_output_file(path_text: str, option: str, inputs: Sequence[Path], *, force: bool) -> Path:
    """``path_text`` checked as an output file: not an input, not existing unless --force.

    Raises
    ------
    UsageError
        ``path_text`` is an input file (even with ``force``), a folder, an existing file
        without ``force``, or in a folder that does not exist.
    """
    path = Path(path_text)
    source = _same_input(path, inputs)
    if source is not None:
        raise UsageError(
            f"{option} {path_text!r} is the input file {str(source)!r}; writing it would "
            "destroy your data. Choose another file name."
        )
    if path.is_dir():
        raise UsageError(f"{option} {path_text!r} is a directory; give a file name.")
    if path.parent != Path() and not path.parent.is_dir():
        raise UsageError(f"{option}: directory {str(path.parent)!r} does not exist.")
    if path.exists() and not force:
        raise UsageError(
            f"{option} {path_text!r} already exists; pass --force to overwrite it, or choose "
            "another name."
        )
    return path


def check_output_folder(
    dir_text: str, option: str, names: Sequence[str], inputs: Sequence[Path], *, force: bool
) -> Path:
    """``dir_text`` checked, then created, as the folder of the files ``names``.

    Raises
    ------
    UsageError
        ``dir_text`` is a file; one of ``names`` in it is an input file (even with
        ``force``); or some of them exist and ``force`` is not given.
    """
    folder = Path(dir_text)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {dir_text!r} exists and is not a directory.")
    for name in names:
        source = _same_input(folder / name, inputs)
        if source is not None:
            raise UsageError(
                f"{option} {dir_text!r} would receive {name}, which is the input file "
                f"{str(source)!r}; choose another folder."
            )
    existing = [name for name in names if (folder / name).exists()]
    if existing and not force:
        raise UsageError(
            f"{option} {dir_text!r} already holds {', '.join(existing)}; pass --force to "
            "overwrite them, or choose another folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_output(path: Path, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` atomically with ``write(tmp)``, unless Ctrl-C was pressed.

    Raises
    ------
    KeyboardInterrupt
        Ctrl-C was pressed earlier in the command (and a library may have swallowed it):
        a fit cut short is not written.
    """
    from bayesgmm.io.atomic import write_atomically

    if interrupted():
        raise KeyboardInterrupt
    write_atomically(path, write)
    _written.append(path)
    return path


def start_command() -> None:
    """Forget the files of an earlier command (``main`` runs many in one test process)."""
    _written.clear()


def written_files() -> list[Path]:
    """The files this command wrote, in order."""
    return list(_written)
