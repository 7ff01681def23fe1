"""Validation of the arrays the relabeling algorithms take (shapes, dtypes, permutations)."""

from __future__ import annotations

import numpy as np

# Tolerance on "sums to one" checks; loose enough for float32 draws.
SUM_ATOL = 1e-4


def float_array(x: object, name: str, ndim: int) -> np.ndarray:
    """Return ``x`` as a float64 array with ``ndim`` dimensions and finite entries."""
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}.")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}.")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf).")
    return arr


def int_array(x: object, name: str, ndim: int) -> np.ndarray:
    """Return ``x`` as an ``intp`` array, accepting integer-valued floats."""
    arr = np.asarray(x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}.")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.intp, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains non-finite values (NaN or inf).")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must contain integer labels.")
        return arr.astype(np.intp)
    raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}.")


def check_n_components(n_components: object) -> int:
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise ValueError(f"n_components must be an integer, got {n_components!r}.")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}.")
    return int(n_components)


def check_labels(labels: np.ndarray, name: str, n_components: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_components):
        raise ValueError(
            f"{name} labels must lie in [0, {n_components}), "
            f"got range [{labels.min()}, {labels.max()}]."
        )


def check_perms(perms: object, name: str = "perms", n_components: int | None = None) -> np.ndarray:
    """Validate an ``(S, K)`` array whose rows are permutations of ``0..K-1``."""
    arr = np.asarray(perms)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (S, K), got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {arr.dtype}.")
    n_comp = arr.shape[1]
    if n_components is not None and n_comp != n_components:
        raise ValueError(f"{name} has K={n_comp} components but {n_components} were expected.")
    if not np.array_equal(np.sort(arr, axis=1), np.broadcast_to(np.arange(n_comp), arr.shape)):
        raise ValueError(f"every row of {name} must be a permutation of 0..{n_comp - 1}.")
    return arr.astype(np.intp, copy=False)


def check_probabilities(probabilities: object, name: str = "probabilities") -> np.ndarray:
    """Validate ``(S, N, K)`` membership probabilities: finite, in [0, 1], rows sum to 1."""
    prob = float_array(probabilities, name, 3)
    if prob.shape[2] < 1:
        raise ValueError(f"{name} must have at least one component (last axis), got 0.")
    if np.any(prob < 0) or np.any(prob > 1 + SUM_ATOL):
        raise ValueError(f"{name} must lie in [0, 1].")
    row_err = np.abs(prob.sum(axis=2) - 1.0)
    if np.any(row_err > SUM_ATOL):
        raise ValueError(
            f"{name} must sum to 1 over the last (component) axis; "
            f"max deviation is {row_err.max():.3g}."
        )
    return prob


def cholesky(cov: np.ndarray, name: str) -> np.ndarray:
    """Batched Cholesky factor; raises ValueError if any matrix is not SPD."""
    if not np.allclose(cov, np.swapaxes(cov, -1, -2), rtol=1e-8, atol=1e-10):
        raise ValueError(f"{name} must be symmetric.")
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"{name} must be positive definite.") from err


def precision(cov: np.ndarray, name: str) -> np.ndarray:
    """Batched inverse of SPD matrices via Cholesky: ``Sigma^-1 = L^-T L^-1``."""
    chol = cholesky(cov, name)
    eye = np.broadcast_to(np.eye(cov.shape[-1]), cov.shape)
    chol_inv = np.linalg.solve(chol, eye)
    return np.swapaxes(chol_inv, -1, -2) @ chol_inv
