"""Prior (or posterior) predictive densities beside the data, one panel per feature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import _pyplot

if TYPE_CHECKING:
    from collections.abc import Sequence

    import arviz as az
    from matplotlib.axes import Axes

__all__ = ["plot_predictive"]


def _draws_and_data(
    idata: az.InferenceData, group: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if group not in ("prior_predictive", "posterior_predictive"):
        raise ValueError(
            f"group must be 'prior_predictive' or 'posterior_predictive'; got {group!r}."
        )
    groups = idata.groups() if hasattr(idata, "groups") else []
    if group not in groups or "observed_data" not in groups:
        raise ValueError(
            f"the InferenceData needs '{group}' and 'observed_data' groups; get one from "
            "BayesianGMM.sample_prior_predictive (or sample_posterior_predictive)."
        )
    x = idata[group]["x"]
    names = [str(v) for v in x["feature"].values] if "feature" in x.coords else []
    values = np.asarray(x.values, dtype=np.float64)
    values = values.reshape(-1, *values.shape[-2:])  # (S, N, D)
    observed = np.asarray(idata.observed_data["x"].values, dtype=np.float64)
    return values, observed, names or [f"x{d}" for d in range(values.shape[-1])]


def plot_predictive(
    idata: az.InferenceData,
    group: str = "prior_predictive",
    *,
    n_draws: int = 200,
    bins: int = 40,
    axes: np.ndarray | Sequence[Axes] | None = None,
) -> Any:
    """Per feature: the data's histogram and the band of the simulated data sets' ones.

    Each simulated data set (one per draw) is binned like the data on one grid per
    feature, spanning the data and the central 98% of the simulated values; the plot
    shows the median density of the data sets and their 5-95% band, in the data's units.

    Parameters
    ----------
    idata : arviz.InferenceData
        From ``BayesianGMM.sample_prior_predictive`` (or ``sample_posterior_predictive``
        with an ``observed_data`` group).
    group : {"prior_predictive", "posterior_predictive"}
    n_draws : int
        Data sets used (evenly thinned).
    bins : int
    axes : sequence of Axes, optional
        One per feature.

    Returns
    -------
    ndarray of Axes
    """
    plt = _pyplot()
    sims, observed, names = _draws_and_data(idata, group)
    keep = np.unique(np.linspace(0, sims.shape[0] - 1, max(1, int(n_draws))).round().astype(int))
    sims = sims[keep]
    n_features = sims.shape[-1]
    if axes is None:
        _, axes = plt.subplots(
            1, n_features, figsize=(4.0 * n_features, 3.2), layout="constrained", squeeze=False
        )
        axes = axes[0]
    axes = np.atleast_1d(axes)
    if axes.size != n_features:
        raise ValueError(f"axes must hold {n_features} Axes (one per feature); got {axes.size}.")
    label = "prior" if group == "prior_predictive" else "posterior"
    for d, ax in enumerate(axes):
        data = observed[:, d][~np.isnan(observed[:, d])]
        low, high = np.nanquantile(sims[..., d], [0.01, 0.99])
        edges = np.linspace(min(low, data.min()), max(high, data.max()), int(bins) + 1)
        dens = np.stack([np.histogram(s[:, d], edges, density=True)[0] for s in sims])
        centres = 0.5 * (edges[1:] + edges[:-1])
        lo, mid, hi = np.quantile(dens, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(
            centres,
            lo,
            hi,
            step="mid",
            alpha=0.3,
            color="tab:blue",
            label=f"{label} predictive 5-95%",
        )
        ax.step(centres, mid, where="mid", color="tab:blue", label=f"{label} predictive median")
        ax.hist(
            data, bins=edges, density=True, histtype="step", color="black", lw=1.5, label="data"
        )
        ax.set_xlabel(names[d])
        ax.set_ylabel("density")
    axes[0].legend(fontsize="small")
    return axes
