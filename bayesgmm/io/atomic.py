"""Write a file whole or not at all: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it to ``path``.

    The rename (:func:`os.replace`) is atomic on one file system, so a reader, or an
    interrupted run, sees either the old file or the complete new one, never half a file.
    Whatever stops ``write`` (an error, Ctrl-C) removes the temporary file.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder must exist.
    write : callable
        Writes the content to the path it is given. The temporary name ends with the
        suffix of ``path``, so writers that choose a format by extension (matplotlib's
        ``savefig``) choose the right one.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    mode = _file_mode(path)
    handle, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=f".partial{path.suffix}"
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _file_mode(path: Path) -> int:
    """The permissions ``path`` would get if written in place (mkstemp makes 0o600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
