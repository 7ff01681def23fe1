"""M-steps of mclust's structures that have a closed form (Celeux & Govaert 1995).

Every function takes the component counts ``nk`` (K,) and the within-component scatter
matrices ``scatter`` (K, D, D), ``W_k = sum_n g_nk (x_n - xbar_k)(x_n - xbar_k)^T``, and
returns the covariances (K, D, D) that maximise the covariance part of the expected
complete-data log-likelihood,

    Q(Sigma) = -1/2 sum_k [ n_k log|Sigma_k| + tr(Sigma_k^-1 W_k) ],

over the structure's set ``Sigma_k = lambda_k D_k A_k D_k^T`` (volume ``lambda``, shape ``A``
diagonal with ``det A = 1``, orientation ``D`` orthogonal). ``previous`` (the covariances
of the last iteration) is accepted for a uniform interface and not needed here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "det_root",
    "diagonal_matrices",
    "m_step_eee",
    "m_step_eei",
    "m_step_eev",
    "m_step_eii",
    "m_step_evi",
    "m_step_evv",
    "m_step_vii",
    "m_step_vvi",
    "m_step_vvv",
    "sorted_eigh",
]


def det_root(values: np.ndarray) -> np.ndarray:
    """``(prod_j v_j)^(1/D)`` over the last axis, computed on the log scale."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(values), axis=-1))


def diagonal_matrices(diagonals: np.ndarray) -> np.ndarray:
    """Stack (K, D) of diagonals -> (K, D, D) diagonal matrices."""
    n_features = diagonals.shape[-1]
    return diagonals[..., :, None] * np.eye(n_features)


def sorted_eigh(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (K, D) in decreasing order and their eigenvectors (K, D, D) as columns.

    One order for every component: an equal shape pairs the largest eigenvalue of every
    ``W_k`` with the largest of ``A`` (the rearrangement inequality).
    """
    values, vectors = np.linalg.eigh(matrices)
    return np.maximum(values[..., ::-1], 0.0), vectors[..., ::-1]


def _total(nk: np.ndarray) -> float:
    return float(np.sum(nk))


def m_step_eii(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """EII, ``lambda I``: ``lambda = tr(sum_k W_k) / (N D)``."""
    n_features = scatter.shape[-1]
    variance = np.trace(scatter.sum(axis=0)) / (_total(nk) * n_features)
    return np.broadcast_to(variance * np.eye(n_features), scatter.shape).copy()


def m_step_vii(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """VII, ``lambda_k I``: ``lambda_k = tr(W_k) / (n_k D)``."""
    n_features = scatter.shape[-1]
    variances = np.trace(scatter, axis1=1, axis2=2) / (nk * n_features)
    return variances[:, None, None] * np.eye(n_features)


def m_step_eei(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """EEI, ``lambda B`` (B diagonal): ``diag(sum_k W_k) / N``."""
    pooled = np.diagonal(scatter.sum(axis=0)) / _total(nk)
    return np.broadcast_to(np.diag(pooled), scatter.shape).copy()


def m_step_vvi(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """VVI, ``lambda_k B_k``: ``diag(W_k) / n_k``."""
    return diagonal_matrices(np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None])


def m_step_evi(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """EVI, ``lambda B_k``: ``B_k = diag(W_k) / |diag(W_k)|^(1/D)``,
    ``lambda = sum_k |diag(W_k)|^(1/D) / N``."""
    diagonals = np.diagonal(scatter, axis1=1, axis2=2)
    roots = det_root(diagonals)
    volume = roots.sum() / _total(nk)
    return diagonal_matrices(volume * diagonals / roots[:, None])


def m_step_eee(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """EEE, ``lambda D A D^T`` shared: ``sum_k W_k / N``."""
    return np.broadcast_to(scatter.sum(axis=0) / _total(nk), scatter.shape).copy()


def m_step_eev(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """EEV, ``lambda D_k A D_k^T``: with ``W_k = L_k Omega_k L_k^T`` (eigenvalues in
    decreasing order), ``D_k = L_k`` and ``lambda A = sum_k Omega_k / N``."""
    values, vectors = sorted_eigh(scatter)
    shape = values.sum(axis=0) / _total(nk)
    return np.einsum("kde,e,kfe->kdf", vectors, shape, vectors)


def m_step_evv(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """EVV, ``lambda C_k`` with ``det C_k = 1``: ``C_k = W_k / |W_k|^(1/D)``,
    ``lambda = sum_k |W_k|^(1/D) / N``."""
    n_features = scatter.shape[-1]
    sign, log_det = np.linalg.slogdet(scatter)
    roots = np.where(sign > 0, np.exp(log_det / n_features), 0.0)
    volume = roots.sum() / _total(nk)
    with np.errstate(divide="ignore", invalid="ignore"):  # a singular W_k: CollapseError later
        return volume * scatter / roots[:, None, None]


def m_step_vvv(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """VVV, unconstrained: ``W_k / n_k``."""
    return scatter / nk[:, None, None]
