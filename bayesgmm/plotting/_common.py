"""Shared plotting helpers: pyplot on demand, axes, colours, ellipses, data and features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm._utils.validation import check_data
from bayesgmm.posterior.mixture import check_fit_data

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from bayesgmm.posterior.mixture import Fit

INSTALL_HINT = 'plotting needs matplotlib: pip install "bayesgmm[plot]"'

#: Default membership probability below which a point is called ambiguous.
DEFAULT_THRESHOLD = 0.8


def _pyplot() -> Any:
    """``matplotlib.pyplot``, or an ImportError with the install hint."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    del matplotlib
    return plt


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.5)) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


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


def _data(X: ArrayLike, *fits: Fit | None) -> tuple[np.ndarray, list[str]]:
    """The data and its feature names; NaN allowed as the fits allowed it at fit time
    (and always when no fit is drawn: a scatter just leaves those points out)."""
    if any(fit is not None for fit in fits):
        checked = check_fit_data(X, *fits)
    else:
        checked = check_data(X, missing="marginalize")
    names = checked.feature_names or [f"x{d}" for d in range(checked.X.shape[1])]
    return checked.X, names


def _observed(data: np.ndarray, features: list[int]) -> np.ndarray:
    """Rows whose ``features`` are all observed (not NaN): the points a panel can show."""
    return ~np.isnan(data[:, features]).any(axis=1)


def _hidden_note(n_hidden: int) -> str:
    return f"{n_hidden} row(s) with a missing coordinate not shown" if n_hidden else ""


def _annotate(ax: Axes, notes: list[str]) -> None:
    """What the plot leaves out, in small text under the axes."""
    text = "; ".join(note for note in notes if note)
    if text:
        ax.annotate(
            text,
            xy=(0.0, -0.12),
            xycoords="axes fraction",
            va="top",
            fontsize="x-small",
            color="0.35",
        )


def _feature_indices(features: Sequence[int | str], names: list[str], n: int = 2) -> list[int]:
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


def _set_limits(ax: Axes, lower: np.ndarray, upper: np.ndarray, pad: float = 0.05) -> None:
    span = np.where(upper > lower, upper - lower, 1.0)
    ax.set_xlim(lower[0] - pad * span[0], upper[0] + pad * span[0])
    ax.set_ylim(lower[1] - pad * span[1], upper[1] + pad * span[1])
