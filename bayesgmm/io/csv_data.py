"""CSV files: numeric data in (header row required, checked), labels and memberships out."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_numeric_csv(
    path: str | Path,
    columns: str | None = None,
    *,
    columns_option: str = "columns",
    allow_missing: bool = False,
) -> Any:
    """The numeric columns of a CSV file with a header row, as float64.

    Parameters
    ----------
    path : str or Path
    columns : str, optional
        Comma-separated column names to keep (default: every column).
    columns_option : str
        How the caller names ``columns`` in error messages (the CLI: ``"--columns"``).
    allow_missing : bool
        Keep empty values as NaN, for a fit that marginalises them
        (``missing="marginalize"``, which checks them); by default they are refused.

    Returns
    -------
    pandas.DataFrame
        The selected columns, float64, with at least one row.

    Raises
    ------
    ValueError
        The file is missing, a directory, empty, not CSV, has no rows, unknown or
        non-numeric columns, or NaN / empty values without ``allow_missing`` (never
        imputed); the message says what to do.
    """
    import pandas as pd

    path_text = str(path)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data file {path_text!r} does not exist.")
    if path.is_dir():
        raise ValueError(f"data file {path_text!r} is a directory, not a CSV file.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"data file {path_text!r} is empty (no header, no rows).") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"could not parse {path_text!r} as CSV: {exc}") from None
    if len(frame) == 0:
        raise ValueError(f"data file {path_text!r} has a header but no data rows.")
    if columns is not None:
        frame = frame[_wanted_columns(frame, columns, path_text, columns_option)]
    _check_numeric(frame, path_text, columns_option)
    if not allow_missing:
        _check_complete(frame, path_text)
    return frame.astype("float64")


def _wanted_columns(frame: Any, columns: str, path_text: str, option: str) -> list[str]:
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    if not wanted:
        raise ValueError(f"{option} is empty; give comma-separated column names.")
    unknown = [c for c in wanted if c not in frame.columns]
    if unknown:
        raise ValueError(
            f"unknown column(s) {unknown} in {option}; {path_text!r} has columns "
            f"{[str(c) for c in frame.columns]}."
        )
    return wanted


def _check_numeric(frame: Any, path_text: str, option: str) -> None:
    import pandas as pd

    non_numeric = [
        str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]
    if non_numeric:
        numeric = [str(c) for c in frame.columns if str(c) not in non_numeric]
        hint = f" (for example {option} {','.join(numeric)})" if numeric else ""
        raise ValueError(
            f"non-numeric column(s) {non_numeric} in {path_text!r}; Gaussian mixtures need "
            f"numbers. Select numeric columns with {option}{hint}, or encode them first."
        )


def _check_complete(frame: Any, path_text: str) -> None:
    missing = frame.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        described = ", ".join(f"{c!r} ({n} missing)" for c, n in missing.items())
        raise ValueError(
            f"{path_text!r} has NaN / empty values in column(s) {described}. "
            "Drop or impute those rows first (for example with pandas' dropna()), or "
            "marginalise them out in the fit (missing='marginalize'; the CLI's --missing "
            "marginalize); bayesgmm never imputes silently."
        )


def read_csv_header(path: str | Path) -> list[str]:
    """The column names of a CSV file's header row.

    Raises
    ------
    ValueError
        The file is missing, a directory, or not CSV.
    """
    import pandas as pd

    path_text = str(path)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data file {path_text!r} does not exist.")
    if path.is_dir():
        raise ValueError(f"data file {path_text!r} is a directory, not a CSV file.")
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"could not parse {path_text!r} as CSV: {exc}") from None


def write_labels(path: str | Path, labels: Any, proba: Any) -> Path:
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
