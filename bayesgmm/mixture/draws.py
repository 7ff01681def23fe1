"""Mixture maths on arrays of posterior draws (pure numpy).

Every function takes arrays with a leading draw axis ``S`` (flatten chains first), so the
same code serves NUTS, ADVI and MAP results and never touches PyMC.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import special

from bayesgmm.mixture.covariance import log_gaussian_prob, precisions_cholesky
from bayesgmm.mixture.far import far_memberships_observed
from bayesgmm.mixture.missing import log_component_density_observed
from bayesgmm.mixture.parametrization import cholesky_from_cpc
from bayesgmm.mixture.structures import bayesian_structure

__all__ = [
    "chunked_draws",
    "chunked_rows",
    "covariances_from_draws",
    "hdi_columns",
    "log_component_density",
    "log_predictive_density",
    "mean_responsibilities",
    "pointwise_log_likelihood",
    "responsibilities",
    "subsample_rows",
]


def covariances_from_draws(
    stds: np.ndarray,
    partial_corr_unit: np.ndarray | None,
    covariance_type: str,
    n_components: int,
    n_features: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Full covariance matrices and correlation matrices for every draw.

    Parameters
    ----------
    stds : ndarray
        The sds the likelihood reads (the layout's ``sd_layout``): (S, K, D) full, diag
        and the volume-shape structures (VEI ... EVV), (S, K) spherical, (S, D) tied and
        EEI, (S,) EII.
    partial_corr_unit : ndarray or None
        (S, K, P) full, (S, P) tied; ``None`` otherwise.

    Returns
    -------
    covariances : ndarray of shape (S, K, D, D)
    correlations : ndarray of shape (S, K, D, D)
    """
    n_draws = stds.shape[0]
    layout = bayesian_structure(covariance_type).bayesian.sd_layout
    stds = np.broadcast_to(layout.std_matrix(stds), (n_draws, n_components, n_features))
    eye = np.eye(n_features)
    if layout.correlated and partial_corr_unit is not None and n_features > 1:
        chol = cholesky_from_cpc(2.0 * np.asarray(partial_corr_unit) - 1.0, n_features)
        if not layout.per_component_corr:
            chol = np.broadcast_to(chol[:, None], (n_draws, n_components, n_features, n_features))
        corr = chol @ np.swapaxes(chol, -1, -2)
        np.einsum("...ii->...i", corr)[...] = 1.0  # exact unit diagonal
    else:
        corr = np.broadcast_to(eye, (n_draws, n_components, n_features, n_features)).copy()
    cov = stds[..., :, None] * corr * stds[..., None, :]
    return cov, corr


def chunked_draws(
    n_draws: int, n_samples: int, n_components: int, budget: int = 2**22
) -> Iterator[slice]:
    """Slices of draws so that an (S_chunk, N, K) temporary stays within ``budget`` floats."""
    step = max(1, budget // max(1, n_samples * n_components))
    for start in range(0, n_draws, step):
        yield slice(start, min(start + step, n_draws))


def chunked_rows(
    n_samples: int, n_draws: int, n_components: int, budget: int = 2**22
) -> Iterator[slice]:
    """Slices of rows so that an (S, N_chunk, K) temporary stays within ``budget`` floats."""
    step = max(1, budget // max(1, n_draws * n_components))
    for start in range(0, n_samples, step):
        yield slice(start, min(start + step, n_samples))


def subsample_rows(X: np.ndarray, max_rows: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_rows`` rows of ``X``, drawn without replacement in their order
    (all of ``X``, and no random number drawn, when it has no more)."""
    if max_rows is None or X.shape[0] <= int(max_rows):
        return X
    return X[np.sort(rng.choice(X.shape[0], size=int(max_rows), replace=False))]


def log_component_density(X: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """``log N(x_n | mu_sk, Sigma_sk)`` for draws s, rows n, components k: shape (S, N, K).

    The package's one numpy density (:class:`bayesgmm.mixture.covariance.ComponentDensity`), with
    the S x K (draw, component) pairs as one axis of components. Rows with NaN get the
    density of their observed coordinates (:mod:`bayesgmm.mixture.missing`).
    """
    n_draws, n_components, n_features = means.shape
    if np.isnan(X).any():  # missing values: each row's density on its observed coordinates
        log_prob = log_component_density_observed(
            X,
            means.reshape(-1, n_features),
            covariances.reshape(-1, n_features, n_features),
            "full",
        )
        return np.swapaxes(log_prob.T.reshape(n_draws, n_components, X.shape[0]), -1, -2)
    prec_chol = precisions_cholesky(covariances.reshape(-1, n_features, n_features), "full")
    log_prob = log_gaussian_prob(
        X, means.reshape(-1, n_features), prec_chol, "full", component_major=True
    )
    return np.swapaxes(log_prob.reshape(n_draws, n_components, X.shape[0]), -1, -2)


def _weighted(X: np.ndarray, weights: np.ndarray, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return log_component_density(X, means, cov) + np.log(weights)[:, None, :]


def pointwise_log_likelihood(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Marginal (z summed out) log-likelihood of every row under every draw: (S, N).

    A row with a label ``k >= 0`` (``labels``, -1 unknown) gets its own component's term
    ``log pi_k + log N(x | mu_k, Sigma_k)`` instead.
    """
    out = np.empty((weights.shape[0], X.shape[0]))
    known = None if labels is None else np.flatnonzero(labels >= 0)
    for part in chunked_draws(weights.shape[0], X.shape[0], weights.shape[1]):
        terms = _weighted(X, weights[part], means[part], covariances[part])
        out[part] = special.logsumexp(terms, axis=-1)
        if known is not None and known.size:
            out[part, known] = terms[:, known, labels[known]]
    return out


def responsibilities(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Membership probabilities of every row under every draw: (S, N, K).

    A row with a label ``k >= 0`` (``labels``, -1 unknown) belongs to component ``k`` with
    probability one, as in the labelled likelihood of :func:`pointwise_log_likelihood`.
    A row whose density underflows under a draw (more than ~1e154 sds from every
    component) belongs to that draw's nearest component (:mod:`bayesgmm.mixture.far`).
    """
    out = np.empty((weights.shape[0], X.shape[0], weights.shape[1]))
    for part in chunked_draws(weights.shape[0], X.shape[0], weights.shape[1]):
        weighted = _weighted(X, weights[part], means[part], covariances[part])
        log_norm = special.logsumexp(weighted, axis=-1, keepdims=True)
        far = np.isneginf(log_norm[..., 0])
        weighted[far] = 0.0  # no -inf - -inf: set below
        out[part] = np.exp(weighted - log_norm)
        for draw in np.flatnonzero(far.any(axis=1)):
            s, rows = np.arange(weights.shape[0])[part][draw], np.flatnonzero(far[draw])
            with np.errstate(divide="ignore"):
                log_weights = np.log(weights[s])
            out[s, rows] = far_memberships_observed(X[rows], means[s], covariances[s], log_weights)
    if labels is not None:
        known = np.flatnonzero(labels >= 0)
        out[:, known] = 0.0
        out[:, known, labels[known]] = 1.0
    return out


def _row_blocks(X: np.ndarray, n_draws: int, n_components: int, budget: int) -> Iterator[slice]:
    """Row blocks whose (S, K, rows, D) temporaries stay within ``budget`` floats."""
    return chunked_rows(X.shape[0], n_draws, n_components * X.shape[1], budget=budget)


def mean_responsibilities(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    budget: int = 2**24,
) -> np.ndarray:
    """Posterior-mean membership probabilities (N, K), in row blocks whose temporaries
    stay within ``budget`` floats (2**24: 128 MB)."""
    out = np.empty((X.shape[0], weights.shape[1]))
    for rows in _row_blocks(X, weights.shape[0], weights.shape[1], budget):
        out[rows] = responsibilities(X[rows], weights, means, covariances).mean(axis=0)
    return out


def log_predictive_density(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    budget: int = 2**24,
) -> np.ndarray:
    """``log mean_s p(x_n | theta_s)`` of every row (N,), in row blocks whose temporaries
    stay within ``budget`` floats (2**24: 128 MB)."""
    out = np.empty(X.shape[0])
    log_draws = np.log(weights.shape[0])
    for rows in _row_blocks(X, weights.shape[0], weights.shape[1], budget):
        pointwise = pointwise_log_likelihood(X[rows], weights, means, covariances)
        out[rows] = special.logsumexp(pointwise, axis=0) - log_draws
    return out


def hdi_columns(draws: np.ndarray, prob: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval of every column of ``draws`` (S, ...), along axis 0.

    The shortest interval spanning ``floor(prob * S)`` consecutive sorted draws: ArviZ's
    algorithm for unimodal, non-circular quantities (identical results), vectorised over
    columns. It is the package's one HDI. ArviZ's own ``az.hdi`` loops over columns in
    Python; ``benchmarks/bench_hdi.py`` measured it (2026-12-01, 2 shared cores) 3.2x slower
    at 1000 draws x 1047 columns (one row block of ``membership``), which made
    ``membership`` at N=5000, K=3, 1000 draws 1.36x slower end to end (14.6 s against
    10.7 s), and 0.9x-1.7x at 4000 draws x 5000 columns: too slow where the HDIs of N x K
    membership probabilities are the main cost, hence this version.

    Parameters
    ----------
    draws : ndarray of shape (S, ...)
        Draws along axis 0.
    prob : float
        Probability mass of the interval, in (0, 1).

    Returns
    -------
    low, high : ndarray of shape draws.shape[1:]
        A single draw gives a zero-width interval.
    """
    number = float(prob)
    if not 0.0 < number < 1.0:
        raise ValueError(f"hdi_prob must lie strictly between 0 and 1; got {prob!r}.")
    values = np.sort(np.asarray(draws, dtype=np.float64), axis=0)
    if values.ndim < 1 or values.shape[0] < 1:
        raise ValueError(f"draws must have at least one draw along axis 0; got {values.shape}.")
    n_draws = values.shape[0]
    inc = int(np.floor(number * n_draws))
    if n_draws > 1 and inc < 1:
        raise ValueError(f"{n_draws} draws are too few for a {number:g} HDI; use more draws.")
    inc = min(n_draws - 1, inc)
    width = values[inc:] - values[: n_draws - inc]
    start = np.argmin(width, axis=0)[None]
    low = np.take_along_axis(values, start, axis=0)[0]
    high = np.take_along_axis(values, start + inc, axis=0)[0]
    return low, high


def simulate_from_draws(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    n_rows: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One data set of ``n_rows`` points per draw of the mixture's parameters.

    Parameters
    ----------
    weights : ndarray of shape (S, K)
    means : ndarray of shape (S, K, D)
    covariances : ndarray of shape (S, K, D, D)
    n_rows : int
    rng : numpy Generator

    Returns
    -------
    ndarray of shape (S, n_rows, D)
        Row ``n`` of data set ``s``: a component ``k ~ Categorical(weights[s])``, then
        ``N(means[s, k], covariances[s, k])``.
    """
    n_draws, _, n_features = means.shape
    out = np.empty((n_draws, int(n_rows), n_features))
    chol = np.linalg.cholesky(covariances)
    for s in range(n_draws):  # one draw at a time: (N, D, D) per draw at most
        p = weights[s] / weights[s].sum()
        labels = rng.choice(len(p), size=int(n_rows), p=p)
        noise = rng.standard_normal((int(n_rows), n_features))
        out[s] = means[s, labels] + np.einsum("nde,ne->nd", chol[s, labels], noise)
    return out
