"""Permutation algebra: apply, invert and compose per-draw relabelings; allocations.

See :mod:`bayesgmm.posterior.relabel` for the convention ``relabeled[s, k] = original[s,
perms[s, k]]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from bayesgmm.mixture.allocations import categorical_from_uniforms
from bayesgmm.posterior.relabel._checks import (
    check_labels,
    check_perms,
    check_probabilities,
    float_array,
    int_array,
)

__all__ = [
    "RelabelResult",
    "allocations_from_probabilities",
    "apply_permutations",
    "compose_permutations",
    "invert_permutations",
    "order_by_feature",
    "relabel_allocations",
    "solve_assignments",
]


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


def solve_assignments(cost: np.ndarray, maximize: bool = False) -> np.ndarray:
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
    perms = check_perms(perms)
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
    first_arr = check_perms(np.atleast_2d(first), "first")
    second_arr = check_perms(np.atleast_2d(second), "second", n_components=first_arr.shape[1])
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


def permute_one(arr: np.ndarray, perms: np.ndarray, axis: int, name: str) -> np.ndarray:
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
    perms_arr = check_perms(perms)
    if isinstance(arrays, Mapping):
        if isinstance(axis, Mapping):
            unknown = set(axis) - set(arrays)
            if unknown:
                raise ValueError(f"axis names {sorted(unknown)} are not keys of arrays.")
            axes = {name: axis.get(name, 1) for name in arrays}
        else:
            axes = dict.fromkeys(arrays, axis)
        return {
            name: permute_one(arr, perms_arr, axes[name], repr(name))
            for name, arr in arrays.items()
        }
    if isinstance(axis, Mapping):
        raise ValueError("axis may only be a mapping when arrays is a mapping.")
    return permute_one(arrays, perms_arr, axis, "array")


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
    perms_arr = check_perms(perms)
    alloc = int_array(allocations, "allocations", 2)
    if alloc.shape[0] != perms_arr.shape[0]:
        raise ValueError(
            f"allocations has {alloc.shape[0]} draws but perms has {perms_arr.shape[0]}."
        )
    check_labels(alloc, "allocations", perms_arr.shape[1])
    return np.take_along_axis(invert_permutations(perms_arr), alloc, axis=1)


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
    means_arr = float_array(means, "means", 3)
    n_dim = means_arr.shape[2]
    if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
        raise ValueError(f"feature must be an integer, got {feature!r}.")
    if not -n_dim <= feature < n_dim:
        raise ValueError(f"feature {feature} is out of range for D={n_dim}.")
    # Stable sort: exact ties keep their original order, making the result deterministic.
    return np.argsort(means_arr[:, :, feature], axis=1, kind="stable").astype(np.intp)


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

    See Also
    --------
    bayesgmm.mixture.allocations.sample_allocations : the same draws from the posterior
        draws' parameters, in blocks that bound memory (what the package's functions use).
    """
    prob = check_probabilities(probabilities)
    if rng is None:
        return prob.argmax(axis=2).astype(np.intp)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {type(rng)}.")
    return categorical_from_uniforms(prob, rng.random(prob.shape[:2]))
