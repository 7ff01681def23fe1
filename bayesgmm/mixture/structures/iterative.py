"""M-steps of mclust's structures without a closed form: alternating maximisation.

Same interface and objective as :mod:`.closed_form`. Each inner step maximises ``Q`` over
one block of parameters given the others, so ``Q`` never decreases inside the M-step; when
``previous`` (the covariances of the last EM iteration) is given, the iteration starts
from them, so that the M-step never returns a ``Q`` below that of the previous parameters
and EM stays monotone even where the orientation problem has several local maxima.

- VEI, VEV: variable volume, equal shape (Celeux & Govaert 1995): ``lambda_k`` and ``A``
  in turn, on the diagonal of ``W_k`` (VEI) or on its eigenvalues (VEV, where ``D_k`` is
  the eigenvector matrix of ``W_k``).
- VEE: ``lambda_k`` and the common ``C = D A D^T`` in turn.
- EVE, VVE: common orientation ``D`` (Browne & McNicholas 2014): the volumes and shapes
  in closed form given ``D``, then ``D`` by two majorise-minimise steps, each the
  orthogonal Procrustes solution ``D = U V^T`` of a linearised bound (Kiers 2002).
"""

from __future__ import annotations

import numpy as np

from bayesgmm.mixture.structures.closed_form import det_root, diagonal_matrices, sorted_eigh

__all__ = ["m_step_eve", "m_step_vee", "m_step_vei", "m_step_vev", "m_step_vve"]

# Inner iterations stop when Q changes by at most _INNER_RTOL * (1 + |Q|) (mclust iterates
# to sqrt(machine epsilon) on its own scale); _INNER_MAX_ITER bounds slow orientation fits.
_INNER_RTOL = 1e-12
_INNER_MAX_ITER = 500


def _done(previous: float, current: float) -> bool:
    return abs(current - previous) <= _INNER_RTOL * (1.0 + abs(current))


def volumes_equal_shape(
    counts: np.ndarray, values: np.ndarray, volumes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``lambda_k`` (K,) and the common shape ``a`` (D,), ``prod a = 1``, maximising
    ``-1/2 sum_k [c_k log lambda_k + sum_j v_kj / (lambda_k a_j)]``.

    ``counts`` ``c_k``: ``n_k D`` for maximum likelihood (MAP-EM adds the prior's, see
    :mod:`.conjugate`). The problem is convex in ``(log lambda, log a)``, so the
    alternation reaches its one maximum from any start.
    """
    if volumes is None:
        volumes = values.sum(axis=1) / counts
    objective = -np.inf
    for _ in range(_INNER_MAX_ITER):
        shape = (values / volumes[:, None]).sum(axis=0)
        shape = shape / det_root(shape)
        volumes = (values / shape).sum(axis=1) / counts
        # With lambda at its optimum the trace term is c_k: Q = -1/2 sum c_k (log l + 1).
        current = float(-0.5 * np.sum(counts * (np.log(volumes) + 1.0)))
        if _done(objective, current):
            break
        objective = current
    return volumes, shape


def previous_volumes(previous: np.ndarray | None) -> np.ndarray | None:
    if previous is None:
        return None
    n_features = previous.shape[-1]
    sign, log_det = np.linalg.slogdet(previous)
    return np.exp(log_det / n_features) if np.all(sign > 0) else None


def m_step_vei(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """VEI, ``lambda_k B`` with ``B`` diagonal, ``det B = 1``."""
    diagonals = np.diagonal(scatter, axis1=1, axis2=2)
    volumes, shape = volumes_equal_shape(
        nk * diagonals.shape[1], diagonals, previous_volumes(previous)
    )
    return diagonal_matrices(volumes[:, None] * shape)


def m_step_vev(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """VEV, ``lambda_k D_k A D_k^T``: ``D_k`` the eigenvectors of ``W_k``."""
    values, vectors = sorted_eigh(scatter)
    volumes, shape = volumes_equal_shape(nk * values.shape[1], values, previous_volumes(previous))
    return np.einsum("kde,ke,kfe->kdf", vectors, volumes[:, None] * shape, vectors)


def m_step_vee(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """VEE, ``lambda_k C`` with ``C = D A D^T`` common and ``det C = 1``."""
    n_features = scatter.shape[-1]
    volumes = previous_volumes(previous)
    if volumes is None:
        volumes = np.trace(scatter, axis1=1, axis2=2) / (nk * n_features)
    objective = -np.inf
    common = np.eye(n_features)
    for _ in range(_INNER_MAX_ITER):
        common = np.einsum("kde,k->de", scatter, 1.0 / volumes)
        common = common / np.exp(np.linalg.slogdet(common)[1] / n_features)
        inverse = np.linalg.inv(common)
        volumes = np.einsum("kde,ed->k", scatter, inverse) / (nk * n_features)
        current = float(-0.5 * np.sum(nk * n_features * (np.log(volumes) + 1.0)))
        if _done(objective, current):
            break
        objective = current
    return volumes[:, None, None] * common


def _orientation_from(previous: np.ndarray | None, scatter: np.ndarray) -> np.ndarray:
    """A starting orientation: the eigenvectors common to the previous covariances (of a
    generic combination of them, so that no tie in one component's eigenvalues hides
    them), else those of the pooled scatter."""
    if previous is None:
        return sorted_eigh(scatter.sum(axis=0))[1]
    n_components = previous.shape[0]
    scales = np.trace(previous, axis1=1, axis2=2)
    generic = 1.0 + np.sqrt(np.arange(1, n_components + 1) / (n_components + 1.0))
    return sorted_eigh(np.einsum("kde,k->de", previous, generic / scales))[1]


def _common_orientation(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None, equal_volume: bool
) -> np.ndarray:
    """EVE (``equal_volume``) or VVE: ``lambda_k D A_k D^T`` with one orientation ``D``."""
    orientation = _orientation_from(previous, scatter)
    largest = np.linalg.eigvalsh(scatter)[:, -1]  # the majorising constant of each W_k
    objective = -np.inf
    for _ in range(_INNER_MAX_ITER):
        rotated = np.einsum("dj,kde,ej->kj", orientation, scatter, orientation)
        if equal_volume:  # EVI in the rotated coordinates
            roots = det_root(rotated)
            variances = (roots.sum() / nk.sum()) * rotated / roots[:, None]
        else:  # VVI in the rotated coordinates
            variances = rotated / nk[:, None]
        current = float(-0.5 * np.sum(nk[:, None] * np.log(variances) + rotated / variances))
        if _done(objective, current):
            break
        objective = current
        orientation = _majorise_orientation(scatter, orientation, 1.0 / variances, largest)
    return np.einsum("dj,kj,ej->kde", orientation, variances, orientation)


def _majorise_orientation(
    scatter: np.ndarray, orientation: np.ndarray, precisions: np.ndarray, largest: np.ndarray
) -> np.ndarray:
    """Two MM steps on ``g(D) = sum_k tr(D^T W_k D M_k)`` (``M_k`` diagonal).

    Writing ``W_k = w_k I - (w_k I - W_k)`` (``w_k`` its largest eigenvalue), or
    ``M_k = m_k I - (m_k I - M_k)``, leaves a constant minus a convex function of ``D``;
    its tangent plane bounds ``g`` from above, and the bound's minimum over orthogonal
    matrices is ``U V^T`` for the SVD ``U S V^T`` of the tangent's slope.
    """
    projected = scatter @ orientation  # W_k D
    slope = np.einsum("kde,ke->de", largest[:, None, None] * orientation - projected, precisions)
    orientation = _procrustes(slope)
    top = precisions.max(axis=1, keepdims=True)
    slope = np.einsum("kde,ke->de", scatter @ orientation, top - precisions)
    return _procrustes(slope)


def _procrustes(slope: np.ndarray) -> np.ndarray:
    """The orthogonal matrix maximising ``tr(slope^T D)``."""
    left, _, right = np.linalg.svd(slope)
    return left @ right


def m_step_eve(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """EVE, ``lambda D A_k D^T``."""
    return _common_orientation(nk, scatter, previous, equal_volume=True)


def m_step_vve(
    nk: np.ndarray, scatter: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """VVE, ``lambda_k D A_k D^T``."""
    return _common_orientation(nk, scatter, previous, equal_volume=False)
