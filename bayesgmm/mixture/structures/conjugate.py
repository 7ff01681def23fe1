"""MAP-EM for mclust's structures under its conjugate prior (Fraley & Raftery 2007).

The prior is mclust's ``defaultPrior`` where it is a prior density (docs/mclust.md,
"MAP-EM under mclust's prior"): ``mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage)``, one
scalar ``scale`` (the average data variance over ``K^(2/D)``) and ``dof``. mclust offers
it for EII, EEI, VEI, EVI, EEV and VEV (none for EVE, VEE, VVE, EVV), and all six have it:

- EII, EEI: an inverse-gamma ``InvGamma(dof / 2, scale / 2)`` on each free variance;
  ``sigma^2 = (scale + tr sum_k (W_k + B_k)) / (dof + 2 + (N + K) D)`` and
  ``b_j = (scale + [sum_k (W_k + B_k)]_jj) / (dof + 2 + N + K)``;
- VEI, EVI, EEV, VEV (``Sigma_k = lambda_k D_k A_k D_k^T``): uniform orientations and
  ``p(lambda, A) ∝ prod_(free volumes) lambda^(-c) exp(-scale / 2 sum_k tr Sigma_k^-1)``
  on the volumes and the first D - 1 log shapes, with mclust's exponents ``c``; the mode
  is the ML fit of ``W_k + B_k + scale I`` with the prior's powers of each volume added
  to its count (mclust's EVI exactly; its VEI counts 1 for a mean's prior where the
  normal has D, its EEV drops the means' prior, its VEV the ``dof``).

``B_k = n_k shrinkage / (n_k + shrinkage) (xbar_k - mean)(xbar_k - mean)^T`` is the
between term the means' prior adds. Each mode takes ``nk`` (K,), ``scatter`` and
``between`` (K, D, D), ``scale``, ``dof``, ``reg_covar`` (regularised inside the
structure) and ``previous`` (the last covariances, where VEI and VEV's alternation
starts), and returns covariances (K, D, D). Each log prior takes
``(covariances, means, mean, shrinkage, scale, dof)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from scipy import signal, special, stats

from bayesgmm.mixture.structures import iterative
from bayesgmm.mixture.structures.closed_form import det_root, diagonal_matrices, sorted_eigh

__all__ = [
    "CONJUGATE",
    "log_prior_eei",
    "log_prior_eev",
    "log_prior_eii",
    "log_prior_evi",
    "log_prior_vei",
    "log_prior_vev",
    "map_eei",
    "map_eev",
    "map_eii",
    "map_evi",
    "map_vei",
    "map_vev",
]


def map_eii(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float,
    reg_covar: float = 0.0, previous: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """EII's posterior mode: one variance for every feature and component (plus
    ``reg_covar``)."""
    n_components, n_features, _ = scatter.shape
    total = np.trace((scatter + between).sum(axis=0))
    variance = (scale + total) / (dof + 2.0 + (nk.sum() + n_components) * n_features)
    variance = variance + reg_covar
    return np.broadcast_to(variance * np.eye(n_features), scatter.shape).copy()


def map_eei(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float,
    reg_covar: float = 0.0, previous: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """EEI's posterior mode: one variance per feature, shared by the components (plus
    ``reg_covar``)."""
    n_components = scatter.shape[0]
    pooled = np.diagonal((scatter + between).sum(axis=0))
    variances = (scale + pooled) / (dof + 2.0 + nk.sum() + n_components) + reg_covar
    return np.broadcast_to(np.diag(variances), scatter.shape).copy()


def _log_prior_variances(
    variances: np.ndarray,
    means: np.ndarray,
    mean: np.ndarray,
    shrinkage: float,
    scale: float,
    dof: float,
) -> float:
    """``sum log InvGamma(v; dof/2, scale/2)`` over the free variances ``variances`` (D,)
    plus ``sum_k log N(mu_k | mean, diag(variances) / shrinkage)``."""
    total = float(np.sum(stats.invgamma.logpdf(variances, a=dof / 2.0, scale=scale / 2.0)))
    sd = np.sqrt(np.broadcast_to(variances, means.shape) / shrinkage)
    return total + float(np.sum(stats.norm.logpdf(means, mean, sd)))


def log_prior_eii(
    covariances: np.ndarray, means: np.ndarray, mean: np.ndarray, shrinkage: float,
    scale: float, dof: float,
) -> float:  # fmt: skip
    """Log prior of EII's covariances (one inverse-gamma variance) and the means."""
    variance = np.array([covariances[0, 0, 0]])
    return _log_prior_variances(variance, means, mean, shrinkage, scale, dof)


def log_prior_eei(
    covariances: np.ndarray, means: np.ndarray, mean: np.ndarray, shrinkage: float,
    scale: float, dof: float,
) -> float:  # fmt: skip
    """Log prior of EEI's covariances (an inverse-gamma variance per feature) and the
    means."""
    variances = np.diagonal(covariances[0]).copy()
    return _log_prior_variances(variances, means, mean, shrinkage, scale, dof)


# -- VEI, VEV, EVI, EEV: volume and shape -------------------------------------------------
#
# Sigma_k = lambda_k D_k A_k D_k^T. The prior (docs/mclust.md, "MAP-EM under mclust's
# prior"): the orientations
# uniform (Haar), mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage), and (volumes, shapes) with
# the density, on the volumes and the log shapes' first D - 1 coordinates,
#
#     p ∝ prod_(free volumes) lambda^(-c) * exp(-scale / 2 * sum_k tr(Sigma_k^-1)),
#
# c = (dof + 2) / 2 for VEI and VEV (one per component), D (dof + 2) / 2 for EVI and
# D (dof + D + 1) / 2 for EEV (one volume): mclust's exponents (msveip, msevip, mseevp).
# The mode is the ML fit of W_k + B_k + scale I (as mclust's) with each volume's count
# raised by 2 c (its prior) and D per component (the means' prior; mclust's VEI adds 1,
# its EEV and VEV nothing).


def _prior_scatter(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, reg_covar: float
) -> np.ndarray:
    """``W_k + B_k + (scale + n_k reg_covar) I``: the scatter the mode is the ML fit of."""
    diagonal = scale + reg_covar * nk
    return scatter + between + diagonal[:, None, None] * np.eye(scatter.shape[-1])


def _exponent(letters: str, dof: float, n_features: int) -> float:
    """``c``: the prior's power of each free volume, ``lambda^(-c)``."""
    if letters == "EEV":
        return n_features * (dof + n_features + 1.0) / 2.0
    if letters == "EVI":
        return n_features * (dof + 2.0) / 2.0
    return (dof + 2.0) / 2.0


def _equal_shape_mode(
    nk: np.ndarray, values: np.ndarray, dof: float, previous: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """VEI / VEV: volumes and the common shape of ``values`` (K, D), each volume's count
    ``n_k D`` (likelihood) + ``D`` (its mean's prior) + ``dof + 2`` (its own prior)."""
    n_features = values.shape[1]
    counts = (nk + 1.0) * n_features + dof + 2.0
    return iterative.volumes_equal_shape(counts, values, iterative.previous_volumes(previous))


def map_vei(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float,
    reg_covar: float = 0.0, previous: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """VEI's posterior mode, ``lambda_k A``: the alternation of
    :func:`.iterative.m_step_vei` on the diagonals of ``W_k + B_k + scale I``."""
    values = np.diagonal(_prior_scatter(nk, scatter, between, scale, reg_covar), axis1=1, axis2=2)
    volumes, shape = _equal_shape_mode(nk, values, dof, previous)
    return diagonal_matrices(volumes[:, None] * shape)


def map_vev(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float,
    reg_covar: float = 0.0, previous: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """VEV's posterior mode, ``lambda_k D_k A D_k^T``: ``D_k`` the eigenvectors of
    ``W_k + B_k``, VEI's alternation on the eigenvalues of ``W_k + B_k + scale I``."""
    values, vectors = sorted_eigh(_prior_scatter(nk, scatter, between, scale, reg_covar))
    volumes, shape = _equal_shape_mode(nk, values, dof, previous)
    return np.einsum("kde,ke,kfe->kdf", vectors, volumes[:, None] * shape, vectors)


def map_evi(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float,
    reg_covar: float = 0.0, previous: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """EVI's posterior mode, ``lambda A_k``: with ``w_k`` the diagonal of
    ``W_k + B_k + scale I``, ``A_k = w_k / |w_k|^(1/D)`` and
    ``lambda = sum_k |w_k|^(1/D) / (N + K + dof + 2)`` (mclust's ``msevip``)."""
    values = np.diagonal(_prior_scatter(nk, scatter, between, scale, reg_covar), axis1=1, axis2=2)
    roots = det_root(values)
    volume = roots.sum() / (nk.sum() + len(nk) + dof + 2.0)
    return diagonal_matrices(volume * values / roots[:, None])


def map_eev(
    nk: np.ndarray, scatter: np.ndarray, between: np.ndarray, scale: float, dof: float,
    reg_covar: float = 0.0, previous: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """EEV's posterior mode, ``D_k (lambda A) D_k^T``: ``D_k`` the eigenvectors of
    ``W_k + B_k``, ``lambda A = sum_k Omega_k / (N + K + dof + D + 1)`` with ``Omega_k``
    the eigenvalues of ``W_k + B_k + scale I`` (mclust's ``mseevp``, which drops the
    means' prior)."""
    n_features = scatter.shape[-1]
    values, vectors = sorted_eigh(_prior_scatter(nk, scatter, between, scale, reg_covar))
    shape = values.sum(axis=0) / (nk.sum() + len(nk) + dof + n_features + 1.0)
    return np.einsum("kde,e,kfe->kdf", vectors, shape, vectors)


def _log_shape_integral(gamma: float, n_features: int) -> float:
    """``log int tr(A^-1)^(-gamma)`` over the shapes (``det A = 1``, Lebesgue on the first
    D - 1 log shapes): ``Gamma(gamma / D)^D / (D Gamma(gamma))``. (With
    ``q = A^-1 / tr A^-1`` the integrand is Dirichlet(gamma / D)'s kernel.)"""
    return float(
        n_features * special.gammaln(gamma / n_features)
        - np.log(n_features)
        - special.gammaln(gamma)
    )


@functools.lru_cache(maxsize=64)
def _log_shared_shape_integral(gamma: float, n_components: int, n_features: int) -> float:
    """``log int (sum_k tr A_k^-1)^(-gamma) prod_k dA_k`` (EVI: one volume, K shapes).

    With ``(sum_k t_k)^(-gamma) = int r^(gamma-1) exp(-r sum_k t_k) dr / Gamma(gamma)``,
    each shape's ``int exp(-r tr A^-1) dA`` is ``f(r^D)``, ``f`` the density of a product
    of D standard exponentials (their Mellin transforms agree), so the integral is
    ``int exp(s gamma / D) f(e^s)^K ds / (D Gamma(gamma))``. Tilted by
    ``theta = gamma / (D K)``, ``f(e^s) e^(theta s)`` is ``Gamma(theta)^D`` times the
    density of a sum of D logs of Gamma(theta) variables: D - 1 convolutions of
    ``exp(theta a - e^a)`` on a grid (spectrally accurate: smooth, decaying both ways).
    K = 1 is :func:`_log_shape_integral`'s closed form.
    """
    if n_features == 1:  # no shapes: tr A_k^-1 = 1
        return float(-gamma * np.log(n_components))
    theta = gamma / (n_features * n_components)
    sd = np.sqrt(n_features * special.polygamma(1, theta))
    step = min(0.02, 0.05 * sd / np.sqrt(n_features))
    # The grid holds the sums of 1 ... D logs (centred at j digamma(theta)); the K-th
    # power decays as exp(gamma s / D) on the left, exp(-K e^(s/D)) on the right.
    centres = np.array([1.0, n_features]) * special.digamma(theta)
    left = centres.min() - 10.0 * sd - (40.0 + 30.0 * n_components) * n_features / gamma
    right = centres.max() + 10.0 * sd + n_features * np.log(60.0 + theta)
    grid = np.arange(left, right, step)
    offsets = (np.arange(2 * len(grid) - 1) - (len(grid) - 1)) * step
    peak = theta * np.log(theta) - theta  # max of theta a - e^a, divided out (overflow)
    kernel = np.exp(theta * offsets - np.exp(np.minimum(offsets, 700.0)) - peak)
    tilted = np.exp(theta * grid - np.exp(np.minimum(grid, 700.0)) - peak)
    for _ in range(n_features - 1):
        full = signal.fftconvolve(tilted, kernel)
        tilted = step * full[len(grid) - 1 : 2 * len(grid) - 1]
    log_terms = n_components * (np.log(np.maximum(tilted, 1e-300)) + n_features * peak)
    return float(
        special.logsumexp(log_terms) + np.log(step) - np.log(n_features) - special.gammaln(gamma)
    )


def _log_normaliser(
    letters: str, n_components: int, n_features: int, scale: float, dof: float
) -> float:
    """``log`` of the integral of the volume-and-shape kernel over the volumes and the log
    shapes (the orientations' uniform prior integrates to 1)."""
    gamma = _exponent(letters, dof, n_features) - 1.0
    if letters in ("VEI", "VEV"):
        per_volume = special.gammaln(gamma) - gamma * np.log(scale / 2.0)
        return float(
            n_components * per_volume + _log_shape_integral(n_components * gamma, n_features)
        )
    if letters == "EEV":
        rate = scale / 2.0 * n_components
        shapes = _log_shape_integral(gamma, n_features)
    else:  # EVI
        rate = scale / 2.0
        shapes = _log_shared_shape_integral(float(gamma), n_components, n_features)
    return float(special.gammaln(gamma) - gamma * np.log(rate) + shapes)


def _log_normal_means(
    covariances: np.ndarray, means: np.ndarray, mean: np.ndarray, shrinkage: float
) -> float:
    """``sum_k log N(mu_k | mean, Sigma_k / shrinkage)``."""
    n_features = means.shape[1]
    _, log_det = np.linalg.slogdet(covariances / shrinkage)
    offset = means - mean
    solved = np.linalg.solve(covariances / shrinkage, offset[:, :, None])[:, :, 0]
    distances = np.einsum("kd,kd->k", offset, solved)
    return float(-0.5 * np.sum(n_features * np.log(2 * np.pi) + log_det + distances))


def _log_prior_volume_shape(letters: str) -> Callable[..., float]:
    """The log prior function of one of VEI, VEV, EVI, EEV."""

    def log_prior(
        covariances: np.ndarray, means: np.ndarray, mean: np.ndarray, shrinkage: float,
        scale: float, dof: float,
    ) -> float:  # fmt: skip
        n_components, n_features, _ = covariances.shape
        _, log_det = np.linalg.slogdet(covariances)
        log_volumes = log_det / n_features
        if letters[0] == "E":
            log_volumes = log_volumes[:1]
        traces = np.trace(np.linalg.inv(covariances), axis1=1, axis2=2)
        kernel = -_exponent(letters, dof, n_features) * log_volumes.sum() - scale / 2 * traces.sum()
        normaliser = _log_normaliser(letters, n_components, n_features, scale, dof)
        return kernel - normaliser + _log_normal_means(covariances, means, mean, shrinkage)

    log_prior.__name__ = f"log_prior_{letters.lower()}"
    log_prior.__doc__ = (
        f"Log prior of {letters}'s covariances (volumes, shapes, uniform orientations) and "
        "the means, ``(covariances, means, mean, shrinkage, scale, dof) -> float``."
    )
    return log_prior


log_prior_vei, log_prior_vev, log_prior_evi, log_prior_eev = (
    _log_prior_volume_shape(letters) for letters in ("VEI", "VEV", "EVI", "EEV")
)


#: mclust name -> (posterior mode, log prior): the entries of the family that take a prior.
CONJUGATE = {
    "EII": (map_eii, log_prior_eii),
    "EEI": (map_eei, log_prior_eei),
    "VEI": (map_vei, log_prior_vei),
    "EVI": (map_evi, log_prior_evi),
    "EEV": (map_eev, log_prior_eev),
    "VEV": (map_vev, log_prior_vev),
}
