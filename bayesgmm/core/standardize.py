"""The internal units of the Bayesian fits: data centred and scaled per feature.

NUTS, ADVI and MAP run on ``z = (x - center) / scale``. A sampler moves in steps of order
one on the unconstrained scale, so a mean near 1e15, or an sd of 1e-12, would otherwise be
explored in steps that are either below the float64 resolution of the data or vastly too
big for it. Every prior of the model is a location-scale family in these units, so the
change is exact:

- ``mu ~ Normal(loc, scale)`` becomes ``Normal((loc - c) / s, scale / s)``;
- every sd prior (lognormal, gamma, inverse-gamma, half-normal) is a scale family in
  sigma, so ``std_scale`` becomes ``std_scale / s`` with the same spread;
- correlations and weights do not change.

The spherical covariance shares one sd across features, so it uses one scale for all of
them. Results go back to data units through :meth:`Standardization.params_to_data`,
and a log density picks up the Jacobian ``-sum(log s)`` per point (:attr:`log_jacobian`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bayesgmm.core.missing import nan_moments
from bayesgmm.core.observations import weighted_moments
from bayesgmm.exceptions import DataPrecisionWarning

if TYPE_CHECKING:
    from bayesgmm.bayes.priors import GMMPriors

__all__ = [
    "Standardization",
    "feature_moments",
    "fit_standardization",
    "priors_to_internal",
    "warn_if_quantised",
]

# Below this many float64 steps per standard deviation, rounding to the float grid is a
# visible share of the spread (its variance, h^2/12, exceeds ~1e-5 of the data's).
MIN_STEPS_PER_SD = 100.0
#: Rows (evenly spaced) whose sd :func:`warn_if_quantised` compares with the float grid.
QUANTISATION_ROWS = 20_000


class Standardization(NamedTuple):
    """Per-feature centre and scale: ``z = (x - center) / scale``.

    Attributes
    ----------
    center, scale : ndarray of shape (D,)
    """

    center: np.ndarray
    scale: np.ndarray

    def to_internal(self, X: np.ndarray) -> np.ndarray:
        """Data units to internal units."""
        return (np.asarray(X, dtype=np.float64) - self.center) / self.scale

    def to_data(self, Z: np.ndarray) -> np.ndarray:
        """Internal units (any leading axes, features last) to data units."""
        return np.asarray(Z, dtype=np.float64) * self.scale + self.center

    @property
    def log_jacobian(self) -> float:
        """``log p_x(x) - log p_z(z)`` for one point: ``-sum(log scale)``."""
        return -float(np.sum(np.log(self.scale)))

    def to_dict(self) -> dict[str, list[float]]:
        return {"center": self.center.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, n_features: int) -> Standardization:
        """Inverse of :meth:`to_dict`; ``None`` (fits saved before 0.2) is the identity."""
        if not data:
            return cls(np.zeros(n_features), np.ones(n_features))
        return cls(
            np.asarray(data["center"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
        )

    # -- parameters between the units -----------------------------------------------------

    def params_to_data(
        self, params: Mapping[str, np.ndarray], covariance_type: str
    ) -> dict[str, np.ndarray]:
        """``means`` and ``stds`` (any leading draw axes) in data units; the weights and
        partial correlations are the same in both units and pass through."""
        out = dict(params)
        factor = self._std_factor(covariance_type)
        if "means" in out:
            out["means"] = self.to_data(out["means"])
        if "stds" in out:
            out["stds"] = np.asarray(out["stds"]) * factor
        return out

    def params_to_internal(
        self, params: Mapping[str, np.ndarray], covariance_type: str
    ) -> dict[str, np.ndarray]:
        """Inverse of :meth:`params_to_data`."""
        out = dict(params)
        factor = self._std_factor(covariance_type)
        if "means" in out:
            out["means"] = self.to_internal(out["means"])
        if "stds" in out:
            out["stds"] = np.asarray(out["stds"]) / factor
        return out

    def _std_factor(self, covariance_type: str) -> np.ndarray | float:
        # stds are (..., K, D) full/diag and (..., D) tied: per feature; (..., K) spherical:
        # one sd for every feature, and so one scale.
        return float(self.scale[0]) if covariance_type == "spherical" else self.scale


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
    by ``sample_weight`` when given (:func:`bayesgmm.core.missing.nan_moments`)."""
    step = max(1, X.shape[0] // ANCHOR_ROWS)
    anchor = np.nanmedian(X[::step], axis=0)
    anchor = np.where(np.isnan(anchor), np.nanmedian(X, axis=0), anchor)
    deviations = X - anchor
    observed = ~np.isnan(X)
    counts = observed.sum(axis=0) if sample_weight is None else sample_weight @ observed
    mean, sd = nan_moments(deviations, sample_weight, ddof)
    sd = np.where(counts > ddof, sd, 0.0)
    return anchor + mean, sd


def fit_standardization(
    X: np.ndarray, covariance_type: str, sample_weight: np.ndarray | None = None
) -> Standardization:
    """Centre on the feature means and scale by the feature sds (ddof=1).

    A constant feature (allowed only with a spherical covariance) keeps scale 1 in the
    per-feature case; the spherical scale is the root mean variance over features, one
    number, because the model's single sd must mean the same in every feature.
    """
    center, sd = feature_moments(X, sample_weight=sample_weight)
    if covariance_type == "spherical":
        common = float(np.sqrt(np.mean(sd**2)))
        scale = np.full(X.shape[1], common if common > 0 else 1.0)
    else:
        scale = np.where(sd > 0, sd, 1.0)
    return Standardization(center, scale)


def priors_to_internal(priors: GMMPriors, standard: Standardization) -> GMMPriors:
    """The same prior in internal units (exact; see the module docstring).

    Parameters
    ----------
    priors : GMMPriors
        Resolved (:meth:`GMMPriors.resolve`), in data units.
    """
    if not priors.is_resolved:
        raise ValueError("resolve the priors on the data before moving them to internal units.")
    return dataclasses.replace(
        priors,
        mean_loc=(np.asarray(priors.mean_loc) - standard.center) / standard.scale,
        mean_scale=np.asarray(priors.mean_scale) / standard.scale,
        std_scale=np.asarray(priors.std_scale) / standard.scale,
    )


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
