"""The complete-data likelihood of the mixture as PyTensor graphs, for ``pm.CustomDist``.

``log sum_k pi_k N(x | mu_k, Sigma_k)`` per row (with optional observation weights and
partial labels, :mod:`bayesgmm.bayes.model.observed`), the matching random draws, and the
CustomDist signature. :func:`bayesgmm.bayes.model.graph.model_from_spec` assembles them with the
priors; the data with missing values use :mod:`bayesgmm.bayes.model.missing` instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesgmm.bayes.model.observed import observed_log_density
from bayesgmm.mixture.structures import bayesian_structure

__all__ = ["mixture_logp_factory", "mixture_random_factory", "signature"]

LOG_2PI = float(np.log(2.0 * np.pi))


def _forward_substitution(corr_chol: Any, centred: Any, n_features: int) -> Any:
    """Solve ``L z = c`` for lower-triangular ``L`` (..., D, D) and ``c`` (..., D, N).

    Written as an unrolled loop over the (static, small) feature count with every step
    vectorised over components and rows: it compiles to a handful of element-wise ops in
    every backend, where a batched ``solve_triangular`` would loop over components.
    """
    solved = []
    for i in range(n_features):
        acc = centred[..., i, :]
        for j in range(i):
            acc = acc - corr_chol[..., i, j, None] * solved[j]
        solved.append(acc / corr_chol[..., i, i, None])
    return solved


def mixture_logp_factory(
    covariance_type: str,
    n_features: int,
    point_weight: Any = None,
    point_label: Any = None,
) -> Any:
    """Per-row log density ``log sum_k pi_k N(x | mu_k, Sigma_k)`` for one covariance type.

    Distribution parameters: weights (K,), means (K, D), standard deviations (K, D) for
    full and diag, (K,) for spherical, (D,) for tied; plus, for full and tied, the
    Cholesky factor of the correlation matrix ((K, D, D) or (D, D)).

    ``point_weight`` and ``point_label`` (N,): the rows' weights and labels, see
    :func:`bayesgmm.bayes.model.observed.observed_log_density`.
    """
    structure = bayesian_structure(covariance_type).bayesian.sd_layout
    std_core = len(structure.std_axes)

    def logp(value: Any, weights: Any, means: Any, stds: Any, *corr: Any) -> Any:
        # CustomDist prepends broadcast (length-1) batch dims to the parameters; the
        # parameters are shared by every row, so drop them.
        weights = weights.reshape(weights.shape[-1:], ndim=1)
        means = means.reshape(means.shape[-2:], ndim=2)
        stds = structure.std_matrix(stds.reshape(stds.shape[stds.ndim - std_core :], ndim=std_core))
        # Standardise per feature, then whiten the correlation: z = L_R^-1 diag(1/s)(x - mu).
        scaled = (value.T[None, :, :] - means[:, :, None]) / stds[:, :, None]  # (K, D, N)
        log_det = pt.sum(pt.log(stds), axis=-1)
        if structure.pooled:
            log_det = n_features * pt.log(stds[:, 0])
        if corr and n_features > 1:
            corr_chol = corr[0]
            core = 3 if structure.per_component_corr else 2
            corr_chol = structure.corr_stack(corr_chol.reshape(corr_chol.shape[-core:], ndim=core))
            solved = _forward_substitution(corr_chol, scaled, n_features)
            maha = sum(z**2 for z in solved)
            log_det = log_det + pt.sum(pt.log(pt.diagonal(corr_chol, axis1=-2, axis2=-1)), axis=-1)
        else:
            maha = pt.sum(scaled**2, axis=1)
        log_prob = -0.5 * maha - (log_det + 0.5 * n_features * LOG_2PI)[:, None]
        log_prob = log_prob + pt.log(weights)[:, None]  # (K, N)
        return observed_log_density(log_prob, point_weight, point_label)

    return logp


def mixture_random_factory(covariance_type: str, n_features: int) -> Any:
    structure = bayesian_structure(covariance_type).bayesian.sd_layout
    std_core = len(structure.std_axes)
    corr_core = 3 if structure.per_component_corr else 2

    def core(value: Any, ndim: int) -> np.ndarray:
        # Parameters arrive with broadcast (length-1) batch dims in front: drop them.
        value = np.asarray(value, dtype=np.float64)
        return value.reshape(value.shape[value.ndim - ndim :])

    def random(weights, means, stds, *corr, rng=None, size=None):
        rng = np.random.default_rng() if rng is None else rng
        size = () if size is None else tuple(np.atleast_1d(size))
        n = int(np.prod(size)) if size else 1
        weights, means, stds = core(weights, 1), core(means, 2), core(stds, std_core)
        n_components = len(weights)
        labels = rng.choice(n_components, size=n, p=weights / weights.sum())
        noise = rng.standard_normal((n, n_features))
        stds = np.broadcast_to(structure.std_matrix(stds), (n_components, n_features))
        if corr and n_features > 1:
            corr_chol = structure.corr_stack(core(corr[0], corr_core))
            corr_chol = np.broadcast_to(corr_chol, (n_components, n_features, n_features))
            noise = np.einsum("nde,ne->nd", corr_chol[labels], noise)
        draws = means[labels] + stds[labels] * noise
        return draws.reshape((*size, n_features))

    return random


def signature(covariance_type: str, n_params: int) -> str:
    """The gufunc signature of the mixture's parameters, for ``pm.CustomDist``."""
    structure = bayesian_structure(covariance_type).bayesian.sd_layout
    letters = {"component": "k", "feature": "d"}
    parts = ["(k)", "(k,d)", "(" + ",".join(letters[axis] for axis in structure.std_axes) + ")"]
    if n_params > 3:  # the correlation factors (none when D = 1)
        parts.append("(k,d,d)" if structure.per_component_corr else "(d,d)")
    return ",".join(parts) + "->(d)"
