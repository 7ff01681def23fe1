"""EM for data with missing values (Ghahramani & Jordan 1994; McLachlan & Krishnan 2008).

The E-step works on each missingness pattern's observed coordinates: the responsibilities
come from the marginal densities ``N(x_o | mu_ko, Sigma_koo)``
(:func:`bayesgmm.core.missing.conditional_gaussians`). The M-step is the ordinary one
(:func:`bayesgmm.core.em.steps.m_step`) on the *expected* sufficient statistics: a
missing coordinate enters ``sum g x`` as its conditional mean ``E[x_m | x_o, k]`` and
``sum g x x^T`` as the conditional second moment, conditional mean squared plus the
conditional covariance. The objective is the observed-data log-likelihood (plus the log
prior for MAP-EM), which EM increases at every iteration; BIC and ICL use it too.

The values are assumed missing at random (MAR). Complete rows go through the ordinary
blocked E-step (:func:`~bayesgmm.core.em.steps.sufficient_statistics`), so data without
NaN never reach this module and give exactly the results of the complete-data EM.
"""

from __future__ import annotations

import functools

import numpy as np

from bayesgmm.core.covariance import storage_type
from bayesgmm.core.em.collapse import regularized_data_covariance
from bayesgmm.core.em.restarts import _PLAIN, _RestartSearch, _run_once, _start_rows
from bayesgmm.core.em.results import ConjugatePrior, GMMParams, SufficientStats
from bayesgmm.core.em.steps import (
    _block_terms,
    _log_weights,
    sufficient_statistics,
    sum_statistics,
)
from bayesgmm.core.missing import (
    Pattern,
    conditional_gaussians,
    missing_patterns,
    nan_covariance,
    nan_mean,
)
from bayesgmm.core.observations import Observations

__all__ = ["MissingSearch", "missing_statistics", "start_rows"]

# The starts use the complete rows of the start subsample when there are at least this
# many per component and per free coordinate (D + 1 rows determine a full covariance);
# below that, the subsample's rows with their NaN replaced by the column means.
_COMPLETE_ROWS_PER_PARAMETER = 2


def _pattern_statistics(
    X_obs: np.ndarray,
    params: GMMParams,
    pattern: Pattern,
    n_features: int,
    obs: Observations = _PLAIN,
) -> SufficientStats:
    """Expected sufficient statistics of one pattern's rows (at least one coordinate
    missing), with the rows' weights and labels ``obs`` applied as the complete-data
    E-step applies them (:func:`~bayesgmm.core.em.steps._block_terms`)."""
    cov_type = storage_type(params.covariance_type)  # mclust's structures: full statistics
    cond = conditional_gaussians(X_obs, params.means, params.covariances, cov_type, pattern)
    weighted = cond.log_prob + _log_weights(params)[:, None]
    # resp (K, n): responsibilities times the weights, labelled rows one-hot.
    log_lik, log_max, resp = _block_terms(weighted, obs.sample_weight, obs.labels)
    n_components, n_rows = resp.shape
    observed, mis = pattern.observed, pattern.missing
    # Completed rows per component: observed values, missing ones at E[x_m | x_o, k].
    completed = np.empty((n_components, n_rows, n_features))
    completed[:, :, observed] = X_obs[None]
    completed[:, :, mis] = cond.means
    resp_sum = resp.sum(axis=1)
    weighted_sum = np.einsum("kn,knd->kd", resp, completed)
    if cov_type in ("full", "tied"):
        second = np.einsum("kn,knd,kne->kde", resp, completed, completed)
        second[:, mis[:, None], mis[None, :]] += resp_sum[:, None, None] * cond.covariances
        if cov_type == "tied":
            second = second.sum(axis=0)
    else:
        second = np.einsum("kn,knd->kd", resp, completed * completed)
        second[:, mis] += resp_sum[:, None] * cond.covariances
    return SufficientStats(resp_sum, weighted_sum, second, log_lik, n_rows, log_max)


def missing_statistics(
    X: np.ndarray,
    params: GMMParams,
    patterns: list[Pattern] | None = None,
    obs: Observations = _PLAIN,
) -> SufficientStats:
    """The E-step on data with NaN, reduced to expected sufficient statistics.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        NaN marks a missing entry; no row may be all NaN.
    params : GMMParams
    patterns : list of Pattern, optional
        :func:`~bayesgmm.core.missing.missing_patterns` of ``X``, when already computed.
    obs : Observations, optional
        Weights (each row's responsibilities and log-likelihood term times ``w_n``) and
        partial labels (a labelled row one-hot on its component, its term
        ``log pi_k + log N(x_o | k)``) of the rows of ``X``, checked.

    Returns
    -------
    SufficientStats
        With the (weighted) observed-data log-likelihood; for data without NaN, exactly
        :func:`~bayesgmm.core.em.steps.sufficient_statistics`.
    """
    patterns = missing_patterns(X) if patterns is None else patterns
    n_features = X.shape[1]
    parts = []
    for pattern in patterns:
        sub = obs.take(pattern.rows)
        if pattern.missing.size == 0:
            parts.append(
                sufficient_statistics(
                    X[pattern.rows], params, sample_weight=sub.sample_weight, labels=sub.labels
                )
            )
        else:
            X_obs = X[np.ix_(pattern.rows, pattern.observed)]
            parts.append(_pattern_statistics(X_obs, params, pattern, n_features, sub))
    return sum_statistics(parts)


def start_rows(
    Xc: np.ndarray,
    n_components: int,
    rng: np.random.Generator,
    obs: Observations = _PLAIN,
) -> tuple[np.ndarray, Observations]:
    """The rows the starts see, with their weights and labels: complete rows of the start
    subsample, or, when there are too few of them, the subsample with each NaN replaced
    by its column's (weighted) mean.

    The subsample is drawn among the rows of positive weight (as for complete data,
    :func:`~bayesgmm.core.em.restarts._start_rows`). "Too few" is fewer than
    ``2 K (D + 1)`` complete rows: two per component and free coordinate of a mean and a
    full covariance's column.
    """
    rows = _start_rows(n_components, rng, obs, Xc.shape[0])
    sub, sub_obs = (Xc, obs) if rows is None else (Xc[rows], obs.take(rows))
    complete = ~np.isnan(sub).any(axis=1)
    wanted = _COMPLETE_ROWS_PER_PARAMETER * n_components * (Xc.shape[1] + 1)
    if complete.sum() >= max(wanted, n_components):
        return sub[complete], sub_obs.take(complete)
    return np.where(np.isnan(sub), nan_mean(Xc, obs.sample_weight), sub), sub_obs


class MissingSearch(_RestartSearch):
    """The restart search of :func:`~bayesgmm.core.em.fit_em` on data with NaN.

    The starts and the short runs of the ``"auto"`` search run on :func:`start_rows`
    (complete data, ordinary EM); every long run is the missing-data EM on all rows, with
    the weights and labels ``obs``.
    """

    def __init__(
        self,
        Xc: np.ndarray,
        covariance_type: str,
        *,
        tol: float | None,
        max_iter: int,
        reg_covar: float,
        prior: ConjugatePrior | None,
        rng: np.random.Generator,
        n_components: int,
        obs: Observations = _PLAIN,
    ) -> None:
        # The collapse checks compare against a data covariance from the observed values
        # (nan_covariance): it only sets the scale of "tiny".
        init_X, init_obs = start_rows(Xc, n_components, rng, obs)
        super().__init__(
            Xc,
            covariance_type,
            tol=tol,
            max_iter=max_iter,
            reg_covar=reg_covar,
            prior=prior,
            data_cov=regularized_data_covariance(nan_covariance(Xc, obs.sample_weight)),
            rng=rng,
            init_X=init_X,
            obs=obs,
            init_obs=init_obs,
        )
        self.patterns = missing_patterns(Xc)

    def run_em(
        self, start: GMMParams, max_iter: int
    ) -> tuple[GMMParams, SufficientStats, list[float], bool, int]:
        estep = functools.partial(missing_statistics, patterns=self.patterns, obs=self.obs)
        return _run_once(
            self.Xc,
            start,
            tol=self.tol,
            max_iter=max_iter,
            reg_covar=self.reg_covar,
            prior=self.prior,
            obs=self.obs,
            estep=estep,
        )
