"""The orientation parametrisation of EEV and VEV in the Bayesian model (D = 2, 3, 4).

mclust's EEV is ``Sigma_k = lambda D_k A D_k^T`` and VEV ``Sigma_k = lambda_k D_k A D_k^T``:
one shared shape ``A`` (diagonal, ``det A = 1``) and an orientation ``D_k`` (a rotation) per
component. The Bayesian model writes them with the "ring" parametrisation that passed SBC
in ``benchmarks/orientation_study.py`` (docs/mclust.md, "The Bayesian model"):

* ``volume_sd = sqrt(lambda)`` (one, EEV, or one per component, VEV);
* the shape from its ``D - 1`` positive gaps ``g``: the sorted (descending) zero-sum log
  shape ``z = tops - mean(tops)``, ``tops = [0, -g_1, -(g_1 + g_2), ...]``, ``a = exp(z)``;
* the orientation from unconstrained vectors ``x_k`` whose unit vectors ``u = x / |x|``
  are, for D = 2, the point at twice the leading eigenvector's angle, for D = 3 a unit
  quaternion, for D = 4 two unit quaternions ``p`` (``orient_free``) and ``q``
  (``orient_right``) with ``R = Lmat(p) Rmat(q)`` (``x -> p x q``).

Every function takes an array namespace ``xp`` (``numpy`` or ``pytensor.tensor``), so the
PyMC graph and the numpy draws run one formula; matrices are built entry by entry (D <= 4),
which compiles to element-wise operations. The inverse map (covariances to parameters,
the starts) is numpy only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "MAX_FEATURES",
    "RING_SD",
    "cholesky_entries",
    "covariance_entries",
    "covariance_matrices",
    "orientation_point",
    "orientation_size",
    "ring_log_prior",
    "shape_log_prior",
    "sorted_log_shape",
    "stds_and_corr_chol",
]

#: The largest D with an orientation parametrisation (unit quaternions cover SO(3), pairs
#: of them SO(4); docs/mclust.md).
MAX_FEATURES = 4
#: The sd of the ring prior on the norm of each orientation vector.
RING_SD = 0.25


def orientation_size(n_features: int) -> tuple[int, int]:
    """Length of each ``orient_free`` vector and of each ``orient_right`` vector (0: none)."""
    if not 2 <= n_features <= MAX_FEATURES:
        raise ValueError(f"an orientation needs 2 <= D <= {MAX_FEATURES}; got D={n_features}.")
    return (2, 0) if n_features == 2 else (4, 4 if n_features == 4 else 0)


def sorted_log_shape(gaps: Any, xp: Any = np) -> Any:
    """The sorted (descending) zero-sum log shape (..., D) from its gaps (..., D-1)."""
    tops = xp.concatenate([0.0 * gaps[..., :1], -xp.cumsum(gaps, axis=-1)], axis=-1)
    return tops - xp.mean(tops, axis=-1, keepdims=True)


def shape_log_prior(log_shape: Any, sigma: float, n_features: int, xp: Any = np) -> Any:
    """ZeroSumNormal(sigma)'s log density of a sorted log shape (..., D), plus log(D!)
    (the sorted cone holds one of the D! orderings)."""
    d = int(n_features)
    const = -(d - 1) * (0.5 * math.log(2.0 * math.pi) + math.log(sigma)) + math.lgamma(d + 1)
    return -xp.sum(log_shape**2, axis=-1) / (2.0 * sigma**2) + const


def ring_log_prior(free: Any, xp: Any = np) -> Any:
    """The ring prior ``-(|x| - 1)^2 / (2 RING_SD^2)`` summed over the vectors (last axis)
    of ``free`` (..., n, m); leading axes other than the last two are kept."""
    radius = xp.sqrt(xp.sum(free**2, axis=-1))
    return -xp.sum((radius - 1.0) ** 2, axis=-1) / (2.0 * RING_SD**2)


def _unit(free: Any, size: int, xp: Any) -> list[Any]:
    """The coordinates of ``x / |x|`` for vectors ``x`` (..., size) (a static size)."""
    radius = xp.sqrt(xp.sum(free**2, axis=-1))
    return [free[..., i] / radius for i in range(size)]


def _quaternion_rotation(w: Any, x: Any, y: Any, z: Any) -> list[list[Any]]:
    return [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]


def _product_matrix(a: Any, b: Any, c: Any, d: Any, left: bool) -> list[list[Any]]:
    """The matrix of ``x -> q x`` (``left``) or ``x -> x q`` on quaternions."""
    s = 1.0 if left else -1.0
    return [
        [a, -b, -c, -d],
        [b, a, -s * d, s * c],
        [c, s * d, a, -s * b],
        [d, -s * c, s * b, a],
    ]


def _matrix(rows: list[list[Any]], xp: Any) -> Any:
    """Entries (each (..., K)) stacked into (..., K, n, n)."""
    return xp.stack([xp.stack(row, axis=-1) for row in rows], axis=-2)


def _rotation(free: Any, right: Any, n_features: int, xp: Any) -> Any:
    """Rotations (..., K, D, D) of the unit vectors (stacked matrices, whose gradients
    stay short sums: PyTensor's Python mode evaluates an n-ary sum as one ufunc, which
    takes at most 32 operands)."""
    if n_features == 3:
        return _matrix(_quaternion_rotation(*_unit(free, 4, xp)), xp)
    left_m = _matrix(_product_matrix(*_unit(free, 4, xp), left=True), xp)
    right_m = _matrix(_product_matrix(*_unit(right, 4, xp), left=False), xp)
    return xp.matmul(left_m, right_m)


def covariance_entries(
    lam: Any, gaps: Any, free: Any, right: Any, n_features: int, xp: Any = np
) -> list[list[Any]]:
    """The entries ``Sigma[i][j]`` (each (..., K)) of ``lambda_k R_k diag(a) R_k^T``, in
    the compiled kernel's order of operations (``_kernel_orient.h``), so that both round
    alike far in the tails.

    ``lam`` (..., K) the volumes, ``gaps`` (..., D-1), ``free`` (..., K, m) and ``right``
    (..., K, 4) (D = 4; else ignored) the raw orientation vectors.
    """
    a = xp.exp(sorted_log_shape(gaps, xp))[..., None, :]  # (..., 1, D)
    if n_features == 2:
        c, s = _unit(free, 2, xp)
        a1, a2 = a[..., 0], a[..., 1]
        half = 0.5 * (a1 - a2)
        return [
            [lam * (a2 + half * (1 + c)), lam * half * s],
            [lam * half * s, lam * (a2 + half * (1 - c))],
        ]
    rot = _rotation(free, right, n_features, xp)  # (..., K, D, D)
    d = n_features
    r = [[rot[..., i, m] for m in range(d)] for i in range(d)]
    return [
        [lam * sum(r[i][m] * a[..., m] * r[j][m] for m in range(d)) for j in range(d)]
        for i in range(d)
    ]


def cholesky_entries(matrix: list[list[Any]], n_features: int, xp: Any = np) -> list[list[Any]]:
    """Cholesky factor of a batch of symmetric positive-definite matrices given entry by
    entry (``matrix[i][j]``, ``j <= i``, each an array or tensor over the batch), unrolled
    over D: row ``i`` of the result holds its ``i + 1`` entries ``L[i][0..i]``.

    Element-wise operations in any ``xp`` (numpy, or PyTensor, where a batched
    ``pt.linalg.cholesky`` loops over the batch in Python: ``bayes/model/missing.py``)."""
    chol: list[list[Any]] = [[None] * (i + 1) for i in range(n_features)]
    for j in range(n_features):
        diag = matrix[j][j] - sum(chol[j][m] ** 2 for m in range(j))
        chol[j][j] = xp.sqrt(diag)
        for i in range(j + 1, n_features):
            off = matrix[i][j] - sum(chol[i][m] * chol[j][m] for m in range(j))
            chol[i][j] = off / chol[j][j]
    return chol


def stds_and_corr_chol(entries: list[list[Any]], xp: Any = np) -> tuple[Any, Any]:
    """The sds (..., K, D) and correlation Cholesky factors (..., K, D, D) of covariances
    given entry by entry (an unrolled Cholesky: D <= 4, element-wise in any ``xp``)."""
    d = len(entries)
    chol = cholesky_entries(entries, d, xp)
    stds = [xp.sqrt(entries[i][i]) for i in range(d)]
    zero = 0.0 * stds[0]
    rows = [[chol[i][j] / stds[i] if j <= i else zero for j in range(d)] for i in range(d)]
    return xp.stack(stds, axis=-1), _matrix(rows, xp)


def covariance_matrices(entries: list[list[Any]], xp: Any = np) -> Any:
    """Entries (each (..., K)) as covariances (..., K, D, D)."""
    return _matrix(entries, xp)


# -- the inverse: covariances to parameters (numpy) -------------------------------------


def _associate_basis() -> np.ndarray:
    """(16, 16): column ``4a + b`` is ``Lmat(e_a) Rmat(e_b)`` flattened; ``R = Lmat(p)
    Rmat(q)`` is bilinear in (p, q), so ``vec R = C vec(p q^T)``."""
    eye = np.eye(4)
    cols = []
    for a in range(4):
        for b in range(4):
            left = np.array(_product_matrix(*eye[a], left=True))
            right = np.array(_product_matrix(*eye[b], left=False))
            cols.append((left @ right).ravel())
    return np.array(cols).T


def _quaternions_of_so4(rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit p, q with ``Lmat(p) Rmat(q) = rot`` (rot (K, 4, 4) in SO(4))."""
    basis = _associate_basis()
    outer = np.linalg.solve(basis, rot.reshape(-1, 16).T).T.reshape(-1, 4, 4)  # p q^T
    u, s, vt = np.linalg.svd(outer)
    return u[:, :, 0] * np.sqrt(s[:, :1]), vt[:, 0, :] * np.sqrt(s[:, :1])


def _vectors_of_rotations(rot: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit ``orient_free`` (K, m) and ``orient_right`` (K, 4) or ``None`` of rotations
    (K, D, D) whose columns are the eigenvectors in decreasing order."""
    d = rot.shape[-1]
    if d == 2:
        angle = 2.0 * np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
        return np.column_stack([np.cos(angle), np.sin(angle)]), None
    if d == 3:
        from scipy.spatial.transform import Rotation

        xyzw = Rotation.from_matrix(rot).as_quat()
        return np.column_stack([xyzw[:, 3], xyzw[:, :3]]), None
    p, q = _quaternions_of_so4(rot)
    return p / np.linalg.norm(p, axis=1, keepdims=True), q / np.linalg.norm(
        q, axis=1, keepdims=True
    )


def orientation_point(
    covariances: np.ndarray, per_component_volume: bool, min_gap: float = 0.0
) -> dict[str, np.ndarray]:
    """``volume_sd``, ``shape_gaps``, ``orient_free`` (and ``orient_right``, D = 4) of
    covariances (K, D, D) that have the structure (the shared parts are averaged on the
    log scale over the components). ``min_gap`` floors the gaps (equal eigenvalues have
    gap 0, where the log transform is undefined)."""
    eigval, eigvec = np.linalg.eigh(np.asarray(covariances, dtype=np.float64))
    eigval, eigvec = eigval[:, ::-1], eigvec[:, :, ::-1]  # decreasing
    flip = np.linalg.det(eigvec) < 0  # a rotation: flip the last column where needed
    eigvec[flip, :, -1] *= -1.0
    log_eig = np.log(eigval)
    log_volume = log_eig.mean(axis=1)  # log lambda_k
    shape = (log_eig - log_volume[:, None]).mean(axis=0)
    volume_sd = np.exp(0.5 * log_volume)
    point = {
        "volume_sd": volume_sd if per_component_volume else np.exp(0.5 * log_volume.mean()),
        "shape_gaps": np.maximum(-np.diff(shape), min_gap),
    }
    free, right = _vectors_of_rotations(eigvec)
    point["orient_free"] = free
    if right is not None:
        point["orient_right"] = right
    return point


# -- the exact copies: one representation per draw ---------------------------------------


def _right_factors() -> list[np.ndarray]:
    """The matrices of ``x -> x e`` for e = 1, i, j, k: ``R(q e) = R(q) diag(...)``, the
    column sign flips of a 3-D rotation that keep its determinant."""
    return [np.array(_product_matrix(*np.eye(4)[b], left=False)) for b in range(4)]


def _so4_sign_factors() -> list[tuple[np.ndarray, np.ndarray]]:
    """``(Lmat(a) , Rmat(b))`` pairs with ``Lmat(a) Rmat(b) = diag(s)``, one per sign
    pattern ``s`` of determinant +1 (8 of them)."""
    out = []
    for code in range(16):
        signs = np.array([-1.0 if code >> i & 1 else 1.0 for i in range(4)])
        if np.prod(signs) < 0:
            continue
        a, b = _quaternions_of_so4(np.diag(signs)[None])
        out.append(
            (
                np.array(_product_matrix(*a[0], left=False)),
                np.array(_product_matrix(*b[0], left=True)),
            )
        )
    return out


def _candidates(free: np.ndarray, right: np.ndarray | None) -> list[tuple[np.ndarray, Any]]:
    """Every representation (free, right) of the same covariances (D = 3, 4)."""
    out = []
    if right is None:
        for factor in _right_factors():
            moved = free @ factor.T
            out += [(moved, None), (-moved, None)]
        return out
    for to_p, to_q in _so4_sign_factors():
        # p' = p a (x -> x a on p), q' = b q (x -> b x on q)
        p, q = free @ to_p.T, right @ to_q.T
        out += [(p, q), (-p, -q)]
    return out


def align_orientations(
    free: np.ndarray, right: np.ndarray | None, n_features: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Draws (S, K, m) of the orientation vectors moved to the exact copy (the same
    ``Sigma_k``) nearest the first draw's, component by component: q and -q, and the
    column sign flips of ``R_k`` (D = 3, 4; D = 2 has no copies). Quantities read on the
    raw vectors across draws (a Gaussian proposal, bridge sampling) then see one copy."""
    if n_features == 2:
        return free, right
    cands = _candidates(np.asarray(free, dtype=np.float64), right)
    ref_free, ref_right = free[:1], None if right is None else right[:1]
    scores = []
    for p, q in cands:
        score = np.sum(p * ref_free, axis=-1)
        if q is not None:
            score = score + np.sum(q * ref_right, axis=-1)
        scores.append(score)
    best = np.argmax(np.stack(scores), axis=0)  # (S, K)
    pick = np.take_along_axis(np.stack([p for p, _ in cands]), best[None, ..., None], 0)[0]
    if right is None:
        return pick, None
    pick_right = np.take_along_axis(np.stack([q for _, q in cands]), best[None, ..., None], 0)
    return pick, pick_right[0]
