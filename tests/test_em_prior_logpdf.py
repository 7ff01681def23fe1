"""The MAP-EM prior's log density against scipy's documented distributions, component by
component: normal-inverse-Wishart (full, tied) and normal-inverse-gamma (diag, spherical)
with the Dirichlet on the weights, as ``docs/em.md`` writes the conjugate prior."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesgmm import em
from bayesgmm.em.prior import log_prior


def _reference(params: em.GMMParams, prior) -> float:
    kappa, nu, scale, loc = prior.shrinkage, prior.dof, prior.scale, prior.mean
    k = params.means.shape[0]
    total = 0.0
    if k > 1:
        total += stats.dirichlet.logpdf(params.weights, np.full(k, prior.weight_concentration))
    cov = params.covariances
    for j in range(k):
        if params.covariance_type in ("full", "tied"):
            c = cov[j] if params.covariance_type == "full" else cov
            if params.covariance_type == "full" or j == 0:
                total += stats.invwishart.logpdf(c, df=nu, scale=scale)
            total += stats.multivariate_normal.logpdf(params.means[j], loc, c / kappa)
        else:
            var = cov[j] if params.covariance_type == "diag" else np.full(len(loc), cov[j])
            if params.covariance_type == "diag":
                total += np.sum(stats.invgamma.logpdf(var, a=nu / 2, scale=scale / 2))
            else:
                total += stats.invgamma.logpdf(cov[j], a=nu / 2, scale=scale / 2)
            total += np.sum(stats.norm.logpdf(params.means[j], loc, np.sqrt(var / kappa)))
    return float(total)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize(("n_components", "n_features"), [(1, 1), (3, 1), (1, 3), (4, 3)])
def test_log_prior_matches_scipy(covariance_type: str, n_components: int, n_features: int) -> None:
    rng = np.random.default_rng(n_components * 10 + n_features)
    X = rng.normal(size=(200, n_features)) * [1.0, 3.0, 0.5][:n_features]
    fit = em.fit_em(X, n_components, covariance_type, prior="default", max_iter=5, random_seed=1)
    prior = fit.prior
    assert prior is not None
    got = log_prior(fit.params, prior)
    np.testing.assert_allclose(got, _reference(fit.params, prior), rtol=1e-12)
