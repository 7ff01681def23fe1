"""The E-step, in blocks of rows reduced to sufficient statistics, and the M-step.

The statistics of blocks add up (:func:`sum_statistics`), so the same core runs on an
in-memory array, on chunks streamed from disk, or mapped over the chunks of a Dask array.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import special

from bayesgmm.em.results import ConjugatePrior, GMMParams, SufficientStats
from bayesgmm.mixture.covariance import (
    ComponentDensity,
    log_gaussian_prob,
    pair_features,
    precisions_cholesky,
    unpack_pairs,
)
from bayesgmm.mixture.far import far_memberships
from bayesgmm.mixture.structures import get_structure

# Rows per block: keeps the (rows, K, D) temporaries of the E-step inside the CPU caches.
_BLOCK_ELEMENTS = 1 << 16
_EXP_FLOOR = -300.0


def _block_rows(n_components: int, n_features: int, covariance_type: str = "diag") -> int:
    if get_structure(covariance_type).pair_features:  # (P + D + 1, rows) is the temporary
        return max(256, _BLOCK_ELEMENTS // ((n_features + 1) * (n_features + 2) // 2))
    return max(256, _BLOCK_ELEMENTS // max(1, n_components * n_features))


def _log_weights(params: GMMParams) -> np.ndarray:
    with np.errstate(divide="ignore"):  # an empty component adds nothing
        return np.log(params.weights)


def _weighted_log_prob(X: np.ndarray, params: GMMParams) -> np.ndarray:
    """``log pi_k + log N(x_n | mu_k, Sigma_k)`` in component-major layout (K, N)."""
    log_prob = log_gaussian_prob(
        X, params.means, params.precisions_cholesky, params.covariance_type, component_major=True
    )
    log_prob += _log_weights(params)[:, None]
    return log_prob


def _normalize(weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One fused log-sum-exp over axis 0, in place.

    Returns (log_norm (N,), responsibilities (K, N), log of the largest responsibility (N,)).
    Compiled (``bayesgmm/em/_estep.c``, 3-4x faster) where it was built, else numpy.
    """
    compiled = _compiled_normalize()
    if compiled is not None and weighted.flags.c_contiguous and weighted.dtype == np.float64:
        n_components, n_rows = weighted.shape
        log_norm, log_max = np.empty(n_rows), np.empty(n_rows)
        compiled(
            weighted.ctypes.data_as(_DOUBLE_P), n_components, n_rows, _EXP_FLOOR,
            log_norm.ctypes.data_as(_DOUBLE_P), log_max.ctypes.data_as(_DOUBLE_P),
        )  # fmt: skip
        return log_norm, weighted, log_max
    return _normalize_numpy(weighted)


def _normalize_numpy(weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_normalize` in numpy: the same steps, where the C version was not built."""
    col_max = weighted.max(axis=0)
    weighted -= col_max
    # Floor at -300 before exp: numpy's exp leaves its vectorised path for arguments below
    # about -300 (measured 3x slower per element below -708, where well-separated
    # components put most entries), and a responsibility of e^-300 ~ 5e-131 next to the
    # largest (1) changes no statistic in double precision.
    np.maximum(weighted, _EXP_FLOOR, out=weighted)
    np.exp(weighted, out=weighted)
    total = weighted.sum(axis=0)
    weighted /= total
    log_total = np.log(total)
    # The largest responsibility is exp(0) / total: its log comes for free.
    return log_total + col_max, weighted, -log_total


_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


@functools.cache
def _compiled_normalize() -> Any:
    """``bgmm_normalize`` of the compiled ``bayesgmm.em._estep``, or None if not built.

    The library is found, not imported: ctypes loads it by path (and importing it from
    here would make this module import its own package, ``bayesgmm.em``).
    """
    spec = importlib.util.find_spec("bayesgmm.em._estep")
    if spec is None or spec.origin is None:
        return None
    function = ctypes.CDLL(spec.origin).bgmm_normalize
    function.restype = None
    function.argtypes = [_DOUBLE_P, ctypes.c_int64, ctypes.c_int64, ctypes.c_double]
    function.argtypes += [_DOUBLE_P, _DOUBLE_P]
    return function


def _normalize_labelled(
    weighted: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_normalize` with the rows of known component fixed: for a row labelled
    ``k``, the other components' terms are ``-inf`` (so its log-likelihood term is its
    own component's) and its responsibilities exactly one-hot on ``k``."""
    known = np.flatnonzero(labels >= 0)
    if known.size == 0:
        return _normalize(weighted)
    own = weighted[labels[known], known]
    weighted[:, known] = -np.inf
    weighted[labels[known], known] = own
    log_norm, resp, log_max = _normalize(weighted)
    resp[:, known] = 0.0  # the floor of _normalize left e^-300 there
    resp[labels[known], known] = 1.0
    log_max[known] = 0.0
    return log_norm, resp, log_max


def _block_terms(
    weighted: np.ndarray, w: np.ndarray | None, labels: np.ndarray | None
) -> tuple[float, float, np.ndarray]:
    """A block's log-likelihood, its ``sum log max_k g_nk`` and responsibilities (K, rows),
    weighted by ``w`` and with labelled rows fixed, when given."""
    if labels is not None:
        log_norm, resp, log_max = _normalize_labelled(weighted, labels)
    else:
        log_norm, resp, log_max = _normalize(weighted)
    if w is None:
        return float(log_norm.sum()), float(log_max.sum()), resp
    resp *= w
    return _weighted_sum(w, log_norm), _weighted_sum(w, log_max), resp


def _weighted_sum(sample_weight: np.ndarray, values: np.ndarray) -> float:
    """``sum_n w_n v_n`` where a zero weight drops its row, even at ``v_n = -inf``."""
    return float(np.dot(sample_weight, np.where(sample_weight > 0, values, 0.0)))


def e_step(X: np.ndarray, params: GMMParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log mixture density and log responsibilities.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    params : GMMParams

    Returns
    -------
    log_norm : ndarray of shape (N,)
        ``log sum_k pi_k N(x_n | mu_k, Sigma_k)``.
    log_resp : ndarray of shape (N, K)
        Log posterior membership probabilities; ``exp`` of each row sums to 1. A row more
        than ~1e154 sds from every component has ``log_norm`` ``-inf`` (its density
        underflows float64) and all its membership on the nearest component
        (:func:`bayesgmm.mixture.far.far_memberships`).
    """
    weighted = _weighted_log_prob(X, params)
    log_norm = special.logsumexp(weighted, axis=0)
    far = np.flatnonzero(np.isneginf(log_norm))
    if far.size:
        weighted[:, far] = 0.0  # no -inf - -inf below; the rows are set after
    log_resp = (weighted - log_norm).T
    if far.size:
        memberships = far_memberships(
            X[far], params.means, params.precisions_cholesky, params.covariance_type,
            _log_weights(params),
        )  # fmt: skip
        with np.errstate(divide="ignore"):
            log_resp[far] = np.log(memberships)
    return log_norm, log_resp


def sufficient_statistics(
    X: np.ndarray,
    params: GMMParams,
    *,
    block_rows: int | None = None,
    sample_weight: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> SufficientStats:
    """E-step on ``X`` in blocks of rows, reduced to sufficient statistics.

    This is the map step of a map-reduce EM: call it per chunk (for example per Dask
    chunk), add the results with :func:`sum_statistics`, and pass the sum to
    :func:`m_step`.

    ``sample_weight`` (N,) multiplies every row's responsibilities and log-likelihood
    term (checked by :func:`bayesgmm.mixture.observations.check_sample_weight`). ``labels``
    (N,) fixes the responsibilities of a row with label ``k >= 0`` to one-hot on ``k``;
    its log-likelihood term is then ``log pi_k + log N(x | mu_k, Sigma_k)`` (``-1``:
    unknown, the usual E-step).
    """
    n_samples, n_features = X.shape
    n_components = params.means.shape[0]
    cov_type = params.covariance_type
    structure = get_structure(cov_type)
    block_rows = block_rows or _block_rows(n_components, n_features, cov_type)
    resp_sum = np.zeros(n_components)
    weighted_sum = np.zeros((n_components, n_features))
    n_pairs = n_features * (n_features + 1) // 2
    if structure.pair_features:
        # [second-moment upper triangles | weighted sums | counts], split at the end
        packed = np.zeros((n_components, n_pairs + n_features + 1))
    else:
        second = structure.zero_second_moment(n_components, n_features)
    log_lik = 0.0
    log_max_resp = 0.0
    # Prepared once: per block only the GEMMs and element-wise passes remain. The largest
    # row norm (one pass over X) lets the full density choose its form once.
    radius = float(np.sqrt(np.einsum("nd,nd->n", X, X).max(initial=0.0)))
    density = ComponentDensity(
        params.means,
        params.precisions_cholesky,
        cov_type,
        log_weights=_log_weights(params),
        radius=radius,
    )
    # One buffer for the pair features of every block: no fresh 0.5 MB per block.
    buffer = np.empty((n_pairs + n_features + 1, min(block_rows, n_samples)))
    for start in range(0, n_samples, block_rows):
        block = X[start : start + block_rows]
        w = None if sample_weight is None else sample_weight[start : start + block_rows]
        # Full: the products x_i x_j serve the log densities (one GEMM) and the statistics
        # (one GEMM) alike: resp @ features^T = [sum g x_i x_j | sum g x | sum g].
        features = pair_features(block, out=buffer) if structure.pair_features else None
        weighted = density(block, component_major=True, features=features)
        block_lik, block_max, resp = _block_terms(
            weighted, w, None if labels is None else labels[start : start + block_rows]
        )
        log_lik += block_lik
        log_max_resp += block_max
        if features is not None:
            packed += resp @ features.T
            continue
        resp_sum += resp.sum(axis=1)
        weighted_sum += resp @ block
        second += structure.block_second_moment(block, resp, w)
    if structure.pair_features:
        second = unpack_pairs(packed[:, :n_pairs], n_features)
        weighted_sum, resp_sum = packed[:, n_pairs:-1].copy(), packed[:, -1].copy()
    return SufficientStats(resp_sum, weighted_sum, second, log_lik, n_samples, log_max_resp)


def sum_statistics(parts: Iterable[SufficientStats]) -> SufficientStats:
    """Add the statistics of several blocks (the reduce step)."""
    parts = list(parts)
    if not parts:
        raise ValueError("sum_statistics needs at least one block of statistics.")
    return SufficientStats(
        *(sum(getattr(p, f) for p in parts) for f in SufficientStats._fields)  # type: ignore[arg-type]
    )


def m_step(
    stats: SufficientStats,
    covariance_type: str,
    *,
    reg_covar: float = 1e-6,
    prior: ConjugatePrior | None = None,
    previous: GMMParams | None = None,
) -> GMMParams:
    """Parameters that maximise the expected complete-data log-likelihood (plus log prior).

    Parameters
    ----------
    stats : SufficientStats
        Summed over all rows.
    covariance_type : str
        A registered structure (:mod:`bayesgmm.mixture.structures`).
    reg_covar : float
        Added to the diagonal of every covariance (a floor against collapse).
    prior : ConjugatePrior, optional
        When given, the M-step returns the joint posterior mode (MAP-EM).
    previous : GMMParams, optional
        The parameters of the last iteration: their covariances reach the structure's
        M-step as ``previous`` (where the iterative M-steps of mclust's structures start,
        so that EM stays monotone); closed forms ignore them.

    Returns
    -------
    GMMParams

    Raises
    ------
    CollapseError
        A covariance is singular (only possible with ``reg_covar=0`` and no prior).
    """
    n_components = stats.resp_sum.shape[0]
    # Same guard as scikit-learn: an empty component keeps finite means.
    nk = stats.resp_sum + 10 * np.finfo(np.float64).eps
    x_bar = stats.weighted_sum / nk[:, None]
    structure = get_structure(covariance_type)
    same = previous is not None and get_structure(previous.covariance_type) is structure
    warm = previous.covariances if same else None
    if prior is None:
        weights = nk / nk.sum()
        means = x_bar
        cov = structure.ml_covariances(stats, nk, means, reg_covar, previous=warm)
    else:
        alpha = prior.weight_concentration
        weights = (nk + alpha - 1.0) / (nk.sum() + n_components * (alpha - 1.0))
        kappa = prior.shrinkage
        means = (nk[:, None] * x_bar + kappa * prior.mean) / (nk + kappa)[:, None]
        cov = structure.map_covariances(stats, nk, x_bar, prior, reg_covar, previous=warm)
    prec_chol = precisions_cholesky(cov, covariance_type, reg_covar=reg_covar)
    return GMMParams(weights, means, cov, prec_chol, covariance_type)
