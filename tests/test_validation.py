"""Input validation, the same for every public entry point.

Each entry point is an :class:`EntryPoint`: how to fit ``K`` components to ``X`` and how
to use the fit on new data. A new estimator (for example ``BayesianGMM``) joins every test
here by one more line in ``ENTRY_POINTS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from bayesgmm import em
from bayesgmm.estimators.bayesian import BayesianGMM, GaussianMixtureEM


@dataclass(frozen=True)
class EntryPoint:
    name: str
    fit: Callable[[Any, int], Any]
    predict: Callable[[Any, Any], Any]
    # Where the fitted object keeps DataFrame column names (None: it does not keep them).
    feature_names: Callable[[Any], Any] | None = None
    # A posterior mean is not the sample mean: it sits within a few posterior sds of it.
    exact: bool = True

    def __repr__(self) -> str:  # readable test ids
        return self.name


ENTRY_POINTS = [
    EntryPoint(
        "fit_em",
        fit=lambda X, k: em.fit_em(X, k, random_seed=0),
        # The functional API uses a fit through the validated log-likelihood.
        predict=lambda fitted, X: em.log_likelihood(X, fitted),
    ),
    EntryPoint(
        "GaussianMixtureEM",
        fit=lambda X, k: GaussianMixtureEM(k, random_seed=0).fit(X),
        predict=lambda fitted, X: fitted.predict(X),
        feature_names=lambda fitted: fitted.feature_names_in_,
    ),
    EntryPoint(
        "BayesianGMM",
        # Short single-chain NUTS runs: these tests are about the input, not the posterior.
        fit=lambda X, k: BayesianGMM(
            k, draws=30, tune=30, chains=1, relabel="none", random_seed=0, progressbar=False
        ).fit(X),
        predict=lambda fitted, X: fitted.predict(X),
        feature_names=lambda fitted: fitted.feature_names_in_,
        exact=False,
    ),
]

WITH_FEATURE_NAMES = [e for e in ENTRY_POINTS if e.feature_names is not None]


def _clean(n: int = 40, d: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def _with(value: float) -> np.ndarray:
    X = _clean()
    X[7, 1] = value
    return X


def _object_with_dict() -> np.ndarray:
    X = _clean().astype(object)
    X[3, 0] = {"a": 1}
    return X


BAD_INPUTS = [
    # (id, factory, exception, message pattern)
    ("nan", lambda: _with(np.nan), ValueError, r"1 NaN and 0 infinite value\(s\), in rows \[7\]"),
    ("inf", lambda: _with(np.inf), ValueError, r"0 NaN and 1 infinite value\(s\), in rows \[7\]"),
    ("neg_inf", lambda: _with(-np.inf), ValueError, r"infinite value"),
    ("1d", lambda: _clean()[:, 0], ValueError, r"must be 2-D.*got 1-D.*reshape\(-1, 1\)"),
    ("3d", lambda: _clean()[None], ValueError, r"must be 2-D.*got 3-D"),
    ("scalar", lambda: np.float64(3.0), ValueError, r"must be 2-D.*got 0-D"),
    ("no_rows", lambda: np.empty((0, 2)), ValueError, r"empty.*0 sample\(s\)"),
    ("no_columns", lambda: np.empty((10, 0)), ValueError, r"empty.*0 feature\(s\)"),
    ("one_row", lambda: _clean()[:1], ValueError, r"1 sample\(s\); at least 2"),
    ("strings", lambda: np.array([["a", "b"]] * 5), TypeError, r"non-numeric values"),
    ("complex", lambda: _clean().astype(complex), ValueError, r"Complex data not supported"),
    ("sparse_matrix", lambda: scipy.sparse.csr_matrix(_clean()), TypeError, r"sparse.*toarray"),
    ("sparse_array", lambda: scipy.sparse.csr_array(_clean()), TypeError, r"sparse.*toarray"),
    ("object_dict", _object_with_dict, TypeError, r"non-numeric values.*dict"),
    ("ragged", lambda: [[1.0, 2.0], [3.0]], ValueError, r"could not be read as a 2-D"),
    (
        "string_column",
        lambda: pd.DataFrame({"a": _clean()[:, 0], "b": ["x"] * 40}),
        TypeError,
        r"non-numeric columns \['b'\]",
    ),
]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_data_is_rejected_with_a_clear_message(entry, make, error, match):
    with pytest.raises(error, match=match):
        entry.fit(make(), 2)


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [case[1:] for case in BAD_INPUTS if case[0] != "one_row"],
    ids=[case[0] for case in BAD_INPUTS if case[0] != "one_row"],
)
def test_bad_data_is_rejected_at_predict(entry, make, error, match):
    fitted = entry.fit(_clean(), 2)
    with pytest.raises(error, match=match):
        entry.predict(fitted, make())


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
@pytest.mark.parametrize(
    ("k", "error", "match"),
    [
        (0, ValueError, r"n_components must be >= 1; got 0"),
        (-2, ValueError, r"n_components must be >= 1; got -2"),
        (41, ValueError, r"n_components=41 exceeds the number of samples 40"),
        (2.5, TypeError, r"n_components must be an integer"),
        (True, TypeError, r"n_components must be an integer"),
    ],
)
def test_bad_n_components(entry, k, error, match):
    with pytest.raises(error, match=match):
        entry.fit(_clean(), k)


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
def test_k_equal_to_n_is_allowed_by_the_checks(entry):
    # K = N passes validation (each component can own a point); ML then collapses, which
    # is reported (warning) rather than refused by validation.
    X = _clean(n=3)
    with pytest.warns(UserWarning):
        entry.fit(X, 3)


def _means(entry: EntryPoint, fitted: Any) -> np.ndarray:
    return fitted.means if entry.name == "fit_em" else fitted.means_


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
@pytest.mark.parametrize(
    "convert",
    [
        lambda X: np.round(X * 100).astype(np.int64),
        lambda X: np.round(X * 100).astype(np.int32),
        lambda X: X.astype(np.float32),
    ],
    ids=["int64", "int32", "float32"],
)
def test_numeric_dtypes_are_converted_to_float64(entry, convert):
    X = convert(_clean(n=200))
    fitted = entry.fit(X, 2)
    assert _means(entry, fitted).dtype == np.float64
    # Converting is all that happens: the fit equals that of the float64 copy.
    reference = entry.fit(X.astype(np.float64), 2)
    np.testing.assert_array_equal(_means(entry, fitted), _means(entry, reference))
    entry.predict(fitted, X)


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
def test_bool_data_is_converted(entry):
    X = _clean(n=200, d=3) > 0
    fitted = entry.fit(X, 1)
    means = _means(entry, fitted)
    assert means.dtype == np.float64
    if entry.exact:
        np.testing.assert_allclose(means[0], X.mean(axis=0), rtol=1e-12)
    else:  # posterior sd of a mean of 200 0/1 values is <= 0.5 / sqrt(200)
        np.testing.assert_allclose(means[0], X.mean(axis=0), atol=5 * 0.5 / np.sqrt(200))


@pytest.mark.parametrize("entry", WITH_FEATURE_NAMES, ids=repr)
def test_dataframe_columns_become_feature_names(entry):
    df = pd.DataFrame(_clean(n=50, d=3), columns=["alpha", "beta", "gamma"])
    fitted = entry.fit(df, 2)
    assert list(entry.feature_names(fitted)) == ["alpha", "beta", "gamma"]
    entry.predict(fitted, df)
    with pytest.raises(ValueError, match="feature names should match"):
        entry.predict(fitted, df[["beta", "alpha", "gamma"]])


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
def test_wrong_feature_count_at_predict_names_both_counts(entry):
    fitted = entry.fit(_clean(d=2), 2)
    with pytest.raises(ValueError, match=r"X has 3 features, but .* expecting 2 features"):
        entry.predict(fitted, _clean(d=3))


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
def test_user_array_is_never_modified(entry):
    X = _clean(n=100) * 5.0 + 100.0  # far from the origin: fit_em centres internally
    original = X.copy()
    fitted = entry.fit(X, 2)
    entry.predict(fitted, X)
    np.testing.assert_array_equal(X, original)
    assert X.flags.writeable

    df = pd.DataFrame(X.copy(), columns=["a", "b"])
    df_original = df.copy()
    entry.predict(entry.fit(df, 2), df)
    pd.testing.assert_frame_equal(df, df_original)


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
def test_read_only_array_works(entry):
    X = _clean(n=100)
    X.setflags(write=False)
    fitted = entry.fit(X, 2)
    entry.predict(fitted, X)
    writable = X.copy()
    # Same fit as from a writable copy.
    np.testing.assert_array_equal(_means(entry, fitted), _means(entry, entry.fit(writable, 2)))
