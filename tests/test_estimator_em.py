"""GaussianMixtureEM: scikit-learn's estimator checks and the estimator API on Faithful."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from bayesgmm.estimators.bayesian import GaussianMixtureEM
from bayesgmm.exceptions import NotFittedError

# Checks that must be skipped, with the reason (name -> reason). Keep it short, and say
# here why a check cannot apply.
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the starts are random draws over rows (k-means++ seeds, a subsample), so the data "
        "with rows repeated get other starts than the weighted data and may end in another "
        "labelling; from identical starts weights equal repetition to round-off "
        "(tests/test_observations_em.py)"
    ),
}


with warnings.catch_warnings():
    # The facade deliberately does not inherit sklearn.base.BaseEstimator (scikit-learn is
    # not a runtime dependency); it implements get_params / set_params / tags itself, which
    # is what these checks exercise.
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base")
    SKLEARN_CHECKS = parametrize_with_checks(
        [
            GaussianMixtureEM(),
            GaussianMixtureEM(n_components=2, random_seed=0),
            GaussianMixtureEM(n_components=2, covariance_type="diag", random_seed=0),
            GaussianMixtureEM(n_components=2, prior="default", random_seed=0),
        ],
        # One component has one start (all rows): weights equal repetition exactly there.
        expected_failed_checks=lambda estimator: (
            EXPECTED_FAILED_CHECKS if estimator.n_components > 1 else {}
        ),
    )


# Some checks fit 2 components to ~10 rows, where one collapses onto <= D points; others fit
# 2 components to one Gaussian blob, where MAP-EM creeps (check_fit_idempotent's data needs
# 1040 iterations). The warnings are correct there and not what the checks are about.
@pytest.mark.filterwarnings("ignore::bayesgmm.exceptions.DegenerateComponentWarning")
@pytest.mark.filterwarnings("ignore::bayesgmm.exceptions.ConvergenceWarning")
@SKLEARN_CHECKS
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------
# The API on Faithful
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(faithful) -> GaussianMixtureEM:
    return GaussianMixtureEM(2, random_seed=0, n_init=3).fit(faithful)


def test_fitted_attributes(fitted, faithful):
    assert fitted.n_features_in_ == 2
    assert fitted.weights_.shape == (2,) and fitted.means_.shape == (2, 2)
    assert fitted.covariances_.shape == (2, 2, 2)
    assert fitted.weights_.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(
        fitted.precisions_ @ fitted.covariances_, np.broadcast_to(np.eye(2), (2, 2, 2)), atol=1e-9
    )
    assert fitted.converged_ and fitted.n_iter_ >= 1
    assert fitted.lower_bound_ == pytest.approx(fitted.score(faithful), rel=1e-12)
    assert fitted.degenerate_components_ == ()
    # The two eruption regimes: short (~2 min, wait ~55) and long (~4.3 min, wait ~80).
    short, long_ = np.argsort(fitted.means_[:, 0])
    np.testing.assert_allclose(fitted.means_[short], [2.04, 54.5], atol=0.1)
    np.testing.assert_allclose(fitted.means_[long_], [4.29, 80.0], atol=0.1)


def test_predict_proba_score_samples_score(fitted, faithful):
    proba = fitted.predict_proba(faithful)
    assert proba.shape == (272, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(fitted.predict(faithful), np.argmax(proba, axis=1))
    assert fitted.fit_predict(faithful).shape == (272,)

    log_density = fitted.score_samples(faithful)
    assert log_density.shape == (272,)
    assert fitted.score(faithful) == pytest.approx(log_density.mean(), rel=1e-14)
    # score_samples is the log mixture density (checked against the parameters directly).
    from scipy.stats import multivariate_normal

    manual = logsumexp(
        [
            np.log(fitted.weights_[k])
            + multivariate_normal.logpdf(faithful, fitted.means_[k], fitted.covariances_[k])
            for k in range(2)
        ],
        axis=0,
    )
    np.testing.assert_allclose(log_density, manual, rtol=1e-10)


def test_sample(fitted):
    X, labels = fitted.sample(20_000, random_seed=1)
    assert X.shape == (20_000, 2) and labels.shape == (20_000,)
    assert set(np.unique(labels)) == {0, 1}
    # Sample mean vs mixture mean, within 5 standard errors of a 20,000-draw mean.
    mixture_mean = fitted.weights_ @ fitted.means_
    within = np.einsum("k,kde->de", fitted.weights_, fitted.covariances_)
    centred = fitted.means_ - mixture_mean
    total_cov = within + np.einsum("k,kd,ke->de", fitted.weights_, centred, centred)
    se = np.sqrt(np.diag(total_cov) / 20_000)
    assert np.all(np.abs(X.mean(axis=0) - mixture_mean) < 5 * se)
    # The draws of each component have that component's mean (5 SE again).
    for k in range(2):
        n_k = np.sum(labels == k)
        se_k = np.sqrt(np.diag(fitted.covariances_[k]) / n_k)
        assert np.all(np.abs(X[labels == k].mean(axis=0) - fitted.means_[k]) < 5 * se_k)
    # Reproducible from its seed.
    np.testing.assert_array_equal(fitted.sample(5, random_seed=3)[0], fitted.sample(5, 3)[0])
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        fitted.sample(0)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_matches_sklearn_log_likelihood_bic_aic(faithful, covariance_type):
    start = GaussianMixtureEM(3, covariance_type=covariance_type, max_iter=0, random_seed=5)
    start.fit(faithful)  # max_iter=0: just the k-means++ initial parameters
    init = {"weights": start.weights_, "means": start.means_, "covariances": start.covariances_}
    ours = GaussianMixtureEM(
        3, covariance_type=covariance_type, init=init, tol=0.0, max_iter=30
    ).fit(faithful)
    theirs = GaussianMixture(
        3,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=30,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 never "converges"
        theirs.fit(faithful)
    # Same iteration from the same start: equal up to rounding (~1e-15 relative).
    assert ours.score(faithful) == pytest.approx(theirs.score(faithful), rel=1e-8)
    np.testing.assert_allclose(
        ours.score_samples(faithful), theirs.score_samples(faithful), rtol=1e-8
    )
    np.testing.assert_allclose(
        ours.predict_proba(faithful), theirs.predict_proba(faithful), rtol=0, atol=1e-8
    )
    assert ours.bic(faithful) == pytest.approx(theirs.bic(faithful), rel=1e-9)
    assert ours.aic(faithful) == pytest.approx(theirs.aic(faithful), rel=1e-9)
    assert ours.n_parameters() == theirs._n_parameters()


def test_bic_aic_icl_on_new_data(fitted, faithful):
    n = len(faithful)
    p = fitted.n_parameters()
    assert p == 11  # 1 weight + 4 means + 6 covariance entries
    log_l = fitted.score(faithful) * n
    assert fitted.bic(faithful) == pytest.approx(-2 * log_l + p * np.log(n), rel=1e-12)
    assert fitted.aic(faithful) == pytest.approx(-2 * log_l + 2 * p, rel=1e-12)
    assert fitted.icl(faithful) > fitted.bic(faithful)
    # Criteria on other data use that data's size and likelihood.
    half = faithful[::2]
    log_l_half = fitted.score(half) * len(half)
    assert fitted.bic(half) == pytest.approx(-2 * log_l_half + p * np.log(len(half)), rel=1e-12)


def test_map_estimator(faithful):
    model = GaussianMixtureEM(3, prior="default", random_seed=0).fit(faithful)
    assert model.result_.prior is not None
    assert model.lower_bound_ == pytest.approx(model.result_.objective / len(faithful))
    assert model.result_.log_prior != 0.0


def test_not_fitted_errors(faithful):
    model = GaussianMixtureEM(2)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(model, method)(faithful)
    # Also scikit-learn's own NotFittedError, so that code catching that one works.
    with pytest.raises(SklearnNotFittedError):
        model.predict(faithful)
    with pytest.raises(NotFittedError):
        model.sample(3)


def test_params_clone_pickle_repr(fitted, faithful):
    model = GaussianMixtureEM(3, covariance_type="diag", reg_covar=1e-4)
    assert model.get_params()["reg_covar"] == 1e-4
    expected = "GaussianMixtureEM(n_components=3, covariance_type='diag', reg_covar=0.0001)"
    assert repr(model) == expected
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    with pytest.raises(ValueError, match="Invalid parameter 'alpha'"):
        model.set_params(alpha=1.0)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(faithful), fitted.predict_proba(faithful))


def test_dataframe_feature_names(faithful_df):
    model = GaussianMixtureEM(2, random_seed=0).fit(faithful_df)
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    assert model.feature_names == ["eruptions", "waiting"]
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(faithful_df.to_numpy())
    renamed = faithful_df.rename(columns={"waiting": "wait"})
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(renamed)
    # Refitting on an array forgets the names.
    model.fit(faithful_df.to_numpy())
    assert not hasattr(model, "feature_names_in_")
    assert model.feature_names == ["x0", "x1"]
    with pytest.warns(UserWarning, match="X has feature names"):
        model.predict(pd.DataFrame(faithful_df.to_numpy(), columns=["a", "b"]))
