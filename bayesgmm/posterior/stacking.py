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
from typing import NamedTuple

import arviz as az
import numpy as np
from scipy import optimize
from scipy.special import logsumexp, softmax

__all__ = ["ChainStacking", "chain_loo", "stack_chains", "stacking_weights"]

#: Bayesian-bootstrap replicates behind the weights' standard errors.
BOOTSTRAP_REPLICATES = 200


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


def chain_loo(log_lik: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise PSIS-LOO log predictive density of every chain on its own.

    Parameters
    ----------
    log_lik : ndarray of shape (C, T, N)
        Pointwise log-likelihood of every chain, draw and point.

    Returns
    -------
    loo : ndarray of shape (C, N)
    pareto_k : ndarray of shape (C, N)
    """
    log_lik = np.asarray(log_lik, dtype=np.float64)
    n_chains, _, n_obs = log_lik.shape
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

    Parameters
    ----------
    loo : ndarray of shape (C, N)
        Pointwise LOO log predictive densities.
    point_weights : ndarray of shape (N,), optional
        ``b``: weights of the points (all 1 by default; a bootstrap draw otherwise).

    Returns
    -------
    ndarray of shape (C,)
    """
    loo = np.asarray(loo, dtype=np.float64)
    n_chains, n_obs = loo.shape
    if n_chains == 1:
        return np.ones(1)
    b = np.ones(n_obs) if point_weights is None else np.asarray(point_weights, dtype=np.float64)
    b = b / b.sum()
    dens = np.exp(loo - loo.max(axis=0))  # per point, relative to its best chain

    # The weights are a softmax of free logits (the last fixed at 0), so the simplex
    # constraint holds by construction; the objective is concave in the weights.
    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        w = softmax(np.append(z, 0.0))
        mix = w @ dens
        value = -float(b @ np.log(mix))
        grad_w = -(dens / mix) @ b
        grad_z = w * (grad_w - w @ grad_w)
        return value, grad_z[:-1]

    result = optimize.minimize(objective, np.zeros(n_chains - 1), jac=True, method="L-BFGS-B")
    return softmax(np.append(result.x, 0.0))


def stack_chains(
    log_lik: np.ndarray, random_seed: int = 0, replicates: int = BOOTSTRAP_REPLICATES
) -> ChainStacking:
    """Stack the chains of one posterior on their pointwise LOO predictive densities.

    Parameters
    ----------
    log_lik : ndarray of shape (C, T, N)
        Pointwise log-likelihood of every chain, draw and point.
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
    boot = np.array(
        [stacking_weights(loo, rng.dirichlet(np.ones(n_obs))) for _ in range(int(replicates))]
    ).reshape(int(replicates), loo.shape[0])
    return ChainStacking(weights, boot, loo, khat)
