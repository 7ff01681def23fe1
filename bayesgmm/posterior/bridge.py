"""Posterior mass of the modes by bridge sampling (Meng & Wong 1996).

Every mode's normalising constant ``Z_m`` (the integral of the unnormalised posterior over
the mode's region) is estimated from its own draws and as many draws of a Gaussian fitted
to them, both on the model's unconstrained scale, where the compiled kernel evaluates the
log density (with its Jacobians) exactly as the sampler saw it. Each mode's K! relabelings
hold equal mass, so the modes' masses are ``Z_m / sum Z``. The draws of a mode are
relabeled first (their chains may sit in different labelings of the one solution), so that
one Gaussian covers them. The proposal is fitted to one half of the draws and the bridge
iterated on the other, both ways: fitted to the draws it is bridged with, it biased ``log
Z`` low by about ``d (d + 3) / (4 S)`` nats for a Gaussian in ``d`` dimensions from ``S``
draws (2.6 nats at d = 100, S = 1000), at 20-200 of its own standard errors, and so
against the mode with fewer draws (``tests/test_bridge.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import arviz as az
import numpy as np
from scipy.special import logsumexp

from bayesgmm.mixture.structures import bayesian_structure

if TYPE_CHECKING:
    from bayesgmm.bayes.model.graph import GMMModel

__all__ = [
    "BridgeEstimate",
    "bridge_log_evidence",
    "masses_from_log_evidence",
    "unconstrained_draws",
]

# Meng & Wong's fixed point: iterations, and the change of log Z that ends them.
_MAX_ITER = 1000
_TOL = 1e-10
# Batches of draws whose separate estimates give the standard error.
_BATCHES = 4
# Fewest draws in each half (two per batch); below it log Z is NaN (weigh by stacking).
_MIN_HALF = 2 * _BATCHES
# Ridge added to the proposal's covariance, relative to its diagonal.
_RIDGE = 1e-6


class BridgeEstimate(NamedTuple):
    """``log Z`` of one mode and its standard error (spread over batches of draws)."""

    log_evidence: float
    se: float


def unconstrained_draws(gmm: GMMModel, idata: az.InferenceData) -> np.ndarray:
    """(S, ndim) unconstrained internal-unit vectors of the posterior draws of ``idata``."""
    spec = gmm.spec
    post = idata.posterior
    names = [b.name for b in spec.blocks] + (["means"] if spec.ordered is not None else [])
    params = {}
    for name in dict.fromkeys(names):
        if name in post:
            da = post[name]
            values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=np.float64)
            params[name] = values.reshape(-1, *values.shape[2:])
    internal = spec.standardization.params_to_internal(
        {k: params[k] for k in ("means", "stds", "volume_sd", "log_shape") if k in params},
        spec.covariance_type,
    )
    params.update(internal)
    # EEV / VEV: one exact copy of each orientation (q and -q ...), or the Gaussian
    # proposal would straddle copies.
    layout = bayesian_structure(spec.covariance_type).bayesian
    return spec.pack(layout.aligned(params, spec.n_features))


def _log_density(theta: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    from bayesgmm.bayes.kernel.bindings import logp_and_grad

    return np.array([logp_and_grad(t, buffer)[0] for t in theta])


def _logsumexp(x: np.ndarray) -> float:
    """log sum exp of a 1-D array (scipy's costs 15x more per call: its checks, ~0.2 ms,
    run every iteration of the fixed point below)."""
    top = np.max(x)
    if not np.isfinite(top):
        return float(top)
    return float(top + np.log(np.sum(np.exp(x - top))))


def _meng_wong(l1: np.ndarray, l2: np.ndarray) -> float:
    """log r from ``l1 = log q - log g`` at the posterior draws and ``l2`` at the
    proposal's draws (iterative optimal bridge, on the log scale)."""
    n1, n2 = len(l1), len(l2)
    s1, s2 = n1 / (n1 + n2), n2 / (n1 + n2)
    log_r = float(np.median(l1))
    for _ in range(_MAX_ITER):
        num = _logsumexp(l2 - np.logaddexp(np.log(s1) + l2, np.log(s2) + log_r)) - np.log(n2)
        den = -np.logaddexp(np.log(s1) + l1, np.log(s2) + log_r)
        updated = num - (_logsumexp(den) - np.log(n1))
        if abs(updated - log_r) < _TOL:
            return float(updated)
        log_r = float(updated)
    return log_r


def _gaussian(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and Cholesky factor of the Gaussian fitted to ``theta`` (with a small ridge)."""
    mean = theta.mean(axis=0)
    cov = np.atleast_2d(np.cov(theta, rowvar=False))
    return mean, np.linalg.cholesky(cov + _RIDGE * np.diag(np.diag(cov)))


def _log_gaussian(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    z = np.linalg.solve(chol, (x - mean).T)
    half_logdet = np.log(np.diag(chol)).sum()
    return -0.5 * (z**2).sum(axis=0) - half_logdet - 0.5 * len(mean) * np.log(2 * np.pi)


def _one_way(
    fit: np.ndarray, theta: np.ndarray, log_q: np.ndarray, buffer: np.ndarray, seed: int
) -> tuple[float, float]:
    """log Z and its batch standard error, the proposal fitted to ``fit`` and the bridge
    iterated on the other draws ``theta`` (with as many proposal draws)."""
    mean, chol = _gaussian(fit)
    proposal = mean + np.random.default_rng(seed).standard_normal(theta.shape) @ chol.T
    l1 = log_q - _log_gaussian(theta, mean, chol)
    l2 = _log_density(proposal, buffer) - _log_gaussian(proposal, mean, chol)
    l2 = np.where(np.isfinite(l2), l2, -np.inf)
    batches = [
        _meng_wong(a, b)
        for a, b in zip(np.array_split(l1, _BATCHES), np.array_split(l2, _BATCHES), strict=True)
    ]
    return _meng_wong(l1, l2), float(np.std(batches, ddof=1) / np.sqrt(_BATCHES))


def bridge_log_evidence(
    theta: np.ndarray,
    log_q: np.ndarray,
    buffer: np.ndarray,
    random_seed: int = 0,
    first_half: np.ndarray | None = None,
) -> BridgeEstimate:
    """Bridge-sampling estimate of ``log Z`` of the density behind ``theta``, cross-fitted.

    The draws are split in two halves (the first half of every chain against the second).
    The Gaussian proposal is fitted to one half and the bridge iterated on the other, both
    ways (Overstall & Forster 2010; Gronau et al. 2017 fit on one half): a proposal fitted
    to the very draws it is bridged with sits closer to them than to the posterior, which
    in high dimension biases ``log Z`` low by an amount that depends on the number of
    draws (6-11 nats on the penguins' sparse K=10 fit, 150 dimensions). ``log Z`` is the
    mean of the two ways; its standard error adds the spread between batches of draws
    within each way to the disagreement between the two ways, which counts what the
    batches cannot: how much the estimate depends on the proposal and on which draws
    (chains, parts of a chain) it sees.

    Parameters
    ----------
    theta : ndarray of shape (S, ndim)
        Draws of one mode, relabeled, on the unconstrained scale.
    log_q : ndarray of shape (S,)
        The unnormalised log density at ``theta``.
    buffer : ndarray
        The compiled kernel's buffer (:meth:`GMMModel.kernel_buffer`).
    random_seed : int
        Seed of the Gaussian proposal's draws.
    first_half : ndarray of bool, shape (S,), optional
        The draws of the first half (default: the first ``S // 2`` rows).

    Returns
    -------
    BridgeEstimate
        NaN when a half holds fewer than ``2 * 4`` draws.
    """
    if first_half is None:
        first_half = np.arange(len(theta)) < len(theta) // 2
    a, b = first_half, ~first_half
    if min(a.sum(), b.sum()) < _MIN_HALF:  # too few draws to estimate anything
        return BridgeEstimate(float("nan"), float("nan"))
    ab, se_ab = _one_way(theta[a], theta[b], log_q[b], buffer, random_seed)
    ba, se_ba = _one_way(theta[b], theta[a], log_q[a], buffer, random_seed + 1)
    batch_var = (se_ab**2 + se_ba**2) / 4.0
    return BridgeEstimate(0.5 * (ab + ba), float(np.sqrt(batch_var + (ab - ba) ** 2 / 4.0)))


# Draws per mode behind its bridge estimate (every kernel evaluation costs one gradient).
_MAX_DRAWS = 2000
# Simulations of the log evidences behind the masses' standard errors.
_SE_DRAWS = 1000


def mode_masses(
    gmm: GMMModel | None, idata: az.InferenceData, groups: list[list[int]], random_seed: int = 0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Posterior mass of every group of chains (a mode) and its standard error.

    ``None`` where the compiled kernel does not evaluate the model (an ordering
    constraint, minibatches, or the kernel not built): the caller weighs by stacking.
    """
    from bayesgmm.bayes.inference.idata import thin_indices
    from bayesgmm.bayes.kernel import bindings
    from bayesgmm.posterior.relabeling import relabel_idata

    if gmm is None or not gmm.kernel_supported or not bindings.available():
        return None
    buffer = gmm.kernel_buffer(gmm.spec.kernel)
    estimates = []
    for m, chains in enumerate(groups):
        part = idata.isel(chain=list(chains))
        if gmm.spec.n_components > 1:
            part = relabel_idata(part, method="stephens")
        theta = unconstrained_draws(gmm, part)
        keep = thin_indices(len(theta), _MAX_DRAWS)
        n_draws = part.posterior.sizes["draw"]
        first_half = keep % n_draws < n_draws // 2  # the first half of every chain
        log_q = _log_density(theta[keep], buffer)
        estimates.append(
            bridge_log_evidence(theta[keep], log_q, buffer, 2 * (random_seed + m), first_half)
        )
    return masses_from_log_evidence(
        np.array([e.log_evidence for e in estimates]),
        np.array([e.se for e in estimates]),
        random_seed,
    )


def masses_from_log_evidence(
    log_z: np.ndarray, se: np.ndarray, random_seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Masses ``Z_m / sum Z`` and their standard errors, simulated from independent normal
    errors of the ``log Z`` with standard deviations ``se``."""
    log_z, se = np.asarray(log_z, dtype=np.float64), np.asarray(se, dtype=np.float64)
    mass = np.exp(log_z - logsumexp(log_z))
    rng = np.random.default_rng(random_seed)
    sims = log_z + se * rng.standard_normal((_SE_DRAWS, len(log_z)))
    sims = np.exp(sims - logsumexp(sims, axis=1, keepdims=True))
    return mass, sims.std(axis=0, ddof=1)
