"""How a CSV file is written: its delimiter, decimal mark and header row, sniffed and checked.

A CSV file is read as the user meant or refused with a hint: the delimiter (``,`` ``;``
tab ``|``) is the one that splits every sampled line into the same number of fields, the
decimal mark is ``,`` when the data hold numbers such as ``1,5`` (and the delimiter is not
a comma), every row must have as many fields as the header (a longer row would otherwise
silently become pandas' index), and a first row made only of numbers is data, not a header,
unless the caller says there is none.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from bayesgmm.exceptions import DataFileError

DELIMITERS = (",", ";", "\t", "|")
DECIMALS = (".", ",")
#: Lines sampled to sniff the delimiter and the decimal mark.
SNIFF_LINES = 200
#: How the Python API names the reading options in messages; the CLI passes its flags.
PYTHON_OPTIONS = {
    "columns": "columns",
    "delimiter": "delimiter=",
    "decimal": "decimal=",
    "no_header": "header=False",
}
CLI_OPTIONS = {
    "columns": "--columns",
    "delimiter": "--delimiter ",
    "decimal": "--decimal ",
    "no_header": "--no-header",
    "tab": "tab",
}
_NUMBER = {
    ".": re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"),
    ",": re.compile(r"^\s*[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?\s*$"),
}
_COMMA_DECIMAL = re.compile(r"^\s*[+-]?\d*,\d+([eE][+-]?\d+)?\s*$")


@dataclass(frozen=True)
class CsvFormat:
    """How to read a CSV file; ``None`` fields are sniffed from the file.

    Attributes
    ----------
    delimiter : str, optional
        Field separator; by default the one of ``, ; tab |`` that splits every line alike.
    decimal : {".", ","}, optional
        Decimal mark; by default ``,`` when the fields hold numbers written ``1,5``.
    header : bool
        Whether the first row names the columns (default). Without one, the columns are
        named ``x0``, ``x1``, ... as for an array.
    """

    delimiter: str | None = None
    decimal: str | None = None
    header: bool = True


class Dialect(NamedTuple):
    """The delimiter, decimal mark and field count a file was found to use."""

    delimiter: str
    decimal: str
    n_fields: int
    first_row: list[str]


def _shown(value: str, options: Mapping[str, str]) -> str:
    return options.get("tab", "'\\t'") if value == "\t" else repr(value)


def _named(options: Mapping[str, str], key: str, value: str) -> str:
    """An option with its value as the caller writes it: ``--decimal ','``, ``decimal=','``."""
    return f"{options[key]}{_shown(value, options)}"


def _rows(lines: list[str], delimiter: str) -> list[list[str]]:
    return [row for row in csv.reader(lines, delimiter=delimiter) if row]


def _sample(path: Path, path_text: str) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [line for line in itertools.islice(handle, SNIFF_LINES) if line.strip()]
    except UnicodeDecodeError:
        raise DataFileError(
            f"{path_text!r} is not UTF-8 text; save it as UTF-8 CSV (or read it with pandas "
            "and pass the array)."
        ) from None


def _consistent(lines: list[str], delimiter: str) -> int:
    """The field count every sampled line shares under ``delimiter`` (0 when they differ)."""
    counts = {len(row) for row in _rows(lines, delimiter)}
    return counts.pop() if len(counts) == 1 else 0


def _numeric_rows(rows: list[list[str]]) -> bool:
    """Whether every field is a number (or empty) with one decimal mark throughout."""
    fields = [f for row in rows for f in row if f.strip()]
    return any(all(pattern.match(f) for f in fields) for pattern in _NUMBER.values())


def _sniff_delimiter(lines: list[str], header: bool) -> str:
    candidates = [d for d in DELIMITERS if _consistent(lines, d) > 1]
    if candidates:
        # Several split alike (one line "0,5;1,5"): the one that leaves numbers wins.
        data = lines[1:] if header else lines
        numeric = [d for d in candidates if _numeric_rows(_rows(data, d))]
        return (numeric or candidates)[0]
    if _one_column_with_decimal_commas(lines, header):
        return ";"  # one column: any delimiter but the comma, so that 1,5 stays one field
    # No delimiter splits every line alike: one column, or ragged rows reported later by
    # the delimiter that splits the first line most.
    return max(DELIMITERS, key=lambda d: (len(_rows(lines[:1], d)[0]), d == ","))


def _one_column_with_decimal_commas(lines: list[str], header: bool) -> bool:
    """One column (a header without commas) whose numbers are all written ``1,5`` or ``2``.

    Without a header, a column of ``1,5`` cannot be told from two comma-separated columns
    with a short row: the caller must then give the delimiter.
    """
    if not header or len(_rows(lines[:1], ",")[0]) != 1:
        return False
    data = [line.strip() for line in lines[1:]]
    return (
        bool(data)
        and all(_NUMBER[","].match(v) for v in data)
        and any(_COMMA_DECIMAL.match(v) for v in data)
    )


def _sniff_decimal(rows: list[list[str]], delimiter: str) -> str:
    if delimiter == ",":
        return "."
    fields = [f for row in rows for f in row]
    commas = any(_COMMA_DECIMAL.match(f) for f in fields)
    dots = any("." in f and _NUMBER["."].match(f) for f in fields)
    return "," if commas and not dots else "."


def sniff(path: Path, path_text: str, fmt: CsvFormat, options: Mapping[str, str]) -> Dialect:
    """The file's dialect: ``fmt``'s choices, the rest sniffed; every row checked.

    Raises
    ------
    DataFileError
        Not UTF-8 text; a row whose field count differs from the header's (ragged); a
        first row of numbers taken for a header; each with a hint naming ``options``.
    """
    lines = _sample(path, path_text)
    if not lines:
        raise DataFileError(f"data file {path_text!r} is empty (no header, no rows).")
    delimiter = fmt.delimiter or _sniff_delimiter(lines, fmt.header)
    rows = _rows(lines, delimiter)
    decimal = fmt.decimal or _sniff_decimal(rows[1:] if fmt.header else rows, delimiter)
    first = rows[0]
    _check_rows(path, path_text, delimiter, len(first), lines, fmt, options)
    if fmt.header and all(_NUMBER[decimal].match(name) for name in first):
        raise DataFileError(
            f"the first row of {path_text!r} ({', '.join(first[:4])}"
            f"{', ...' if len(first) > 4 else ''}) is all numbers: it looks like data, not a "
            f"header. Pass {options['no_header']} to read every row as data (columns x0, "
            "x1, ...), or add a header row naming the columns."
        )
    return Dialect(delimiter, decimal, len(first), first)


def _records(path: Path, delimiter: str) -> Iterator[tuple[int, int]]:
    """``(line number, field count)`` of every non-empty record, quoted newlines included."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            if row:
                yield reader.line_num, len(row)


def _check_rows(
    path: Path,
    path_text: str,
    delimiter: str,
    n_fields: int,
    lines: list[str],
    fmt: CsvFormat,
    options: Mapping[str, str],
) -> None:
    """Refuse the first row with another field count than the first row's."""
    bad = [(line, n) for line, n in _records(path, delimiter) if n != n_fields]
    if not bad:
        return
    line, count = bad[0]
    first = "the header" if fmt.header else "the first row"
    message = f"line {line} of {path_text!r} has {count} field(s) but {first} has {n_fields}"
    if fmt.header and all(n == n_fields + 1 for _, n in bad):
        message += (
            "; every such row has one field more than the header, as if its first column "
            "had no name. Add that name to the header (or remove the extra field)"
        )
    else:
        message += "; fix that row (a missing or extra delimiter, or an unquoted text)"
    others = [d for d in DELIMITERS if d != delimiter and _consistent(lines, d) > 1]
    if others:
        message += (
            f". With {_named(options, 'delimiter', others[0])} every line has "
            f"{_consistent(lines, others[0])} fields: use it if that is the file's delimiter"
        )
    elif fmt.delimiter is None:
        message += (
            f" (the delimiter {_shown(delimiter, options)} was sniffed; if it is another, set it "
            f"with {options['delimiter'].strip()})"
        )
    raise DataFileError(message + ".")


def comma_decimal_hint(values: list[str], options: Mapping[str, str]) -> str:
    """A hint when text values are numbers with a decimal comma (``1,5``), else ``""``."""
    commas = any(_COMMA_DECIMAL.match(v) for v in values)
    if commas and all(_NUMBER[","].match(v) for v in values):
        return (
            f" They look like numbers with a decimal comma: pass {_named(options, 'decimal', ',')}."
        )
    return ""
