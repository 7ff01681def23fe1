"""Label-switching (relabeling) algorithms for posterior draws of mixture models.

Every function works on plain numpy arrays whose first axis indexes posterior draws.

Permutation convention
----------------------
A permutation array ``perms`` has shape ``(S, K)`` (``S`` draws, ``K`` components) and an
integer dtype. ``perms[s, k] = j`` means *new label* ``k`` *takes old component* ``j`` *of
draw* ``s``::

    relabeled[s, k] = original[s, perms[s, k]]

The identity permutation is ``np.arange(K)``. Use :func:`apply_permutations` to relabel
component-indexed parameters and :func:`relabel_allocations` to relabel allocation vectors
(whose *values*, not axes, are labels).

References
----------
.. [1] Stephens, M. (2000). Dealing with label switching in mixture models. JRSS-B 62(4).
.. [2] Papastamoulis, P. and Iliopoulos, G. (2010). An artificial allocations based solution
   to the label switching problem in Bayesian analysis of mixtures of distributions. JCGS 19(2).
.. [3] Marin, J.-M., Mengersen, K. and Robert, C. P. (2005). Bayesian modelling and inference
   on mixtures of distributions. Handbook of Statistics 25.
.. [4] Papastamoulis, P. (2016). label.switching: An R package for dealing with the label
   switching problem in MCMC outputs. JSS 69(1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "RelabelResult",
    "allocations_from_probabilities",
    "apply_permutations",
    "compose_permutations",
    "ecr",
    "ecr_iterative",
    "invert_permutations",
    "order_by_feature",
    "pivot",
    "relabel_allocations",
    "stephens",
]

# Tolerance on "sums to one" checks; loose enough for float32 draws.
_SUM_ATOL = 1e-4
# Floor for probabilities inside logarithms (Stephens): keeps costs finite when a point
# has (numerically) zero probability under a component.
_LOG_FLOOR = 1e-12


class RelabelResult(NamedTuple):
    """Result of an iterative relabeling algorithm.

    Attributes
    ----------
    perms : numpy.ndarray
        Permutations, shape ``(S, K)``; see the module docstring for the convention.
    n_iter : int
        Number of iterations performed.
    converged : bool
        Whether the permutations stopped changing before ``max_iter`` was reached.
    """

    perms: np.ndarray
    n_iter: int
    converged: bool


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _float_array(x: object, name: str, ndim: int) -> np.ndarray:
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


def _int_array(x: object, name: str, ndim: int) -> np.ndarray:
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


def _check_n_components(n_components: object) -> int:
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise ValueError(f"n_components must be an integer, got {n_components!r}.")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}.")
    return int(n_components)


def _check_labels(labels: np.ndarray, name: str, n_components: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_components):
        raise ValueError(
            f"{name} labels must lie in [0, {n_components}), "
            f"got range [{labels.min()}, {labels.max()}]."
        )


def _check_perms(perms: object, name: str = "perms", n_components: int | None = None) -> np.ndarray:
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


def _check_probabilities(probabilities: object, name: str = "probabilities") -> np.ndarray:
    """Validate ``(S, N, K)`` membership probabilities: finite, in [0, 1], rows sum to 1."""
    prob = _float_array(probabilities, name, 3)
    if prob.shape[2] < 1:
        raise ValueError(f"{name} must have at least one component (last axis), got 0.")
    if np.any(prob < 0) or np.any(prob > 1 + _SUM_ATOL):
        raise ValueError(f"{name} must lie in [0, 1].")
    row_err = np.abs(prob.sum(axis=2) - 1.0)
    if np.any(row_err > _SUM_ATOL):
        raise ValueError(
            f"{name} must sum to 1 over the last (component) axis; "
            f"max deviation is {row_err.max():.3g}."
        )
    return prob


def _cholesky(cov: np.ndarray, name: str) -> np.ndarray:
    """Batched Cholesky factor; raises ValueError if any matrix is not SPD."""
    if not np.allclose(cov, np.swapaxes(cov, -1, -2), rtol=1e-8, atol=1e-10):
        raise ValueError(f"{name} must be symmetric.")
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"{name} must be positive definite.") from err


def _precision(cov: np.ndarray, name: str) -> np.ndarray:
    """Batched inverse of SPD matrices via Cholesky: ``Sigma^-1 = L^-T L^-1``."""
    chol = _cholesky(cov, name)
    eye = np.broadcast_to(np.eye(cov.shape[-1]), cov.shape)
    chol_inv = np.linalg.solve(chol, eye)
    return np.swapaxes(chol_inv, -1, -2) @ chol_inv


# ---------------------------------------------------------------------------
# Permutation algebra
# ---------------------------------------------------------------------------


def _solve_assignments(cost: np.ndarray, maximize: bool = False) -> np.ndarray:
    """Solve one assignment problem per draw.

    ``cost[s, k, j]`` is the cost of giving *new* label ``k`` to *old* component ``j`` of
    draw ``s``, so the column solution is directly ``perms[s]``. The Hungarian solver takes
    about 2 microseconds per 5x5 problem here, so a brute-force K! path was measured to be
    no faster for K >= 4 and is deliberately not used.
    """
    n_draws, n_comp, _ = cost.shape
    perms = np.empty((n_draws, n_comp), dtype=np.intp)
    for s in range(n_draws):
        # Rows come back as arange(K), so the columns are the permutation itself.
        perms[s] = linear_sum_assignment(cost[s], maximize=maximize)[1]
    return perms


def invert_permutations(perms: np.ndarray) -> np.ndarray:
    """Invert per-draw permutations.

    The result ``inv`` satisfies ``inv[s, perms[s, k]] = k``; hence
    ``apply_permutations(apply_permutations(x, perms), inv)`` equals ``x``, and ``inv[s, j]``
    is the *new* label given to *old* component ``j`` of draw ``s``.

    Parameters
    ----------
    perms : numpy.ndarray
        Integer array of shape ``(S, K)`` whose rows are permutations of ``0..K-1``.

    Returns
    -------
    numpy.ndarray
        Inverse permutations, shape ``(S, K)``, dtype ``intp``.
    """
    perms = _check_perms(perms)
    inv = np.empty_like(perms)
    np.put_along_axis(inv, perms, np.arange(perms.shape[1])[None, :], axis=1)
    return inv


def compose_permutations(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Compose two relabelings: apply ``first``, then ``second``.

    Returns ``composed`` with ``composed[s, k] = first[s, second[s, k]]``, so that
    ``apply_permutations(x, composed)`` equals
    ``apply_permutations(apply_permutations(x, first), second)``.

    Parameters
    ----------
    first, second : numpy.ndarray
        Integer arrays of shape ``(S, K)`` (per-draw permutations) or ``(K,)`` (one global
        permutation, broadcast over draws). At least one must be 2-D unless both are 1-D.

    Returns
    -------
    numpy.ndarray
        Composed permutations, shape ``(S, K)`` (``(1, K)`` if both inputs are 1-D).
    """
    first_arr = _check_perms(np.atleast_2d(first), "first")
    second_arr = _check_perms(np.atleast_2d(second), "second", n_components=first_arr.shape[1])
    n_first, n_second = first_arr.shape[0], second_arr.shape[0]
    if n_first != n_second and 1 not in (n_first, n_second):
        raise ValueError(
            f"first and second must have the same number of draws (or one global "
            f"permutation), got {n_first} and {n_second}."
        )
    n_draws = max(n_first, n_second)
    shape = (n_draws, first_arr.shape[1])
    return np.take_along_axis(
        np.broadcast_to(first_arr, shape), np.broadcast_to(second_arr, shape), axis=1
    )


def _permute_one(arr: np.ndarray, perms: np.ndarray, axis: int, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    n_draws, n_comp = perms.shape
    if arr.ndim < 2:
        raise ValueError(f"{name} must be at least 2-D (draws, components, ...), got {arr.shape}.")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of bounds for {name} with shape {arr.shape}.")
    axis %= arr.ndim
    if axis == 0:
        raise ValueError("axis 0 is the draw axis; the component axis must be >= 1.")
    if arr.shape[0] != n_draws:
        raise ValueError(f"{name} has {arr.shape[0]} draws (axis 0) but perms has {n_draws}.")
    if arr.shape[axis] != n_comp:
        raise ValueError(
            f"{name} has {arr.shape[axis]} components on axis {axis} but perms has K={n_comp}."
        )
    # Indices shaped (S, 1, .., K, .., 1) broadcast over every other trailing axis.
    index_shape = [1] * arr.ndim
    index_shape[0], index_shape[axis] = n_draws, n_comp
    return np.take_along_axis(arr, perms.reshape(index_shape), axis=axis)


def apply_permutations(
    arrays: np.ndarray | Mapping[str, np.ndarray],
    perms: np.ndarray,
    axis: int | Mapping[str, int] = 1,
) -> np.ndarray | dict[str, np.ndarray]:
    """Relabel component-indexed arrays draw by draw.

    Computes ``out[s, ..., k, ...] = arr[s, ..., perms[s, k], ...]`` along the component axis.

    Parameters
    ----------
    arrays : numpy.ndarray or Mapping[str, numpy.ndarray]
        One array, or a mapping of names to arrays. Axis 0 indexes draws and must have length
        ``S``; the component axis must have length ``K``.
    perms : numpy.ndarray
        Permutations, shape ``(S, K)``; see the module docstring for the convention.
    axis : int or Mapping[str, int], default 1
        Component axis (negative values count from the end; 0 is not allowed). For mapping
        input, a mapping of name -> axis may be given; names absent from it use axis 1
        (e.g. ``axis={"probabilities": -1}``).

    Returns
    -------
    numpy.ndarray or dict[str, numpy.ndarray]
        New array(s); a ``dict`` when ``arrays`` is a mapping. Inputs are not modified.

    Raises
    ------
    ValueError
        If ``perms`` is not a valid ``(S, K)`` permutation array or an array's draw or
        component axis does not match it.
    """
    perms_arr = _check_perms(perms)
    if isinstance(arrays, Mapping):
        if isinstance(axis, Mapping):
            unknown = set(axis) - set(arrays)
            if unknown:
                raise ValueError(f"axis names {sorted(unknown)} are not keys of arrays.")
            axes = {name: axis.get(name, 1) for name in arrays}
        else:
            axes = dict.fromkeys(arrays, axis)
        return {
            name: _permute_one(arr, perms_arr, axes[name], repr(name))
            for name, arr in arrays.items()
        }
    if isinstance(axis, Mapping):
        raise ValueError("axis may only be a mapping when arrays is a mapping.")
    return _permute_one(arrays, perms_arr, axis, "array")


def relabel_allocations(allocations: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Relabel allocation vectors (component labels per observation) draw by draw.

    Old label ``j`` of draw ``s`` becomes new label ``inv[s, j]`` where
    ``inv = invert_permutations(perms)``; this is consistent with
    :func:`apply_permutations` applied to the component parameters.

    Parameters
    ----------
    allocations : numpy.ndarray
        Integer labels in ``[0, K)``, shape ``(S, N)``.
    perms : numpy.ndarray
        Permutations, shape ``(S, K)``.

    Returns
    -------
    numpy.ndarray
        Relabeled allocations, shape ``(S, N)``, dtype ``intp``.
    """
    perms_arr = _check_perms(perms)
    alloc = _int_array(allocations, "allocations", 2)
    if alloc.shape[0] != perms_arr.shape[0]:
        raise ValueError(
            f"allocations has {alloc.shape[0]} draws but perms has {perms_arr.shape[0]}."
        )
    _check_labels(alloc, "allocations", perms_arr.shape[1])
    return np.take_along_axis(invert_permutations(perms_arr), alloc, axis=1)


# ---------------------------------------------------------------------------
# Identifiability constraint
# ---------------------------------------------------------------------------


def order_by_feature(means: np.ndarray, feature: int = 0) -> np.ndarray:
    """Relabel by sorting each draw's components on one coordinate of the means.

    This is the identifiability-constraint approach (e.g. ``mu_1 < mu_2 < ... < mu_K``
    on ``feature``), applied after sampling.

    Parameters
    ----------
    means : numpy.ndarray
        Component means, shape ``(S, K, D)`` (use ``means[..., None]`` for univariate).
    feature : int, default 0
        Coordinate used for ordering.

    Returns
    -------
    numpy.ndarray
        Permutations, shape ``(S, K)``: ``means[s, perms[s], feature]`` is ascending.

    Notes
    -----
    Known failure: when two components overlap in ``feature`` (their means are close
    relative to their posterior standard deviations), the constraint does not separate them;
    it instead splits their joint posterior at the order statistic. Draws are then relabeled
    inconsistently, components are mixed, and summaries are distorted and biased (e.g. the
    ordered means are pushed apart, and other parameters of the two components are
    averaged together). Prefer :func:`pivot`, :func:`ecr` or :func:`stephens` unless the
    chosen coordinate is clearly separated for every pair of components.
    """
    means_arr = _float_array(means, "means", 3)
    n_dim = means_arr.shape[2]
    if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
        raise ValueError(f"feature must be an integer, got {feature!r}.")
    if not -n_dim <= feature < n_dim:
        raise ValueError(f"feature {feature} is out of range for D={n_dim}.")
    # Stable sort: exact ties keep their original order, making the result deterministic.
    return np.argsort(means_arr[:, :, feature], axis=1, kind="stable").astype(np.intp)


# ---------------------------------------------------------------------------
# Pivotal reordering
# ---------------------------------------------------------------------------


def _symmetrised_kl(
    means: np.ndarray,
    prec: np.ndarray,
    cov: np.ndarray,
    ref_means: np.ndarray,
    ref_prec: np.ndarray,
    ref_cov: np.ndarray,
) -> np.ndarray:
    """Symmetrised KL ``KL(p||q) + KL(q||p)`` for all (draw, new k, old j) pairs.

    For Gaussians the log-determinants cancel::

        2 * J = tr(Pq Sp) + tr(Pp Sq) + dm^T (Pp + Pq) dm - 2 D

    Returns an array of shape ``(S, K, K)`` indexed ``[s, k (reference), j (draw)]``.
    """
    n_dim = means.shape[-1]
    # Traces of products of symmetric matrices are sums of elementwise products.
    tr_ref_prec_cov = np.einsum("kab,sjab->skj", ref_prec, cov, optimize=True)
    tr_prec_ref_cov = np.einsum("sjab,kab->skj", prec, ref_cov, optimize=True)
    diff = means[:, None, :, :] - ref_means[None, :, None, :]  # (S, K_ref, K_draw, D)
    maha_ref = np.einsum("skjd,kde,skje->skj", diff, ref_prec, diff, optimize=True)
    maha_draw = np.einsum("skjd,sjde,skje->skj", diff, prec, diff, optimize=True)
    return 0.5 * (tr_ref_prec_cov + tr_prec_ref_cov + maha_ref + maha_draw - 2 * n_dim)


def pivot(
    means: np.ndarray,
    covariances: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    *,
    reference_means: np.ndarray,
    reference_covariances: np.ndarray | None = None,
) -> np.ndarray:
    """Pivotal reordering: match every draw's components to a reference labeling.

    Each draw is relabeled by the Hungarian algorithm so that new label ``k`` is the draw
    component closest to reference component ``k`` (Marin, Mengersen & Robert, 2005). A
    natural reference is a high-posterior draw (e.g. the MAP draw) or a point estimate.

    Parameters
    ----------
    means : numpy.ndarray
        Component means of the draws, shape ``(S, K, D)``.
    covariances : numpy.ndarray, optional
        Component covariances of the draws, shape ``(S, K, D, D)``. Requires
        ``reference_covariances``.
    weights : numpy.ndarray, optional
        Mixture weights of the draws, shape ``(S, K)``, non-negative, rows summing to 1.
        If given, the cost of matching draw component ``j`` is multiplied by
        ``weights[s, j]`` so that heavy components are matched first and nearly empty
        components (whose parameters mostly reflect the prior) cannot displace them.
    reference_means : numpy.ndarray
        Reference means, shape ``(K, D)``. Keyword-only, required.
    reference_covariances : numpy.ndarray, optional
        Reference covariances, shape ``(K, D, D)``.

    Returns
    -------
    numpy.ndarray
        Permutations, shape ``(S, K)``.

    Notes
    -----
    The matching cost between draw component ``j`` and reference component ``k`` is

    * with ``covariances`` and ``reference_covariances``: the symmetrised Kullback-Leibler
      divergence between ``N(mu_j, Sigma_j)`` and ``N(ref_mu_k, ref_Sigma_k)``, which
      separates components that differ in shape/scale but share a location;
    * with only ``reference_covariances``: the squared Mahalanobis distance between the
      means under the pooled (averaged) reference covariance;
    * otherwise: the squared Euclidean distance between the means.
    """
    means_arr = _float_array(means, "means", 3)
    n_draws, n_comp, n_dim = means_arr.shape
    ref_means = _float_array(reference_means, "reference_means", 2)
    if ref_means.shape != (n_comp, n_dim):
        raise ValueError(
            f"reference_means must have shape (K, D) = {(n_comp, n_dim)}, got {ref_means.shape}."
        )
    ref_cov = None
    if reference_covariances is not None:
        ref_cov = _float_array(reference_covariances, "reference_covariances", 3)
        if ref_cov.shape != (n_comp, n_dim, n_dim):
            raise ValueError(
                f"reference_covariances must have shape (K, D, D) = {(n_comp, n_dim, n_dim)}, "
                f"got {ref_cov.shape}."
            )

    if covariances is not None:
        if ref_cov is None:
            raise ValueError("covariances were given but reference_covariances is missing.")
        cov = _float_array(covariances, "covariances", 4)
        if cov.shape != (n_draws, n_comp, n_dim, n_dim):
            raise ValueError(
                f"covariances must have shape (S, K, D, D) = "
                f"{(n_draws, n_comp, n_dim, n_dim)}, got {cov.shape}."
            )
        cost = _symmetrised_kl(
            means_arr,
            _precision(cov, "covariances"),
            cov,
            ref_means,
            _precision(ref_cov, "reference_covariances"),
            ref_cov,
        )
    else:
        diff = means_arr[:, None, :, :] - ref_means[None, :, None, :]  # (S, K_ref, K_draw, D)
        if ref_cov is not None:
            pooled_prec = _precision(ref_cov.mean(axis=0), "pooled reference covariance")
            cost = np.einsum("skjd,de,skje->skj", diff, pooled_prec, diff, optimize=True)
        else:
            cost = np.einsum("skjd,skjd->skj", diff, diff)

    if weights is not None:
        w = _float_array(weights, "weights", 2)
        if w.shape != (n_draws, n_comp):
            raise ValueError(
                f"weights must have shape (S, K) = {(n_draws, n_comp)}, got {w.shape}."
            )
        if np.any(w < 0) or np.any(np.abs(w.sum(axis=1) - 1.0) > _SUM_ATOL):
            raise ValueError("weights must be non-negative and each row must sum to 1.")
        cost = cost * w[:, None, :]
    return _solve_assignments(cost)


# ---------------------------------------------------------------------------
# ECR (equivalence classes representatives)
# ---------------------------------------------------------------------------


def _check_allocations(allocations: object, n_components: object) -> tuple[np.ndarray, int]:
    n_comp = _check_n_components(n_components)
    alloc = _int_array(allocations, "allocations", 2)
    _check_labels(alloc, "allocations", n_comp)
    return alloc, n_comp


def _check_pivot_allocation(pivot_allocation: object, n_obs: int, n_comp: int) -> np.ndarray:
    piv = _int_array(pivot_allocation, "pivot_allocation", 1)
    if piv.shape != (n_obs,):
        raise ValueError(
            f"pivot_allocation must have shape (N,) = ({n_obs},) to match allocations, "
            f"got {piv.shape}."
        )
    _check_labels(piv, "pivot_allocation", n_comp)
    return piv


def _ecr(alloc: np.ndarray, piv: np.ndarray, n_comp: int) -> np.ndarray:
    n_draws = alloc.shape[0]
    # counts[s, k, j] = #{n : pivot label k and draw-s label j}, built in one bincount.
    flat = (np.arange(n_draws)[:, None] * n_comp + piv[None, :]) * n_comp + alloc
    counts = np.bincount(flat.ravel(), minlength=n_draws * n_comp * n_comp)
    return _solve_assignments(counts.reshape(n_draws, n_comp, n_comp), maximize=True)


def ecr(allocations: np.ndarray, pivot_allocation: np.ndarray, n_components: int) -> np.ndarray:
    """ECR algorithm, pivot version (Papastamoulis & Iliopoulos, 2010).

    Each draw is relabeled so that its relabeled allocation vector agrees with
    ``pivot_allocation`` on as many observations as possible.

    Parameters
    ----------
    allocations : numpy.ndarray
        Integer labels in ``[0, K)``, shape ``(S, N)``.
    pivot_allocation : numpy.ndarray
        Reference allocation vector, shape ``(N,)`` (e.g. the MAP draw's allocations).
    n_components : int
        Number of components ``K``.

    Returns
    -------
    numpy.ndarray
        Permutations, shape ``(S, K)``.
    """
    alloc, n_comp = _check_allocations(allocations, n_components)
    piv = _check_pivot_allocation(pivot_allocation, alloc.shape[1], n_comp)
    return _ecr(alloc, piv, n_comp)


def _modal_labels(alloc: np.ndarray, n_comp: int) -> np.ndarray:
    """Per-observation most frequent label over draws (ties go to the smallest label)."""
    n_obs = alloc.shape[1]
    counts = np.bincount(
        (np.arange(n_obs)[None, :] * n_comp + alloc).ravel(), minlength=n_obs * n_comp
    )
    return counts.reshape(n_obs, n_comp).argmax(axis=1)


def ecr_iterative(
    allocations: np.ndarray,
    n_components: int,
    max_iter: int = 100,
    pivot_allocation: np.ndarray | None = None,
) -> RelabelResult:
    """ECR-ITERATIVE-1 (Papastamoulis & Iliopoulos, 2010).

    Starting from a pivot allocation, repeatedly relabel with :func:`ecr` and replace the
    pivot by the per-observation modal label of the relabeled allocations, until the
    permutations stop changing.

    Parameters
    ----------
    allocations : numpy.ndarray
        Integer labels in ``[0, K)``, shape ``(S, N)``.
    n_components : int
        Number of components ``K``.
    max_iter : int, default 100
        Maximum number of ECR passes.
    pivot_allocation : numpy.ndarray, optional
        Initial pivot, shape ``(N,)``. Defaults to the first draw's allocations.

    Returns
    -------
    RelabelResult
        ``perms`` (S, K), ``n_iter`` (ECR passes) and ``converged``.
    """
    alloc, n_comp = _check_allocations(allocations, n_components)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if alloc.shape[0] == 0:
        raise ValueError("allocations must contain at least one draw.")
    piv = (
        alloc[0]
        if pivot_allocation is None
        else _check_pivot_allocation(pivot_allocation, alloc.shape[1], n_comp)
    )
    perms = _ecr(alloc, piv, n_comp)
    for n_iter in range(2, max_iter + 1):
        piv = _modal_labels(relabel_allocations(alloc, perms), n_comp)
        new_perms = _ecr(alloc, piv, n_comp)
        if np.array_equal(new_perms, perms):
            return RelabelResult(new_perms, n_iter, True)
        perms = new_perms
    return RelabelResult(perms, max_iter, False)


# ---------------------------------------------------------------------------
# Stephens' KL algorithm
# ---------------------------------------------------------------------------


def stephens(
    probabilities: np.ndarray,
    max_iter: int = 100,
    tol: float = 0.0,
    init_perms: np.ndarray | None = None,
) -> RelabelResult:
    """Stephens' (2000) Kullback-Leibler relabeling algorithm.

    Alternates between (a) ``Q[n, k]``, the mean over draws of the relabeled membership
    probabilities, and (b) for each draw, the permutation minimising
    ``sum_n sum_k p~[s, n, k] * log(p~[s, n, k] / Q[n, k])`` where ``p~`` is the draw's
    relabeled probabilities. Each step cannot increase the total KL divergence.

    Parameters
    ----------
    probabilities : numpy.ndarray
        Membership probabilities ``p[s, n, k] = P(z_n = k | theta_s, x)``, shape
        ``(S, N, K)``; entries in [0, 1], summing to 1 over ``k``.
    max_iter : int, default 100
        Maximum number of (Q, permutation) updates.
    tol : float, default 0.0
        Stop when the fraction of draws whose permutation changed in an iteration is
        ``<= tol``. The default stops only when no permutation changes.
    init_perms : numpy.ndarray, optional
        Initial permutations, shape ``(S, K)``; defaults to the identity (e.g. pass the
        output of :func:`pivot` or :func:`ecr` as a warm start).

    Returns
    -------
    RelabelResult
        ``perms`` (S, K), ``n_iter`` (permutation updates) and ``converged``.

    Notes
    -----
    The ``sum p log p`` term does not depend on the permutation and is dropped, so the cost
    of giving new label ``k`` to old component ``j`` of draw ``s`` is
    ``-sum_n p[s, n, j] * log Q[n, k]``. With the probabilities stored once as an
    ``(N, S*K)`` matrix, both ``Q`` and all ``S`` cost matrices are single matrix products;
    only the ``K x K`` assignment problems are solved in a loop. ``Q`` is floored at
    ``1e-12`` before taking logs. Memory: one float64 copy of ``probabilities``.
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if not 0.0 <= tol < 1.0:
        raise ValueError(f"tol must lie in [0, 1), got {tol!r}.")
    prob = _check_probabilities(probabilities)
    n_draws, n_obs, n_comp = prob.shape
    if n_draws == 0:
        raise ValueError("probabilities must contain at least one draw.")
    if init_perms is None:
        perms = np.tile(np.arange(n_comp, dtype=np.intp), (n_draws, 1))
    else:
        perms = _check_perms(init_perms, "init_perms", n_components=n_comp)
        if perms.shape[0] != n_draws:
            raise ValueError(
                f"init_perms has {perms.shape[0]} draws but probabilities has {n_draws}."
            )
        perms = perms.copy()

    # (N, S*K) layout: column s*K + j holds p[s, :, j]; both updates become one GEMM each.
    prob_t = np.ascontiguousarray(prob.transpose(1, 0, 2)).reshape(n_obs, n_draws * n_comp)
    draw_offsets = (np.arange(n_draws) * n_comp)[:, None]
    for n_iter in range(1, max_iter + 1):
        # selector[s*K + perms[s, k], k] = 1, so prob_t @ selector sums relabeled draws.
        selector = np.zeros((n_draws * n_comp, n_comp))
        selector[(draw_offsets + perms).ravel(), np.tile(np.arange(n_comp), n_draws)] = 1.0
        q = (prob_t @ selector) / n_draws
        log_q = np.log(np.maximum(q, _LOG_FLOOR))
        # cost[s, k, j] = -sum_n log Q[n, k] * p[s, n, j]
        cost = -(log_q.T @ prob_t).reshape(n_comp, n_draws, n_comp).transpose(1, 0, 2)
        new_perms = _solve_assignments(cost)
        changed = np.mean(np.any(new_perms != perms, axis=1))
        perms = new_perms
        if changed <= tol:
            return RelabelResult(perms, n_iter, True)
    return RelabelResult(perms, max_iter, False)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def allocations_from_probabilities(
    probabilities: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Allocation vectors from per-draw membership probabilities.

    Parameters
    ----------
    probabilities : numpy.ndarray
        Membership probabilities, shape ``(S, N, K)``, rows summing to 1.
    rng : numpy.random.Generator, optional
        If given, allocations are sampled ``z[s, n] ~ Categorical(p[s, n])``; otherwise the
        MAP (argmax) allocation is returned.

    Returns
    -------
    numpy.ndarray
        Integer labels, shape ``(S, N)``, dtype ``intp``.
    """
    prob = _check_probabilities(probabilities)
    if rng is None:
        return prob.argmax(axis=2).astype(np.intp)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {type(rng)}.")
    n_comp = prob.shape[2]
    # Inverse-CDF sampling against the row total, so rounding in the cumulative sum cannot
    # push u past the last component; the clip covers the remaining rounding edge case.
    cdf = np.cumsum(prob, axis=2)
    u = rng.random((*prob.shape[:2], 1)) * cdf[:, :, -1:]
    labels = (cdf <= u).sum(axis=2)
    return np.minimum(labels, n_comp - 1).astype(np.intp)
