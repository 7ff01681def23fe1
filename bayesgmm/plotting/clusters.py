"""Clusters: a scatter of two features with EM and posterior ellipses and membership shading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.plotting._common import (
    _annotate,
    _colors,
    _data,
    _ellipse,
    _feature_indices,
    _hidden_note,
    _match_colors,
    _new_axes,
    _observed,
    _pyplot,
    _radius,
    _set_limits,
)
from bayesgmm.plotting._membership import (
    _Membership,
    _membership,
    _point_colors,
    _threshold,
)
from bayesgmm.plotting._mixture import (
    _check_dims,
    _check_min_weight,
    _ellipse_bounds,
    _Mixture,
    _mixture_of,
    _point_fit,
    _shown_components,
    _skipped_note,
)
from bayesgmm.posterior.mixture import posterior_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike
    from bayesgmm.analysis.memberships import Membership
    from bayesgmm.posterior.mixture import Fit, PosteriorFit


def plot_clusters(
    X: ArrayLike,
    *,
    em: Fit | None = None,
    idata: PosteriorFit | None = None,
    membership: Membership | ArrayLike | None = None,
    features: Sequence[int | str] = (0, 1),
    n_ellipses: int = 50,
    level: float = 0.95,
    threshold: float | None = None,
    max_draws: int = 200,
    min_weight: float = 0.01,
    ax: Axes | None = None,
    random_seed: SeedLike = 0,
) -> Any:
    """Scatter of two features with EM ellipses, posterior ellipses and membership shading.

    Parameters
    ----------
    X : array-like or DataFrame of shape (N, D)
        The data; DataFrame column names label the axes.
    em : EMResult, GMMParams, fitted GaussianMixtureEM or BayesianGMM, optional
        Drawn as thick ellipses (any covariance type), one per component; a BayesianGMM
        contributes its MAP-EM reference fit ``em_``.
    idata : InferenceData or fitted BayesianGMM, optional
        Relabeled posterior: ``n_ellipses`` random draws are drawn as thin, translucent
        ellipses in the component's colour. Posterior components are coloured like the
        EM component whose mean is nearest (Hungarian matching), when both are given.
    membership : Membership, (N, K) or (S, N, K) array, optional
        Membership probabilities of the points; their columns follow the posterior's
        components when ``idata`` is given, otherwise the EM components. By default they
        are computed from the posterior (mean over at most ``max_draws`` draws) or the EM
        fit.
    features : pair of int or str
        The two features to show (projections of the fit for D > 2).
    n_ellipses : int
        Posterior draws drawn as ellipses (all draws when there are fewer).
    level : float
        Probability mass inside each ellipse (0.95 is a Mahalanobis radius of 2.45).
    threshold : float, optional
        Points whose largest membership probability is below it are ambiguous (drawn with a
        black edge); default: the Membership's own threshold, else 0.8.
    max_draws : int
        Posterior draws used for the membership probabilities.
    min_weight : float
        Components whose weight (posterior mean for a posterior) is below it get no
        ellipse, and the legend says which: a sparse fit's empty components sit at their
        prior and would stretch the axes far beyond the data. ``0`` draws them all.
    ax : matplotlib Axes, optional
    random_seed : int or Generator
        Chooses the posterior draws shown.

    Returns
    -------
    matplotlib Axes
        Colours: component; opacity: certainty of the label (opaque = probability 1, faint
        = chance level 1/K).
    """
    _pyplot()
    data, names = _data(X, em, idata)
    if data.shape[1] < 2:
        raise ValueError("plot_clusters needs at least 2 features; use plot_density for 1-D.")
    pair = _feature_indices(features, names)
    n_std = _radius(level)
    min_weight = _check_min_weight(min_weight)
    point = _mixture_of(_point_fit(em)) if em is not None else None
    posterior = posterior_of(idata) if idata is not None else None
    if idata is not None and posterior is None:
        raise TypeError(f"idata must be an InferenceData or a fitted BayesianGMM; got {idata!r}.")
    draws_used = _mixture_of(posterior, max_draws) if posterior is not None else None
    for mixture in (point, draws_used):
        if mixture is not None:
            _check_dims(mixture, data.shape[1])
    summary = _cluster_membership(data, membership, threshold, draws_used, point)
    counts = [m.weights.shape[-1] for m in (point, draws_used) if m is not None]
    if summary is not None:
        counts.append(summary.probabilities.shape[1])
    n_components = max(counts, default=1)
    colors = _colors(n_components)
    posterior_colors = _posterior_colors(point, draws_used, n_components, data)
    color_of = posterior_colors if draws_used is not None else np.arange(n_components)

    ax = _new_axes(ax)
    seen = _observed(data, pair)
    _scatter_points(
        ax,
        data[seen][:, pair],
        None if summary is None else summary.rows(seen),
        [colors[c] for c in color_of],
    )
    lower, upper = np.nanmin(data[:, pair], axis=0), np.nanmax(data[:, pair], axis=0)
    notes = [_hidden_note(int((~seen).sum()))]
    if posterior is not None and n_ellipses > 0:
        shown = _shown_components(draws_used, min_weight)
        cloud = _mixture_of(posterior, int(n_ellipses), np.random.default_rng(random_seed))
        cloud_colors = [colors[c] for c in posterior_colors]
        _add_ellipses(
            ax, cloud.marginal(pair), n_std, cloud_colors, shown, linewidth=0.6, alpha=0.25
        )
        bounds = _ellipse_bounds(draws_used.mean(), pair, n_std, shown)
        lower, upper = np.fmin(lower, bounds[0]), np.fmax(upper, bounds[1])
        notes.append(_skipped_note(shown, min_weight))
    if point is not None:
        shown = _shown_components(point, min_weight)
        marginal = point.marginal(pair)
        _add_ellipses(ax, marginal, n_std, colors, shown, linewidth=2.5, zorder=3)
        ax.plot(*marginal.means[0, shown].T, "k+", markersize=10, markeredgewidth=2, zorder=4)
        bounds = _ellipse_bounds(point, pair, n_std, shown)
        lower, upper = np.fmin(lower, bounds[0]), np.fmax(upper, bounds[1])
        notes.append(_skipped_note(shown, min_weight).replace("component", "EM component", 1))
    _set_limits(ax, lower, upper)
    _annotate(ax, notes)
    ax.set_xlabel(names[pair[0]])
    ax.set_ylabel(names[pair[1]])
    _cluster_legend(
        ax,
        [colors[c] for c in color_of] if summary is not None else [],
        em_level=level if point is not None else None,
        cloud=posterior is not None and n_ellipses > 0,
        n_ambiguous=int(summary.ambiguous.sum()) if summary is not None else 0,
        threshold=_threshold(membership, threshold),
    )
    return ax


def _posterior_colors(
    point: _Mixture | None, draws_used: _Mixture | None, n_components: int, data: np.ndarray
) -> np.ndarray:
    """Colour of each posterior component: that of the EM component it sits on."""
    if point is None or draws_used is None:
        return np.arange(n_components)
    return _match_colors(
        point.means[0], draws_used.means.mean(axis=0), np.nanstd(data, axis=0) + 1e-12
    )


def _scatter_points(
    ax: Axes, xy: np.ndarray, summary: _Membership | None, component_colors: list[Any]
) -> None:
    """The points: grey without memberships, else coloured by label and shaded by certainty."""
    if summary is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=16, color="0.35", alpha=0.7, linewidths=0)
        return
    edge = np.where(summary.ambiguous[:, None], np.array([[0.0, 0.0, 0.0, 1.0]]), 0.0)
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=18,
        c=_point_colors(summary, component_colors, np.arange(len(component_colors))),
        edgecolors=edge,
        linewidths=np.where(summary.ambiguous, 0.9, 0.0),
        zorder=2,
    )


def _cluster_membership(
    data: np.ndarray,
    membership: Membership | ArrayLike | None,
    threshold: float | None,
    draws_used: _Mixture | None,
    point: _Mixture | None,
) -> _Membership | None:
    """The given memberships, else the posterior's (mean over draws), else EM's."""
    if membership is not None:
        summary = _membership(membership, threshold)
    elif draws_used is not None or point is not None:
        from bayesgmm.mixture.draws import responsibilities

        source = draws_used if draws_used is not None else point
        summary = _membership(
            responsibilities(data, source.weights, source.means, source.covariances), threshold
        )
    else:
        return None
    if summary.labels.shape[0] != data.shape[0]:
        raise ValueError(
            f"membership has {summary.labels.shape[0]} points but X has {data.shape[0]}."
        )
    return summary


def _add_ellipses(
    ax: Axes,
    mixture: _Mixture,
    n_std: float,
    colors: list[Any],
    shown: np.ndarray | None = None,
    **kwargs: Any,
) -> None:
    """One ellipse per draw and ``shown`` component of a 2-D mixture, coloured by component."""
    kwargs.setdefault("zorder", 1)
    components = np.arange(mixture.weights.shape[1])
    if shown is not None:
        components = components[shown]
    for s in range(mixture.weights.shape[0]):
        for k in components:
            ax.add_patch(
                _ellipse(
                    mixture.means[s, k],
                    mixture.covariances[s, k],
                    n_std,
                    edgecolor=colors[k],
                    **kwargs,
                )
            )


def _cluster_legend(
    ax: Axes,
    component_colors: list[Any],
    *,
    em_level: float | None,
    cloud: bool,
    n_ambiguous: int,
    threshold: float,
) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=c, marker="o", linestyle="", label=f"component {k}")
        for k, c in enumerate(component_colors)
    ]
    if em_level is not None:
        handles.append(Line2D([], [], color="k", linewidth=2.5, label=f"EM {em_level:.0%} ellipse"))
    if cloud:
        handles.append(Line2D([], [], color="k", linewidth=0.6, alpha=0.4, label="posterior draws"))
    if n_ambiguous:
        label = f"ambiguous: p < {threshold:g} ({n_ambiguous})"
        handles.append(
            Line2D([], [], color="w", marker="o", markeredgecolor="k", linestyle="", label=label)
        )
    if handles:
        ax.legend(handles=handles, fontsize="small", loc="best", framealpha=0.85)
