"""Plots of mixture fits: clusters with their uncertainty, densities, traces, comparisons.

matplotlib is an optional extra (``pip install "bayesgmm[plot]"``): it is imported inside
each function, so ``import bayesgmm.plotting`` stays light. Every function draws on the
``ax`` (or ``axes``) it is given, or on a new figure, and returns the Axes; none calls
``plt.show()``.

Fits are accepted in the forms the rest of the package produces:

- an EM fit: :class:`bayesgmm.em.EMResult`, :class:`bayesgmm.em.GMMParams`, or a fitted
  ``GaussianMixtureEM`` (its ``result_``); any covariance type;
- a posterior: an ``arviz.InferenceData`` whose ``posterior`` group holds ``weights``,
  ``means`` and ``covariances`` (full matrices, as :mod:`bayesgmm.inference` writes them),
  or a fitted ``BayesianGMM`` (its relabeled ``idata_``).

Per-component plots of a posterior are only meaningful after relabeling
(:func:`bayesgmm.relabel_idata`); pass the relabeled InferenceData.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bayesgmm._validation import check_data
from bayesgmm.covariance import as_full
from bayesgmm.draws import hdi_columns

__all__ = [
    "plot_clusters",
    "plot_comparison",
    "plot_density",
    "plot_membership_uncertainty",
    "plot_pairs",
    "plot_sbc",
    "plot_trace_relabel",
]

INSTALL_HINT = 'plotting needs matplotlib: pip install "bayesgmm[plot]"'

#: Default membership probability below which a point is called ambiguous.
DEFAULT_THRESHOLD = 0.8


# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------


def _pyplot() -> Any:
    """``matplotlib.pyplot``, or an ImportError with the install hint."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    del matplotlib
    return plt


def _new_axes(ax: Any, figsize: tuple[float, float] = (6.0, 4.5)) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


class _Mixture(NamedTuple):
    """Mixture parameters with a leading draw axis (S = 1 for a point estimate)."""

    weights: np.ndarray  # (S, K)
    means: np.ndarray  # (S, K, D)
    covariances: np.ndarray  # (S, K, D, D)

    def marginal(self, features: list[int]) -> _Mixture:
        """The mixture of the chosen features: a mixture of the marginals."""
        idx = np.asarray(features)
        cov = self.covariances[..., idx[:, None], idx[None, :]]
        return _Mixture(self.weights, self.means[..., idx], cov)

    def mean(self) -> _Mixture:
        """Posterior means of the parameters, as a one-draw mixture."""
        return _Mixture(*(a.mean(axis=0, keepdims=True) for a in self))


class _Membership(NamedTuple):
    probabilities: np.ndarray  # (N, K), averaged over draws
    labels: np.ndarray  # (N,)
    max_probability: np.ndarray  # (N,) probability of the label
    low: np.ndarray | None  # (N,) HDI of that probability, when draws are known
    high: np.ndarray | None
    ambiguous: np.ndarray  # (N,) bool


def _ellipse(mean: Any, cov: Any, n_std: float, **kwargs: Any) -> Any:
    """A ``matplotlib.patches.Ellipse`` of ``n_std`` Mahalanobis radii of a 2-D Gaussian.

    Parameters
    ----------
    mean : array-like of shape (2,)
    cov : array-like of shape (2, 2)
        Symmetric positive semi-definite covariance.
    n_std : float
        Mahalanobis radius; ``sqrt(chi2.ppf(level, 2))`` encloses ``level`` of the mass.
    **kwargs
        Passed to ``Ellipse`` (``fill`` defaults to False).
    """
    _pyplot()
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    values = np.clip(values, 0.0, None)
    # eigh sorts ascending: the last eigenvector is the major axis.
    angle = float(np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1])))
    width, height = 2.0 * n_std * np.sqrt(values[::-1])
    kwargs.setdefault("fill", False)
    return Ellipse(tuple(np.asarray(mean, dtype=np.float64)), width, height, angle=angle, **kwargs)


def _radius(level: float) -> float:
    """Mahalanobis radius of the 2-D Gaussian region holding ``level`` of the mass."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level!r}.")
    return float(np.sqrt(-2.0 * np.log1p(-level)))


def _colors(n: int) -> list[Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(k % cmap.N) for k in range(n)]


def _data(X: Any) -> tuple[np.ndarray, list[str]]:
    checked = check_data(X)
    names = checked.feature_names or [f"x{d}" for d in range(checked.X.shape[1])]
    return checked.X, names


def _feature_indices(features: Any, names: list[str], n: int = 2) -> list[int]:
    features = list(features)
    if len(features) != n:
        raise ValueError(f"features must name {n} features; got {features!r}.")
    out = []
    for f in features:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"feature {f!r} not in the data's features {names}.")
            out.append(names.index(f))
        else:
            index = int(f)
            if not -len(names) <= index < len(names):
                raise ValueError(f"feature index {index} out of range for {len(names)} features.")
            out.append(index % len(names))
    if len(set(out)) != len(out):
        raise ValueError(f"features must be distinct; got {features!r}.")
    return out


def _is_idata(obj: Any) -> bool:
    return hasattr(obj, "posterior") and hasattr(obj, "groups")


def _posterior_of(obj: Any) -> Any:
    """The InferenceData of a posterior fit, or None for an EM fit."""
    if _is_idata(obj):
        return obj
    idata = getattr(obj, "idata_", None)
    return idata if idata is not None and _is_idata(idata) else None


def _em_mixture(fit: Any) -> _Mixture:
    """One-draw mixture from an EMResult, GMMParams, GaussianMixtureEM or BayesianGMM."""
    for attribute in ("result_", "em_"):  # GaussianMixtureEM, BayesianGMM
        fit = getattr(fit, attribute, fit)
    try:
        weights = np.asarray(fit.weights, dtype=np.float64)
        means = np.asarray(fit.means, dtype=np.float64)
        covariance_type = fit.covariance_type
        covariances = fit.covariances
    except AttributeError:
        raise TypeError(
            "expected an EM fit (EMResult, GMMParams or a fitted GaussianMixtureEM) or a "
            f"posterior (InferenceData or a fitted BayesianGMM); got {type(fit).__name__}."
        ) from None
    n_components, n_features = means.shape
    full = as_full(covariances, covariance_type, n_components, n_features)
    return _Mixture(weights[None], means[None], full[None])


def _posterior_mixture(
    idata: Any, max_draws: int | None = None, rng: np.random.Generator | None = None
) -> _Mixture:
    """Draws of an InferenceData's posterior, flattened over chains.

    At most ``max_draws`` draws: evenly thinned, or a random subset when ``rng`` is given.
    """
    from bayesgmm.idata import posterior_draws, thin_indices

    draws = posterior_draws(idata)
    n_total = draws.weights.shape[0]
    if max_draws is not None and n_total > max_draws and rng is not None:
        keep = np.sort(rng.choice(n_total, size=int(max_draws), replace=False))
    else:
        keep = thin_indices(n_total, max_draws)
    return _Mixture(draws.weights[keep], draws.means[keep], draws.covariances[keep])


def _mixture_of(fit: Any, max_draws: int | None) -> _Mixture:
    idata = _posterior_of(fit)
    return _em_mixture(fit) if idata is None else _posterior_mixture(idata, max_draws)


def _check_dims(mixture: _Mixture, n_features: int) -> None:
    if mixture.means.shape[-1] != n_features:
        raise ValueError(f"the fit has {mixture.means.shape[-1]} features but X has {n_features}.")


def _membership_from_draws(probabilities: np.ndarray, threshold: float, hdi_prob: float):
    """Membership summary of per-draw probabilities (S, N, K)."""
    mean = probabilities.mean(axis=0)
    labels = np.argmax(mean, axis=1)
    rows = np.arange(mean.shape[0])
    per_draw = probabilities[:, rows, labels]  # (S, N): probability of the chosen label
    low, high = hdi_columns(per_draw, hdi_prob)
    max_probability = mean[rows, labels]
    return _Membership(mean, labels, max_probability, low, high, max_probability < threshold)


def _threshold(membership: Any, threshold: float | None) -> float:
    if threshold is not None:
        return float(threshold)
    return float(getattr(membership, "ambiguity_threshold", DEFAULT_THRESHOLD))


def _membership(membership: Any, threshold: float | None, hdi_prob: float = 0.94) -> _Membership:
    """Normalise a :class:`bayesgmm.comparison.Membership`, an (N, K) or an (S, N, K) array.

    From a Membership: its mean probabilities, labels, max probability, ambiguity flags
    and the HDI of the label's probability. From per-draw probabilities (S, N, K): the
    mean over draws and the ``hdi_prob`` HDI over draws. From (N, K): no band.
    """
    if hasattr(membership, "probabilities"):
        summary = _from_membership_object(membership)
        if threshold is not None:  # re-flag with the caller's threshold
            summary = summary._replace(ambiguous=summary.max_probability < threshold)
        return summary
    threshold = _threshold(membership, threshold)
    probabilities = np.asarray(membership, dtype=np.float64)
    if probabilities.ndim == 3:
        return _membership_from_draws(probabilities, threshold, hdi_prob)
    if probabilities.ndim != 2:
        raise ValueError(
            "membership must be a Membership, an (N, K) array of probabilities or an "
            f"(S, N, K) array of per-draw probabilities; got shape {probabilities.shape}."
        )
    summary = _membership_from_draws(probabilities[None], threshold, hdi_prob)
    return summary._replace(low=None, high=None)


def _from_membership_object(membership: Any) -> _Membership:
    """A Membership: ``probabilities`` is a Dataset of mean / hdi_low / hdi_high."""
    dataset = membership.probabilities

    def values(name: str) -> np.ndarray:
        return np.asarray(dataset[name].transpose("obs", "component").values, dtype=np.float64)

    mean = values("mean")
    labels = np.asarray(membership.labels, dtype=int)
    rows = np.arange(labels.shape[0])
    return _Membership(
        probabilities=mean,
        labels=labels,
        max_probability=np.asarray(membership.max_probability, dtype=np.float64),
        low=values("hdi_low")[rows, labels],
        high=values("hdi_high")[rows, labels],
        ambiguous=np.asarray(membership.ambiguous, dtype=bool),
    )


def _match_colors(reference: np.ndarray, means: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Colour index of every component of ``means``: its nearest ``reference`` component."""
    if reference.shape != means.shape:
        return np.arange(means.shape[0])
    from scipy.optimize import linear_sum_assignment

    cost = np.sum(((means[:, None, :] - reference[None, :, :]) / scale) ** 2, axis=-1)
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(means.shape[0], dtype=int)
    order[rows] = cols
    return order


def _point_colors(summary: _Membership, colors: list[Any], color_of: np.ndarray) -> np.ndarray:
    """RGBA per point: the label's colour, more transparent the less certain the label."""
    n_components = summary.probabilities.shape[1]
    rgba = np.array([colors[color_of[k]] for k in summary.labels], dtype=np.float64)
    chance = 1.0 / n_components
    certainty = (summary.max_probability - chance) / max(1.0 - chance, 1e-12)
    rgba[:, 3] = 0.15 + 0.85 * np.clip(certainty, 0.0, 1.0)
    return rgba


def _ellipse_bounds(mixture: _Mixture, features: list[int], n_std: float) -> np.ndarray:
    """Lower and upper corner (2, 2) of the boxes around all components' ellipses."""
    marginal = mixture.marginal(features)
    spread = n_std * np.sqrt(np.diagonal(marginal.covariances, axis1=-2, axis2=-1))
    centres = marginal.means.reshape(-1, 2)
    spread = spread.reshape(-1, 2)
    return np.stack([(centres - spread).min(axis=0), (centres + spread).max(axis=0)])


def _set_limits(ax: Any, lower: np.ndarray, upper: np.ndarray, pad: float = 0.05) -> None:
    span = np.where(upper > lower, upper - lower, 1.0)
    ax.set_xlim(lower[0] - pad * span[0], upper[0] + pad * span[0])
    ax.set_ylim(lower[1] - pad * span[1], upper[1] + pad * span[1])


# ---------------------------------------------------------------------------------------
# Clusters
# ---------------------------------------------------------------------------------------


def plot_clusters(
    X: Any,
    *,
    em: Any = None,
    idata: Any = None,
    membership: Any = None,
    features: Any = (0, 1),
    n_ellipses: int = 50,
    level: float = 0.95,
    threshold: float | None = None,
    max_draws: int = 200,
    ax: Any = None,
    random_seed: Any = 0,
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
    data, names = _data(X)
    if data.shape[1] < 2:
        raise ValueError("plot_clusters needs at least 2 features; use plot_density for 1-D.")
    pair = _feature_indices(features, names)
    n_std = _radius(level)
    point = _em_mixture(em) if em is not None else None
    posterior = _posterior_of(idata) if idata is not None else None
    if idata is not None and posterior is None:
        raise TypeError(f"idata must be an InferenceData or a fitted BayesianGMM; got {idata!r}.")
    draws_used = _posterior_mixture(posterior, max_draws) if posterior is not None else None
    for mixture in (point, draws_used):
        if mixture is not None:
            _check_dims(mixture, data.shape[1])
    summary = _cluster_membership(data, membership, threshold, draws_used, point)
    counts = [m.weights.shape[-1] for m in (point, draws_used) if m is not None]
    if summary is not None:
        counts.append(summary.probabilities.shape[1])
    n_components = max(counts, default=1)
    colors = _colors(n_components)
    # Colour of each posterior component: that of the EM component it sits on.
    posterior_colors = np.arange(n_components)
    if point is not None and draws_used is not None:
        posterior_colors = _match_colors(
            point.means[0], draws_used.means.mean(axis=0), data.std(axis=0) + 1e-12
        )
    color_of = posterior_colors if draws_used is not None else np.arange(n_components)

    ax = _new_axes(ax)
    x, y = data[:, pair[0]], data[:, pair[1]]
    if summary is None:
        ax.scatter(x, y, s=16, color="0.35", alpha=0.7, linewidths=0)
    else:
        edge = np.where(summary.ambiguous[:, None], np.array([[0.0, 0.0, 0.0, 1.0]]), 0.0)
        ax.scatter(
            x,
            y,
            s=18,
            c=_point_colors(summary, colors, color_of),
            edgecolors=edge,
            linewidths=np.where(summary.ambiguous, 0.9, 0.0),
            zorder=2,
        )
    lower, upper = data[:, pair].min(axis=0), data[:, pair].max(axis=0)
    if posterior is not None and n_ellipses > 0:
        cloud = _posterior_mixture(posterior, int(n_ellipses), np.random.default_rng(random_seed))
        cloud_colors = [colors[c] for c in posterior_colors]
        _add_ellipses(ax, cloud.marginal(pair), n_std, cloud_colors, linewidth=0.6, alpha=0.25)
        bounds = _ellipse_bounds(draws_used.mean(), pair, n_std)
        lower, upper = np.minimum(lower, bounds[0]), np.maximum(upper, bounds[1])
    if point is not None:
        marginal = point.marginal(pair)
        _add_ellipses(ax, marginal, n_std, colors, linewidth=2.5, zorder=3)
        ax.plot(*marginal.means[0].T, "k+", markersize=10, markeredgewidth=2, zorder=4)
        bounds = _ellipse_bounds(point, pair, n_std)
        lower, upper = np.minimum(lower, bounds[0]), np.maximum(upper, bounds[1])
    _set_limits(ax, lower, upper)
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


def _cluster_membership(
    data: np.ndarray,
    membership: Any,
    threshold: float | None,
    draws_used: _Mixture | None,
    point: _Mixture | None,
) -> _Membership | None:
    """The given memberships, else the posterior's (mean over draws), else EM's."""
    if membership is not None:
        summary = _membership(membership, threshold)
    elif draws_used is not None or point is not None:
        from bayesgmm.draws import responsibilities

        source = draws_used if draws_used is not None else point
        summary = _membership(responsibilities(data, *source), threshold)
    else:
        return None
    if summary.labels.shape[0] != data.shape[0]:
        raise ValueError(
            f"membership has {summary.labels.shape[0]} points but X has {data.shape[0]}."
        )
    return summary


def _add_ellipses(
    ax: Any, mixture: _Mixture, n_std: float, colors: list[Any], **kwargs: Any
) -> None:
    """One ellipse per draw and component of a 2-D mixture, coloured by component."""
    kwargs.setdefault("zorder", 1)
    for s in range(mixture.weights.shape[0]):
        for k in range(mixture.weights.shape[1]):
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
    ax: Any,
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


# ---------------------------------------------------------------------------------------
# Density
# ---------------------------------------------------------------------------------------


def _grid(data: np.ndarray, grid_size: int, pad: float = 0.1) -> tuple[np.ndarray, ...]:
    lower, upper = data.min(axis=0), data.max(axis=0)
    span = np.where(upper > lower, upper - lower, 1.0)
    axes_1d = [
        np.linspace(lo - pad * s, hi + pad * s, int(grid_size))
        for lo, hi, s in zip(lower, upper, span, strict=True)
    ]
    return tuple(np.meshgrid(*axes_1d))


def _mixture_density(points: np.ndarray, mixture: _Mixture) -> np.ndarray:
    """Posterior-mean (or point) mixture density at ``points``, averaged over the draws."""
    from scipy.special import logsumexp

    from bayesgmm.draws import pointwise_log_likelihood

    log_density = pointwise_log_likelihood(points, *mixture)  # (S, G)
    return np.exp(logsumexp(log_density, axis=0) - np.log(log_density.shape[0]))


def plot_density(
    X: Any,
    fit: Any,
    *,
    features: Any = (0, 1),
    grid_size: int = 100,
    levels: int = 10,
    max_draws: int = 200,
    show_points: bool = True,
    ax: Any = None,
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
    data, names = _data(X)
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
        ax.scatter(data[:, pair[0]], data[:, pair[1]], s=6, color="0.3", alpha=0.5, zorder=0)
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
    X: Any,
    fit: Any = None,
    *,
    membership: Any = None,
    level: float = 0.95,
    threshold: float | None = None,
    max_draws: int = 200,
    bins: int = 20,
    axes: Any = None,
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
    axes : (D, D) array of matplotlib Axes, optional

    Returns
    -------
    ndarray of matplotlib Axes, shape (D, D)
    """
    plt = _pyplot()
    data, names = _data(X)
    n_features = data.shape[1]
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
    mixture = summary = None
    if fit is not None:
        draws_used = _mixture_of(fit, max_draws)
        _check_dims(draws_used, n_features)
        mixture = draws_used.mean()
        if membership is None:
            from bayesgmm.draws import responsibilities

            summary = _membership(responsibilities(data, *draws_used), threshold)
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
                ax.scatter(data[:, col], data[:, row], s=8, c=point_colors, linewidths=0)
                if mixture is not None:
                    marginal = mixture.marginal([col, row])
                    for k in range(marginal.weights.shape[1]):
                        ax.add_patch(
                            _ellipse(
                                marginal.means[0, k],
                                marginal.covariances[0, k],
                                n_std,
                                edgecolor=colors[k],
                                linewidth=1.8,
                            )
                        )
                lower = data[:, [col, row]].min(axis=0)
                upper = data[:, [col, row]].max(axis=0)
                if mixture is not None:  # show the ellipses whole
                    bounds = _ellipse_bounds(mixture, [col, row], n_std)
                    lower, upper = np.minimum(lower, bounds[0]), np.maximum(upper, bounds[1])
                _set_limits(ax, lower, upper)
            ax.tick_params(labelsize="small")
            ax.set_xlabel(names[col] if row == n_features - 1 else "")
            ax.set_ylabel(names[row] if col == 0 else "")
    return axes


def _pairs_diagonal(
    ax: Any, values: np.ndarray, mixture: _Mixture | None, feature: int, bins: int
) -> None:
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


# ---------------------------------------------------------------------------------------
# Traces before and after relabeling
# ---------------------------------------------------------------------------------------


def _trace_rows(idata: Any, var_names: Any) -> list[tuple[str, dict[str, Any], str]]:
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


def _draw_traces(ax: Any, values: np.ndarray, colors: list[Any]) -> None:
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


def _draw_ranks(ax: Any, values: np.ndarray, colors: list[Any], bins: int) -> None:
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
    raw_idata: Any,
    relabeled_idata: Any,
    var_names: Any = ("weights", "means"),
    *,
    kind: str = "trace",
    bins: int = 20,
    axes: Any = None,
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


def _trace_legend(ax: Any, colors: list[Any], n_chains: int) -> None:
    """Colour = component, line style = chain; outside the panel, to its right."""
    from matplotlib.lines import Line2D

    styles = ("-", "--", ":", "-.")
    handles = [Line2D([], [], color=c, label=f"component {k}") for k, c in enumerate(colors)]
    handles += [
        Line2D([], [], color="0.3", linestyle=styles[c % len(styles)], label=f"chain {c}")
        for c in range(n_chains)
    ]
    ax.legend(handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


# ---------------------------------------------------------------------------------------
# EM vs posterior
# ---------------------------------------------------------------------------------------

_INDEX_COLUMNS = ("component", "feature", "features", "feature(s)", "feature_bis")


def _is_string_index(index: Any) -> bool:
    from pandas.api.types import is_string_dtype

    return bool(is_string_dtype(index))


def _row_labels(frame: Any) -> list[str]:
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


def plot_comparison(table: Any, *, standardize: bool | None = None, ax: Any = None) -> Any:
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
    required = ["em_estimate", "posterior_mean", "hdi_low", "hdi_high"]
    if standardize:
        required.append("posterior_sd")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"the comparison table lacks the columns {missing}.")
    if standardize is None:
        standardize = _needs_standardizing(frame)
        if standardize:
            required.append("posterior_sd")
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in required}
    em_value, mean = values["em_estimate"], values["posterior_mean"]
    low, high = values["hdi_low"], values["hdi_high"]
    if "em_in_hdi" in frame.columns:
        inside = frame["em_in_hdi"].to_numpy(dtype=bool)
    else:
        inside = (em_value >= low) & (em_value <= high)
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
    return ax


def _needs_standardizing(frame: Any) -> bool:
    """True when the rows' scales differ too much for one raw axis."""
    if "posterior_sd" not in frame.columns or len(frame) < 2:
        return False
    width = (frame["hdi_high"] - frame["hdi_low"]).to_numpy(dtype=np.float64)
    width = width[np.isfinite(width) & (width > 0)]
    return width.size > 1 and float(width.max() / width.min()) > 10.0


# ---------------------------------------------------------------------------------------
# Membership uncertainty
# ---------------------------------------------------------------------------------------


def plot_membership_uncertainty(
    membership: Any,
    *,
    threshold: float | None = None,
    hdi_prob: float | None = None,
    ax: Any = None,
) -> Any:
    """Every point's largest membership probability, sorted, with its HDI band.

    Parameters
    ----------
    membership : Membership, (N, K) or (S, N, K) array
        A :func:`bayesgmm.membership` result, EM responsibilities, or per-draw posterior
        probabilities (then the band is the ``hdi_prob`` HDI over draws of the probability
        of the point's most probable component).
    threshold : float, optional
        Drawn as a dashed line; points below it are ambiguous (red). Default: the
        Membership's own threshold, else 0.8.
    hdi_prob : float, optional
        HDI probability when the band is computed from draws (default: the Membership's
        ``hdi_prob``, else 0.94).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    _pyplot()
    threshold = _threshold(membership, threshold)
    if hdi_prob is None:
        hdi_prob = float(getattr(membership, "hdi_prob", 0.94))
    summary = _membership(membership, threshold, hdi_prob)
    n_points, n_components = summary.probabilities.shape
    order = np.argsort(summary.max_probability, kind="stable")
    x = np.arange(n_points)
    ax = _new_axes(ax, figsize=(6.5, 4.0))
    if summary.low is not None and summary.high is not None:
        ax.fill_between(
            x,
            summary.low[order],
            summary.high[order],
            color="tab:blue",
            alpha=0.25,
            linewidth=0,
            label=f"{hdi_prob:.0%} HDI",
        )
    ax.plot(
        x,
        summary.max_probability[order],
        color="tab:blue",
        linewidth=1.5,
        label="max membership probability",
    )
    ambiguous = summary.ambiguous[order]
    if ambiguous.any():
        ax.scatter(
            x[ambiguous],
            summary.max_probability[order][ambiguous],
            color="tab:red",
            s=12,
            zorder=3,
            label=f"ambiguous ({int(ambiguous.sum())} of {n_points})",
        )
    ax.axhline(
        threshold, color="0.3", linestyle="--", linewidth=1.0, label=f"threshold {threshold:g}"
    )
    chance = 1.0 / n_components
    ax.axhline(
        chance, color="0.6", linestyle=":", linewidth=1.0, label=f"chance 1/K = {chance:.2g}"
    )
    bottom = min(chance, float(np.nanmin(summary.max_probability)))
    if summary.low is not None:
        bottom = min(bottom, float(np.nanmin(summary.low)))
    ax.set_ylim(bottom - 0.05, 1.02)
    ax.set_xlim(-0.5, n_points - 0.5)
    ax.set_xlabel("points, sorted by max membership probability")
    ax.set_ylabel("max membership probability")
    ax.legend(fontsize="small", loc="lower right")
    return ax


# ---------------------------------------------------------------------------------------
# Simulation-based calibration
# ---------------------------------------------------------------------------------------


def plot_sbc(
    result: Any,
    quantities: Any = None,
    *,
    ci_prob: float = 0.95,
    ncols: int = 4,
    axes: Any = None,
) -> Any:
    """ECDF-difference plots of SBC ranks with simultaneous bands, one panel per quantity.

    Each panel shows the ECDF of the ranks minus the uniform CDF on ``0..L`` (Säilynoja,
    Bürkner & Vehtari 2022), drawn by ``arviz.plot_ecdf`` with its optimised simultaneous
    band: for calibrated ranks the whole curve stays inside the band with probability
    ``ci_prob``. Too many extreme ranks (a U-shaped histogram: the fit is overconfident)
    lift the curve above zero on the left and sink it below zero on the right; too many
    central ranks (underconfident) do the mirror image. A curve above zero throughout
    means the truth ranks low, i.e. the posterior sits above the truth; below zero, below.

    Parameters
    ----------
    result : bayesgmm.calibration.SBCResult
        From :func:`bayesgmm.calibration.run_sbc`.
    quantities : sequence of str, optional
        Panels to draw (default all of ``result.quantities``).
    ci_prob : float
        Simultaneous coverage of the band, in (0, 1).
    ncols : int
        Panels per row of a new figure.
    axes : array of matplotlib Axes, optional
        One per quantity.

    Returns
    -------
    ndarray of matplotlib Axes
        One per quantity drawn, flattened (unused panels of a new figure are hidden).
    """
    plt = _pyplot()
    import arviz as az
    from scipy import stats

    for name in ("ranks", "quantities", "n_draws"):
        if not hasattr(result, name):
            raise TypeError(
                f"result must be an SBCResult from bayesgmm.calibration.run_sbc; "
                f"got {type(result).__name__} (no {name!r})."
            )
    if not 0 < float(ci_prob) < 1:
        raise ValueError(f"ci_prob must be in (0, 1); got {ci_prob!r}.")
    names = list(result.quantities)
    chosen = (
        names
        if quantities is None
        else [quantities]
        if isinstance(quantities, str)
        else list(quantities)
    )
    unknown = [q for q in chosen if q not in names]
    if unknown:
        raise ValueError(f"unknown quantities {unknown}; choose from {names}.")
    if axes is None:
        ncols = max(1, min(int(ncols), len(chosen)))
        nrows = -(-len(chosen) // ncols)
        _, axes = plt.subplots(
            nrows, ncols, figsize=(2.8 * ncols, 2.3 * nrows), squeeze=False, layout="constrained"
        )
        for ax in np.asarray(axes).ravel()[len(chosen) :]:
            ax.set_visible(False)
    axes = np.asarray(axes, dtype=object).ravel()
    if axes.size < len(chosen):
        raise ValueError(f"axes must hold at least {len(chosen)} Axes; got {axes.size}.")
    n_draws = int(result.n_draws)
    eval_points = np.arange(n_draws + 1)  # fixed, not from the ranks: the band is calibrated
    uniform = stats.randint(0, n_draws + 1)
    for ax, name in zip(axes, chosen, strict=False):
        ranks = np.asarray(result.ranks)[:, names.index(name)]
        az.plot_ecdf(
            ranks,
            eval_points=eval_points,
            cdf=uniform.cdf,
            difference=True,
            confidence_bands="optimized",
            ci_prob=float(ci_prob),
            ax=ax,
        )
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_title(name, fontsize="small")
        ax.tick_params(labelsize="x-small")
    for ax in axes[: len(chosen)]:
        ax.set_xlabel(f"rank of the truth (L={n_draws})", fontsize="x-small")
    axes[0].set_ylabel("ECDF - uniform CDF", fontsize="small")
    return axes[: len(chosen)]
