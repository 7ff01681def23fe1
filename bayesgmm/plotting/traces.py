"""Traces and rank plots of the draws before and after relabeling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import (
    _colors,
    _pyplot,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import arviz as az
    from matplotlib.axes import Axes


def _trace_rows(
    idata: az.InferenceData, var_names: Sequence[str]
) -> list[tuple[str, dict[str, Any], str]]:
    """One row per variable and per coordinate of its non-component dims."""
    import itertools

    rows = []
    for name in var_names:
        if name not in idata.posterior:
            raise ValueError(f"variable {name!r} is not in the posterior.")
        da = idata.posterior[name]
        if "component" not in da.dims:
            raise ValueError(f"variable {name!r} has no 'component' dim to relabel.")
        extra = [d for d in da.dims if d not in ("chain", "draw", "component")]
        coords = [da[d].values for d in extra]
        for combo in itertools.product(*coords):
            selection = dict(zip(extra, combo, strict=True))
            label = name + ("" if not combo else "[" + ", ".join(map(str, combo)) + "]")
            rows.append((name, selection, label))
    return rows


def _draw_traces(ax: Axes, values: np.ndarray, colors: list[Any]) -> None:
    styles = ("-", "--", ":", "-.")
    n_chains, _, n_components = values.shape
    for c in range(n_chains):
        for k in range(n_components):
            ax.plot(
                values[c, :, k],
                color=colors[k],
                linestyle=styles[c % len(styles)],
                linewidth=0.6,
                alpha=0.8,
            )


def _draw_ranks(ax: Axes, values: np.ndarray, colors: list[Any], bins: int) -> None:
    """Per chain and component, the histogram of the draws' ranks (flat if chains agree)."""
    from scipy.stats import rankdata

    n_chains, n_draws, n_components = values.shape
    edges = np.linspace(0, n_chains * n_draws, bins + 1)
    ticks, labels = [], []
    for k in range(n_components):
        ranks = rankdata(values[:, :, k].ravel()).reshape(n_chains, n_draws)
        for c in range(n_chains):
            counts, _ = np.histogram(ranks[c], bins=edges)
            height = counts / (n_draws / bins)  # 1 = uniform
            offset = k * n_chains + c
            scaled = offset + 0.45 * np.clip(height, 0.0, 2.0)
            ax.stairs(scaled, edges, baseline=offset, fill=True, color=colors[k], alpha=0.6)
            ax.hlines(offset + 0.45, 0, edges[-1], color="k", linestyle=":", linewidth=0.6)
            ticks.append(offset + 0.45)
            labels.append(f"k={k} c={c}")
    ax.set_yticks(ticks, labels, fontsize="x-small")
    ax.set_xlim(0, edges[-1])


def plot_trace_relabel(
    raw_idata: az.InferenceData,
    relabeled_idata: az.InferenceData,
    var_names: Sequence[str] = ("weights", "means"),
    *,
    kind: str = "trace",
    bins: int = 20,
    axes: np.ndarray | Sequence[Axes] | None = None,
) -> Any:
    """Traces (or rank plots) before relabeling, left, and after, right.

    Parameters
    ----------
    raw_idata, relabeled_idata : InferenceData
        The draws as sampled (e.g. ``BayesianGMM.raw_idata_``) and relabeled
        (``idata_``).
    var_names : sequence of str
        Posterior variables with a ``component`` dim; one row of panels per variable and
        per coordinate of its other dims (``means[eruptions]``, ``means[waiting]`` ...).
    kind : {"trace", "rank"}
        ``"trace"``: every chain's draws per component (colour: component, line style:
        chain); label switching shows as colours swapping. ``"rank"``: histograms of the
        ranks of each chain's draws among all chains', per component; non-flat bars mean
        chains disagree (e.g. they sit in different label modes).
    bins : int
        Rank histogram bins.
    axes : (n_rows, 2) array of matplotlib Axes, optional

    Returns
    -------
    ndarray of matplotlib Axes, shape (n_rows, 2)
    """
    plt = _pyplot()
    if kind not in ("trace", "rank"):
        raise ValueError(f"kind must be 'trace' or 'rank'; got {kind!r}.")
    if isinstance(var_names, str):
        var_names = (var_names,)
    rows = _trace_rows(raw_idata, var_names)
    if axes is None:
        _, axes = plt.subplots(
            len(rows),
            2,
            figsize=(10, 1.9 * len(rows) + 0.6),
            squeeze=False,
            sharex=True,
            layout="constrained",
        )
    axes = np.asarray(axes, dtype=object)
    if axes.size != 2 * len(rows):
        raise ValueError(f"axes must hold {len(rows)}x2 Axes; got {axes.size}.")
    axes = axes.reshape(len(rows), 2)
    n_components = raw_idata.posterior.sizes["component"]
    colors = _colors(n_components)
    for r, (name, selection, label) in enumerate(rows):
        for col, idata in enumerate((raw_idata, relabeled_idata)):
            ax = axes[r, col]
            values = (
                idata.posterior[name].sel(selection).transpose("chain", "draw", "component")
            ).values
            if kind == "trace":
                _draw_traces(ax, values, colors)
            else:
                _draw_ranks(ax, values, colors, bins)
            ax.tick_params(labelsize="small")
        axes[r, 0].set_ylabel(label, fontsize="small")
        if kind == "trace":  # one y scale per row, so before and after compare directly
            lows, highs = zip(*(ax.get_ylim() for ax in axes[r]), strict=True)
            for ax in axes[r]:
                ax.set_ylim(min(lows), max(highs))
    axes[0, 0].set_title("before relabeling", fontsize="medium")
    axes[0, 1].set_title("after relabeling", fontsize="medium")
    axes[-1, 0].set_xlabel("draw" if kind == "trace" else "rank")
    axes[-1, 1].set_xlabel("draw" if kind == "trace" else "rank")
    if kind == "trace":
        _trace_legend(axes[0, 1], colors, raw_idata.posterior.sizes["chain"])
    return axes


def _trace_legend(ax: Axes, colors: list[Any], n_chains: int) -> None:
    """Colour = component, line style = chain; outside the panel, to its right."""
    from matplotlib.lines import Line2D

    styles = ("-", "--", ":", "-.")
    handles = [Line2D([], [], color=c, label=f"component {k}") for k, c in enumerate(colors)]
    handles += [
        Line2D([], [], color="0.3", linestyle=styles[c % len(styles)], label=f"chain {c}")
        for c in range(n_chains)
    ]
    ax.legend(handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
