"""Axis-aligned structures stored as variances: ``diag`` (mclust's VVI) and
``spherical`` (VII)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesgmm.exceptions import CollapseError
from bayesgmm.mixture.structures.base import (
    BayesianLayout,
    CovarianceStructure,
    collapse_message,
)

__all__ = ["AxisAlignedStructure", "Diag", "Spherical"]

#: Absolute error allowed in a Mahalanobis distance of the expanded form (as
#: :attr:`bayesgmm.mixture.covariance.ComponentDensity.EXPANDED_MAX_ERROR`).
EXPANDED_MAX_ERROR = 1e-9


def _centred_where_unsafe(
    maha: np.ndarray, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
) -> np.ndarray:
    """The expanded distances ``maha`` (K, N), recomputed centred on each mean for the
    components whose expanded form could be off by more than ``EXPANDED_MAX_ERROR``: each
    of its D terms rounds at ``eps p (|x| + |mu|)^2`` (far rows, or data far from zero)."""
    np.maximum(maha, 0.0, out=maha)
    precisions = prec_chol**2
    radius = float(np.max(np.abs(X), initial=0.0))
    largest = precisions.max(axis=1) if precisions.ndim == 2 else precisions
    reach = radius + np.max(np.abs(means), axis=1)
    with np.errstate(over="ignore"):  # an infinite bound is unsafe, as it should be
        bound = 4.0 * X.shape[1] * np.finfo(np.float64).eps * largest * reach**2
    unsafe = np.flatnonzero(~(bound <= EXPANDED_MAX_ERROR))
    if unsafe.size:
        factors = prec_chol[unsafe] if prec_chol.ndim == 2 else prec_chol[unsafe, None]
        with np.errstate(over="ignore"):  # beyond 1e154 sds: -inf, see mixture.far
            centred = (X[None, :, :] - means[unsafe, None, :]) * factors[:, None, :]
            maha[unsafe] = np.einsum("knd,knd->kn", centred, centred)
    return maha


class AxisAlignedStructure(CovarianceStructure):
    """Shared maths of diagonal covariances stored as variances (K, D) or (K,)."""

    diagonal = True

    def precisions_cholesky(self, covariances: np.ndarray, reg_covar: float) -> np.ndarray:
        bad = ~(np.isfinite(covariances) & (covariances > 0))
        if np.any(bad):
            component = int(np.argwhere(bad)[0][0])
            raise CollapseError(collapse_message(component, reg_covar))
        return 1.0 / np.sqrt(covariances)

    def covariances_from_precisions_cholesky(self, prec_chol: np.ndarray) -> np.ndarray:
        return 1.0 / np.asarray(prec_chol, dtype=np.float64) ** 2

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        return prec_chol**2

    def zero_second_moment(self, n_components: int, n_features: int) -> np.ndarray:
        return np.zeros((n_components, n_features))

    def block_second_moment(
        self, block: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        return resp @ (block * block)

    def second_moment(
        self, X: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        return resp.T @ (X * X)

    def expected_second_moment(
        self,
        resp: np.ndarray,
        completed: np.ndarray,
        missing: np.ndarray,
        conditional_covariances: np.ndarray,
    ) -> np.ndarray:
        second = np.einsum("kn,knd->kd", resp, completed * completed)
        second[:, missing] += resp.sum(axis=1)[:, None] * conditional_covariances
        return second

    def _map_scatter(self, stats: Any, nk: np.ndarray, x_bar: np.ndarray) -> np.ndarray:
        scatter = stats.second_moment - nk[:, None] * x_bar**2
        np.maximum(scatter, 0.0, out=scatter)
        return scatter

    def check_prior_scale(self, scale: np.ndarray) -> None:
        if np.any(scale <= 0):
            raise ValueError("prior.scale must be positive.")

    def log_prior(self, covariances: np.ndarray, means: np.ndarray, prior: Any) -> list[float]:
        from scipy import stats as scipy_stats  # MAP-EM only: keep the import light

        variances = covariances if covariances.ndim == 2 else covariances[:, None]
        log_var = scipy_stats.invgamma.logpdf(variances, a=prior.dof / 2, scale=prior.scale / 2)
        sd = np.sqrt(np.broadcast_to(variances, means.shape) / prior.shrinkage)
        return [
            float(np.sum(log_var)),
            float(np.sum(scipy_stats.norm.logpdf(means, prior.mean, sd))),
        ]


class Diag(AxisAlignedStructure):
    """One variance per component and feature (mclust's VVI)."""

    name = "diag"
    aliases = ("VVI",)
    mclust_name = "VVI"
    description = "one variance per component and feature, no correlations"
    dims = ("component", "feature")
    kernel_code = 2
    bayesian = BayesianLayout(("component", "feature"), None)

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components, n_features)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features

    def as_full(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        covariances = np.asarray(covariances, dtype=np.float64)
        return np.einsum("kd,de->kde", covariances, np.eye(n_features))

    def variances(self, covariances: np.ndarray, n_components: int, n_features: int):
        return np.asarray(covariances, dtype=np.float64)

    def precision_factors(
        self, prec_chol: np.ndarray, n_components: int, n_features: int
    ) -> np.ndarray:
        return np.asarray(prec_chol, dtype=np.float64)[:, :, None] * np.eye(n_features)

    def log_det_precisions_cholesky(self, prec_chol: np.ndarray, n_features: int) -> Any:
        return np.sum(np.log(prec_chol), axis=1)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        XT = X.T
        precisions = prec_chol**2
        maha = precisions @ (XT * XT) - 2.0 * (means * precisions) @ XT
        maha += np.sum(means * means * precisions, axis=1)[:, None]
        return _centred_where_unsafe(maha, X, means, prec_chol)

    def rescale(self, covariances: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return covariances * scale**2

    def ml_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        means: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return stats.second_moment / nk[:, None] - means**2 + reg_covar

    def map_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        x_bar: np.ndarray,
        prior: Any,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        offset = x_bar - prior.mean
        shrink = prior.shrinkage * nk / (prior.shrinkage + nk)
        scatter = self._map_scatter(stats, nk, x_bar)
        cov = (prior.scale + shrink[:, None] * offset**2 + scatter) / (prior.dof + nk + 3)[:, None]
        return cov + reg_covar

    def prior_scale(self, data_cov: np.ndarray, factor: float) -> np.ndarray:
        return np.diag(data_cov) / factor

    def prior_scale_shape(self, n_features: int) -> tuple[int, ...]:
        return (n_features,)

    def smallest_variance_ratio(
        self, covariances: np.ndarray, reg_covar: float, data_covariance: np.ndarray
    ) -> np.ndarray:
        data_var = np.diag(data_covariance)
        return ((covariances - reg_covar) / data_var[None, :]).min(axis=1)


class Spherical(AxisAlignedStructure):
    """One variance per component, shared by all features (mclust's VII)."""

    name = "spherical"
    aliases = ("VII",)
    mclust_name = "VII"
    description = "one variance per component, shared by all features"
    dims = ("component",)
    kernel_code = 3
    bayesian = BayesianLayout(("component",), None)

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components,)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return n_components

    def as_full(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        covariances = np.asarray(covariances, dtype=np.float64)
        return covariances[:, None, None] * np.eye(n_features)[None]

    def variances(self, covariances: np.ndarray, n_components: int, n_features: int):
        covariances = np.asarray(covariances, dtype=np.float64)
        return np.broadcast_to(covariances[:, None], (n_components, n_features))

    def precision_factors(
        self, prec_chol: np.ndarray, n_components: int, n_features: int
    ) -> np.ndarray:
        return np.asarray(prec_chol, dtype=np.float64)[:, None, None] * np.eye(n_features)

    def log_det_precisions_cholesky(self, prec_chol: np.ndarray, n_features: int) -> Any:
        return n_features * np.log(prec_chol)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        precisions = prec_chol**2
        maha = np.einsum("nd,nd->n", X, X)[None, :] - 2.0 * means @ X.T
        maha += np.einsum("kd,kd->k", means, means)[:, None]
        maha *= precisions[:, None]
        return _centred_where_unsafe(maha, X, means, prec_chol)

    def rescale(self, covariances: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return covariances * scale[0] ** 2  # one common scale

    def ml_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        means: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        cov = stats.second_moment / nk[:, None] - means**2 + reg_covar
        return cov.mean(axis=1)

    def map_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        x_bar: np.ndarray,
        prior: Any,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        n_features = x_bar.shape[1]
        offset = x_bar - prior.mean
        shrink = prior.shrinkage * nk / (prior.shrinkage + nk)
        scatter = self._map_scatter(stats, nk, x_bar)
        cov = (prior.scale + shrink * np.sum(offset**2, axis=1) + scatter.sum(axis=1)) / (
            prior.dof + (nk + 1) * n_features + 2
        )
        return cov + reg_covar

    def prior_scale(self, data_cov: np.ndarray, factor: float) -> np.ndarray:
        return np.asarray(np.trace(data_cov) / data_cov.shape[0] / factor)

    def prior_scale_shape(self, n_features: int) -> tuple[int, ...]:
        return ()

    def smallest_variance_ratio(
        self, covariances: np.ndarray, reg_covar: float, data_covariance: np.ndarray
    ) -> np.ndarray:
        return (covariances - reg_covar) / np.diag(data_covariance).max()
