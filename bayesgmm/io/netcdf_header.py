"""Read a netCDF4 (HDF5) file's layout without its data, bound its size, then load its groups.

A fit file is untrusted: its dimensions are declared in its header, and an HDF5 file can
declare an array far larger than the bytes it holds (chunks never written read as fill
values). So the layout is read first (:func:`read_layout`), the declared sizes are bounded
by what the file's size can hold (:func:`check_declared_size`), and only then is any
array read (:func:`load_group`). Every failure is a :class:`~bayesgmm.exceptions.FitFileError`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bayesgmm.exceptions import FitFileError

#: Deflate (the compression netCDF4 and bayesgmm use) expands at most ~1032-fold.
MAX_EXPANSION = 1100
#: Declared bytes allowed whatever the file size (a small file is harmless).
SIZE_SLACK_BYTES = 64 * 2**20
#: Bytes counted per element of a variable-length string (pointer and a short text).
_STRING_BYTES = 64


class Variable(NamedTuple):
    """One variable's dims, shape and dtype, as declared in the header."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype


class Group(NamedTuple):
    """A group's dimension sizes, variables and attributes, as declared in the header."""

    sizes: dict[str, int]
    variables: dict[str, Variable]
    attrs: dict[str, Any]


def not_a_fit(path_text: str, problem: str) -> FitFileError:
    """The one error of a file that is no valid bayesgmm fit, naming the ``problem``."""
    return FitFileError(
        f"{path_text!r} is not a valid bayesgmm fit file: {problem}. Write it again with "
        "`bayesgmm fit data.csv -k K --out fit.nc` (or BayesianGMM.save)."
    )


def read_layout(path: Path, path_text: str) -> dict[str, Group]:
    """The root (``"/"``) and every top-level group of a netCDF4 file, without data."""
    import h5netcdf

    try:
        with h5netcdf.File(path, "r") as handle:
            layout = {"/": _group(handle)}
            for name in handle.groups:
                layout[str(name)] = _group(handle.groups[name])
    except Exception as exc:  # any reason HDF5 cannot read it: not a netCDF4 file
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise not_a_fit(path_text, f"it cannot be read as netCDF4 ({reason})") from None
    return layout


def _group(handle: Any) -> Group:
    sizes = {str(name): int(dim.size) for name, dim in handle.dimensions.items()}
    variables = {
        str(name): Variable(
            tuple(str(d) for d in var.dimensions),
            tuple(int(n) for n in var.shape),
            np.dtype(var.dtype),
        )
        for name, var in handle.variables.items()
    }
    return Group(sizes, variables, dict(handle.attrs))


def check_declared_size(layout: dict[str, Group], file_size: int, path_text: str) -> None:
    """Refuse arrays larger than the file could hold, before any is read.

    Raises
    ------
    FitFileError
        The declared arrays add up to more than ``MAX_EXPANSION`` times the file's size
        (plus ``SIZE_SLACK_BYTES``): a damaged or crafted header.
    """
    declared = 0
    for group in layout.values():
        for var in group.variables.values():
            itemsize = _STRING_BYTES if var.dtype.kind in "OSUV" else var.dtype.itemsize
            declared += math.prod(var.shape) * itemsize
    limit = MAX_EXPANSION * file_size + SIZE_SLACK_BYTES
    if declared > limit:
        raise not_a_fit(
            path_text,
            f"its header declares {declared:.3g} bytes of arrays, more than a "
            f"{file_size}-byte file can hold",
        )


def load_group(path: Path, path_text: str, group: str) -> Any:
    """The xarray Dataset of ``group`` (``"/"``: the root), read into memory."""
    import xarray as xr

    try:
        with xr.open_dataset(path, group=group, engine="h5netcdf") as lazy:
            return lazy.load()
    except Exception as exc:  # truncated or corrupt data blocks
        reason = " ".join(str(exc).split()) or type(exc).__name__
        where = "its data" if group == "/" else f"its group {group!r}"
        raise not_a_fit(path_text, f"{where} cannot be read ({reason})") from None
