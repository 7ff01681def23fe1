"""Imputing the missing entries of data under a fitted mixture (missing at random).

- A point estimate (EM): every missing block ``x_m`` of a row gets its conditional mean
  ``E[x_m | x_o] = sum_k r_k(x_o) E[x_m | x_o, k]``, with ``r_k(x_o)`` the membership
  probabilities given the observed coordinates (one-hot for a row of known label).
- A posterior (Bayesian fits): per posterior draw, the component is drawn from its
  responsibilities given ``x_o`` (or is the row's label, when known) and ``x_m`` from
  that component's conditional Gaussian; the draws give the posterior mean and intervals
  of every missing entry, which carry both the within-component spread and the
  uncertainty about the parameters.

Observation weights do not enter: they weigh a row's term in the fit, not what the
fitted mixture says about that row's missing entries.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special

from bayesgmm._utils.deprecation import warn_renamed
from bayesgmm.mixture.draws import hdi_columns
from bayesgmm.mixture.missing import conditional_gaussians, missing_patterns

__all__ = [
    "Imputation",
    "conditional_mean_imputation",
    "imputation_from_mean",
    "posterior_imputation",
]

# Floats of the (S, K, rows, M) temporaries of one block of posterior imputation.
_BUDGET = 1 << 22


@dataclasses.dataclass(frozen=True)
class Imputation:
    """Imputed missing entries of a data set.

    Attributes
    ----------
    completed : ndarray of shape (N, D)
        The data with every NaN replaced by :attr:`mean` (a new array).
    rows, columns : ndarray of shape (M,)
        Where each of the M missing entries sits, in row-major order.
    mean : ndarray of shape (M,)
        Conditional (EM) or posterior (Bayesian) mean of each missing entry.
    lower, upper : ndarray of shape (M,) or None
        Bounds of the ``hdi_prob`` interval of each entry (Bayesian fits only).
    draws : ndarray of shape (S, M) or None
        Posterior draws of each entry (Bayesian fits only).
    hdi_prob : float or None
        Probability mass of the intervals (``prob``: its deprecated name).
    interval : str or None
        ``"hdi"`` (highest density) or ``"eti"`` (equal-tailed).
    """

    completed: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    mean: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    draws: np.ndarray | None = None
    hdi_prob: float | None = None
    interval: str | None = None

    @property
    def prob(self) -> float | None:
        """Deprecated name of :attr:`hdi_prob`."""
        warn_renamed("Imputation", "prob", "hdi_prob")
        return self.hdi_prob

    @property
    def n_missing(self) -> int:
        """Number of imputed entries."""
        return int(self.rows.size)


def _log_weights(weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # an empty component is never drawn
        return np.log(weights)


def _fix_labelled(resp: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """Responsibilities (..., K, n) with the rows of known label one-hot on it (in place)."""
    if labels is None:
        return resp
    known = np.flatnonzero(labels >= 0)
    resp[..., known] = 0.0
    resp[..., labels[known], known] = 1.0
    return resp


def conditional_mean_imputation(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    covariance_type: str,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """``X`` with every NaN replaced by ``E[x_m | x_o]``; ``X`` is not modified.

    A row with a label ``k >= 0`` (``labels`` (N,), checked; ``-1`` unknown) gets its own
    component's conditional mean ``E[x_m | x_o, k]`` instead of the mixture's.
    """
    out = np.array(X, dtype=np.float64, copy=True)
    log_weights = _log_weights(weights)
    for pattern in missing_patterns(X):
        if pattern.missing.size == 0:
            continue
        X_obs = X[np.ix_(pattern.rows, pattern.observed)]
        cond = conditional_gaussians(X_obs, means, covariances, covariance_type, pattern)
        weighted = cond.log_prob + log_weights[:, None]
        resp = np.exp(weighted - special.logsumexp(weighted, axis=0))  # (K, n)
        resp = _fix_labelled(resp, None if labels is None else labels[pattern.rows])
        out[np.ix_(pattern.rows, pattern.missing)] = np.einsum("kn,knm->nm", resp, cond.means)
    return out


def imputation_from_mean(X: np.ndarray, completed: np.ndarray) -> Imputation:
    """The :class:`Imputation` of a point estimate: ``completed`` at the NaN of ``X``."""
    rows, columns = np.nonzero(np.isnan(X))
    return Imputation(completed, rows, columns, completed[rows, columns])


def _draw_block(
    X_obs: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    pattern_obs: object,
    rng: np.random.Generator,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Draws (S, n, M) of one block of a pattern's missing entries, one per posterior draw;
    a row labelled ``k >= 0`` (``labels`` (n,)) always takes component ``k``."""
    n_draws, n_components, n_features = means.shape
    cond = conditional_gaussians(
        X_obs,
        means.reshape(-1, n_features),
        covariances.reshape(-1, n_features, n_features),
        "full",
        pattern_obs,  # type: ignore[arg-type]
    )
    n_rows, n_missing = X_obs.shape[0], cond.means.shape[-1]
    weighted = cond.log_prob.reshape(n_draws, n_components, n_rows)
    weighted = weighted + _log_weights(weights)[..., None]
    resp = np.exp(weighted - special.logsumexp(weighted, axis=1, keepdims=True))  # (S, K, n)
    # One component per (draw, row), by inverting the cumulative responsibilities.
    cumulative = np.cumsum(resp, axis=1)
    u = rng.random((n_draws, 1, n_rows)) * cumulative[:, -1:, :]
    component = np.minimum((cumulative < u).sum(axis=1), n_components - 1)  # (S, n)
    if labels is not None:  # drawn all the same, so that the random stream does not shift
        known = labels >= 0
        component[:, known] = labels[known]
    flat = np.arange(n_draws)[:, None] * n_components + component  # (S, n) into S*K
    cond_means = cond.means.reshape(n_draws * n_components, n_rows, n_missing)
    centre = cond_means[flat, np.arange(n_rows)[None, :]]  # (S, n, M)
    chol = np.linalg.cholesky(cond.covariances)  # (S*K, M, M)
    noise = rng.standard_normal((n_draws, n_rows, n_missing))
    return centre + np.einsum("snij,snj->sni", chol[flat], noise)


def posterior_imputation(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    rng: np.random.Generator,
    *,
    hdi_prob: float = 0.94,
    interval: str = "hdi",
    labels: np.ndarray | None = None,
) -> Imputation:
    """Posterior draws, mean and intervals of every missing entry of ``X``.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        NaN marks the entries to impute.
    weights : ndarray of shape (S, K)
    means : ndarray of shape (S, K, D)
    covariances : ndarray of shape (S, K, D, D)
        Posterior draws, in the units of ``X``.
    rng : numpy Generator
    hdi_prob : float
        Probability mass of the intervals, in (0, 1).
    interval : {"hdi", "eti"}
        Highest-density (:func:`bayesgmm.mixture.draws.hdi_columns`) or equal-tailed intervals.
    labels : ndarray of shape (N,), optional
        Known components (checked; ``-1`` unknown): a labelled row's missing entries are
        drawn from its own component's conditional Gaussian under every draw.

    Returns
    -------
    Imputation
        ``completed`` holds the posterior means.
    """
    if interval not in ("hdi", "eti"):
        raise ValueError(f"interval must be 'hdi' or 'eti'; got {interval!r}.")
    if not 0.0 < float(hdi_prob) < 1.0:
        raise ValueError(f"hdi_prob must lie strictly between 0 and 1; got {hdi_prob!r}.")
    rows, columns = np.nonzero(np.isnan(X))
    n_draws, n_components, _ = means.shape
    entry = np.full(X.shape, -1)
    entry[rows, columns] = np.arange(rows.size)
    samples = np.empty((n_draws, rows.size))
    for pattern in missing_patterns(X):
        if pattern.missing.size == 0:
            continue
        step = max(1, _BUDGET // (n_draws * n_components * X.shape[1]))
        for start in range(0, pattern.rows.size, step):
            block = pattern.rows[start : start + step]
            X_obs = X[np.ix_(block, pattern.observed)]
            sub = pattern._replace(rows=block)
            block_labels = None if labels is None else labels[block]
            drawn = _draw_block(X_obs, weights, means, covariances, sub, rng, block_labels)
            samples[:, entry[np.ix_(block, pattern.missing)]] = drawn
    if interval == "hdi":
        lower, upper = hdi_columns(samples, hdi_prob)
    else:
        tail = (1.0 - float(hdi_prob)) / 2.0
        lower, upper = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    mean = samples.mean(axis=0)
    completed = np.array(X, dtype=np.float64, copy=True)
    completed[rows, columns] = mean
    return Imputation(
        completed, rows, columns, mean, lower, upper, samples, float(hdi_prob), interval
    )
