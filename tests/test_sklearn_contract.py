"""scikit-learn's contract on both estimators, with no wrapper: ``fit(X, y)`` ignores ``y``
(as ``GaussianMixture`` and ``KMeans`` do), partial labels come by keyword only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from bayesgmm.estimators.bayesian import BayesianGMM, GaussianMixtureEM

with warnings.catch_warnings():
    # The facades deliberately do not inherit sklearn.base.BaseEstimator (scikit-learn is
    # not a runtime dependency); they implement get_params / set_params / tags themselves.
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base")
    BAYES_CHECKS = parametrize_with_checks(
        [BayesianGMM(method="map", progressbar=False, random_seed=0)]
    )


# scikit-learn's checks fit one component to ~10 rows and to constant-ish data: the
# warnings are correct there and not what the checks are about (its weight-equivalence
# check fits 15 rows in 30 features, where the MAP does not exist and the fit says so;
# with one component its predictions cannot differ, so weights = repeated rows is tested
# on the fitted parameters in tests/test_map_kernel.py). On the compiled kernel a MAP
# fit takes well under a second; all 48 checks ran in 33 s on the shared 2-core machine.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.timeout(120)
@BAYES_CHECKS
def test_bayesian_map_passes_sklearn_checks(estimator, check):
    check(estimator)


def _species_like(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 2-D blobs and a 'target' with 5 classes, more than the 2 components."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0.0, 1.0, (60, 2)), rng.normal(6.0, 1.0, (60, 2))])
    return X, rng.integers(0, 5, size=X.shape[0])


@pytest.mark.timeout(60)
def test_em_ignores_y_as_sklearn_clusterers_do():
    X, y = _species_like()
    plain = GaussianMixtureEM(2, random_seed=0).fit(X)
    with_y = GaussianMixtureEM(2, random_seed=0).fit(X, y)  # 5 classes, 2 components: ignored
    np.testing.assert_array_equal(plain.means_, with_y.means_)
    np.testing.assert_array_equal(
        GaussianMixtureEM(2, random_seed=0).fit_predict(X, y), plain.predict(X)
    )
    # Partial labels by keyword still change the fit: component k is the one labelled k.
    labels = np.full(X.shape[0], -1)
    labels[:5], labels[60:65] = 1, 0
    labelled = GaussianMixtureEM(2, random_seed=0).fit(X, labels=labels)
    assert labelled.means_[1, 0] < 3.0 < labelled.means_[0, 0]
    with pytest.raises(TypeError):
        GaussianMixtureEM(2).fit(X, None, None, labels)  # labels is keyword only


@pytest.mark.timeout(120)
def test_cross_validation_and_grid_search_fit_unsupervised():
    X, y = _species_like(1)
    em = GaussianMixtureEM(2, random_seed=0)
    scores = cross_val_score(em, X, y, cv=3)
    # Each fold's score is the held-out mean log-density of an unsupervised fit.
    from sklearn.model_selection import KFold

    expected = [
        GaussianMixtureEM(2, random_seed=0).fit(X[train]).score(X[test])
        for train, test in KFold(3).split(X)
    ]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    search = GridSearchCV(em, {"n_components": [1, 2]}, cv=3).fit(X, y)
    assert search.best_params_ == {"n_components": 2}


@pytest.mark.timeout(120)
def test_bayesian_cross_val_score_ignores_y():
    X, y = _species_like(2)
    est = BayesianGMM(2, method="map", progressbar=False, random_seed=0)
    scores = cross_val_score(est, X, y, cv=2)
    from sklearn.model_selection import KFold

    expected = [
        BayesianGMM(2, method="map", progressbar=False, random_seed=0).fit(X[train]).score(X[test])
        for train, test in KFold(2).split(X)
    ]
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
