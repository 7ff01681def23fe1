"""EM versus posterior: the estimate beside the posterior mean and HDI, per parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import (
    _pyplot,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from matplotlib.axes import Axes

    from bayesgmm.analysis.comparison import ComparisonTable

_INDEX_COLUMNS = ("component", "feature", "features", "feature(s)", "feature_bis")


def _is_string_index(index: pd.Index) -> bool:
    from pandas.api.types import is_string_dtype

    return bool(is_string_dtype(index))


def _row_labels(frame: pd.DataFrame) -> list[str]:
    # compare() indexes rows by names like "means[0, waiting]" (object or, in pandas 3,
    # string dtype).
    if frame.index.dtype == object or _is_string_index(frame.index):
        return [str(i) for i in frame.index]
    keys = [c for c in _INDEX_COLUMNS if c in frame.columns]
    labels = []
    for i, (_, row) in enumerate(frame.iterrows()):
        name = str(row["parameter"]) if "parameter" in frame.columns else str(frame.index[i])
        parts = [str(row[c]) for c in keys if _present(row[c])]
        labels.append(name + (f"[{', '.join(parts)}]" if parts else ""))
    return labels


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not bool(np.isnan(value))
    except (TypeError, ValueError):
        return str(value) != ""


#: Rows per page of the forest plot: about 11 inches tall at its default size.
MAX_ROWS = 30
#: Parameters shown first when the table is paged: those a user reads first.
_FIRST_PARAMETERS = ("weights", "means")
_ORDERS = ("auto", "table", "disagreement")


def _disagreement(frame: pd.DataFrame) -> np.ndarray:
    """|EM - posterior mean| / posterior sd per row (0 where undefined)."""
    if "z" in frame.columns:
        z = frame["z"].to_numpy(dtype=np.float64)
    elif "posterior_sd" in frame.columns:
        sd = frame["posterior_sd"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (frame["em_estimate"] - frame["posterior_mean"]).to_numpy(np.float64) / sd
    else:
        z = np.zeros(len(frame))
    return np.nan_to_num(np.abs(z), nan=0.0, posinf=np.finfo(float).max)


def _select_rows(
    frame: pd.DataFrame,
    parameters: str | Sequence[str] | None,
    order: str,
    max_rows: int | None,
    page: int,
) -> tuple[Any, str]:
    """The rows of one page, and a note saying which rows these are of how many."""
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {_ORDERS}; got {order!r}.")
    if parameters is not None:
        wanted = [parameters] if isinstance(parameters, str) else list(parameters)
        if "parameter" not in frame.columns:
            raise ValueError("parameters= needs the table's 'parameter' column.")
        known = sorted(set(frame["parameter"]))
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; the table has {known}.")
        frame = frame[frame["parameter"].isin(wanted)]
    n_rows = len(frame)
    paged = max_rows is not None and n_rows > int(max_rows)
    if order == "disagreement" or (order == "auto" and paged):
        outside = ~_inside(frame)
        group = ~frame["parameter"].isin(_FIRST_PARAMETERS) if "parameter" in frame else 0
        # Worst disagreements first (EM outside the HDI, by |z|), then weights and means.
        keys = np.lexsort((-_disagreement(frame), np.asarray(group), ~outside))
        frame = frame.iloc[keys]
    if not paged:
        return frame, ""
    size = int(max_rows)
    n_pages = -(-n_rows // size)
    if not 0 <= page < n_pages:
        raise ValueError(f"page must be in [0, {n_pages - 1}] for {n_rows} rows; got {page}.")
    start = page * size
    shown = frame.iloc[start : start + size]
    how = "EM outside the HDI first, then weights and means, by |z|" if order != "table" else ""
    note = f"rows {start + 1}-{start + len(shown)} of {n_rows}" + (f" ({how})" if how else "")
    if page + 1 < n_pages:
        note += f"; page={page + 1} for the next"
    return shown, note


def _inside(frame: pd.DataFrame) -> np.ndarray:
    if "em_in_hdi" in frame.columns:
        return frame["em_in_hdi"].to_numpy(dtype=bool)
    em_value = frame["em_estimate"].to_numpy(dtype=np.float64)
    low = frame["hdi_low"].to_numpy(dtype=np.float64)
    high = frame["hdi_high"].to_numpy(dtype=np.float64)
    return (em_value >= low) & (em_value <= high)


def plot_comparison(
    table: ComparisonTable | pd.DataFrame,
    *,
    standardize: bool | None = None,
    parameters: str | Sequence[str] | None = None,
    order: str = "auto",
    max_rows: int | None = MAX_ROWS,
    page: int = 0,
    ax: Axes | None = None,
) -> Any:
    """Forest plot of EM estimates against posterior means and HDIs.

    Parameters
    ----------
    table : ComparisonTable or DataFrame
        One row per parameter, with columns ``em_estimate``, ``posterior_mean``,
        ``hdi_low``, ``hdi_high`` (and ``posterior_sd`` to standardize, optionally
        ``em_in_hdi``, ``parameter``, ``component``, ``feature``...), as
        :func:`bayesgmm.compare` returns.
    standardize : bool, optional
        Show ``(value - posterior_mean) / posterior_sd`` per row, so that weights, means
        and covariances of different scales share one axis. Default: standardize when
        the rows' HDI widths differ by more than a factor of 10 (and ``posterior_sd`` is
        present).
    parameters : str or sequence of str, optional
        Only these parameters (the table's ``parameter`` column, e.g.
        ``("weights", "means")``); all by default.
    order : {"auto", "table", "disagreement"}
        ``"disagreement"``: rows where EM is outside the HDI first, then weights and
        means before the other parameters, each by ``|z|`` (largest first); ``"table"``:
        the table's order; ``"auto"`` (default): the table's order when it fits on one
        page, else ``"disagreement"``.
    max_rows : int or None
        Rows per page (``None``: all, however tall). A K=3, D=8 full fit has 135 rows;
        one page of 30 stays about 11 inches tall.
    page : int
        Which page (0 first); the title says which rows are shown and of how many.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Per row: the HDI (line), posterior mean (dot) and EM estimate (red x). Rows whose
        EM estimate lies outside the HDI are shaded and their labels are red.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    frame = getattr(table, "table", table)
    if max_rows is not None and (isinstance(max_rows, bool) or int(max_rows) < 1):
        raise ValueError(f"max_rows must be a positive integer or None; got {max_rows!r}.")
    required = ["em_estimate", "posterior_mean", "hdi_low", "hdi_high"]
    if standardize:
        required.append("posterior_sd")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"the comparison table lacks the columns {missing}.")
    frame, note = _select_rows(frame, parameters, order, max_rows, int(page))
    if standardize is None:
        standardize = _needs_standardizing(frame)
        if standardize:
            required.append("posterior_sd")
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in required}
    em_value, mean = values["em_estimate"], values["posterior_mean"]
    low, high = values["hdi_low"], values["hdi_high"]
    inside = _inside(frame)
    if standardize:
        sd = values["posterior_sd"]
        sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.nan)
        em_value, low, high = ((v - mean) / sd for v in (em_value, low, high))
        mean = np.zeros_like(mean)
    n_rows = len(frame)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.32 * n_rows + 1.3), layout="constrained")
    y = np.arange(n_rows)[::-1].astype(np.float64)
    for yi in y[~inside]:
        ax.axhspan(yi - 0.5, yi + 0.5, color="tab:red", alpha=0.1, linewidth=0)
    ax.hlines(y, low, high, color="tab:blue", linewidth=2.0)
    ax.scatter(mean, y, color="tab:blue", s=22, zorder=3)
    ax.scatter(em_value, y, color="tab:red", marker="x", s=36, linewidths=1.5, zorder=4)
    ax.set_yticks(y, _row_labels(frame), fontsize="small")
    for tick, ok in zip(ax.get_yticklabels(), inside, strict=True):
        if not ok:
            tick.set_color("tab:red")
    ax.set_ylim(-0.7, n_rows - 0.3)
    if standardize:
        ax.axvline(0.0, color="0.6", linewidth=0.8, zorder=0)
        ax.set_xlabel("(value − posterior mean) / posterior sd")
    else:
        ax.set_xlabel("value")
    ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], color="tab:blue", marker="o", linewidth=2.0, label="posterior mean, HDI"),
        Line2D([], [], color="tab:red", marker="x", linestyle="", label="EM estimate"),
    ]
    if not inside.all():
        handles.append(
            Line2D(
                [],
                [],
                color="tab:red",
                alpha=0.3,
                linewidth=8,
                label=f"EM outside HDI ({int((~inside).sum())})",
            )
        )
    ax.legend(
        handles=handles,
        fontsize="small",
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(handles),
        frameon=False,
    )
    if note:
        ax.set_title(note, fontsize="small", color="0.35", pad=22)
    return ax


def _needs_standardizing(frame: pd.DataFrame) -> bool:
    """True when the rows' scales differ too much for one raw axis."""
    if "posterior_sd" not in frame.columns or len(frame) < 2:
        return False
    width = (frame["hdi_high"] - frame["hdi_low"]).to_numpy(dtype=np.float64)
    width = width[np.isfinite(width) & (width > 0)]
    return width.size > 1 and float(width.max() / width.min()) > 10.0
