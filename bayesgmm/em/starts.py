"""Starting points of EM: k-means++, random and random-row starts, on a subsample of
rows, and starts given by the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesgmm.em.results import EMResult, GMMParams, SufficientStats
from bayesgmm.mixture.covariance import (
    precisions_cholesky,
)
from bayesgmm.mixture.structures import get_structure

_INIT_METHODS = ("auto", "hc", "kmeans++", "random", "random_from_data")


# Starts (and the emEM short runs) use a random subsample of at most
# max(_INIT_SUBSAMPLE_MIN, _INIT_SUBSAMPLE_PER_COMPONENT * K) rows, so that their cost does
# not grow with N; EM's first iteration is then the full E-step on all rows. 2000 is what
# mclust gives its hierarchical start; 50 rows per component leave a component of weight
# 1 / (2K) about 25 rows, enough to place it and, for D < 24, to give it a full covariance.
_INIT_SUBSAMPLE_MIN = 2000
_INIT_SUBSAMPLE_PER_COMPONENT = 50


def init_subsample_size(n_samples: int, n_components: int) -> int:
    """Rows the starts of :func:`fit_em` use: ``max(2000, 50 K)``, capped at ``N``."""
    wanted = max(_INIT_SUBSAMPLE_MIN, _INIT_SUBSAMPLE_PER_COMPONENT * n_components)
    return min(n_samples, wanted)


def init_subsample_rows(
    n_samples: int, n_components: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Sorted random rows for the starts, or ``None`` when every row is used.

    With ``N`` at most :func:`init_subsample_size` no random number is drawn, so that small
    data get exactly the starts they got before subsampling existed.
    """
    size = init_subsample_size(n_samples, n_components)
    if size >= n_samples:
        return None
    return np.sort(rng.choice(n_samples, size=size, replace=False))


def _standardize(X: np.ndarray) -> np.ndarray:
    """Centred columns divided by their standard deviation (constant columns left as 0).

    Starts are computed on this scale, so that they, like EM itself, do not depend on the
    units of each feature.
    """
    centred = X - X.mean(axis=0)
    scale = centred.std(axis=0)
    scale[scale == 0] = 1.0
    return centred / scale


def _kmeans_plus_plus(X: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) with greedy local trials."""
    n_samples = X.shape[0]
    n_trials = 2 + int(np.log(n_components))
    sq_norms = np.einsum("nd,nd->n", X, X)
    centers = np.empty((n_components, X.shape[1]))
    centers[0] = X[rng.integers(n_samples)]
    closest = np.maximum(sq_norms - 2 * X @ centers[0] + centers[0] @ centers[0], 0.0)
    for k in range(1, n_components):
        total = closest.sum()
        if total <= 0:  # all remaining points coincide with chosen centres
            candidates = rng.integers(n_samples, size=n_trials)
        else:
            candidates = np.searchsorted(np.cumsum(closest), rng.random(n_trials) * total)
            candidates = np.minimum(candidates, n_samples - 1)
        cand = X[candidates]
        dist = np.maximum(
            sq_norms[None, :] - 2 * cand @ X.T + np.einsum("cd,cd->c", cand, cand)[:, None], 0
        )
        dist = np.minimum(dist, closest[None, :])
        best = int(np.argmin(dist.sum(axis=1)))
        centers[k] = cand[best]
        closest = dist[best]
    return centers


def _kmeans_labels(
    X: np.ndarray, n_components: int, rng: np.random.Generator, max_iter: int = 100
) -> np.ndarray:
    """Lloyd's k-means from k-means++ seeds; returns the hard labels."""
    centers = _kmeans_plus_plus(X, n_components, rng)
    sq_norms = np.einsum("nd,nd->n", X, X)
    labels = np.full(X.shape[0], -1)
    for _ in range(max_iter):
        dist = sq_norms[:, None] - 2 * X @ centers.T + np.einsum("kd,kd->k", centers, centers)
        new_labels = np.argmin(dist, axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=n_components)
        for k in np.flatnonzero(counts == 0):  # re-seed an empty cluster at the worst point
            far = int(np.argmax(dist[np.arange(X.shape[0]), labels]))
            labels[far] = k
            dist[far] = -np.inf
        counts = np.bincount(labels, minlength=n_components)
        centers = np.zeros_like(centers)
        np.add.at(centers, labels, X)
        centers /= counts[:, None]
    return labels


def _initial_responsibilities(
    Z: np.ndarray, n_components: int, init: str, rng: np.random.Generator
) -> np.ndarray:
    """Starting responsibilities (N, K) of one strategy.

    ``Z`` is the standardised data (:func:`_standardize`): distances between points, and
    so the k-means++ and random-row starts, do not depend on the units of the features.
    """
    n_samples = Z.shape[0]
    if init in ("kmeans++", "kmeans"):
        resp = np.zeros((n_samples, n_components))
        resp[np.arange(n_samples), _kmeans_labels(Z, n_components, rng)] = 1.0
    elif init == "random":
        resp = rng.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    elif init == "random_from_data":
        centers = Z[rng.choice(n_samples, size=n_components, replace=False)]
        dist = np.einsum("nd,nd->n", Z, Z)[:, None] - 2 * Z @ centers.T
        dist += np.einsum("kd,kd->k", centers, centers)
        resp = np.zeros((n_samples, n_components))
        resp[np.arange(n_samples), np.argmin(dist, axis=1)] = 1.0
    else:
        raise ValueError(_init_error(init))
    return resp


def _init_error(init: Any) -> str:
    return (
        "init must be 'auto', 'hc', 'kmeans++', 'random', 'random_from_data' or a mapping with "
        f"'weights', 'means' and 'covariances'; got {init!r}."
    )


def _stats_from_resp(
    X: np.ndarray,
    resp: np.ndarray,
    covariance_type: str,
    sample_weight: np.ndarray | None = None,
) -> SufficientStats:
    if sample_weight is not None:
        resp = resp * sample_weight[:, None]
    second = get_structure(covariance_type).second_moment(X, resp, sample_weight)
    return SufficientStats(resp.sum(axis=0), resp.T @ X, second, np.nan, X.shape[0], np.nan)


def align_to_labels(resp: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Starting responsibilities (N, K) that agree with the known labels.

    A start's components come in an arbitrary order. They are permuted to best agree
    with the labelled rows (the assignment that maximises the summed responsibility of
    each labelled row for its own label, by the Hungarian algorithm), then the labelled
    rows are set one-hot on their labels, as the E-step keeps them.
    """
    from scipy.optimize import linear_sum_assignment

    known = np.flatnonzero(labels >= 0)
    if known.size == 0:
        return resp
    n_components = resp.shape[1]
    agreement = np.zeros((n_components, n_components))
    np.add.at(agreement, labels[known], resp[known])  # [label, start component]
    _, order = linear_sum_assignment(agreement, maximize=True)
    aligned = resp[:, order]
    aligned[known] = 0.0
    aligned[known, labels[known]] = 1.0
    return aligned


def _params_from_user(
    init: Mapping[str, Any] | GMMParams | EMResult,
    n_components: int,
    n_features: int,
    covariance_type: str,
    reg_covar: float,
) -> GMMParams:
    get = init.__getitem__ if isinstance(init, Mapping) else lambda name: getattr(init, name)
    try:
        weights = np.array(get("weights"), dtype=np.float64)
        means = np.array(get("means"), dtype=np.float64)
        covariances = np.array(get("covariances"), dtype=np.float64)
    except (KeyError, AttributeError) as exc:
        raise ValueError("initial parameters need 'weights', 'means' and 'covariances'.") from exc
    from bayesgmm.mixture.covariance import covariance_shape

    expected = {
        "weights": (weights, (n_components,)),
        "means": (means, (n_components, n_features)),
        "covariances": (covariances, covariance_shape(covariance_type, n_components, n_features)),
    }
    for name, (value, shape) in expected.items():
        if value.shape != shape:
            raise ValueError(f"initial {name} must have shape {shape}; got {value.shape}.")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"initial {name} contain NaN or infinity.")
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"initial weights must be >= 0 and sum to 1; got {weights}.")
    prec_chol = precisions_cholesky(covariances, covariance_type, reg_covar=reg_covar)
    return GMMParams(weights, means, covariances, prec_chol, covariance_type)
