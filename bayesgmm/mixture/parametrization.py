"""Parametrisation of correlation matrices by canonical partial correlations (numpy only).

When the CPC at C-vine level ``j`` (0-based) is ``Beta(b_j, b_j)`` on (-1, 1) with
``b_j = eta + (D - 2 - j) / 2``, the correlation matrix is exactly ``LKJ(eta)``
(Lewandowski, Kurowicka & Joe 2009, section 3.2). The Cholesky factor follows from the CPCs
in closed form, row by row, so the same code builds a numpy array or a PyTensor graph, and
it is vectorised over any leading (component, draw) axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["cholesky_from_cpc", "corr_pairs", "cpc_beta_parameters", "cpc_from_cholesky"]


def corr_pairs(n_features: int) -> list[tuple[int, int]]:
    """The (row, column) pairs, row > column, in the order the CPC vector uses."""
    return [(i, j) for i in range(n_features) for j in range(i)]


def cpc_beta_parameters(n_features: int, eta: float) -> np.ndarray:
    """Beta shape of every CPC so that the correlation matrix is LKJ(eta)."""
    return np.array([eta + (n_features - 2 - j) / 2.0 for _, j in corr_pairs(n_features)])


def cholesky_from_cpc(cpc: Any, n_features: int, xp: Any = np) -> Any:
    """Cholesky factor of a correlation matrix from canonical partial correlations.

    Parameters
    ----------
    cpc : array of shape (..., D(D-1)/2)
        CPCs in (-1, 1), in :func:`corr_pairs` order.
    n_features : int
    xp : module
        ``numpy`` or ``pytensor.tensor``; the same code builds the symbolic graph.

    Returns
    -------
    array of shape (..., D, D), lower-triangular with unit-norm rows.
    """
    if n_features == 1:
        return xp.ones((*tuple(cpc.shape[:-1]), 1, 1))
    index = {pair: p for p, pair in enumerate(corr_pairs(n_features))}
    one = xp.ones_like(cpc[..., 0])
    zero = xp.zeros_like(one)
    rows = []
    for i in range(n_features):
        row = []
        remaining = one  # 1 - sum of squares of the entries so far in this row
        for j in range(i):
            value = cpc[..., index[(i, j)]] * xp.sqrt(remaining)
            row.append(value)
            remaining = remaining - value**2
        row.append(xp.sqrt(remaining))
        row.extend([zero] * (n_features - i - 1))
        rows.append(xp.stack(row, axis=-1))
    return xp.stack(rows, axis=-2)


def cpc_from_cholesky(chol: np.ndarray) -> np.ndarray:
    """Canonical partial correlations from correlation Cholesky factors (..., D, D).

    The inverse of :func:`cholesky_from_cpc`; used to start chains at an EM estimate.
    """
    chol = np.asarray(chol, dtype=np.float64)
    n_features = chol.shape[-1]
    out = []
    for i, j in corr_pairs(n_features):
        remaining = 1.0 - np.sum(chol[..., i, :j] ** 2, axis=-1)
        out.append(chol[..., i, j] / np.sqrt(np.maximum(remaining, 1e-300)))
    if not out:
        return np.zeros((*chol.shape[:-2], 0))
    return np.stack(out, axis=-1)
