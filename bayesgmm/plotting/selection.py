"""The criterion of every structure against K, as mclust's ``plot.mclustBIC`` draws it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import _new_axes, _pyplot

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

# One marker per structure, cycled: 14 lines stay distinguishable in print.
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d", "8")


def plot_select_k(table: pd.DataFrame, *, ax: Axes | None = None) -> Any:
    """One line per covariance structure: the criterion of :func:`~bayesgmm.select_k`
    against the number of components, the best model ringed.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`bayesgmm.select_k` result (rows K, columns structures). Its sign is read
        from ``table.attrs``: with ``sign="mclust"`` higher is better and the plot looks as
        mclust's; otherwise lower is better.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if not hasattr(table, "columns") or "criterion" not in getattr(table, "attrs", {}):
        raise TypeError("plot_select_k takes the table select_k returns.")
    _pyplot()
    ax = _new_axes(ax, figsize=(7.5, 4.8))
    ks = table.index.to_numpy()
    colors = _pyplot().get_cmap("tab20").colors
    for i, name in enumerate(table.columns):
        values = table[name].to_numpy(dtype=np.float64)
        ax.plot(
            ks, values, marker=_MARKERS[i % len(_MARKERS)], color=colors[i % len(colors)],
            markersize=5, linewidth=1.2, label=str(name),
        )  # fmt: skip
    best = table.attrs.get("best")
    if best is not None:
        k, name = best
        ax.plot([k], [table.loc[k, name]], marker="o", markersize=14, markerfacecolor="none",
                markeredgecolor="black", linestyle="none")  # fmt: skip
    criterion = str(table.attrs["criterion"]).upper()
    mclust_sign = table.attrs.get("sign") == "mclust"
    ax.set_xticks(ks)
    ax.set_xlabel("number of components K")
    better = "higher is better" if mclust_sign else "lower is better"
    ax.set_ylabel(f"{criterion} ({better})")
    title = f"{criterion} by structure" + ("" if best is None else f"; best {best[1]}, K={best[0]}")
    ax.set_title(title)
    ax.legend(ncol=2, fontsize="small", frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax
