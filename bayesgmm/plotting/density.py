"""Densities: the mixture density of two features, and the pairs plot of every feature."""

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
    _new_axes,
    _observed,
    _pyplot,
    _radius,
    _set_limits,
)
from bayesgmm.plotting._membership import (
    _membership,
    _point_colors,
)
from bayesgmm.plotting._mixture import (
    _check_dims,
    _check_min_weight,
    _ellipse_bounds,
    _Mixture,
    _mixture_density,
    _mixture_of,
    _shown_components,
    _skipped_note,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from bayesgmm.analysis.memberships import Membership
    from bayesgmm.posterior.mixture import Fit


def _grid(data: np.ndarray, grid_size: int, pad: float = 0.1) -> tuple[np.ndarray, ...]:
    lower, upper = np.nanmin(data, axis=0), np.nanmax(data, axis=0)
    span = np.where(upper > lower, upper - lower, 1.0)
    axes_1d = [
        np.linspace(lo - pad * s, hi + pad * s, int(grid_size))
        for lo, hi, s in zip(lower, upper, span, strict=True)
    ]
    return tuple(np.meshgrid(*axes_1d))


def plot_density(
    X: ArrayLike,
    fit: Fit,
    *,
    features: Sequence[int | str] = (0, 1),
    grid_size: int = 100,
    levels: int = 10,
    max_draws: int = 200,
    show_points: bool = True,
    ax: Axes | None = None,
) -> Any:
    """Contours of the fitted mixture density of two features over the data's range.

    Parameters
    ----------
    X : array-like or DataFrame of shape (N, D)
    fit : EM fit or posterior
        An EM fit gives its density; a posterior (InferenceData or BayesianGMM) gives the
        posterior predictive density, averaged over at most ``max_draws`` evenly thinned
        draws. For D > 2 the density shown is the 2-D marginal of ``features`` (the
        marginal of a Gaussian mixture is the mixture of the marginals).
    features : pair of int or str
    grid_size : int
        Grid points per axis.
    levels : int or sequence
        Contour levels (as ``Axes.contour``).
    show_points : bool
        Overlay the data as small grey points.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    _pyplot()
    data, names = _data(X, fit)
    if data.shape[1] < 2:
        raise ValueError("plot_density needs at least 2 features.")
    pair = _feature_indices(features, names)
    mixture = _mixture_of(fit, max_draws)
    _check_dims(mixture, data.shape[1])
    xx, yy = _grid(data[:, pair], grid_size)
    density = _mixture_density(np.column_stack([xx.ravel(), yy.ravel()]), mixture.marginal(pair))
    ax = _new_axes(ax)
    contours = ax.contour(xx, yy, density.reshape(xx.shape), levels=levels, cmap="viridis")
    if show_points:
        seen = _observed(data, pair)
        ax.scatter(*data[seen][:, pair].T, s=6, color="0.3", alpha=0.5, zorder=0)
        _annotate(ax, [_hidden_note(int((~seen).sum()))])
    ax.set_xlabel(names[pair[0]])
    ax.set_ylabel(names[pair[1]])
    kind = "point estimate" if mixture.weights.shape[0] == 1 else "posterior predictive"
    ax.set_title(f"Mixture density ({kind})", fontsize="medium")
    ax.figure.colorbar(contours, ax=ax, label="density", shrink=0.85)
    return ax


# ---------------------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------------------


def _normal_pdf(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2.0 * np.pi * var)


def plot_pairs(
    X: ArrayLike,
    fit: Fit | None = None,
    *,
    membership: Membership | ArrayLike | None = None,
    level: float = 0.95,
    threshold: float | None = None,
    max_draws: int = 200,
    bins: int = 20,
    min_weight: float = 0.01,
    axes: np.ndarray | Sequence[Axes] | None = None,
) -> Any:
    """All pairwise projections: scatter panels with ellipses, histograms on the diagonal.

    Parameters
    ----------
    X : array-like or DataFrame of shape (N, D)
    fit : EM fit or posterior, optional
        Its components are drawn as ellipses of their marginal 2x2 covariances (a posterior
        is summarised by its posterior means), and its 1-D marginal density over each
        diagonal histogram. Points are coloured by their most probable component.
    membership : Membership, (N, K) or (S, N, K) array, optional
        Overrides the memberships computed from ``fit``.
    level, threshold, max_draws
        As in :func:`plot_clusters`.
    bins : int
        Histogram bins.
    min_weight : float
        Components whose (posterior mean) weight is below it get no ellipse, and the
        figure's title says which: a sparse fit's empty components sit at their prior and
        would stretch every panel far beyond the data. ``0`` draws them all.
    axes : (D, D) array of matplotlib Axes, optional

    Returns
    -------
    ndarray of matplotlib Axes, shape (D, D)

    Notes
    -----
    Rows with missing values (a fit made with ``missing="marginalize"``) are coloured by
    their observed coordinates and shown in every panel whose two features they have.
    """
    plt = _pyplot()
    data, names = _data(X, fit)
    n_features = data.shape[1]
    min_weight = _check_min_weight(min_weight)
    if axes is None:
        size = min(2.6, 12.0 / n_features)
        _, axes = plt.subplots(
            n_features,
            n_features,
            figsize=(size * n_features + 0.5, size * n_features + 0.3),
            squeeze=False,
            layout="constrained",
        )
    axes = np.asarray(axes, dtype=object)
    if axes.size != n_features**2:
        raise ValueError(f"axes must hold {n_features}x{n_features} Axes; got {axes.size}.")
    axes = axes.reshape(n_features, n_features)
    n_std = _radius(level)
    mixture = summary = shown = None
    if fit is not None:
        draws_used = _mixture_of(fit, max_draws)
        _check_dims(draws_used, n_features)
        mixture = draws_used.mean()
        shown = _shown_components(draws_used, min_weight)
        if membership is None:
            from bayesgmm.mixture.draws import responsibilities

            summary = _membership(
                responsibilities(
                    data, draws_used.weights, draws_used.means, draws_used.covariances
                ),
                threshold,
            )
    if membership is not None:
        summary = _membership(membership, threshold)
    n_components = max(
        mixture.weights.shape[1] if mixture is not None else 1,
        summary.probabilities.shape[1] if summary is not None else 1,
    )
    colors = _colors(n_components)
    if summary is None:
        point_colors = np.array([[0.35, 0.35, 0.35, 0.7]])
    else:
        point_colors = _point_colors(summary, colors, np.arange(n_components))
    for row in range(n_features):
        for col in range(n_features):
            ax = axes[row, col]
            if row == col:
                _pairs_diagonal(ax, data[:, row], mixture, row, bins)
            else:
                _pairs_panel(ax, data, [col, row], point_colors, mixture, shown, colors, n_std)
            ax.tick_params(labelsize="small")
            ax.set_xlabel(names[col] if row == n_features - 1 else "")
            ax.set_ylabel(names[row] if col == 0 else "")
    notes = [_hidden_note(int(np.isnan(data).any(axis=1).sum()))]
    if shown is not None:
        notes.append(_skipped_note(shown, min_weight))
    text = "; ".join(note for note in notes if note)
    if text:
        axes[0, 0].figure.suptitle(text, fontsize="small", color="0.35")
    return axes


def _pairs_panel(
    ax: Axes,
    data: np.ndarray,
    pair: list[int],
    point_colors: np.ndarray,
    mixture: _Mixture | None,
    shown: np.ndarray | None,
    colors: list[Any],
    n_std: float,
) -> None:
    """One off-diagonal panel: the rows observed in both features, and the ellipses."""
    seen = _observed(data, pair)
    xy = data[seen][:, pair]
    ax.scatter(*xy.T, s=8, c=point_colors[seen] if len(point_colors) > 1 else point_colors)
    lower, upper = xy.min(axis=0, initial=np.inf), xy.max(axis=0, initial=-np.inf)
    if mixture is not None:
        marginal = mixture.marginal(pair)
        for k in np.flatnonzero(shown):
            ax.add_patch(
                _ellipse(
                    marginal.means[0, k],
                    marginal.covariances[0, k],
                    n_std,
                    edgecolor=colors[k],
                    linewidth=1.8,
                )
            )
        bounds = _ellipse_bounds(mixture, pair, n_std, shown)  # show the ellipses whole
        lower, upper = np.fmin(lower, bounds[0]), np.fmax(upper, bounds[1])
    _set_limits(ax, lower, upper)


def _pairs_diagonal(
    ax: Axes, values: np.ndarray, mixture: _Mixture | None, feature: int, bins: int
) -> None:
    values = values[~np.isnan(values)]
    ax.hist(values, bins=bins, density=True, color="0.75", edgecolor="0.5", linewidth=0.5)
    if mixture is not None:
        grid = np.linspace(values.min(), values.max(), 200)
        means = mixture.means[0, :, feature]
        variances = mixture.covariances[0, :, feature, feature]
        parts = mixture.weights[0][:, None] * _normal_pdf(
            grid[None, :], means[:, None], variances[:, None]
        )
        ax.plot(grid, parts.sum(axis=0), color="k", linewidth=1.2)
    lower, upper = values.min(), values.max()
    pad = 0.05 * (upper - lower if upper > lower else 1.0)
    ax.set_xlim(lower - pad, upper + pad)
