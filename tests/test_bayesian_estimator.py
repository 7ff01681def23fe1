"""The BayesianGMM facade: fit, predictions, persistence, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import bayesgmm
from bayesgmm.estimators.bayesian import BayesianGMM
from bayesgmm.exceptions import NotFittedError


def _small(**kwargs) -> BayesianGMM:
    params = dict(draws=500, tune=500, chains=2, random_seed=3, progressbar=False)
    params.update(kwargs)
    return BayesianGMM(2, **params)


@pytest.fixture(scope="module")
def fitted(faithful_df) -> BayesianGMM:
    return _small().fit(faithful_df)


def test_fit_sets_relabeled_posterior_and_reports(fitted, faithful_df) -> None:
    assert fitted.n_features_in_ == 2
    assert list(fitted.feature_names_in_) == ["eruptions", "waiting"]
    assert fitted.idata_.attrs["relabel_method"] == "stephens"
    assert "relabel_method" not in fitted.raw_idata_.attrs
    assert fitted.label_report_ is not None and fitted.collapse_report_ is not None
    summary = fitted.summary(round_to="none")
    # 2 x 500 draws (ESS ~1000): a converged run's R-hat sits within ~0.01 of 1, while a
    # label switch between the chains gives ~1.8.
    assert summary["r_hat"].max() < 1.02
    assert summary["ess_bulk"].min() > 400
    means = fitted.idata_.posterior["means"].mean(("chain", "draw")).values
    em = bayesgmm.fit_em(faithful_df, 2, n_init=3, random_seed=0)
    order_b, order_e = np.argsort(means[:, 1]), np.argsort(em.means[:, 1])
    # Posterior means and the MLE differ by O(posterior sd): ~0.03 min and ~0.6 min here.
    diff = np.abs(means[order_b] - em.means[order_e])
    assert np.all(diff < np.array([0.1, 2.0]))


def test_predictions(fitted, faithful_df) -> None:
    proba = fitted.predict_proba(faithful_df)
    assert proba.shape == (272, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    labels = fitted.predict(faithful_df)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    dens = fitted.score_samples(faithful_df)
    assert dens.shape == (272,) and np.all(np.isfinite(dens))
    # The posterior-predictive density of the training data is close to the MLE's.
    em = bayesgmm.GaussianMixtureEM(2, n_init=3, random_seed=0).fit(faithful_df)
    assert fitted.score(faithful_df) == pytest.approx(em.score(faithful_df), abs=0.05)


def test_predictions_invariant_to_relabeling(faithful_df) -> None:
    relabeled = _small(relabel="stephens").fit(faithful_df)
    raw = _small(relabel="none").fit(faithful_df)
    # Same seed, same draws: the label-invariant density is identical; memberships agree
    # up to the global permutation chosen by the relabeling.
    np.testing.assert_allclose(
        relabeled.score_samples(faithful_df), raw.score_samples(faithful_df), rtol=1e-10
    )
    a, b = relabeled.predict_proba(faithful_df), raw.predict_proba(faithful_df)
    assert min(np.abs(a - b).max(), np.abs(a - b[:, ::-1]).max()) < 1e-10


def test_save_load_round_trip(fitted, faithful_df, tmp_path) -> None:
    path = tmp_path / "fit.nc"
    fitted.save(path)
    loaded = BayesianGMM.load(path)
    np.testing.assert_array_equal(
        loaded.predict_proba(faithful_df), fitted.predict_proba(faithful_df)
    )
    np.testing.assert_array_equal(
        loaded.score_samples(faithful_df), fitted.score_samples(faithful_df)
    )
    assert loaded.get_params() == fitted.get_params()
    assert list(loaded.feature_names_in_) == list(fitted.feature_names_in_)
    with pytest.raises(FileNotFoundError):
        BayesianGMM.load(tmp_path / "missing.nc")


def test_posterior_predictive(fitted) -> None:
    pp = fitted.sample_posterior_predictive(n_samples=10, random_seed=1)
    x = pp.posterior_predictive["x"]
    assert x.shape == (2, 5, 272, 2)
    assert np.all(np.isfinite(x.values))


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_variational_methods(faithful_df, method: str) -> None:
    fit = BayesianGMM(
        2, method=method, advi_steps=3000, draws=300, random_seed=1, progressbar=False
    ).fit(faithful_df)
    assert fit.idata_.posterior["means"].shape == (1, 300, 2, 2)
    np.testing.assert_allclose(fit.predict_proba(faithful_df).sum(axis=1), 1.0)


def test_unfitted_and_bad_arguments(faithful_df) -> None:
    with pytest.raises(NotFittedError):
        BayesianGMM(2).predict(faithful_df)
    with pytest.raises(ValueError, match="method must be"):
        BayesianGMM(2, method="gibbs").fit(faithful_df)
    with pytest.raises(ValueError, match="relabel must be"):
        BayesianGMM(2, relabel="magic").fit(faithful_df)
    with pytest.raises(ValueError, match="covariance_type"):
        BayesianGMM(2, covariance_type="banded").fit(faithful_df)


def test_wrong_feature_count_at_predict(fitted) -> None:
    with pytest.raises(ValueError, match="3 features, but BayesianGMM is expecting 2"):
        fitted.predict(np.zeros((4, 3)))


def test_constant_feature_fails_before_any_sampling(faithful) -> None:
    data = np.column_stack([faithful, np.full(len(faithful), 3.0)])
    with pytest.raises(ValueError, match=r"feature\(s\) 2 \('x2'\) are constant"):
        BayesianGMM(2, random_seed=0, progressbar=False).fit(data)
