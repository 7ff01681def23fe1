"""CSV files: numeric data in (delimiter, decimal mark and header checked), labels out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayesgmm.exceptions import DataFileError
from bayesgmm.io.csv_dialect import PYTHON_OPTIONS, CsvFormat, comma_decimal_hint, sniff

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike


def read_numeric_csv(
    path: str | Path,
    columns: str | None = None,
    *,
    columns_option: str | None = None,
    fmt: CsvFormat | None = None,
    allow_missing: bool = False,
    options: Mapping[str, str] | None = None,
) -> Any:
    """The numeric columns of a CSV file, as float64, read as the user meant or refused.

    Parameters
    ----------
    path : str or Path
    columns : str, optional
        Comma-separated column names to keep (default: every column).
    columns_option : str, optional
        How the caller names ``columns`` in error messages (the CLI: ``"--columns"``);
        overrides ``options["columns"]``.
    fmt : CsvFormat, optional
        Delimiter, decimal mark and header row; by default sniffed, with a header row.
    allow_missing : bool
        Let empty fields and NaN through as NaN (for ``missing="marginalize"``); by default
        they are refused.
    options : mapping, optional
        How the caller names the reading options in hints (:data:`PYTHON_OPTIONS` by
        default; the CLI passes its flags, :data:`CLI_OPTIONS`).

    Returns
    -------
    pandas.DataFrame
        The selected columns, float64, with at least one row.

    Raises
    ------
    DataFileError
        The file is missing, a directory, empty, not UTF-8 CSV, has ragged rows, a first
        row of numbers taken for a header, no rows, unknown or non-numeric columns, or
        (without ``allow_missing``) NaN / empty values (never imputed); the message says
        what to do.
    """
    import pandas as pd

    options = dict(PYTHON_OPTIONS if options is None else options)
    if columns_option is not None:
        options["columns"] = columns_option
    fmt = CsvFormat() if fmt is None else fmt
    path_text = str(path)
    path = _existing(path, path_text)
    dialect = sniff(path, path_text, fmt, options)
    names = None if fmt.header else [f"x{i}" for i in range(dialect.n_fields)]
    try:
        frame = pd.read_csv(
            path,
            sep=dialect.delimiter,
            decimal=dialect.decimal,
            header=0 if fmt.header else None,
            names=names,
            index_col=False,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise DataFileError(f"could not parse {path_text!r} as CSV: {reason}") from None
    if len(frame) == 0:
        raise DataFileError(f"data file {path_text!r} has a header but no data rows.")
    if columns is not None:
        frame = frame[_wanted_columns(frame, columns, path_text, options["columns"])]
    _check_numeric(frame, path_text, options)
    frame = _as_float(frame)
    if not allow_missing:
        _check_complete(frame, path_text)
    return frame


def _existing(path: str | Path, path_text: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"data file {path_text!r} does not exist.")
    if path.is_dir():
        raise DataFileError(f"data file {path_text!r} is a directory, not a CSV file.")
    return path


def _as_float(frame: pd.DataFrame) -> Any:
    """float64 columns; pandas' nullable types (``pd.NA``) become NaN."""
    import numpy as np
    import pandas as pd

    values = {c: frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in frame.columns}
    return pd.DataFrame(values, index=frame.index, columns=frame.columns)


def _wanted_columns(frame: pd.DataFrame, columns: str, path_text: str, option: str) -> list[str]:
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    if not wanted:
        raise DataFileError(f"{option} is empty; give comma-separated column names.")
    unknown = [c for c in wanted if c not in frame.columns]
    if unknown:
        raise DataFileError(
            f"unknown column(s) {unknown} in {option}; {path_text!r} has columns "
            f"{[str(c) for c in frame.columns]}."
        )
    return wanted


def _check_numeric(frame: pd.DataFrame, path_text: str, options: Mapping[str, str]) -> None:
    import pandas as pd

    non_numeric = [
        str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]
    if non_numeric:
        option = options["columns"]
        numeric = [str(c) for c in frame.columns if str(c) not in non_numeric]
        hint = f" (for example {option} {','.join(numeric)})" if numeric else ""
        values = [str(v) for c in non_numeric for v in frame[c].dropna().head(20)]
        raise DataFileError(
            f"non-numeric column(s) {non_numeric} in {path_text!r}; Gaussian mixtures need "
            f"numbers. Select numeric columns with {option}{hint}, or encode them first."
            + comma_decimal_hint(values, options)
        )


def _check_complete(frame: pd.DataFrame, path_text: str) -> None:
    missing = frame.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        described = ", ".join(f"{c!r} ({n} missing)" for c, n in missing.items())
        raise DataFileError(
            f"{path_text!r} has NaN / empty values in column(s) {described}. "
            "Drop or impute those rows first (for example with pandas' dropna()), or "
            "marginalise them out in the fit (missing='marginalize'; the CLI's --missing "
            "marginalize); bayesgmm never imputes silently."
        )


def read_csv_header(path: str | Path, fmt: CsvFormat | None = None) -> list[str]:
    """The column names of a CSV file (``x0``, ``x1``, ... without a header row).

    Raises
    ------
    DataFileError
        As :func:`read_numeric_csv` for the file's layout.
    """
    fmt = CsvFormat() if fmt is None else fmt
    path_text = str(path)
    dialect = sniff(_existing(path, path_text), path_text, fmt, PYTHON_OPTIONS)
    if not fmt.header:
        return [f"x{i}" for i in range(dialect.n_fields)]
    return list(dialect.first_row)


def write_labels(path: str | Path, labels: ArrayLike, proba: ArrayLike) -> Path:
    """Write one row per point: its label, uncertainty and membership probabilities.

    Parameters
    ----------
    path : str or Path
        The CSV file; its folder must exist.
    labels : array-like of shape (N,)
    proba : array-like of shape (N, K)

    Returns
    -------
    Path
        Columns ``row``, ``label``, ``uncertainty`` (1 - the largest probability) and
        ``prob_0`` ... ``prob_{K-1}``.
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    proba = np.asarray(proba)
    table = pd.DataFrame({"label": labels, "uncertainty": 1.0 - np.max(proba, axis=1)})
    for k in range(proba.shape[1]):
        table[f"prob_{k}"] = proba[:, k]
    table.index.name = "row"
    table.to_csv(path)
    return path
