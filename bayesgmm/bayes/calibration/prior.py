"""Draws from the bayesgmm prior and its data, written apart from the model (numpy, scipy).

Simulation-based calibration (:mod:`bayesgmm.bayes.calibration.sbc`) compares the fits against this
simulator, so it must not share code with what it checks: the sd prior is re-derived here
from the *documented meaning* of :class:`bayesgmm.bayes.model.priors.GMMPriors` (``std_scale``
is the
median of the lognormal, the mean of the gamma, the mode of the inverse gamma, the scale of
the half-normal; ``std_spread`` is the lognormal's log-sd and sets shape
``2 + 1 / spread^2`` for gamma and inverse gamma; spherical pools the per-feature scales
by their geometric mean; the volume-shape structures VEI ... EVV draw ``sqrt(lambda)`` from
the pooled sd prior and the log shape as ``std_scale``'s centred log plus normal noise of
sd ``std_spread`` centred over the features), never through
``GMMPriors.std_parameters``, ``build_model`` or the C kernel. Correlation matrices come
from the onion method (Lewandowski, Kurowicka & Joe 2009, section 3.2), not from the
canonical partial correlations the model uses.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from bayesgmm.bayes.model.priors import SPARSE_SHAPE, GMMPriors
from bayesgmm.mixture.structures import bayesian_structure

__all__ = ["FIXED_FIELDS", "PriorDraw", "check_fixed_priors", "lkj_onion", "simulate_prior"]

#: Fields that :class:`GMMPriors` scales to the data when left ``None``.
FIXED_FIELDS = ("mean_loc", "mean_scale", "std_scale")


class PriorDraw(NamedTuple):
    """One draw of the mixture parameters from the prior and a data set from it.

    Attributes
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D, D)
        Full matrices whatever the covariance type.
    X : ndarray of shape (N, D)
    labels : ndarray of shape (N,)
        The component of every row.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    X: np.ndarray
    labels: np.ndarray


def check_fixed_priors(priors: Any, n_features: int | None = None) -> GMMPriors:
    """Refuse priors that are not fixed before seeing data; broadcast them to (D,).

    A ``None`` field is scaled to each data set by :meth:`GMMPriors.resolve`, so the prior
    then differs between the simulated data sets and is not the one the data came from:
    calibration is undefined for it.

    Parameters
    ----------
    priors : GMMPriors
    n_features : int, optional
        D; taken from the vector-valued fields when ``None``.

    Returns
    -------
    GMMPriors
        With ``mean_loc``, ``mean_scale`` and ``std_scale`` as float arrays of shape (D,).
    """
    if not isinstance(priors, GMMPriors):
        raise TypeError(f"priors must be a bayesgmm.GMMPriors; got {type(priors).__name__}.")
    missing = [name for name in FIXED_FIELDS if getattr(priors, name) is None]
    if missing:
        raise ValueError(
            f"priors field(s) {missing} are None, i.e. scaled to each data set: such a prior "
            "is not fixed before the data, so the simulated data would not come from the "
            "prior that is fitted and calibration is undefined. Set "
            f"{', '.join(f'{name}=...' for name in FIXED_FIELDS)} explicitly (in the units "
            "of your data), e.g. from a pilot data set or domain knowledge."
        )
    sizes = {np.size(getattr(priors, name)) for name in FIXED_FIELDS} - {1}
    if len(sizes) > 1:
        raise ValueError(f"{FIXED_FIELDS} have different lengths {sorted(sizes)}; use one D.")
    if n_features is None:
        if not sizes:
            raise ValueError(
                "every prior field is a scalar, so the number of features is unknown: "
                "pass n_features."
            )
        n_features = sizes.pop()
    if isinstance(n_features, bool) or int(n_features) != n_features or n_features < 1:
        raise ValueError(f"n_features must be a positive integer; got {n_features!r}.")
    if sizes and sizes.pop() != n_features:
        raise ValueError(f"the prior fields have lengths other than n_features={n_features}.")
    return priors.resolve(np.zeros((2, int(n_features))), 1)


def lkj_onion(eta: float, n_features: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Correlation matrices from LKJ(eta) by the onion method.

    Grows the matrix one row at a time: the new row is ``L z`` with ``L`` the Cholesky
    factor so far, ``|z|^2 ~ Beta(k/2, beta)`` and ``z / |z|`` uniform on the sphere.

    Returns
    -------
    ndarray of shape (size, D, D)
    """
    corr = np.broadcast_to(np.eye(n_features), (size, n_features, n_features)).copy()
    if n_features == 1:
        return corr
    beta = eta + (n_features - 2) / 2.0
    r = 2.0 * rng.beta(beta, beta, size=size) - 1.0
    corr[:, 0, 1] = corr[:, 1, 0] = r
    for k in range(2, n_features):
        beta -= 0.5
        y = rng.beta(k / 2.0, beta, size=size)
        w = rng.standard_normal((size, k))
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        chol = np.linalg.cholesky(corr[:, :k, :k])
        q = np.einsum("sij,sj->si", chol, np.sqrt(y)[:, None] * w)
        corr[:, k, :k] = corr[:, :k, k] = q
    return corr


def draw_stds(
    priors: GMMPriors, shape: tuple[int, ...], rng: np.random.Generator, pooled: bool = False
) -> np.ndarray:
    """Standard deviations from the sd prior; the last axis of ``shape`` is the feature
    axis (length D, or 1 when ``pooled``)."""
    scale = np.asarray(priors.std_scale, dtype=np.float64)
    if pooled:
        scale = np.exp(np.mean(np.log(scale), keepdims=True))
    scale = np.broadcast_to(scale, shape)
    spread = float(priors.std_spread)
    family = priors.std_family
    if family == "lognormal":  # median = scale, log-sd = spread
        return stats.lognorm.rvs(s=spread, scale=scale, size=shape, random_state=rng)
    shape_param = 2.0 + 1.0 / spread**2
    if family == "gamma":  # mean = shape * theta = scale
        return stats.gamma.rvs(shape_param, scale=scale / shape_param, size=shape, random_state=rng)
    if family == "inversegamma":  # mode = b / (a + 1) = scale
        return stats.invgamma.rvs(
            shape_param, scale=scale * (shape_param + 1.0), size=shape, random_state=rng
        )
    return stats.halfnorm.rvs(scale=scale, size=shape, random_state=rng)


def _covariances(
    priors: GMMPriors, covariance_type: str, k: int, d: int, rng: np.random.Generator
) -> np.ndarray:
    # The structure's axes only: the sds vary along them and are shared along the others
    # (spherical: one per component; tied: one per feature), as are the correlations.
    layout = bayesian_structure(covariance_type, d).bayesian
    if layout.oriented:
        return _oriented_covariances(priors, layout, k, d, rng)
    if layout.correlated:
        n_corr = k if layout.per_component_corr else 1
        corr = np.broadcast_to(lkj_onion(float(priors.eta), d, n_corr, rng), (k, d, d))
    else:
        corr = np.broadcast_to(np.eye(d), (k, d, d))
    if layout.has_volume:
        sd = _volume_shape_sds(priors, layout, corr, k, d, rng)
    else:
        sd_shape = layout.std_shape_2d(k, d)
        sd = np.broadcast_to(draw_stds(priors, sd_shape, rng, pooled=layout.pooled), (k, d))
    return sd[:, :, None] * corr * sd[:, None, :]


def _oriented_covariances(
    priors: GMMPriors, layout: Any, k: int, d: int, rng: np.random.Generator
) -> np.ndarray:
    """EEV / VEV: ``lambda_k R_k diag(exp z) R_k^T`` with ``sqrt(lambda)`` from the sd
    prior pooled by the geometric mean (one per component or one shared), ``z`` D iid
    normals of sd ``std_spread`` centred (ZeroSumNormal; unsorted: the Haar rotation
    makes the order irrelevant) and ``R_k`` Haar rotations (scipy's special_ortho_group)."""
    per_volume = "component" in layout.volume_axes
    volume = draw_stds(priors, (k if per_volume else 1, 1), rng, pooled=True)[:, 0]
    lam = np.broadcast_to(volume**2, (k,))
    noise = rng.normal(0.0, float(priors.std_spread), size=d)
    shape = np.exp(noise - noise.mean())
    rot = stats.special_ortho_group.rvs(d, size=k, random_state=rng).reshape(k, d, d)
    return lam[:, None, None] * np.einsum("kij,j,klj->kil", rot, shape, rot)


def _volume_shape_sds(
    priors: GMMPriors, layout: Any, corr: np.ndarray, k: int, d: int, rng: np.random.Generator
) -> np.ndarray:
    """The sds (K, D) of ``Sigma_k = lambda_k C_k``, ``C_k = S~ R_k S~ / det(R_k)^(1/D)``:
    ``sqrt(lambda)`` from the sd prior pooled by the geometric mean (one per component or
    one shared), the log shape ``log s~`` the centred ``log std_scale`` plus iid normal
    noise of sd ``std_spread`` centred over the features (one per component or shared)."""
    per_volume = "component" in layout.volume_axes
    volume = draw_stds(priors, (k if per_volume else 1, 1), rng, pooled=True)
    log_scale = np.log(np.broadcast_to(np.asarray(priors.std_scale, dtype=np.float64), (d,)))
    noise = rng.normal(
        0.0, float(priors.std_spread), size=(k if "component" in layout.std_axes else 1, d)
    )
    log_shape = (log_scale - log_scale.mean()) + (noise - noise.mean(axis=1, keepdims=True))
    det_corr = np.linalg.det(corr)  # (K,)
    sd = volume * np.exp(log_shape) * det_corr[:, None] ** (-0.5 / d)
    return np.broadcast_to(sd, (k, d))


def simulate_prior(
    priors: GMMPriors,
    n_components: int,
    covariance_type: str,
    n_samples: int,
    rng: np.random.Generator,
    n_features: int | None = None,
) -> PriorDraw:
    """One draw of (weights, means, covariances) from the prior and N rows of data.

    Parameters
    ----------
    priors : GMMPriors
        Fixed (every data-scaled field set; see :func:`check_fixed_priors`).
    n_components : int
    covariance_type : {"full", "diag", "spherical", "tied"}
    n_samples : int
    rng : numpy.random.Generator
    n_features : int, optional

    Returns
    -------
    PriorDraw
    """
    priors = check_fixed_priors(priors, n_features)
    k, d = int(n_components), len(priors.mean_loc)
    weights = rng.dirichlet(np.full(k, _concentration(priors, k, rng)))
    means = rng.normal(priors.mean_loc, priors.mean_scale, size=(k, d))
    cov = _covariances(priors, covariance_type, k, d, rng)
    labels = rng.choice(k, size=int(n_samples), p=weights)
    chol = np.linalg.cholesky(cov)
    noise = rng.standard_normal((int(n_samples), d))
    X = means[labels] + np.einsum("nij,nj->ni", chol[labels], noise)
    return PriorDraw(weights, means, cov, X, labels)


def _concentration(priors: GMMPriors, n_components: int, rng: np.random.Generator) -> float:
    """The Dirichlet concentration of one prior draw: ``priors.alpha``, or a draw of
    ``alpha ~ Gamma(a, b)`` (shape, rate) in a sparse finite mixture (``"sparse"``: the
    a = 10, b = 10 K that fitting resolves it to). Fixed alpha draws nothing."""
    if priors.alpha_prior is None:
        return float(priors.alpha)
    if priors.alpha_prior == "sparse":
        shape, rate = SPARSE_SHAPE, SPARSE_SHAPE * n_components
    else:
        shape, rate = priors.alpha_gamma
    return float(rng.gamma(shape, 1.0 / rate))


def oriented_prior_draws(spec: Any, n_draws: int, rng: np.random.Generator) -> dict[str, Any]:
    """``n_draws`` draws of an EEV / VEV model's free variables from its prior, internal
    units (``spec``: a MixtureSpec): alpha (sparse), weights, means, ``volume_sd``,
    ``shape_gaps`` (a sorted ZeroSumNormal's gaps), ``orient_free`` / ``orient_right``
    (uniform directions; radii from the ring prior times the volume element r^(m-1), by
    its inverse CDF on a grid)."""
    from bayesgmm.mixture.structures.orientation import RING_SD, orientation_size

    priors, k, d = spec.internal_priors, spec.n_components, spec.n_features
    layout = bayesian_structure(spec.covariance_type, d).bayesian
    out: dict[str, Any] = {}
    alphas = np.array([_concentration(spec.priors, k, rng) for _ in range(n_draws)])
    if spec.sparse:
        out["alpha"] = alphas
    out["weights"] = np.array([rng.dirichlet(np.full(k, a)) for a in alphas])
    out["means"] = rng.normal(priors.mean_loc, priors.mean_scale, size=(n_draws, k, d))
    n_vol = k if "component" in layout.volume_axes else 1
    volume = draw_stds(priors, (n_draws, n_vol), rng, pooled=True)
    out["volume_sd"] = volume if n_vol > 1 else volume[:, 0]
    z = rng.normal(0.0, float(priors.std_spread), size=(n_draws, d))
    z = -np.sort(-(z - z.mean(axis=1, keepdims=True)), axis=1)
    out["shape_gaps"] = np.maximum(-np.diff(z, axis=1), 1e-300)
    grid = np.linspace(0.0, 1.0 + 12 * RING_SD, 4001)[1:]
    for name, m in zip(("orient_free", "orient_right"), orientation_size(d), strict=True):
        if not m:
            continue
        cdf = np.cumsum(grid ** (m - 1) * np.exp(-((grid - 1.0) ** 2) / (2 * RING_SD**2)))
        radius = np.interp(rng.random((n_draws, k)), cdf / cdf[-1], grid)
        direction = rng.normal(size=(n_draws, k, m))
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        out[name] = radius[..., None] * direction
    return out
