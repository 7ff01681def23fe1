"""Per-feature moments that stay accurate far from the origin, and the warning when float64
can no longer resolve a feature's variation.

Both engines read them: EM for its starts and its quantisation warning, the Bayesian model
for its internal units (:mod:`bayesgmm.bayes.model.units`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from bayesgmm._utils.validation import describe_features
from bayesgmm.exceptions import DataPrecisionWarning
from bayesgmm.mixture.missing import nan_moments
from bayesgmm.mixture.observations import weighted_moments

__all__ = [
    "anchored_mean",
    "anchored_std",
    "check_feature_scales",
    "feature_moments",
    "warn_if_quantised",
]

# Below this many float64 steps per standard deviation, rounding to the float grid is a
# visible share of the spread (its variance, h^2/12, exceeds ~1e-5 of the data's).
MIN_STEPS_PER_SD = 100.0
#: Rows (evenly spaced) whose sd :func:`warn_if_quantised` compares with the float grid.
QUANTISATION_ROWS = 20_000


#: The widest spread (largest ``|x - median|``) of a feature a fit accepts: its square,
#: 1e300, summed over up to 1e8 rows, stays below float64's 1.8e308.
LARGEST_SPREAD = 1e150
#: The smallest non-zero sd of a feature a fit accepts: its square, 1e-300, stays above
#: float64's smallest normal number (2.2e-308), with room for the variances of components.
SMALLEST_SD = 1e-150

#: Rows whose median anchors :func:`feature_moments`.
ANCHOR_ROWS = 2000


def feature_moments(
    X: np.ndarray, ddof: int = 1, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and sd, accurate far from the origin.

    ``X.mean()`` sums values near 1e15 to ~1e17, where float64 steps are 32 apart, and
    ``X.std()`` inherits that error squared (Faithful + 1e15: an sd of 2.7 for 1.1).
    Differences from a data point are exact there (Sterbenz), so the moments are taken
    of those and shifted back. The anchor is the median of at most ``ANCHOR_ROWS`` evenly
    spaced rows: any point inside the data does, and a median over all N rows cost 2 s at
    N = 1e6 (a sort per feature), more than a whole EM start.

    With ``sample_weight`` the moments are those of frequency weights (divisor
    ``sum(w) - ddof``): integer weights give the moments of the rows repeated.
    """
    X = np.asarray(X, dtype=np.float64)
    if np.isnan(X).any():
        return _nan_feature_moments(X, ddof, sample_weight)
    step = max(1, X.shape[0] // ANCHOR_ROWS)
    anchor = np.median(X[::step], axis=0)
    # Divided by their largest size where that is extreme, the deviations' squares neither
    # overflow (1e160) nor underflow (1e-170): right wherever float64 holds the sd.
    unit = _unit(X - anchor)
    deviations = (X - anchor) / unit
    if sample_weight is not None:  # the one weighted form, on the exact deviations
        mean, cov = weighted_moments(deviations, sample_weight, ddof)
        if float(np.sum(sample_weight)) <= ddof:
            return anchor + mean * unit, np.zeros(X.shape[1])
        return anchor + mean * unit, np.sqrt(np.diag(cov)) * unit
    sd = deviations.std(axis=0, ddof=ddof) if X.shape[0] > ddof else np.zeros(X.shape[1])
    return anchor + deviations.mean(axis=0) * unit, sd * unit


def anchored_mean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """The mean along ``axis``, accurate far from the origin.

    Posterior draws of a mean near 1e15 summed directly reach 1e18, where float64 steps
    are 128 apart: the mean came out wrong by more than a posterior sd. Their differences
    from one draw (the anchor) are exact (Sterbenz), so the mean is taken of those and
    moved back once.
    """
    values = np.asarray(values, dtype=np.float64)
    anchor = np.take(values, [0], axis=axis) if values.shape[axis] else 0.0
    return np.squeeze(anchor, axis=axis) + np.mean(values - anchor, axis=axis)


def anchored_std(values: np.ndarray, axis: int = 0, ddof: int = 0) -> np.ndarray:
    """The sd along ``axis`` of the exact differences from one value (see
    :func:`anchored_mean`): ``np.std`` squares the error of its rounded mean."""
    values = np.asarray(values, dtype=np.float64)
    return np.std(values - np.take(values, [0], axis=axis), axis=axis, ddof=ddof)


def _largest(deviations: np.ndarray) -> np.ndarray:
    """The largest ``|deviation|`` of every column, NaN ignored."""
    return np.max(np.abs(deviations), axis=0, initial=0.0, where=~np.isnan(deviations))


def _unit(deviations: np.ndarray) -> np.ndarray:
    """What to divide a column's deviations by so that their squares stay in range: their
    largest size where that is beyond 1e100 or below 1e-100, else 1 (the moments of
    ordinary data then stay bit for bit what they were: seeded fits do not move)."""
    largest = _largest(deviations)
    extreme = (largest > 1e100) | ((largest > 0) & (largest < 1e-100))
    return np.where(extreme, largest, 1.0)


def _nan_feature_moments(
    X: np.ndarray, ddof: int, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`feature_moments` of the observed (non-NaN) values of every column, weighted
    by ``sample_weight`` when given (:func:`bayesgmm.mixture.missing.nan_moments`)."""
    step = max(1, X.shape[0] // ANCHOR_ROWS)
    anchor = np.nanmedian(X[::step], axis=0)
    anchor = np.where(np.isnan(anchor), np.nanmedian(X, axis=0), anchor)
    unit = _unit(X - anchor)
    deviations = (X - anchor) / unit
    observed = ~np.isnan(X)
    counts = observed.sum(axis=0) if sample_weight is None else sample_weight @ observed
    mean, sd = nan_moments(deviations, sample_weight, ddof)
    sd = np.where(counts > ddof, sd, 0.0)
    return anchor + mean * unit, sd * unit


def check_feature_scales(
    X: np.ndarray, feature_names: Sequence[str] | None = None, name: str = "X"
) -> None:
    """Refuse data whose spread float64 cannot square: a fit needs variances.

    A feature whose values lie more than :data:`LARGEST_SPREAD` from its median has
    variances (and sums of squares over N rows) beyond float64's 1.8e308; one whose sd is
    below :data:`SMALLEST_SD` has variances at or below float64's smallest normal number,
    where they lose digits and then vanish. Either way the fit would fail deep inside, or
    silently go wrong: say which feature and how to rescale it. A constant feature (sd 0)
    is left to the fits' own checks.
    """
    X = np.asarray(X, dtype=np.float64)
    names = list(feature_names) if feature_names is not None else None
    step = max(1, X.shape[0] // ANCHOR_ROWS)
    with np.errstate(over="ignore", invalid="ignore"):  # infinite: refused below
        anchor = np.nanmedian(X[::step], axis=0) if np.isnan(X).any() else np.median(X[::step], 0)
        spread = _largest(X - anchor)
    wide = np.flatnonzero(~(spread <= LARGEST_SPREAD))
    if wide.size:
        raise ValueError(
            f"{name} has values up to {_size(float(spread[wide].max()))} away from the median "
            f"of feature(s) {describe_features(wide, names)}: float64 cannot hold the squares a "
            f"Gaussian fit needs beyond a spread of {LARGEST_SPREAD:g}. Rescale {name} "
            f"first (for example divide those features by 1e{_exponent(spread[wide].max())}"
            "), or drop the extreme rows if they are errors."
        )
    _, sd = feature_moments(X)
    narrow = np.flatnonzero((sd > 0) & (sd < SMALLEST_SD))
    if narrow.size:
        raise ValueError(
            f"{name} varies by an sd of only {float(sd[narrow].min()):.3g} in feature(s) "
            f"{describe_features(narrow, names)}: float64 loses the squares a Gaussian fit needs "
            f"below an sd of {SMALLEST_SD:g}. Rescale {name} first (for example multiply "
            f"those features by 1e{-_exponent(sd[narrow].min())})."
        )


def _size(value: float) -> str:
    return f"{value:.3g}" if np.isfinite(value) else "more than 1.8e308"


def _exponent(value: float) -> int:
    """The power of ten of ``value`` (308 for infinity)."""
    return int(np.floor(np.log10(value))) if np.isfinite(value) else 308


def warn_if_quantised(X: np.ndarray, feature_names: Sequence[str], stacklevel: int = 3) -> None:
    """Warn when float64 can no longer resolve a feature's variation.

    Far from the origin float64 has few steps left for the spread: Old Faithful's
    eruptions + 1e15 sit on a grid of 0.125 against an sd of 1.1. Centring cannot bring
    back what the conversion to float lost, so say which feature and what to do.

    ``stacklevel`` points the warning at the user's call (3: the caller's caller).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] < 2:
        return
    # A warning's threshold, not an estimate to report: the sd and the largest |x| of
    # evenly spaced rows do (at N = 1e6 the full sd cost 0.14 s, and the column minima and
    # maxima 0.09 s, more than the rest of the initialisation outside its E-step).
    rows = X[:: max(1, X.shape[0] // QUANTISATION_ROWS)]
    _, sd = feature_moments(rows)
    largest = np.max(np.abs(rows), axis=0, initial=0.0, where=~np.isnan(rows))
    step = np.spacing(largest)
    lost = np.flatnonzero((sd > 0) & (step * MIN_STEPS_PER_SD > sd))
    if lost.size == 0:
        return
    details = ", ".join(
        f"{feature_names[i]!r} (values near {largest[i]:.3g} lie on a float64 "
        f"grid of {step[i]:.3g}, {step[i] / sd[i]:.2g} of its sd {sd[i]:.3g})"
        for i in lost
    )
    warnings.warn(
        f"feature(s) {details}: float64 has lost part of their variation, so every fit "
        "sees rounded data. Subtract the offset before the data become floats (for example "
        "in integer or decimal arithmetic, or at the source), then fit the centred data.",
        DataPrecisionWarning,
        stacklevel=stacklevel,
    )
