"""Independent references for the tests of missing values: each row computed from the
definitions with scipy (the marginal of the observed coordinates, the conditional
Gaussian of the missing ones), with optional weights and partial labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

from bayesgmm.em import GMMParams
from bayesgmm.mixture.covariance import as_full
from bayesgmm.mixture.draws import covariances_from_draws


def reference_row(
    x: np.ndarray, params: GMMParams, label: int = -1
) -> tuple[float, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """One row: its log-likelihood term (log p(x_o), or for ``label`` k >= 0 the term
    log pi_k + log N(x_o | k)), its responsibilities (one-hot on a label), and per
    component (E[x_m | x_o, k], Cov[x_m | x_o, k])."""
    k, d = params.means.shape
    cov = as_full(params.covariances, params.covariance_type, k, d)
    o, m = ~np.isnan(x), np.isnan(x)
    logs, conds = [], []
    for j in range(k):
        s_oo, s_mo, s_mm = cov[j][np.ix_(o, o)], cov[j][np.ix_(m, o)], cov[j][np.ix_(m, m)]
        logs.append(
            np.log(params.weights[j])
            + stats.multivariate_normal(params.means[j][o], s_oo).logpdf(x[o])
        )
        gain = np.linalg.solve(s_oo, s_mo.T).T
        conds.append(
            (params.means[j][m] + gain @ (x[o] - params.means[j][o]), s_mm - gain @ s_mo.T)
        )
    logs = np.array(logs)
    if label >= 0:
        return float(logs[label]), np.eye(k)[label], conds
    total = np.logaddexp.reduce(logs)
    return float(total), np.exp(logs - total), conds


def reference_statistics(
    X: np.ndarray,
    params: GMMParams,
    sample_weight: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Row by row: the (weighted) log-likelihood, and the expected statistics of the
    completed rows, ``sum w r``, ``sum w r x`` and ``sum w r x x^T`` (K, D, D)."""
    k, d = params.means.shape
    n = X.shape[0]
    weights = np.ones(n) if sample_weight is None else sample_weight
    known = -np.ones(n, dtype=int) if labels is None else labels
    log_lik, resp_sum = 0.0, np.zeros(k)
    first, second = np.zeros((k, d)), np.zeros((k, d, d))
    for x, w, label in zip(X, weights, known, strict=True):
        total, resp, conds = reference_row(x, params, int(label))
        log_lik += w * total
        m = np.isnan(x)
        for j in range(k):
            xhat = x.copy()
            xhat[m] = conds[j][0]
            moment = np.outer(xhat, xhat)
            moment[np.ix_(m, m)] += conds[j][1]
            resp_sum[j] += w * resp[j]
            first[j] += w * resp[j] * xhat
            second[j] += w * resp[j] * moment
    return log_lik, resp_sum, first, second


def scipy_observed_loglik(
    Z: np.ndarray,
    params: dict[str, Any],
    cov_type: str,
    k: int,
    sample_weight: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> float:
    """``sum_n w_n log p_n`` for the model's parameters ``params`` (kernel.unpack), with
    ``p_n`` the mixture of the observed coordinates' marginals, or for a row labelled k
    ``pi_k N(z_no | mu_ko, Sigma_koo)``."""
    unit = params.get("partial_corr_unit")
    cov, _ = covariances_from_draws(
        np.asarray(params["stds"])[None],
        None if unit is None else np.asarray(unit)[None],
        cov_type,
        k,
        Z.shape[1],
    )
    n = Z.shape[0]
    weights = np.ones(n) if sample_weight is None else sample_weight
    known = -np.ones(n, dtype=int) if labels is None else labels
    total = 0.0
    for z, w, label in zip(Z, weights, known, strict=True):
        o = ~np.isnan(z)
        terms = [
            np.log(params["weights"][j])
            + stats.multivariate_normal.logpdf(z[o], params["means"][j][o], cov[0, j][np.ix_(o, o)])
            for j in range(k)
        ]
        total += w * (terms[label] if label >= 0 else special.logsumexp(terms))
    return float(total)


def assert_statistics_match(got: Any, reference: tuple, cov_type: str, rtol: float) -> None:
    """``got`` (SufficientStats) equal to :func:`reference_statistics` within ``rtol``;
    the reference's full second moments reduced to ``cov_type``'s form."""
    log_lik, resp_sum, first, second = reference
    np.testing.assert_allclose(got.log_likelihood, log_lik, rtol=rtol)
    np.testing.assert_allclose(got.resp_sum, resp_sum, rtol=rtol)
    np.testing.assert_allclose(got.weighted_sum, first, rtol=rtol, atol=rtol)
    expected = {
        "full": second,
        "tied": second.sum(axis=0),
        "diag": np.diagonal(second, axis1=1, axis2=2),
        "spherical": np.diagonal(second, axis1=1, axis2=2),
    }[cov_type]
    np.testing.assert_allclose(got.second_moment, expected, rtol=rtol, atol=10 * rtol)
