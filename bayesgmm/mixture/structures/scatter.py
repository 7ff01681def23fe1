"""Structures stored as full (K, D, D) matrices whose M-step is a function of the
within-component scatter: the shape of mclust's structures (EII, EEI, VEI, ..., EVV) as
registry entries.

An entry subclasses :class:`ScatterStructure` and declares its name (and aliases), its
``n_covariance_parameters(K, D)`` and its
``m_step(nk, means, scatter, reg_covar, prior, previous)`` (a pure function returning
(K, D, D) covariances); storage, density, E-step statistics, precision factors and
collapse checks are those of full matrices. Without a ``bayesian`` layout it is fitted by
EM only and the Bayesian fits refuse it. mclust's ten (:mod:`.family`) are such entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from bayesgmm.mixture.structures.matrices import Full, symmetric

__all__ = ["ScatterStructure"]


class ScatterStructure(Full):
    """Full-matrix storage; the M-step and the parameter count come from two functions.

    Attributes
    ----------
    m_step : callable
        ``m_step(nk, means, scatter, reg_covar, prior, previous) -> (K, D, D)``: ``nk``
        (K,) the responsibility sums, ``means`` (K, D) the weighted means, ``scatter``
        (K, D, D) ``W_k = sum_n g_nk (x_n - mean_k)(x_n - mean_k)^T``, ``prior`` the
        conjugate prior (MAP-EM) or ``None``, ``previous`` the last iteration's
        covariances of this structure (K, D, D) or ``None``: an iterative M-step starts
        there, so that it never lowers the objective and EM stays monotone.
    n_covariance_parameters : callable
        ``(K, D) -> int``, for BIC / AIC / ICL.
    """

    aliases: ClassVar[tuple[str, ...]] = ()
    mclust_name: ClassVar[str | None] = None
    one_d_alias: ClassVar[str | None] = None
    kernel_code: ClassVar[int | None] = None
    bayesian = None
    m_step: ClassVar[Callable[..., np.ndarray]]
    n_covariance_parameters: ClassVar[Callable[[int, int], int]]

    def n_parameters(self, n_components: int, n_features: int) -> int:
        return int(self.n_covariance_parameters(n_components, n_features))

    def _covariances(self, stats: Any, nk, means, reg_covar, prior, previous):
        scatter = self.scatter(stats, means, nk)
        cov = self.m_step(nk, means, scatter, reg_covar, prior, previous)
        return symmetric(np.asarray(cov, dtype=np.float64))

    def ml_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        means: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return self._covariances(stats, nk, means, reg_covar, None, previous)

    def map_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        x_bar: np.ndarray,
        prior: Any,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return self._covariances(stats, nk, x_bar, reg_covar, prior, previous)

    def min_component_count(self, n_features: int) -> int:
        return 2
