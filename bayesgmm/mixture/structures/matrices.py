"""Structures stored as matrices: ``full`` (mclust's VVV) and ``tied`` (EEE)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesgmm.exceptions import CollapseError
from bayesgmm.mixture.structures.base import (
    BayesianLayout,
    CovarianceStructure,
    collapse_message,
)

__all__ = ["Full", "MatrixStructure", "Tied", "inverse_lower_triangular", "mahalanobis_direct"]

LOG_2PI = float(np.log(2.0 * np.pi))


def inverse_lower_triangular(chol: np.ndarray) -> np.ndarray:
    """Inverse of a stack (K, D, D) of lower-triangular matrices by forward substitution.

    Row ``i`` of ``inv(L)`` is ``(e_i - L[i, :i] @ inv(L)[:i]) / L[i, i]``: the same
    arithmetic as LAPACK's triangular solve, without pivoting, and exactly lower-triangular.
    """
    n_features = chol.shape[-1]
    inverse = np.zeros_like(chol)
    for i in range(n_features):
        row = -np.matmul(chol[:, i : i + 1, :i], inverse[:, :i, :])[:, 0, :]
        row[:, i] += 1.0
        inverse[:, i, :] = row / chol[:, i, i : i + 1]
    return inverse


def stacked_precisions_cholesky(stack: np.ndarray, reg_covar: float, shared: bool) -> np.ndarray:
    """Upper-triangular ``U_k`` with ``inv(Sigma_k) = U_k U_k^T`` for a stack (K, D, D)."""
    if not np.all(np.isfinite(stack)):
        raise CollapseError(collapse_message(None, reg_covar))
    # numpy's LAPACK, not scipy's: with pip wheels numpy and scipy each bundle their own
    # OpenBLAS, and alternating between the two thread pools (numpy's GEMM in the E-step,
    # scipy here) made these K tiny factorisations cost tens of milliseconds per
    # iteration on a 2-core machine while the other pool's threads spun.
    try:
        chol = np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        for k, cov in enumerate(stack):  # name the first component that failed
            try:
                np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                raise CollapseError(collapse_message(None if shared else k, reg_covar)) from None
        raise CollapseError(collapse_message(None, reg_covar)) from None
    diagonal = np.diagonal(chol, axis1=1, axis2=2)
    if not np.all(diagonal > 0):
        k = int(np.argwhere(~(diagonal > 0))[0][0])
        raise CollapseError(collapse_message(None if shared else k, reg_covar))
    return np.swapaxes(inverse_lower_triangular(chol), 1, 2)


def mahalanobis_direct(XT: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
    """``||(x_n - mu_k) U_k||^2`` (K, N) as ``[U_1 ... U_K]^T @ X^T`` minus the projected
    means: exact to a few ulps of each projected coordinate, at 2 K D^2 flops per row plus
    three passes over a (K, D, N) temporary."""
    n_components, n_features = means.shape
    stacked = np.ascontiguousarray(prec_chol.transpose(0, 2, 1)).reshape(
        n_components * n_features, n_features
    )
    projected = (stacked @ XT).reshape(n_components, n_features, XT.shape[1])
    projected -= np.einsum("kd,kde->ke", means, prec_chol)[:, :, None]
    np.square(projected, out=projected)
    return projected.sum(axis=1)


def log_normal_means(means: np.ndarray, loc: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``log N(mu_k | loc, cov_k)`` per component, cov (K, D, D) or one shared (D, D)."""
    chol = np.linalg.cholesky(np.broadcast_to(cov, (means.shape[0], *cov.shape[-2:])))
    solved = np.linalg.solve(chol, (means - loc)[..., None])[..., 0]  # L^-1 (mu - loc)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * (means.shape[1] * LOG_2PI + log_det + np.sum(solved**2, axis=-1))


def symmetric(cov: np.ndarray) -> np.ndarray:
    """Symmetric to the last bit."""
    return 0.5 * (cov + np.swapaxes(cov, -1, -2))


class MatrixStructure(CovarianceStructure):
    """Shared maths of structures whose covariances are general matrices, one per
    component (``full`` and the mclust structures stored as (K, D, D)) or one shared."""

    def _prior_terms(
        self, stats: Any, nk: np.ndarray, x_bar: np.ndarray, prior: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """The MAP-EM M-step's two data terms: the shrunk outer products of the means'
        offsets from the prior mean (K, D, D), and the within-component scatter."""
        offset = x_bar - prior.mean
        shrink = prior.shrinkage * nk / (prior.shrinkage + nk)
        between = shrink[:, None, None] * np.einsum("kd,ke->kde", offset, offset)
        return between, self.scatter(stats, x_bar, nk)

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)

    def covariances_from_precisions_cholesky(self, prec_chol: np.ndarray) -> np.ndarray:
        return np.linalg.inv(self.precisions(np.asarray(prec_chol, dtype=np.float64)))

    def rescale(self, covariances: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return covariances * np.outer(scale, scale)

    def expected_second_moment(
        self,
        resp: np.ndarray,
        completed: np.ndarray,
        missing: np.ndarray,
        conditional_covariances: np.ndarray,
    ) -> np.ndarray:
        second = np.einsum("kn,knd,kne->kde", resp, completed, completed)
        resp_sum = resp.sum(axis=1)
        second[:, missing[:, None], missing[None, :]] += (
            resp_sum[:, None, None] * conditional_covariances
        )
        return second

    def prior_scale(self, data_cov: np.ndarray, factor: float) -> np.ndarray:
        return data_cov / factor

    def prior_scale_shape(self, n_features: int) -> tuple[int, ...]:
        return (n_features, n_features)

    def min_prior_dof(self, n_features: int) -> int:
        return n_features - 1

    def check_prior_scale(self, scale: np.ndarray) -> None:
        if np.any(np.linalg.eigvalsh(scale) <= 0):
            raise ValueError("prior.scale must be positive definite.")

    def log_prior(self, covariances: np.ndarray, means: np.ndarray, prior: Any) -> list[float]:
        from scipy import stats as scipy_stats  # MAP-EM only: keep the import light

        # One scipy call for every component (the last axis holds them): MAP-EM evaluates
        # this objective every iteration, and K frozen scipy distributions per call cost
        # 1 ms at K=4, 0.9 s of a NUTS fit's 1.6 s MAP-EM start at N=10,000.
        cov = covariances
        stack = np.moveaxis(cov, 0, -1) if cov.ndim == 3 else cov
        return [
            float(np.sum(scipy_stats.invwishart.logpdf(stack, df=prior.dof, scale=prior.scale))),
            float(np.sum(log_normal_means(means, prior.mean, cov / prior.shrinkage))),
        ]

    def _smallest_eigenvalues(
        self, stack: np.ndarray, reg_covar: float, data_covariance: np.ndarray
    ) -> np.ndarray:
        stack = stack - reg_covar * np.eye(stack.shape[-1])
        # Whiten by the data covariance (its Cholesky), then look at the smallest eigenvalue.
        chol = np.linalg.cholesky(data_covariance)
        inv = np.linalg.inv(chol)
        whitened = inv @ stack @ inv.T
        return np.linalg.eigvalsh(whitened)[:, 0]


class Full(MatrixStructure):
    """One unrestricted covariance matrix per component (mclust's VVV)."""

    name = "full"
    aliases = ("VVV",)
    mclust_name = "VVV"
    one_d_alias = "V"
    description = "one covariance matrix per component"
    dims = ("component", "feature", "feature_bis")
    pair_features = True
    kernel_code = 0
    bayesian = BayesianLayout(("component", "feature"), ("component",))

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components, n_features, n_features)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * (n_features * (n_features + 1) // 2)

    def as_full(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        return np.asarray(covariances, dtype=np.float64).copy()

    def precisions_cholesky(self, covariances: np.ndarray, reg_covar: float) -> np.ndarray:
        return stacked_precisions_cholesky(covariances, reg_covar, shared=False)

    def precision_factors(
        self, prec_chol: np.ndarray, n_components: int, n_features: int
    ) -> np.ndarray:
        return np.asarray(prec_chol, dtype=np.float64)

    def log_det_precisions_cholesky(self, prec_chol: np.ndarray, n_features: int) -> Any:
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        return mahalanobis_direct(X.T, means, prec_chol)

    def zero_second_moment(self, n_components: int, n_features: int) -> np.ndarray:
        return np.zeros((n_components, n_features, n_features))

    def block_second_moment(
        self, block: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        return np.einsum("kn,nd,ne->kde", resp, block, block)

    def second_moment(
        self, X: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        return np.einsum("nk,nd,ne->kde", resp, X, X)

    def scatter(self, stats: Any, x_bar: np.ndarray, nk: np.ndarray) -> np.ndarray:
        """Within-component scatter ``W_k = sum_n g_nk (x_n - xbar_k)(x_n - xbar_k)^T``."""
        return stats.second_moment - np.einsum("kd,ke->kde", x_bar, x_bar) * nk[:, None, None]

    def ml_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        means: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        cov = stats.second_moment / nk[:, None, None] - np.einsum("kd,ke->kde", means, means)
        cov += reg_covar * np.eye(means.shape[1])
        return symmetric(cov)

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
        between, scatter = self._prior_terms(stats, nk, x_bar, prior)
        cov = (prior.scale + between + scatter) / (prior.dof + nk + n_features + 2)[:, None, None]
        return symmetric(cov + reg_covar * np.eye(n_features))

    def min_component_count(self, n_features: int) -> int:
        return n_features + 1

    def smallest_variance_ratio(
        self, covariances: np.ndarray, reg_covar: float, data_covariance: np.ndarray
    ) -> np.ndarray:
        return self._smallest_eigenvalues(covariances, reg_covar, data_covariance)


class Tied(MatrixStructure):
    """One covariance matrix shared by every component (mclust's EEE)."""

    name = "tied"
    aliases = ("EEE",)
    mclust_name = "EEE"
    one_d_alias = "E"
    description = "one covariance matrix shared by all components"
    dims = ("feature", "feature_bis")
    shared = True
    kernel_code = 1
    bayesian = BayesianLayout(("feature",), ())

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_features, n_features)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return n_features * (n_features + 1) // 2

    def as_full(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        covariances = np.asarray(covariances, dtype=np.float64)
        return np.broadcast_to(covariances, (n_components, n_features, n_features)).copy()

    def precisions_cholesky(self, covariances: np.ndarray, reg_covar: float) -> np.ndarray:
        return stacked_precisions_cholesky(covariances[None], reg_covar, shared=True)[0]

    def precision_factors(
        self, prec_chol: np.ndarray, n_components: int, n_features: int
    ) -> np.ndarray:
        prec_chol = np.asarray(prec_chol, dtype=np.float64)
        return np.broadcast_to(prec_chol, (n_components, n_features, n_features))

    def log_det_precisions_cholesky(self, prec_chol: np.ndarray, n_features: int) -> Any:
        return float(np.sum(np.log(np.diag(prec_chol))))

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        # Centre on each mean before squaring: the expanded form loses digits far from mu.
        projected = (prec_chol.T @ X.T)[None, :, :] - (means @ prec_chol)[:, :, None]
        np.square(projected, out=projected)
        return projected.sum(axis=1)

    def zero_second_moment(self, n_components: int, n_features: int) -> np.ndarray:
        return np.zeros((n_features, n_features))

    def block_second_moment(
        self, block: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        if sample_weight is None:
            return block.T @ block
        return (block * sample_weight[:, None]).T @ block

    def second_moment(
        self, X: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        return self.block_second_moment(X, resp, sample_weight)

    def expected_second_moment(
        self,
        resp: np.ndarray,
        completed: np.ndarray,
        missing: np.ndarray,
        conditional_covariances: np.ndarray,
    ) -> np.ndarray:
        per_component = super().expected_second_moment(
            resp, completed, missing, conditional_covariances
        )
        return per_component.sum(axis=0)

    def scatter(self, stats: Any, x_bar: np.ndarray, nk: np.ndarray) -> np.ndarray:
        """Within-component scatter summed over the components."""
        outer = np.einsum("kd,ke->kde", x_bar, x_bar) * nk[:, None, None]
        return stats.second_moment - outer.sum(axis=0)

    def ml_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        means: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        cov = (stats.second_moment - (nk[:, None] * means).T @ means) / nk.sum()
        cov += reg_covar * np.eye(means.shape[1])
        return symmetric(cov)

    def map_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        x_bar: np.ndarray,
        prior: Any,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        n_components, n_features = x_bar.shape
        between, scatter = self._prior_terms(stats, nk, x_bar, prior)
        cov = (prior.scale + between.sum(0) + scatter) / (
            prior.dof + nk.sum() + n_components + n_features + 1
        )
        return symmetric(cov + reg_covar * np.eye(n_features))

    def smallest_variance_ratio(
        self, covariances: np.ndarray, reg_covar: float, data_covariance: np.ndarray
    ) -> np.ndarray:
        return self._smallest_eigenvalues(covariances[None], reg_covar, data_covariance)
