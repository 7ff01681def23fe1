"""Numbers at every scale and inputs read as meant (issue 24): each failure the issue lists,
reproduced, now passing.

References are independent of the code under test: exactly rounded sums (``math.fsum``),
exact rational arithmetic (``fractions``), decimal arithmetic with an unbounded exponent
(``decimal``) for densities beyond float64's range, and the same fit at unit scale.
"""

from __future__ import annotations

import decimal
import math
import statistics
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import bayesgmm as bg
from bayesgmm import GaussianMixtureEM
from bayesgmm.bayes.model.units import fit_standardization
from bayesgmm.mixture.covariance import as_full, precisions_cholesky
from bayesgmm.mixture.far import far_memberships
from bayesgmm.mixture.moments import anchored_mean, anchored_std, feature_moments

pytestmark = pytest.mark.timeout(300)

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 0.5, (60, 2)), rng.normal(2, 0.5, (60, 2))])
    X.setflags(write=False)
    return X


@pytest.fixture(scope="module")
def unit_map(blobs):
    """The MAP fit of the unit-scale blobs (each MAP fit compiles a model: share it)."""
    return _quiet_fit(_bayes(method="map"), blobs)


def _bayes(**kwargs):
    from bayesgmm import BayesianGMM

    settings = {"random_seed": 0, "progressbar": False, **kwargs}
    return BayesianGMM(2, **settings)


def _quiet_fit(estimator, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, **kwargs)


# -- large offsets: posterior summaries --------------------------------------------------


@pytest.fixture(scope="module")
def offset_fit():
    """NUTS on 1-D data offset by 1e15, where float64 steps are 0.125."""
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-20, 5, (100, 1)), rng.normal(20, 5, (100, 1))]) + 1e15
    fit = _quiet_fit(_bayes(draws=100, tune=100, chains=2, random_seed=1), X)
    return fit, X


def _draws(fit) -> np.ndarray:
    means = fit.idata_.posterior["means"].transpose("chain", "draw", ...).values
    return means.reshape(-1, *means.shape[2:])


def test_means_at_offset_are_the_exactly_rounded_means(offset_fit) -> None:
    fit, _ = offset_fit
    draws = _draws(fit)
    exact = np.array([[math.fsum(draws[:, k, 0]) / draws.shape[0]] for k in range(2)])
    # one rounding to the float grid at 1e15 (0.125); before: off by 2 (an sd is 0.5)
    np.testing.assert_allclose(fit.means_, exact, rtol=0, atol=0.125)


def test_summary_and_compare_at_offset(offset_fit) -> None:
    fit, X = offset_fit
    draws = _draws(fit)
    exact_mean = [math.fsum(draws[:, k, 0]) / draws.shape[0] for k in range(2)]
    exact_sd = [float(statistics.stdev([Fraction(v) for v in draws[:, k, 0]])) for k in range(2)]
    table = fit.summary()
    rows = [f"means[{k}, x0]" for k in range(2)]
    np.testing.assert_allclose(table.loc[rows, "mean"], exact_mean, rtol=0, atol=0.01 + 0.125)
    np.testing.assert_allclose(table.loc[rows, "sd"], exact_sd, rtol=0.02, atol=0.005)
    em = GaussianMixtureEM(2, random_seed=0).fit(X)
    compared = bg.compare(em, fit).table
    means = compared[compared.parameter == "means"].sort_values("posterior_mean")
    np.testing.assert_allclose(
        means.posterior_mean, sorted(exact_mean), rtol=0, atol=0.125
    )  # before: sd 2.2 where the truth is 0.5
    np.testing.assert_allclose(sorted(means.posterior_sd), sorted(exact_sd), rtol=1e-6)


def test_membership_at_offset_matches_the_centred_data(offset_fit) -> None:
    fit, X = offset_fit
    member = bg.membership(fit, X)
    truth = (X[:, 0] - 1e15 > 0).astype(int)
    labels = member.labels if truth[0] == member.labels[0] else 1 - member.labels
    assert np.mean(labels == truth) > 0.98
    assert np.isfinite(member.probabilities["mean"].values).all()


def test_anchored_moments_against_exact_arithmetic() -> None:
    rng = np.random.default_rng(3)
    values = 1e15 + rng.normal(0, 0.3, size=(500, 3)).round(3)
    exact = [float(sum(Fraction(v) for v in col) / len(col)) for col in values.T]
    np.testing.assert_allclose(anchored_mean(values), exact, rtol=0, atol=0.125)
    sd = [float(statistics.stdev([Fraction(v) for v in col])) for col in values.T]
    np.testing.assert_allclose(anchored_std(values, ddof=1), sd, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-149, 1e-100, 1e100, 1e149])
def test_feature_moments_scale_exactly(scale: float) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2))
    mean, sd = feature_moments(X)
    mean_s, sd_s = feature_moments(X * scale)
    np.testing.assert_allclose(mean_s / scale, mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sd_s / scale, sd, rtol=1e-12)
    for cov_type in ("full", "spherical"):
        unit = fit_standardization(X, cov_type)
        scaled = fit_standardization(X * scale, cov_type)
        np.testing.assert_allclose(scaled.scale / scale, unit.scale, rtol=1e-12)


# -- extreme distances: predictions --------------------------------------------------------


def _decimal_scores(x, means, covariances, weights) -> list[decimal.Decimal]:
    scores = []
    for w, mu, cov in zip(weights, means, covariances, strict=True):
        inverse = np.linalg.inv(cov)
        diff = [
            decimal.Decimal(float(a)) - decimal.Decimal(float(b))
            for a, b in zip(x, mu, strict=True)
        ]
        maha = sum(
            diff[i] * decimal.Decimal(float(inverse[i, j])) * diff[j]
            for i in range(len(x))
            for j in range(len(x))
        )
        log_det = decimal.Decimal(float(np.linalg.slogdet(cov)[1]))
        scores.append(decimal.Decimal(float(np.log(w))) - (maha + log_det) / 2)
    return scores


def _nearest_reference(x, means, covariances, weights) -> int:
    """The component of largest log weight + log density, in decimal arithmetic (its
    exponent is unbounded): independent of float64 and of mixture.far."""
    with decimal.localcontext() as context:
        context.prec = 1000  # distances near 1e400 compared to the last unit
        scores = _decimal_scores(x, means, covariances, weights)
    return int(np.argmax(scores))


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_em_predictions_far_away_are_finite_and_nearest(blobs, cov_type: str) -> None:
    em = GaussianMixtureEM(2, covariance_type=cov_type, random_seed=0).fit(blobs)
    far = np.array([[1e155, 0.0], [-1e200, 3e199], [0.0, -1.7e308], [1e154, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning either
        proba = em.predict_proba(far)
        labels = em.predict(far)
        scores = em.score_samples(far)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    full = as_full(em.covariances_, cov_type, 2, 2)
    for row, label in zip(far, labels, strict=True):
        assert label == _nearest_reference(row, em.means_, full, em.weights_)
    # Beyond ~1e154 sds the log density is below float64's range: -inf, said, not NaN.
    assert not np.isnan(scores).any()
    assert (scores < -1e300).all()


def test_far_memberships_break_ties_of_shared_covariances() -> None:
    means = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 5.0]])
    cov = np.array([[1.0, 0.3], [0.3, 2.0]])
    prec = precisions_cholesky(cov, "tied")
    X = np.array([[1e200, 0.0], [-1e200, 0.0], [0.0, 1e250]])
    memberships = far_memberships(X, means, prec, "tied")
    for row, member in zip(X, memberships, strict=True):
        expected = _nearest_reference(row, means, [cov] * 3, [1 / 3] * 3)
        assert member[expected] == 1.0


def test_bayesian_predictions_far_away_are_finite(unit_map) -> None:
    fit = unit_map
    far = np.array([[1e155, 0.0], [0.0, -1e154], [1e300, 1e300]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = fit.predict_proba(far)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert fit.predict(far)[0] == np.argmax(fit.means_[:, 0])


@pytest.mark.parametrize("engine", ["em", "map"])
def test_one_extreme_outlier_is_refused_naming_x(blobs, engine: str) -> None:
    X = np.vstack([blobs, [[1e154, 0.0]]])
    estimator = GaussianMixtureEM(2, random_seed=0) if engine == "em" else _bayes(method="map")
    with pytest.raises(ValueError, match=r"X has values up to 1e\+154 away.*Rescale X"):
        _quiet_fit(estimator, X)


# -- extreme scales: fits ------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e-320, 1e-200, 1e-155, 1e153, 1e155])
@pytest.mark.parametrize("engine", ["em", "map", "nuts"])
def test_unusable_scales_get_a_clear_error(blobs, scale: float, engine: str) -> None:
    if engine == "em":
        estimator = GaussianMixtureEM(2, random_seed=0)
    elif engine == "map":
        estimator = _bayes(method="map")
    else:
        estimator = _bayes(draws=10, tune=10, chains=1)
    with pytest.raises(ValueError, match=r"^X .*feature\(s\) 0.*Rescale X") as info:
        _quiet_fit(estimator, blobs * scale)
    message = str(info.value)
    for internal in ("reg_covar", "mean_scale", "std_scale"):
        assert internal not in message


@pytest.mark.parametrize("scale", [1e-149, 1e149])
def test_map_fit_is_scale_invariant(blobs, unit_map, scale: float) -> None:
    unit = unit_map
    scaled = _quiet_fit(_bayes(method="map"), blobs * scale)
    np.testing.assert_allclose(scaled.means_ / scale, unit.means_, rtol=1e-5)
    np.testing.assert_allclose(scaled.covariances_ / scale**2, unit.covariances_, rtol=1e-5)
    proba = scaled.predict_proba(blobs * scale)
    np.testing.assert_allclose(proba, unit.predict_proba(blobs), atol=1e-6)


@pytest.mark.parametrize(("scale", "n_features"), [(1e-149, 2), (1e149, 2), (1e-149, 4)])
def test_nuts_at_extreme_scales(scale: float, n_features: int) -> None:
    """At 1e-155 the sampler failed with a Rust backtrace, or relabeling with "matrix
    contains invalid numeric entries"; within the accepted range all of it runs, the
    label-invariant diagnostics included (4-D densities at 1e-149 reach 1e596)."""
    from bayesgmm.posterior import label_invariant_summary

    rng = np.random.default_rng(0)
    X = np.concatenate(
        [rng.normal(-2, 0.5, (60, n_features)), rng.normal(2, 0.5, (60, n_features))]
    )
    fit = _quiet_fit(_bayes(draws=60, tune=60, chains=2, covariance_type="diag"), X * scale)
    assert np.isfinite(fit.means_).all() and np.isfinite(fit.covariances_).all()
    np.testing.assert_allclose(np.sort(fit.means_[:, 0]) / scale, [-2, 2], atol=0.3)
    assert np.isfinite(fit.score_samples(X * scale)).all()
    assert np.isfinite(bg.membership(fit, X * scale).probabilities["mean"].values).all()
    summary = label_invariant_summary(fit.idata_)
    assert np.isfinite(summary[["mean", "sd", "r_hat"]].to_numpy()).all()


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [1e12, -1e160])
def test_em_far_from_origin(blobs, cov_type: str, offset: float) -> None:
    scale = 1.0 if abs(offset) < 1e100 else 1e146  # data that float64 still resolves
    unit = GaussianMixtureEM(2, covariance_type=cov_type, random_seed=0).fit(blobs)
    fit = GaussianMixtureEM(2, covariance_type=cov_type, random_seed=0).fit(blobs * scale + offset)
    np.testing.assert_allclose((fit.means_ - offset) / scale, unit.means_, atol=0.02)
    proba = fit.predict_proba(blobs * scale + offset)
    assert np.mean(proba.argmax(axis=1) == unit.predict(blobs)) > 0.98


# -- inputs read as meant --------------------------------------------------------------------


def test_masked_entries_are_missing(blobs) -> None:
    data = blobs.copy()
    data[0, 0] = 1e10  # what lies under the mask must not be read
    masked = np.ma.masked_array(data, mask=np.zeros_like(data, dtype=bool))
    masked[0, 0] = np.ma.masked
    with pytest.raises(ValueError, match="1 NaN"):
        GaussianMixtureEM(2, random_seed=0).fit(masked)
    expected = blobs.copy()
    expected[0, 0] = np.nan
    fit = GaussianMixtureEM(2, random_seed=0, missing="marginalize").fit(masked)
    reference = GaussianMixtureEM(2, random_seed=0, missing="marginalize").fit(expected)
    np.testing.assert_array_equal(fit.means_, reference.means_)
    assert data[0, 0] == 1e10 and masked.mask[0, 0]  # the user's array untouched


def test_pandas_nullable_na_is_missing(blobs) -> None:
    frame = pd.DataFrame(blobs, columns=["a", "b"]).astype("Float64")
    frame.iloc[0, 0] = pd.NA
    with pytest.raises(ValueError, match=r"NaN.*missing='marginalize'"):
        GaussianMixtureEM(2, random_seed=0).fit(frame)
    expected = blobs.copy()
    expected[0, 0] = np.nan
    fit = GaussianMixtureEM(2, random_seed=0, missing="marginalize").fit(frame)
    reference = GaussianMixtureEM(2, random_seed=0, missing="marginalize").fit(expected)
    np.testing.assert_array_equal(fit.means_, reference.means_)
    integers = pd.DataFrame((blobs * 10).astype(int), columns=["a", "b"]).astype("Int64")
    np.testing.assert_array_equal(
        GaussianMixtureEM(2, random_seed=0).fit(integers).means_,
        GaussianMixtureEM(2, random_seed=0).fit((blobs * 10).astype(int)).means_,
    )


@pytest.mark.parametrize("engine", ["em", "nuts"])
def test_duplicate_columns_fail_at_input(blobs, engine: str, monkeypatch) -> None:
    frame = pd.DataFrame(blobs, columns=["a", "a"])
    if engine == "em":
        estimator = GaussianMixtureEM(2)
    else:
        import bayesgmm.bayes.model.graph as graph

        monkeypatch.setattr(graph, "make_spec", None)  # nothing past validation may run
        estimator = _bayes(draws=10, tune=10)
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        estimator.fit(frame)


# -- raw errors become the package's errors ----------------------------------------------------


def test_huge_seed_is_refused_before_sampling(blobs) -> None:
    with pytest.raises(ValueError, match=r"random_seed must be an integer in \[0, 2\*\*32 - 1\]"):
        _bayes(random_seed=2**64, draws=10, tune=10).fit(blobs)


def test_select_k_with_no_ks(blobs) -> None:
    with pytest.raises(ValueError, match="ks is empty"):
        bg.select_k(blobs, ks=[])
    with pytest.raises(ValueError, match="n_components=500 exceeds"):
        bg.select_k(blobs, ks=[1, 500])


def test_one_dimensional_dask_array(blobs) -> None:
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match=r"1-D Dask array.*reshape"):
        GaussianMixtureEM(2).fit(da.from_array(blobs[:, 0], chunks=30))


def test_membership_of_a_list_of_lists(blobs, unit_map) -> None:
    fit = unit_map
    from_list = bg.membership(fit, X=blobs.tolist())
    from_array = bg.membership(fit, X=blobs)
    np.testing.assert_array_equal(from_list.labels, from_array.labels)


@pytest.mark.parametrize("engine", ["em", "map"])
def test_one_positive_weight(blobs, engine: str) -> None:
    weights = np.r_[1.0, np.zeros(blobs.shape[0] - 1)]
    estimator = GaussianMixtureEM(2, random_seed=0) if engine == "em" else _bayes(method="map")
    with pytest.raises(ValueError, match=r"sample_weight gives 1 row.*n_components=2"):
        _quiet_fit(estimator, blobs, sample_weight=weights)


def test_far_rows_with_missing_entries(blobs) -> None:
    """Rows beyond every component with NaN entries: memberships on their observed
    coordinates, in EM and in the posterior draws' maths."""
    from bayesgmm.mixture.draws import responsibilities

    data = blobs.copy()
    data[0, 1] = np.nan
    em = GaussianMixtureEM(2, missing="marginalize", random_seed=0).fit(data)
    far = np.array([[1e155, np.nan], [np.nan, -1e200], [1e155, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = em.predict_proba(far)
        draws = responsibilities(far, em.weights_[None], em.means_[None], em.covariances_[None])[0]
    np.testing.assert_array_equal(proba, draws)
    assert np.isfinite(proba).all()
    for row, member in zip(far, proba, strict=True):
        seen = ~np.isnan(row)
        covariances = em.covariances_[:, seen][:, :, seen]
        nearest = _nearest_reference(row[seen], em.means_[:, seen], covariances, em.weights_)
        assert member[nearest] == 1.0
