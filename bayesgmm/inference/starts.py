"""Starting points of the runners: a MAP-EM fit of the same mixture, jittered per chain."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bayesgmm import draws as draw_math
from bayesgmm._validation import CheckedData, seed_int
from bayesgmm.covariance import as_full
from bayesgmm.em import EMResult, fit_em
from bayesgmm.model import GMMModel
from bayesgmm.parametrization import cpc_from_cholesky
from bayesgmm.spec import MixtureSpec
from bayesgmm.standardize import feature_moments
from bayesgmm.transforms import jitter, pack

__all__ = ["START_POINTS", "em_initial_point", "em_start", "jittered_points"]

# Rows of the MAP-EM start of a minibatch fit: a start, not an estimate, and EM over all
# of N = 1e6 rows would cost more than the whole stochastic fit.
START_POINTS = 20_000


def em_start(data: np.ndarray, n_components: int, covariance_type: str, seed: int) -> EMResult:
    """The MAP-EM fit every Bayesian fit starts from (data units), on validated ``data``.

    The MAP prior keeps components from collapsing; the covariance floor is relative to
    the data, as the posterior's internal units are (an absolute 1e-6 would swamp data
    measured in units of 1e-12).
    """
    variances = feature_moments(data)[1] ** 2  # accurate at large offsets
    positive = variances[variances > 0]
    floor = float(positive.min()) if positive.size else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_em(
            CheckedData(data, None),  # validated once, by the facade or build_model
            n_components,
            covariance_type,
            n_init=3,
            prior="default",
            reg_covar=1e-6 * floor,
            random_seed=seed,
        )


def start_rows(data: np.ndarray, max_points: int | None, seed: int) -> np.ndarray:
    """The rows a start is fitted on: all, or a seeded subsample of ``max_points``."""
    return draw_math.subsample_rows(data, max_points, np.random.default_rng(seed))


def em_initial_point(
    gmm: GMMModel,
    random_seed: Any = None,
    max_points: int | None = None,
    start: EMResult | None = None,
) -> dict[str, np.ndarray]:
    """Constrained starting values (internal units, the model's names) from MAP-EM.

    Chains started here begin in one labelling of the K! symmetric modes and skip the
    long transient from a symmetric start. ``start`` is a MAP-EM fit in data units that
    the caller already has (so it runs once per fit); otherwise one is fitted, on a
    random subsample of ``max_points`` rows when given (minibatch fits, whose whole point
    is not to pass over all N at every step).
    """
    spec = gmm.spec
    if start is None:
        seed = seed_int(random_seed)
        rows = start_rows(gmm.data, max_points, seed)
        start = em_start(rows, spec.n_components, spec.covariance_type, seed)
    return spec.split_ordered(_internal_point(spec, start))


def _internal_point(spec: MixtureSpec, fit: EMResult) -> dict[str, np.ndarray]:
    """EM's weights, means and covariances as the model's variables, in internal units."""
    k, d, cov_type = spec.n_components, spec.n_features, spec.covariance_type
    standard = spec.standardization
    cov = as_full(fit.covariances, cov_type, k, d) / np.outer(standard.scale, standard.scale)
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    weights = np.clip(fit.weights, 1e-6, None)
    point = {"weights": weights / weights.sum(), "means": standard.to_internal(fit.means)}
    point["stds"] = {"full": sd, "diag": sd, "spherical": sd[:, 0], "tied": sd[0]}[cov_type]
    if cov_type in ("full", "tied") and d > 1:
        corr = cov / (sd[:, :, None] * sd[:, None, :])
        cpc = cpc_from_cholesky(np.linalg.cholesky(corr))
        unit = np.clip((1.0 + cpc) / 2.0, 1e-3, 1 - 1e-3)
        point["partial_corr_unit"] = unit if cov_type == "full" else unit[0]
    return point


def jittered_points(
    spec: MixtureSpec, base: dict[str, np.ndarray], rng: np.random.Generator, n: int
) -> list[dict[str, np.ndarray]]:
    """``n`` starts near ``base`` (model variable names), jittered on the unconstrained
    scale, one per chain."""
    theta = pack(base, spec.blocks)
    return [spec.unpack(jitter(theta, spec.blocks, rng, 0.05)) for _ in range(n)]
