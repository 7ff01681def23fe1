"""Starting points of the runners: a MAP-EM fit of the same mixture, jittered per chain."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from bayesgmm._utils.validation import CheckedData, seed_int
from bayesgmm.bayes.model.graph import GMMModel
from bayesgmm.bayes.model.spec import MixtureSpec
from bayesgmm.bayes.model.transforms import jitter, pack
from bayesgmm.bayes.model.units import Standardization
from bayesgmm.em import EMResult, fit_em
from bayesgmm.em import log_prior as em_log_prior
from bayesgmm.mixture import draws as draw_math
from bayesgmm.mixture.covariance import as_full, precisions_cholesky
from bayesgmm.mixture.parametrization import cpc_from_cholesky
from bayesgmm.mixture.structures import bayesian_structure, get_structure

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike

__all__ = [
    "START_POINTS",
    "em_initial_point",
    "em_local_maxima",
    "em_result_to_data",
    "em_start",
    "jittered_points",
    "model_em_start",
    "start_prior",
]

# Rows of the MAP-EM start of a minibatch fit: a start, not an estimate, and EM over all
# of N = 1e6 rows would cost more than the whole stochastic fit.
START_POINTS = 20_000


def start_prior(covariance_type: str) -> str | None:
    """The prior of the start's EM: mclust's default conjugate prior (MAP-EM) where the
    structure takes it and it moves exactly to data units (:func:`em_result_to_data`),
    else ``None`` (maximum likelihood with the ``reg_covar`` floor).

    A prior scale per feature (or a matrix) moves with any per-feature scale; a scalar
    one (mclust's prior for the spherical and the family's entries) only with the one
    common scale of a pooled layout (VII, EII): EEI, VEI and EVI start by maximum
    likelihood, as do VEE and EVV, which have no MAP-EM, and EEV and VEV (their one
    internal scale would move the prior exactly, but their starts have not been tested
    with it).
    """
    structure = bayesian_structure(covariance_type)
    scalar = structure.prior_scale_shape(2) == ()
    if structure.takes_prior and (not scalar or structure.bayesian.pooled):
        return "default"
    return None


def em_start(
    internal: np.ndarray,
    n_components: int,
    covariance_type: str,
    seed: int,
    sample_weight: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> EMResult:
    """The MAP-EM fit every Bayesian fit starts from, on validated data in internal units
    (maximum-likelihood EM for the structures :func:`start_prior` gives no prior).

    With weights and labels (checked) it is the MAP-EM of the weighted, labelled data, so
    that with labels the chains start in the labels' order of the components.

    It runs where the model does (:mod:`bayesgmm.bayes.model.units`), so a fit of ``a x + b``
    starts exactly where the fit of ``x`` does, whatever the scale or offset; the MAP
    prior keeps components from collapsing, and the default floor of 1e-6 is relative
    there (the internal sds are 1). :func:`em_result_to_data` gives its data-unit image.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_em(
            CheckedData(internal, None),  # validated once, by the facade or build_model
            n_components,
            covariance_type,
            n_init=3,
            prior=start_prior(covariance_type),
            random_seed=seed,
            sample_weight=sample_weight,
            labels=labels,
            # NaN only reach here from a model built with missing="marginalize"; without
            # NaN this is exactly the complete-data fit.
            missing="marginalize",
        )


# Single-start EM runs searched for distinct local maxima, per start wanted.
_SEARCH_PER_START = 5
# Rand index below which two EM fits' hard partitions are different solutions.
_DISTINCT_RAND = 0.95


def _hard_labels(X: np.ndarray, fit: EMResult) -> np.ndarray:
    cov = as_full(fit.covariances, fit.covariance_type, *fit.means.shape)
    resp = draw_math.responsibilities(X, fit.weights[None], fit.means[None], cov[None])
    return np.argmax(resp[0], axis=1)


def _rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pairs of rows on which two partitions agree (together or apart)."""
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1.0)

    def pairs(n: np.ndarray) -> float:
        return float((n * (n - 1) / 2).sum())

    n = float(len(a))
    disagree = pairs(table.sum(axis=1)) + pairs(table.sum(axis=0)) - 2 * pairs(table)
    return 1.0 - disagree / max(n * (n - 1) / 2, 1.0)


def em_local_maxima(
    gmm: GMMModel, best: EMResult, n_starts: int, seed: int, max_points: int | None = None
) -> list[EMResult]:
    """``best`` and up to ``n_starts - 1`` other, distinct MAP-EM local maxima.

    Single-start MAP-EM runs from ``_SEARCH_PER_START`` seeds per start wanted; a run is
    a new solution when its hard partition agrees with every kept one on fewer than 95%
    of the pairs of rows (Rand index). Kept best objective first. Chains started at them
    visit modes that EM knows of, so that :func:`bayesgmm.posterior.find_modes` can weigh
    them. Data with missing values, weights or labels keep ``best`` alone.
    """
    if n_starts <= 1 or gmm.has_missing or not gmm.observations.is_plain:
        return [best]
    spec = gmm.spec
    rows = start_rows(gmm.internal, max_points, seed)
    found = [best]
    labels = [_hard_labels(rows, best)]
    runs = []
    for i in range(_SEARCH_PER_START * (n_starts - 1)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(
                fit_em(
                    CheckedData(rows, None),
                    spec.n_components,
                    spec.covariance_type,
                    prior=start_prior(spec.covariance_type),
                    # One random start each: the default start adds mclust's
                    # deterministic hierarchical one, which would end every run at the
                    # same maximum and leave no other to find.
                    init="kmeans++",
                    n_init=1,
                    random_seed=seed + 1 + i,
                )
            )
    for fit in sorted(runs, key=lambda f: -f.objective):
        if len(found) == n_starts or not np.isfinite(fit.objective):
            continue
        hard = _hard_labels(rows, fit)
        if all(_rand_index(hard, other) < _DISTINCT_RAND for other in labels):
            found.append(fit)
            labels.append(hard)
    return found


def _covariances_to_data(cov: np.ndarray, covariance_type: str, scale: np.ndarray) -> np.ndarray:
    return get_structure(covariance_type).rescale(cov, scale)


def em_result_to_data(fit: EMResult, standard: Standardization) -> EMResult:
    """An internal-unit MAP-EM fit in data units: the same optimum, moved exactly.

    Means and covariances move with ``x = c + s z``, and so does the data-scaled prior;
    the log-likelihood gains ``N`` Jacobians ``-sum(log s)``, and the log prior the
    (constant) Jacobian of the parameters, so every objective shifts by one number.
    """
    cov_type, scale = fit.covariance_type, standard.scale
    covariances = _covariances_to_data(fit.covariances, cov_type, scale)
    prior = fit.prior
    if prior is not None:
        prior_scale = _covariances_to_data(np.asarray(prior.scale), cov_type, scale)
        prior = prior._replace(mean=standard.to_data(prior.mean), scale=prior_scale)
    moved = fit._replace(
        means=standard.to_data(fit.means),
        covariances=covariances,
        precisions_cholesky=precisions_cholesky(covariances, cov_type),
        prior=prior,
        reg_covar=float(fit.reg_covar * np.min(scale) ** 2),
    )
    log_prior_data = em_log_prior(moved.params, prior)
    shift = fit.n_observations * standard.log_jacobian + (log_prior_data - fit.log_prior)
    return moved._replace(
        log_likelihood=fit.log_likelihood + fit.n_observations * standard.log_jacobian,
        log_prior=log_prior_data,
        objective_trace=fit.objective_trace + shift,
        init_objectives=fit.init_objectives + shift,
    )


def start_rows(data: np.ndarray, max_points: int | None, seed: int) -> np.ndarray:
    """The rows a start is fitted on: all, or a seeded subsample of ``max_points``."""
    return draw_math.subsample_rows(data, max_points, np.random.default_rng(seed))


def model_em_start(gmm: GMMModel, max_points: int | None, seed: int) -> EMResult:
    """:func:`em_start` on the model's internal data (with its weights and labels), or on
    the seeded subsample of :func:`start_rows`."""
    spec, obs = gmm.spec, gmm.observations
    if obs.is_plain:
        rows = start_rows(gmm.internal, max_points, seed)
        return em_start(rows, spec.n_components, spec.covariance_type, seed)
    n_samples = gmm.internal.shape[0]
    index = np.arange(n_samples)
    if max_points is not None and n_samples > int(max_points):
        rng = np.random.default_rng(seed)
        index = np.sort(rng.choice(n_samples, size=int(max_points), replace=False))
    part = obs.take(index)
    return em_start(gmm.internal[index], spec.n_components, spec.covariance_type, seed, *part)


def em_initial_point(
    gmm: GMMModel,
    random_seed: SeedLike = None,
    max_points: int | None = None,
    start: EMResult | None = None,
) -> dict[str, np.ndarray]:
    """Constrained starting values (internal units, the model's names) from MAP-EM.

    Chains started here begin in one labelling of the K! symmetric modes and skip the
    long transient from a symmetric start. ``start`` is the MAP-EM fit in internal units
    (:func:`em_start`) that the caller already has (so it runs once per fit); otherwise one
    is fitted, on a
    random subsample of ``max_points`` rows when given (minibatch fits, whose whole point
    is not to pass over all N at every step).

    MAP-EM has no alpha: a sparse finite mixture's ``alpha`` starts at its prior mean
    ``a / b`` (1/K for the default ``alpha_prior="sparse"``).
    """
    spec = gmm.spec
    if start is None:
        start = model_em_start(gmm, max_points, seed_int(random_seed))
    point = _internal_point(spec, start)
    hyper = spec.priors.alpha_gamma
    if hyper is not None:
        point = {"alpha": np.asarray(hyper[0] / hyper[1]), **point}
    return spec.split_ordered(point)


def _internal_point(spec: MixtureSpec, fit: EMResult) -> dict[str, np.ndarray]:
    """An internal-unit EM fit's weights, means and covariances as the model's variables."""
    k, d, cov_type = spec.n_components, spec.n_features, spec.covariance_type
    cov = as_full(fit.covariances, cov_type, k, d)
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    weights = np.clip(fit.weights, 1e-6, None)
    point = {"weights": weights / weights.sum(), "means": np.asarray(fit.means)}
    layout = bayesian_structure(cov_type).bayesian
    if layout.oriented:  # sqrt(lambda), the gaps and the rotations of the eigenvectors
        return {**point, **layout.orientation_point(cov)}
    if layout.has_volume:  # sqrt(lambda) and the log shape of the EM covariances
        point.update(layout.volume_point(cov))
    else:
        point["stds"] = layout.stds_from_matrix(sd)
    if layout.correlated and d > 1:
        corr = cov / (sd[:, :, None] * sd[:, None, :])
        cpc = cpc_from_cholesky(np.linalg.cholesky(corr))
        unit = np.clip((1.0 + cpc) / 2.0, 1e-3, 1 - 1e-3)
        point["partial_corr_unit"] = unit if layout.per_component_corr else unit[0]
    return point


def jittered_points(
    spec: MixtureSpec, base: dict[str, np.ndarray], rng: np.random.Generator, n: int
) -> list[dict[str, np.ndarray]]:
    """``n`` starts near ``base`` (model variable names), jittered on the unconstrained
    scale, one per chain."""
    theta = pack(base, spec.blocks)
    return [spec.unpack(jitter(theta, spec.blocks, rng, 0.05)) for _ in range(n)]
