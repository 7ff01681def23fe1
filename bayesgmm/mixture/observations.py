"""Per-observation information beside the data: weights and partial labels.

``sample_weight`` (scikit-learn's name) multiplies each row's log-likelihood term; an
integer weight is the same as repeating the row that many times, and a zero weight the
same as dropping it. ``labels`` holds a known component index ``0..K-1`` per row, or ``-1``
where the component is unknown (given by keyword, never as scikit-learn's ``y``, which a
clusterer ignores: see ``docs/weights_and_labels.md``); a labelled row
contributes ``log pi_k + log N(x | mu_k, Sigma_k)`` for its ``k`` instead of the mixture's
log-sum-exp.

The checks here are shared by EM, the Bayesian model and the facades, so that every entry
point refuses the same bad input with the same message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "Observations",
    "check_labels",
    "check_observations",
    "check_sample_weight",
    "weighted_moments",
]


class Observations(NamedTuple):
    """Checked weights and labels of the rows of a data set (``None`` when not given).

    Attributes
    ----------
    sample_weight : ndarray of shape (N,) or None
        Non-negative finite weights with a positive sum.
    labels : ndarray of shape (N,) of int64, or None
        ``0..K-1`` for a known component, ``-1`` for unknown.
    """

    sample_weight: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def is_plain(self) -> bool:
        """Neither weights nor labels: every path runs exactly as without them."""
        return self.sample_weight is None and self.labels is None

    def take(self, rows: np.ndarray | slice) -> Observations:
        """The weights and labels of a subset of rows."""
        return Observations(
            None if self.sample_weight is None else self.sample_weight[rows],
            None if self.labels is None else self.labels[rows],
        )


def _vector(values: ArrayLike, n_samples: int, name: str, hint: str) -> np.ndarray:
    """``values`` as a fresh 1-D numeric array of length ``n_samples``, or a clear error."""
    try:
        array = np.array(values, copy=True)
    except Exception as exc:  # ragged sequences and the like
        raise ValueError(f"{name} could not be read as a 1-D array: {exc}. {hint}") from exc
    if array.dtype.kind in "USO":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} contains non-numeric values (dtype {array.dtype}). {hint}"
            ) from exc
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric; got dtype {array.dtype}. {hint}")
    if array.ndim != 1 or array.shape[0] != n_samples:
        raise ValueError(
            f"{name} must be a 1-D array with one entry per row of X ({n_samples}); "
            f"got shape {array.shape}. {hint}"
        )
    return array


def check_sample_weight(sample_weight: ArrayLike | None, n_samples: int) -> np.ndarray | None:
    """Validate observation weights; ``None`` stays ``None``.

    Returns
    -------
    ndarray of shape (N,) or None
        A float64 copy (never the user's array).

    Raises
    ------
    TypeError
        Non-numeric weights.
    ValueError
        Wrong length or shape, NaN or infinity, negative weights, or all weights zero.
    """
    if sample_weight is None:
        return None
    hint = "Pass one non-negative finite weight per row (or None for weight 1)."
    weights = _vector(sample_weight, n_samples, "sample_weight", hint).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(weights))
    if bad.size:
        raise ValueError(
            f"sample_weight has NaN or infinite value(s) in rows {bad[:10].tolist()}. {hint}"
        )
    negative = np.flatnonzero(weights < 0)
    if negative.size:
        raise ValueError(
            f"sample_weight has negative value(s) in rows {negative[:10].tolist()} "
            f"(the smallest {weights.min():g}). A weight multiplies a row's log-likelihood "
            "term and must be >= 0; give a row weight 0 to leave it out."
        )
    if not weights.sum() > 0:
        raise ValueError(
            "sample_weight is zero for every row: there is nothing to fit. Give at least "
            "one row a positive weight."
        )
    return weights


def check_labels(labels: ArrayLike | None, n_samples: int, n_components: int) -> np.ndarray | None:
    """Validate partial labels: a component index ``0..K-1`` per row, or ``-1``.

    Returns
    -------
    ndarray of shape (N,) of int64, or None
        ``None`` when ``labels`` is ``None`` (no row labelled). Labels that are all ``-1`` are
        returned as given: they fit as the unlabelled model does.

    Raises
    ------
    TypeError
        Non-numeric labels.
    ValueError
        Wrong length, non-integer values, or values outside ``-1, 0..K-1``.
    """
    if labels is None:
        return None
    hint = f"Give each row its component index 0..{n_components - 1}, or -1 where unknown."
    array = _vector(labels, n_samples, "labels", hint)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            bad = np.flatnonzero(~np.isfinite(array) | (array != np.round(array)))
            raise ValueError(
                f"labels must hold integer component indices; rows {bad[:10].tolist()} do not "
                f"(e.g. {array[bad[0]]!r}). {hint}"
            )
    checked = array.astype(np.int64)
    outside = np.flatnonzero((checked < -1) | (checked >= n_components))
    if outside.size:
        raise ValueError(
            f"labels has value(s) {np.unique(checked[outside])[:10].tolist()} outside -1 and "
            f"0..{n_components - 1} (n_components={n_components}), in rows "
            f"{outside[:10].tolist()}. {hint}"
        )
    return checked


def check_observations(
    sample_weight: ArrayLike | None,
    labels: ArrayLike | None,
    n_samples: int,
    n_components: int,
) -> Observations:
    """Both checks at once (see :func:`check_sample_weight` and :func:`check_labels`), and
    enough positively weighted rows for ``n_components`` components."""
    weights = check_sample_weight(sample_weight, n_samples)
    if weights is not None:
        n_positive = int(np.count_nonzero(weights > 0))
        if n_positive < n_components:
            raise ValueError(
                f"sample_weight gives {n_positive} row(s) a positive weight, but "
                f"n_components={n_components} needs at least {n_components}: a row of weight "
                "0 is left out of the fit. Give more rows a positive weight or reduce "
                "n_components."
            )
    return Observations(weights, check_labels(labels, n_samples, n_components))


def weighted_moments(
    X: np.ndarray, sample_weight: np.ndarray, ddof: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and covariance (D, D) of ``X`` with frequency weights.

    The divisor is ``sum(w) - ddof``, so that integer weights give exactly the moments of
    the data with each row repeated ``w_n`` times (numpy's ``fweights`` convention, for
    real weights too).
    """
    total = float(sample_weight.sum())
    mean = (sample_weight @ X) / total
    centred = X - mean
    denominator = max(total - ddof, np.finfo(np.float64).tiny)
    cov = (centred * sample_weight[:, None]).T @ centred / denominator
    return mean, np.atleast_2d(cov)
