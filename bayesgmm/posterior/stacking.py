"""Stacking of chains on leave-one-out predictive density (Yao, Vehtari & Gelman 2022).

Chains of a mixture's posterior that sit in different modes do not mix, so pooling their
draws weighs each mode by how many chains happened to land there. Stacking weighs the
chains instead by how well their combination predicts each point left out: every chain's
pointwise LOO predictive density comes from Pareto-smoothed importance sampling (PSIS)
within the chain, and the weights on the simplex maximise the summed log of the combined
density. The uncertainty of the weights comes from the Bayesian bootstrap over the points.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import arviz as az
import numpy as np
from scipy.special import logsumexp

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ChainStacking", "chain_loo", "stack_chains", "stacking_weights"]

#: Bayesian-bootstrap replicates behind the weights' standard errors.
BOOTSTRAP_REPLICATES = 200
# EM on the stacking weights: iterations and the change of every weight that ends them.
_MAX_ITER = 5000
_TOL = 1e-7


class ChainStacking(NamedTuple):
    """Stacking weights of chains and their Bayesian-bootstrap replicates.

    Attributes
    ----------
    weights : ndarray of shape (C,)
        Stacking weight of every chain (sums to 1).
    replicates : ndarray of shape (B, C)
        The weights refitted on ``B`` Bayesian-bootstrap reweightings of the points.
    loo : ndarray of shape (C, N)
        Every chain's pointwise LOO log predictive density.
    pareto_k : ndarray of shape (C, N)
        PSIS's Pareto shape per chain and point (above 0.7: that point's LOO estimate is
        unreliable within that chain).
    """

    weights: np.ndarray
    replicates: np.ndarray
    loo: np.ndarray
    pareto_k: np.ndarray


def chain_loo(log_lik: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise PSIS-LOO log predictive density of every chain (or group of chains) on
    its own.

    Parameters
    ----------
    log_lik : ndarray of shape (C, T, N), or a sequence of C arrays (T_c, N)
        Pointwise log-likelihood of every chain (group), draw and point.

    Returns
    -------
    loo : ndarray of shape (C, N)
    pareto_k : ndarray of shape (C, N)
    """
    log_lik = [np.asarray(part, dtype=np.float64) for part in log_lik]
    n_chains, n_obs = len(log_lik), log_lik[0].shape[1]
    loo = np.empty((n_chains, n_obs))
    khat = np.empty((n_chains, n_obs))
    for c in range(n_chains):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # large k-hat is reported, not warned per chain
            lw, k = az.psislw(-log_lik[c].T)  # (N, T): one row of log weights per point
        loo[c] = logsumexp(lw + log_lik[c].T, axis=1)
        khat[c] = k
    return loo, khat


def stacking_weights(loo: np.ndarray, point_weights: np.ndarray | None = None) -> np.ndarray:
    """Weights on the simplex maximising ``sum_i b_i log sum_c w_c exp(loo[c, i])``.

    The objective is the log-likelihood of mixture proportions with known component
    densities, so EM's fixed point (``w_c <- sum_i b_i w_c p_ci / sum_c' w_c' p_c'i``)
    climbs it monotonically to its maximum (it is concave); every row of
    ``point_weights`` is solved at once.

    Parameters
    ----------
    loo : ndarray of shape (C, N)
        Pointwise LOO log predictive densities.
    point_weights : ndarray of shape (N,) or (B, N), optional
        ``b``: weights of the points (all 1 by default; bootstrap draws otherwise).

    Returns
    -------
    ndarray of shape (C,), or (B, C) for two-dimensional ``point_weights``
    """
    loo = np.asarray(loo, dtype=np.float64)
    n_chains, n_obs = loo.shape
    b = np.ones(n_obs) if point_weights is None else np.asarray(point_weights, dtype=np.float64)
    single = b.ndim == 1
    b = np.atleast_2d(b)
    b = b / b.sum(axis=1, keepdims=True)
    dens = np.exp(loo - loo.max(axis=0))  # per point, relative to its best chain
    w = np.full((b.shape[0], n_chains), 1.0 / n_chains)
    for _ in range(_MAX_ITER):
        updated = w * ((b / (w @ dens)) @ dens.T)
        done = np.max(np.abs(updated - w)) < _TOL
        w = updated
        if done:
            break
    w /= w.sum(axis=1, keepdims=True)
    return w[0] if single else w


def stack_chains(
    log_lik: np.ndarray | Sequence[np.ndarray],
    random_seed: int = 0,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> ChainStacking:
    """Stack the chains (or groups of chains) of one posterior on their pointwise LOO
    predictive densities.

    Parameters
    ----------
    log_lik : ndarray of shape (C, T, N), or a sequence of C arrays (T_c, N)
        Pointwise log-likelihood of every chain (group), draw and point. Chains of one
        mode are interchangeable: stacking their pooled draws as one group is better
        conditioned than stacking them one by one.
    random_seed : int
        Seed of the Bayesian bootstrap.
    replicates : int
        Bootstrap replicates (the weights' standard errors).

    Returns
    -------
    ChainStacking
    """
    loo, khat = chain_loo(log_lik)
    weights = stacking_weights(loo)
    rng = np.random.default_rng(random_seed)
    n_obs = loo.shape[1]
    boot = stacking_weights(loo, rng.dirichlet(np.ones(n_obs), size=int(replicates)))
    return ChainStacking(weights, boot, loo, khat)
