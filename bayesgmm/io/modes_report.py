"""A :class:`~bayesgmm.posterior.ModesReport` as JSON, and back, checked.

``BayesianGMM.save`` stores the fit's ``modes_`` in the posterior's attrs, so that a loaded
fit reports the modes the fit found, with the same weights: recomputing them would rerun
bridge sampling and the bootstrap of stacking. JSON only: loading parses numbers, strings
and lists, never code, and checks every field against the fit's chains, ``K`` and ``D``
before building arrays from it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bayesgmm.io.netcdf_header import not_a_fit

__all__ = ["MODES_ATTR", "modes_from_json", "modes_to_json"]

#: The posterior attr that holds the report.
MODES_ATTR = "bayesgmm_modes"
# The table's numeric columns (NaN allowed: a mass without the kernel, an R-hat of one
# chain, a log posterior the sampler did not store) and its other columns.
_NUMBERS = (
    "weight",
    "weight_se",
    "mass",
    "mass_se",
    "stacking",
    "stacking_se",
    "kplus",
    "log_likelihood",
    "log_posterior",
    "rhat",
)
# The table's columns, in find_modes' order.
_COLUMNS = ("chains", *_NUMBERS[:-1], "nearly_empty", "rhat", "description")
_WEIGHTINGS = ("mass", "stacking", "frequency")
# Longest text accepted for a description or the message (a report of ten modes is ~2 kB).
_MAX_TEXT = 100_000


def modes_to_json(report: Any) -> str:
    """``report`` (a ModesReport) as a JSON string."""
    draw_mode = getattr(report, "draw_mode", None)
    rows = [
        {
            "chains": [int(c) for c in row["chains"]],
            **{name: float(row[name]) for name in _NUMBERS},
            "nearly_empty": bool(row["nearly_empty"]),
            "description": str(row["description"]),
        }
        for _, row in report.table.iterrows()
    ]
    return json.dumps(
        {
            "table": rows,
            "sorted_weights": np.asarray(report.sorted_weights).tolist(),
            "means": np.asarray(report.means).tolist(),
            "chain_mode": np.asarray(report.chain_mode).tolist(),
            "chain_weights": np.asarray(report.chain_weights).tolist(),
            "partition_distance": np.asarray(report.partition_distance).tolist(),
            "message": report.message,
            "weighting": report.weighting,
            "draw_mode": None if draw_mode is None else np.asarray(draw_mode).tolist(),
        }
    )


def _text(value: Any, what: str, path: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise not_a_fit(path, f"the modes report's {what} is not text")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nested(value: Any, shape: tuple[int, ...]) -> bool:
    """Is ``value`` nested lists of numbers of ``shape``? (Checked before any array.)"""
    if not shape:
        return _is_number(value)
    return (
        isinstance(value, list)
        and len(value) == shape[0]
        and all(_nested(v, shape[1:]) for v in value)
    )


def _array(data: dict, name: str, shape: tuple[int, ...], path: str) -> np.ndarray:
    """``data[name]`` as finite floats of ``shape``."""
    value = data.get(name)
    if not _nested(value, shape) or not np.all(np.isfinite(array := np.asarray(value, float))):
        raise not_a_fit(path, f"the modes report's {name} is not {shape} finite numbers")
    return array


def _chains(value: Any, n_chains: int, path: str) -> tuple[int, ...]:
    ok = (
        isinstance(value, list)
        and 0 < len(value) <= n_chains
        and all(type(c) is int and 0 <= c < n_chains for c in value)
    )
    if not ok:
        raise not_a_fit(path, f"a mode's chains must be chain numbers below {n_chains}")
    return tuple(int(c) for c in value)


def _row(item: Any, n_chains: int, path: str) -> dict[str, Any]:
    if not isinstance(item, dict) or set(item) != set(_COLUMNS):
        raise not_a_fit(path, f"a row of the modes report must have the fields {_COLUMNS}")
    numbers = {}
    for name in _NUMBERS:
        value = item[name]
        if not _is_number(value):
            raise not_a_fit(path, f"the modes report's {name} must be a number")
        numbers[name] = float(value)
    if not 0.0 <= numbers["weight"] <= 1.0 or not isinstance(item["nearly_empty"], bool):
        raise not_a_fit(path, "a mode's weight must lie in [0, 1] and nearly_empty be a boolean")
    row = {
        "chains": _chains(item["chains"], n_chains, path),
        **numbers,
        "nearly_empty": item["nearly_empty"],
        "description": _text(item["description"], "description", path),
    }
    return {name: row[name] for name in _COLUMNS}


def _draw_mode(data: dict, rows: list, n_chains: int, n_draws: int, path: str) -> np.ndarray:
    """The state of every draw of a report of states, checked against its rows' chains."""
    value = data.get("draw_mode")
    ok = (
        isinstance(value, list)
        and len(value) == n_chains
        and all(
            isinstance(r, list)
            and len(r) == n_draws
            and all(type(v) is int and 0 <= v < len(rows) for v in r)
            for r in value
        )
    )
    if not ok:
        raise not_a_fit(path, f"the modes report's draw_mode is not ({n_chains}, {n_draws}) states")
    draw_mode = np.asarray(value, dtype=np.intp)
    counts = np.stack([(draw_mode == s).sum(axis=1) for s in range(len(rows))], axis=1)
    if not np.array_equal(_array(data, "chain_mode", (n_chains,), path), counts.argmax(axis=1)):
        raise not_a_fit(path, "the modes report's chain_mode and draw_mode disagree")
    return draw_mode


def _chain_mode(data: dict, rows: list, n_chains: int, path: str) -> np.ndarray:
    """Every chain's mode of a report of modes (groups of chains), checked."""
    chain_mode = np.full(n_chains, -1, dtype=np.intp)
    for m, row in enumerate(rows):
        if np.any(chain_mode[list(row["chains"])] >= 0):
            raise not_a_fit(path, "a chain belongs to two modes in the modes report")
        chain_mode[list(row["chains"])] = m
    stored_mode = _array(data, "chain_mode", (n_chains,), path)
    if np.any(chain_mode < 0) or not np.array_equal(stored_mode, chain_mode):
        raise not_a_fit(path, "the modes report's chains and chain_mode disagree")
    return chain_mode


def modes_from_json(
    text: Any,
    n_chains: int,
    n_components: int,
    n_features: int,
    path: str,
    n_draws: int | None = None,
) -> Any:
    """The ModesReport written by :func:`modes_to_json`, every field checked against the
    fit's ``n_chains`` and ``n_draws`` (of its draws as sampled), ``n_components`` and
    ``n_features``. A report of states (``weighting="frequency"``) needs ``n_draws``.

    Raises
    ------
    FitFileError
        Not JSON, or a field missing, of the wrong shape or out of range; the message
        names ``path``.
    """
    import pandas as pd

    from bayesgmm.posterior.modes import ModesReport

    try:
        data = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        raise not_a_fit(path, "the modes report is not valid JSON") from None
    table = data.get("table") if isinstance(data, dict) else None
    if not isinstance(table, list) or not 0 < len(table) <= n_chains:
        raise not_a_fit(path, f"the modes report must list 1 to {n_chains} modes")
    rows = [_row(item, n_chains, path) for item in table]
    weighting = data.get("weighting")
    if weighting not in _WEIGHTINGS or (weighting == "frequency" and n_draws is None):
        raise not_a_fit(path, f"the modes report's weighting must be one of {_WEIGHTINGS}")
    draw_mode = None
    if weighting == "frequency":
        draw_mode = _draw_mode(data, rows, n_chains, int(n_draws), path)
        chain_mode = np.asarray(data["chain_mode"], dtype=np.intp)
    else:
        chain_mode = _chain_mode(data, rows, n_chains, path)
    m, k, d = len(rows), n_components, n_features
    return ModesReport(
        table=pd.DataFrame(rows, index=pd.RangeIndex(m, name="mode")),
        sorted_weights=_array(data, "sorted_weights", (m, k), path),
        means=_array(data, "means", (m, k, d), path),
        chain_mode=chain_mode,
        chain_weights=_array(data, "chain_weights", (n_chains,), path),
        partition_distance=_array(data, "partition_distance", (n_chains, n_chains), path),
        message=_text(data.get("message"), "message", path),
        weighting=weighting,
        draw_mode=draw_mode,
    )
