"""Per-feature moments that stay accurate far from the origin, and the warning when float64
can no longer resolve a feature's variation.

Both engines read them: EM for its starts and its quantisation warning, the Bayesian model
for its internal units (:mod:`bayesgmm.bayes.model.units`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from bayesgmm.exceptions import DataPrecisionWarning
from bayesgmm.mixture.missing import nan_moments
from bayesgmm.mixture.observations import weighted_moments

__all__ = ["feature_moments", "warn_if_quantised"]

# Below this many float64 steps per standard deviation, rounding to the float grid is a
# visible share of the spread (its variance, h^2/12, exceeds ~1e-5 of the data's).
MIN_STEPS_PER_SD = 100.0
#: Rows (evenly spaced) whose sd :func:`warn_if_quantised` compares with the float grid.
QUANTISATION_ROWS = 20_000


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
    deviations = X - anchor
    if sample_weight is not None:  # the one weighted form, on the exact deviations
        mean, cov = weighted_moments(deviations, sample_weight, ddof)
        if float(np.sum(sample_weight)) <= ddof:
            return anchor + mean, np.zeros(X.shape[1])
        return anchor + mean, np.sqrt(np.diag(cov))
    sd = deviations.std(axis=0, ddof=ddof) if X.shape[0] > ddof else np.zeros(X.shape[1])
    return anchor + deviations.mean(axis=0), sd


def _nan_feature_moments(
    X: np.ndarray, ddof: int, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`feature_moments` of the observed (non-NaN) values of every column, weighted
    by ``sample_weight`` when given (:func:`bayesgmm.mixture.missing.nan_moments`)."""
    step = max(1, X.shape[0] // ANCHOR_ROWS)
    anchor = np.nanmedian(X[::step], axis=0)
    anchor = np.where(np.isnan(anchor), np.nanmedian(X, axis=0), anchor)
    deviations = X - anchor
    observed = ~np.isnan(X)
    counts = observed.sum(axis=0) if sample_weight is None else sample_weight @ observed
    mean, sd = nan_moments(deviations, sample_weight, ddof)
    sd = np.where(counts > ddof, sd, 0.0)
    return anchor + mean, sd


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
