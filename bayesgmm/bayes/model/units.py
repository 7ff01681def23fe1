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
them. The volume-shape structures (VEI, EVI, VEE, EVV) scale feature d by ``std_scale_d``
times one number (the geometric mean of the data sds over ``std_scale``): in those units
the prior's scale is the same in every feature, so that the shape's prior, a
ZeroSumNormal of the log shape, is centred at the spherical shape; in data units it is
centred at the shape of ``std_scale`` (the data sds by default). The volume's
``sqrt(lambda) = det(Sigma)^(1/(2D))`` moves with the geometric mean of the scales, the
log shape by the centred log scales. EEV and VEV (an orientation per component) scale
every feature by one number, the geometric mean of the data sds: a per-feature scale
would not keep a rotation a rotation; their shape's prior is centred at the spherical
shape in both units. Results go back to data units through
:meth:`Standardization.params_to_data`, and a log density picks up the Jacobian
``-sum(log s)`` per point (:attr:`log_jacobian`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bayesgmm.mixture.moments import feature_moments
from bayesgmm.mixture.structures import bayesian_structure

if TYPE_CHECKING:
    from bayesgmm.bayes.model.priors import GMMPriors

__all__ = [
    "Standardization",
    "fit_standardization",
    "priors_to_internal",
]


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
        return self._move_volume_shape(out, 1.0)

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
        return self._move_volume_shape(out, -1.0)

    def _move_volume_shape(self, out: dict[str, Any], sign: float) -> dict[str, Any]:
        # sqrt(lambda) = det(Sigma)^(1/(2D)) scales by the geometric mean of the scales;
        # the log shape (zero-sum) moves by the centred log scales (sign 1: to data units).
        log_scale = np.log(self.scale)
        if "volume_sd" in out:
            out["volume_sd"] = np.asarray(out["volume_sd"]) * np.exp(sign * np.mean(log_scale))
        if "log_shape" in out:
            out["log_shape"] = np.asarray(out["log_shape"]) + sign * (
                log_scale - np.mean(log_scale)
            )
        return out

    def _std_factor(self, covariance_type: str) -> np.ndarray | float:
        # stds are (..., K, D) full/diag and (..., D) tied: per feature; (..., K) spherical:
        # one sd for every feature, and so one scale.
        pooled = bayesian_structure(covariance_type).bayesian.pooled
        return float(self.scale[0]) if pooled else self.scale


def fit_standardization(
    X: np.ndarray,
    covariance_type: str,
    sample_weight: np.ndarray | None = None,
    std_scale: np.ndarray | None = None,
) -> Standardization:
    """Centre on the feature means and scale by the feature sds (ddof=1).

    A constant feature (allowed only with a spherical covariance) keeps scale 1 in the
    per-feature case; the spherical scale is the root mean variance over features, one
    number, because the model's single sd must mean the same in every feature. The
    volume-shape structures scale by ``std_scale`` (the resolved prior's, data units)
    times the geometric mean of ``sd / std_scale``, EEV and VEV by the geometric mean of
    the sds in every feature (the module docstring).
    """
    center, sd = feature_moments(X, sample_weight=sample_weight)
    layout = bayesian_structure(covariance_type).bayesian
    if layout.oriented:  # one number for every feature: rotations stay rotations
        positive = sd[sd > 0]
        common = float(np.exp(np.mean(np.log(positive)))) if positive.size else 1.0
        return Standardization(center, np.full(X.shape[1], common))
    if layout.has_volume and std_scale is not None:
        std_scale = np.asarray(std_scale, dtype=np.float64)
        spread = np.log(np.where(sd > 0, sd, std_scale) / std_scale)
        return Standardization(center, std_scale * np.exp(np.mean(spread)))
    if layout.pooled:
        # The root mean square of the sds; relative to the largest where their squares
        # would over- or underflow (sds beyond 1e150 or below 1e-150).
        largest = float(np.max(sd, initial=0.0))
        with np.errstate(over="ignore", under="ignore"):
            common = float(np.sqrt(np.mean(sd**2)))
        if largest > 0 and not 0 < common < np.inf:
            common = largest * float(np.sqrt(np.mean((sd / largest) ** 2)))
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
