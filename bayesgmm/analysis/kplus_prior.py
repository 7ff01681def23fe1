"""The prior-implied distribution of K+, the number of non-empty components (numpy only).

A finite mixture with ``pi ~ Dirichlet(alpha, ..., alpha)`` on K components and
allocations ``z_1..z_N ~ Cat(pi)`` implies a prior on how many components the N points
occupy, ``K+``; fipp (Greve, Grün, Malsiner-Walli & Frühwirth-Schnatter 2022) computes it
to put beside the posterior of K+. Here it is exact for a fixed alpha and integrated over
a Gamma hyperprior on alpha (the sparse finite mixture) by Gauss quadrature in log alpha.

Derivation (fixed alpha). Integrating pi out, the allocations follow a Pólya urn: given
the first n points occupy k components, point n + 1 joins a given occupied component j with
probability ``(n_j + alpha) / (n + K alpha)`` and a given empty one with probability
``alpha / (n + K alpha)``. So it opens a new component with probability
``(K - k) alpha / (n + K alpha)`` and stays within the k occupied ones with probability
``(n + k alpha) / (n + K alpha)``: both depend on (n, k) only, K+ after n points is a
Markov chain, and

    P_{n+1}(k) = P_n(k) (n + k alpha) / (n + K alpha)
                 + P_n(k - 1) (K - k + 1) alpha / (n + K alpha),     P_1(1) = 1.

That is an O(N K) programme in plain probabilities: every step is a convex combination,
so the vector stays a distribution and nothing overflows (tiny entries may underflow to
0, which is their value to double precision). It equals the closed form
``C(K, k) Gamma(K alpha) / Gamma(N + K alpha) N! sum over compositions n_1 + .. + n_k = N
of prod_j Gamma(n_j + alpha) / (Gamma(alpha) n_j!)`` (checked in the tests by brute force).

With ``alpha ~ Gamma(a, b)`` (shape a, rate b): ``P(K+ = k) = int P(k | alpha) p(alpha)
d alpha`` by Gauss-Legendre quadrature in ``log alpha`` (see :func:`_log_alpha_rule`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special, stats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["prior_n_clusters", "prior_n_clusters_fixed"]


def _check_counts(n_samples: int, n_components: int) -> tuple[int, int]:
    for name, value in (("n_samples", n_samples), ("n_components", n_components)):
        if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(n_samples), int(n_components)


def _check_positive(value: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be finite and > 0; got {value!r}.")
    return array


def prior_n_clusters_fixed(n_samples: int, n_components: int, alpha: ArrayLike) -> np.ndarray:
    """``P(K+ = k | N, K, alpha)`` for k = 1..K under ``pi ~ Dirichlet(alpha 1_K)``.

    Parameters
    ----------
    n_samples : int
        N, the number of allocated points.
    n_components : int
        K.
    alpha : float or array of shape (M,)
        Dirichlet concentration(s); an array gives one distribution per value.

    Returns
    -------
    ndarray of shape (K,) or (M, K)
        Entry ``k - 1`` is the probability that exactly k components are non-empty.
    """
    n, k_max = _check_counts(n_samples, n_components)
    alphas = _check_positive(alpha, "alpha")
    flat = np.atleast_1d(alphas)[:, None]
    occupied = np.arange(1, k_max + 1, dtype=np.float64)[None, :]
    prob = np.zeros((flat.shape[0], k_max))
    prob[:, 0] = 1.0  # one point occupies one component
    stay_num, new_num = occupied * flat, (k_max - occupied + 1.0) * flat
    for m in range(1, n):  # m points placed so far
        denominator = m + k_max * flat
        opened = np.zeros_like(prob)
        opened[:, 1:] = prob[:, :-1] * new_num[:, 1:]
        prob = (prob * (m + stay_num) + opened) / denominator
    return prob[0] if alphas.ndim == 0 else prob


def prior_n_clusters(
    n_samples: int,
    n_components: int,
    *,
    alpha: float | None = None,
    alpha_gamma: tuple[float, float] | None = None,
    n_nodes: int = 200,
) -> np.ndarray:
    """The prior of K+ for N points on K components: alpha fixed, or ``alpha ~ Gamma(a, b)``.

    Parameters
    ----------
    n_samples, n_components : int
        N and K.
    alpha : float, optional
        A fixed Dirichlet concentration (give exactly one of ``alpha``, ``alpha_gamma``).
    alpha_gamma : (a, b), optional
        Shape and rate of the Gamma hyperprior on alpha (``scipy.stats.gamma(a,
        scale=1/b)``); the sparse finite mixture's default is ``(10, 10 K)``.
    n_nodes : int
        Gauss-Legendre nodes in log(alpha) for the integral over the prior (the tests
        check the default against twice as many nodes).

    Returns
    -------
    ndarray of shape (K,)
        ``P(K+ = k)`` for k = 1..K; sums to 1.
    """
    if (alpha is None) == (alpha_gamma is None):
        raise ValueError("give exactly one of alpha (fixed) or alpha_gamma=(a, b) (a prior).")
    if alpha is not None:
        return prior_n_clusters_fixed(n_samples, n_components, float(alpha))
    if np.shape(alpha_gamma) != (2,):
        raise ValueError(f"alpha_gamma must be (shape a, rate b); got {alpha_gamma!r}.")
    shape, rate = (float(v) for v in _check_positive(alpha_gamma, "alpha_gamma"))
    if isinstance(n_nodes, bool) or int(n_nodes) < 2:
        raise ValueError(f"n_nodes must be an integer >= 2; got {n_nodes!r}.")
    # Below this alpha, P(K+ > 1 | alpha) <= alpha K (1 + log N) < 1e-12: K+ = 1 there.
    n, k = _check_counts(n_samples, n_components)
    floor = 1e-12 / (k * (1.0 + np.log(n)))
    log_alpha, weights = _log_alpha_rule(shape, rate, int(n_nodes), floor)
    per_node = prior_n_clusters_fixed(n_samples, n_components, np.exp(log_alpha))
    return weights @ per_node


def _log_alpha_rule(
    shape: float, rate: float, n_nodes: int, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in t = log(alpha) and weights of the Gamma(a, b) prior, summing to 1.

    P(K+ = k | alpha) changes on the scale of log(alpha) (each k has its own decade), and
    a broad prior (a <= 1) spreads alpha over many decades: a rule in alpha itself (Gauss-
    Laguerre) was measured to err by 1e-3 there at 64 nodes. In t the prior's density,
    ``b^a exp(a t - b e^t) / Gamma(a)``, and the integrand are smooth: Gauss-Legendre over
    the interval that holds all but 1e-14 of the prior mass on each side. Below ``floor``
    (where K+ = 1 to within ``floor``-sized terms, see the caller) the integrand is flat:
    that interval is cut and its prior mass put on one node at ``floor``.
    """
    prior = stats.gamma(shape, scale=1.0 / rate)
    lo, hi = prior.ppf([1e-14, 1.0 - 1e-14])
    left_mass = 0.0
    if lo < floor:
        lo, left_mass = floor, float(prior.cdf(floor))
    x, w = special.roots_legendre(n_nodes)
    t_lo, t_hi = np.log(lo), np.log(hi)
    t = 0.5 * (t_hi - t_lo) * x + 0.5 * (t_hi + t_lo)
    log_density = shape * np.log(rate) + shape * t - rate * np.exp(t) - special.gammaln(shape)
    weights = w * np.exp(log_density - log_density.max())
    weights *= (1.0 - left_mass) / weights.sum()
    return np.append(t, np.log(floor)), np.append(weights, left_mass)
