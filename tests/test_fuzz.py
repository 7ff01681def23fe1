"""Property-based fuzzing of every entry point (issue 24).

Inputs vary in shape (empty, 1-D, 3-D, K > N, a wrong feature count at predict), dtype
(floats, ints, bools, strings, objects, complex, masked arrays, pandas nullable columns),
magnitude (scales 1e-200..1e150, offsets to 1e15) and content (NaN, infinity, duplicate
rows, constant columns). Each input must end in one of two ways:

- a clean error: one of the package's own exceptions, or a ``ValueError`` / ``TypeError``
  raised deliberately by the package's own code (the raising frame is in ``bayesgmm``),
  with a message; or
- a finite result of the documented shape.

Seeded (``derandomize=True``) and bounded: about 2,300 generated cases in total, in the
default suite.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesgmm as bg
from bayesgmm import GaussianMixtureEM
from bayesgmm._utils.validation import check_data
from bayesgmm.exceptions import BayesGMMError

pytestmark = pytest.mark.timeout(600)

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
PACKAGE = str(Path(bg.__file__).parent)


class Case(NamedTuple):
    """A generated input and what it is, for the failure message."""

    X: Any
    description: str


# -- strategies ----------------------------------------------------------------------------


def _values(n: int, d: int, seed: int, scale: float, offset: float, shape: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(3, d))
    X = centres[rng.integers(0, 3, size=n)] + rng.normal(size=(n, d))
    if shape == "duplicates" and n:
        X = np.repeat(X[: max(1, n // 4)], 4, axis=0)[:n]
    elif shape == "constant column" and d:
        X[:, 0] = 1.5
    elif shape == "all equal":
        X[:] = 2.0
    return X * scale + offset


@st.composite
def numeric_cases(
    draw: Any, max_rows: int = 30, max_features: int = 3, features: tuple[int, ...] = ()
) -> Case:
    """Numeric 2-D data of any magnitude, with the odd NaN, infinity or duplicate; the
    number of features from ``features`` when given (a fit's, mostly)."""
    # Listed usable first: hypothesis leans to the start of a list and to small integers.
    n = draw(st.sampled_from([max_rows, max_rows // 2, 7, 3, 2, 1, 0]))
    d = draw(st.sampled_from(features or [2, 1, max_features, 0]))
    seed = draw(st.integers(0, 2**16))
    scale = 10.0 ** draw(st.sampled_from([0, 0, 0, -100, -20, 20, 100, -150, -200, 150]))
    offset = draw(st.sampled_from([0.0, 0.0, 1e6, -1e13, 1e15]))
    shape = draw(st.sampled_from(["plain"] * 4 + ["duplicates", "constant column", "all equal"]))
    X = _values(n, d, seed, scale, offset, shape)
    special = draw(st.sampled_from(["none"] * 10 + ["nan", "inf", "-inf"]))
    if special != "none" and X.size:
        X.flat[draw(st.integers(0, X.size - 1))] = float(special)
    return Case(X, f"{n}x{d} {shape} scale={scale:g} offset={offset:g} special={special}")


@st.composite
def odd_cases(draw: Any) -> Case:
    """Inputs of the wrong kind or form: dtypes, dimensions, containers."""
    base = draw(numeric_cases(max_rows=12, max_features=3)).X
    kind = draw(
        st.sampled_from(
            [
                "int",
                "bool",
                "float32",
                "strings",
                "numeric strings",
                "objects",
                "complex",
                "1-D",
                "3-D",
                "scalar",
                "list",
                "ragged list",
                "masked",
                "frame",
                "nullable frame",
                "duplicate columns",
                "string frame",
                "none",
            ]
        )
    )
    with np.errstate(invalid="ignore", over="ignore"):
        X: Any = {
            "int": lambda: np.nan_to_num(base).clip(-1e9, 1e9).astype(np.int64),
            "bool": lambda: base > 0,
            "float32": lambda: base.astype(np.float32),
            "strings": lambda: np.full(base.shape, "a", dtype=object),
            "numeric strings": lambda: base.astype(str),
            "objects": lambda: base.astype(object),
            "complex": lambda: base + 1j,
            "1-D": lambda: base.ravel(),
            "3-D": lambda: base[None],
            "scalar": lambda: np.float64(3.0),
            "list": lambda: base.tolist(),
            "ragged list": lambda: [[1.0, 2.0], [3.0]],
            "masked": lambda: np.ma.masked_invalid(base),
            "frame": lambda: pd.DataFrame(base),
            "nullable frame": lambda: pd.DataFrame(base).astype("Float64"),
            "duplicate columns": lambda: pd.DataFrame(base, columns=["a"] * base.shape[1]),
            "string frame": lambda: pd.DataFrame(base).astype(str),
            "none": lambda: None,
        }[kind]()
    return Case(X, kind)


any_case = st.one_of(numeric_cases(), numeric_cases(), odd_cases())
#: Inputs for the 2-feature posterior: mostly 2 features, sometimes not.
posterior_case = st.one_of(
    *[numeric_cases(max_rows=20, features=(2, 2, 2, 2, 2, 1, 3))] * 3, odd_cases()
)


# -- the property ----------------------------------------------------------------------------


def _raised_by_package(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(PACKAGE)


def outcome(call: Callable[[], Any], case: Case) -> Any:
    """``call()``'s result, or None when it raised a clean error (asserted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call()
        except BayesGMMError as exc:
            assert str(exc), case.description
        except (ValueError, TypeError, NotImplementedError) as exc:
            assert _raised_by_package(exc), (
                f"{case.description}: {type(exc).__name__} from outside bayesgmm: {exc}\n"
                + "".join(traceback.format_exception(exc))
            )
            assert len(str(exc)) > 20, case.description
    return None


def _finite(values: Any, shape: tuple[int, ...], case: Case) -> None:
    values = np.asarray(values)
    assert values.shape == shape, case.description
    assert np.isfinite(values).all(), case.description


def _check_predictions(estimator: Any, X: Any, n_components: int, case: Case) -> None:
    proba = outcome(lambda: estimator.predict_proba(X), case)
    if proba is None:
        return
    n_rows = proba.shape[0]
    _finite(proba, (n_rows, n_components), case)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9, err_msg=case.description)
    labels = estimator.predict(X)
    assert labels.shape == (n_rows,) and ((labels >= 0) & (labels < n_components)).all()
    _finite(estimator.score_samples(X), (n_rows,), case)


# -- EM ----------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=1300)
@given(
    case=any_case,
    n_components=st.integers(1, 4),
    cov_type=st.sampled_from(COVARIANCE_TYPES),
    predict_shift=st.sampled_from([0, 0, 0, 1, -1]),
    missing=st.sampled_from(["raise", "raise", "marginalize"]),
)
def test_em_fit_and_predict(
    case: Case, n_components: int, cov_type: str, predict_shift: int, missing: str
) -> None:
    estimator = GaussianMixtureEM(
        n_components, covariance_type=cov_type, random_seed=0, max_iter=30, missing=missing
    )
    fitted = outcome(lambda: estimator.fit(case.X), case)
    if fitted is None:
        assert not hasattr(estimator, "n_features_in_"), case.description  # nothing half-set
        return
    d = estimator.n_features_in_
    _finite(fitted.means_, (n_components, d), case)
    _finite(fitted.weights_, (n_components,), case)
    bic = outcome(lambda: fitted.bic(case.X), case)
    assert bic is None or np.isfinite(bic), case.description
    X = check_data(case.X, missing="marginalize").X
    if predict_shift:  # a wrong feature count must be refused
        X = X[:, :-1] if predict_shift < 0 else np.hstack([X, X[:, :1]])
        with pytest.raises(ValueError, match="feature"):
            fitted.predict(X)
        return
    _check_predictions(fitted, case.X, n_components, case)


@settings(FUZZ, max_examples=250)
@given(
    case=st.one_of(numeric_cases(max_rows=25), odd_cases()),
    ks=st.one_of(
        st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True),
        st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True),
        st.lists(st.integers(-1, 40), max_size=3, unique=True),
    ),
    cov_types=st.lists(st.sampled_from(COVARIANCE_TYPES), min_size=1, max_size=2, unique=True),
    criterion=st.sampled_from(["bic", "icl", "aic"]),
)
def test_select_k(case: Case, ks: list[int], cov_types: list[str], criterion: str) -> None:
    table = outcome(
        lambda: bg.select_k(
            case.X, ks=ks, covariance_types=cov_types, criterion=criterion, n_init=1
        ),
        case,
    )
    if table is None:
        return
    assert list(table.columns) == cov_types and list(table.index) == sorted(set(ks))
    long = table.attrs["long"]
    ok = long[long.error.isna()]
    assert np.isfinite(ok[criterion].to_numpy(dtype=float)).all(), case.description


# -- the posterior: one short NUTS fit, fuzzed through its consumers ---------------------------


@pytest.fixture(scope="module")
def posterior(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from bayesgmm import BayesianGMM

    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(-3, 1, (40, 2)), rng.normal(3, 1, (40, 2))])
    fit = BayesianGMM(2, draws=60, tune=60, chains=2, random_seed=5, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(X)
    path = tmp_path_factory.mktemp("fuzz") / "fit.nc"
    fit.save(path)
    return {"fit": fit, "loaded": BayesianGMM.load(path)}


@settings(FUZZ, max_examples=300)
@given(case=posterior_case, which=st.sampled_from(["fit", "loaded"]))
def test_bayesian_predictions_and_load(posterior, case: Case, which: str) -> None:
    _check_predictions(posterior[which], case.X, 2, case)


@settings(FUZZ, max_examples=250)
@given(case=posterior_case, hdi=st.sampled_from([0.94] * 5 + [0.5, 1.5, 0.0]))
def test_membership(posterior, case: Case, hdi: float) -> None:
    result = outcome(lambda: bg.membership(posterior["fit"], case.X, hdi_prob=hdi), case)
    if result is None:
        return
    n_rows = result.labels.shape[0]
    _finite(result.probabilities["mean"].values, (n_rows, 2), case)
    _finite(result.entropy, (n_rows,), case)


@settings(FUZZ, max_examples=120)
@given(
    case=posterior_case,
    loss=st.sampled_from(["VI", "binder"] * 3 + ["other"]),
)
def test_partition(posterior, case: Case, loss: str) -> None:
    result = outcome(
        lambda: bg.partition(posterior["fit"], loss, X=case.X, n_runs=2, max_draws=40), case
    )
    if result is None:
        return
    labels = np.asarray(result.labels)
    assert labels.ndim == 1 and (labels >= 0).all(), case.description


# -- the Bayesian fit itself: a few cases (each compiles a model) ------------------------------


@settings(FUZZ, max_examples=6)
@given(case=numeric_cases(max_rows=25, max_features=2), n_components=st.integers(1, 3))
def test_map_fit(case: Case, n_components: int) -> None:
    from bayesgmm import BayesianGMM

    estimator = BayesianGMM(n_components, method="map", random_seed=0, progressbar=False)
    fitted = outcome(lambda: estimator.fit(case.X), case)
    if fitted is None:
        return
    d = fitted.n_features_in_
    _finite(fitted.means_, (n_components, d), case)
    _finite(fitted.covariances_, (n_components, d, d), case)
    _check_predictions(fitted, case.X, n_components, case)


@settings(FUZZ, max_examples=3)
@given(case=numeric_cases(max_rows=30, max_features=2))
def test_short_nuts_fit(case: Case) -> None:
    from bayesgmm import BayesianGMM

    estimator = BayesianGMM(2, draws=20, tune=20, chains=1, random_seed=0, progressbar=False)
    fitted = outcome(lambda: estimator.fit(case.X), case)
    if fitted is None:
        return
    _finite(fitted.means_, (2, fitted.n_features_in_), case)
    _check_predictions(fitted, case.X, 2, case)
