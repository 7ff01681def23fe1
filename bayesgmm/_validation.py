"""Input checks shared by every entry point.

Every public fit / predict path funnels its data through :func:`check_data` so that bad
input fails early with a message that names the problem, and so that PyMC never sees a NaN
(it would silently treat it as missing data and impute it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "COVARIANCE_ALIASES",
    "COVARIANCE_TYPES",
    "MCLUST_STRUCTURES",
    "MISSING_OPTIONS",
    "CheckedData",
    "check_covariance_type",
    "check_data",
    "check_missing",
    "check_n_components",
    "check_positive",
    "check_random_state",
    "constant_features",
    "describe_features",
    "seed_int",
]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
#: mclust's 14 covariance structures (Celeux & Govaert 1995), volume / shape / orientation
#: each Equal, Variable or Identity; EM fits every one of them.
MCLUST_STRUCTURES = (
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
)  # fmt: skip
#: mclust names of the four original types, and mclust's two 1-D names (equal or variable
#: variance: in 1-D every structure is one of the two).
COVARIANCE_ALIASES = {
    "VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical", "E": "tied", "V": "full",
}  # fmt: skip
#: What a fit does with NaN entries: refuse them (the default) or marginalise them out.
MISSING_OPTIONS = ("raise", "marginalize")


class CheckedData(NamedTuple):
    """Validated data: a fresh float64 array and the feature names it came with."""

    X: np.ndarray
    feature_names: list[str] | None


def _feature_names(X: Any) -> list[str] | None:
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    return [str(c) for c in columns]


def check_data(
    X: Any,
    *,
    min_samples: int = 1,
    n_features: int | None = None,
    name: str = "X",
    owner: str = "the model",
    missing: str = "raise",
) -> CheckedData:
    """Validate a data matrix and return a float64 copy.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric data: a numpy array, a nested sequence or a pandas DataFrame.
    min_samples : int
        Smallest acceptable number of rows.
    n_features : int, optional
        Number of features the data must have (the count seen at fit time).
    name : str
        How to call the data in error messages.
    owner : str
        Who expects ``n_features`` (an estimator's class name), for error messages.
    missing : {"raise", "marginalize"}
        ``"raise"`` refuses NaN; ``"marginalize"`` lets NaN through (the fits then
        marginalise the missing coordinates, assuming they are missing at random), but
        still refuses infinity, a row with no observed value and a column with none.

    Returns
    -------
    CheckedData
        ``X`` as a C-contiguous float64 array that never aliases the user's array, and the
        DataFrame column names when given.

    Raises
    ------
    TypeError
        Sparse matrices, strings or other non-numeric objects.
    ValueError
        Complex numbers, wrong number of dimensions, empty input, too few rows, NaN or
        infinity, or a feature count that differs from ``n_features``.
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} is a sparse matrix; Gaussian mixtures need dense data. "
            f"Convert it with {name}.toarray() if it fits in memory."
        )
    feature_names = _feature_names(X)
    if feature_names is not None:
        non_numeric = [
            str(c) for c, dt in zip(X.columns, X.dtypes, strict=True) if not _is_numeric_dtype(dt)
        ]
        if non_numeric:
            raise TypeError(
                f"{name} has non-numeric columns {non_numeric}; drop or encode them first."
            )
    try:
        array = np.asarray(X)
    except Exception as exc:  # ragged nested sequences and the like
        raise ValueError(f"{name} could not be read as a 2-D numeric array: {exc}") from exc
    if array.dtype.kind in "USO":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} contains non-numeric values (dtype {array.dtype}): {exc}. "
                "Gaussian mixtures need real numbers; encode or drop such columns."
            ) from exc
        if array.dtype.kind == "O":
            raise TypeError(f"{name} contains non-numeric values.")
    if array.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} is complex; Gaussian mixtures need real data."
        )
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} has unsupported dtype {array.dtype}; expected numbers.")
    if array.ndim != 2:
        # "Reshape your data" is the wording scikit-learn's estimator checks look for.
        hint = (
            f" Reshape your data either using {name}.reshape(-1, 1) if it has a single "
            f"feature or {name}.reshape(1, -1) if it contains a single sample."
            if array.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got {array.ndim}-D array of "
            f"shape {array.shape}.{hint}"
        )
    n_samples, n_cols = array.shape
    if n_samples == 0 or n_cols == 0:
        # Worded like scikit-learn's check_array, which its estimator checks match on.
        what = "sample" if n_samples == 0 else "feature"
        raise ValueError(
            f"{name} is empty: found array with 0 {what}(s) (shape={array.shape}) while a "
            "minimum of 1 is required."
        )
    if n_samples < min_samples:
        raise ValueError(
            f"{name} has {n_samples} sample(s); at least {min_samples} are needed to fit."
        )
    if n_features is not None and n_cols != n_features:
        raise ValueError(
            f"{name} has {n_cols} features, but {owner} is expecting {n_features} features "
            "as input (the number seen at fit time)."
        )
    # Copy always: nothing downstream may write into the user's memory.
    out = np.array(array, dtype=np.float64, order="C", copy=True)
    finite = np.isfinite(out)
    if missing == "marginalize" and not finite.all():
        _check_missing_pattern(out, name)
    elif not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        n_nan = int(np.isnan(out).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s), in rows "
            f"{bad_rows[:10].tolist()}{'...' if bad_rows.size > 10 else ''}. Drop or impute "
            "them first, or pass missing='marginalize' to marginalise NaN entries out of the "
            "likelihood (assumes they are missing at random); bayesgmm never imputes silently."
        )
    return CheckedData(out, feature_names)


def check_missing(missing: Any) -> str:
    """Validate the ``missing`` option of a fit."""
    if not isinstance(missing, str) or missing not in MISSING_OPTIONS:
        raise ValueError(
            f"missing must be one of {MISSING_OPTIONS}; got {missing!r}. Use 'raise' to "
            "refuse NaN entries or 'marginalize' to marginalise them out."
        )
    return missing


def _rows_text(rows: np.ndarray) -> str:
    return f"{rows[:10].tolist()}{'...' if rows.size > 10 else ''}"


def _check_missing_pattern(X: np.ndarray, name: str) -> None:
    """With ``missing="marginalize"``: NaN is allowed, infinity and empty rows or columns
    are not."""
    infinite = np.isinf(X)
    if infinite.any():
        rows = np.flatnonzero(infinite.any(axis=1))
        raise ValueError(
            f"{name} contains {int(infinite.sum())} infinite value(s), in rows "
            f"{_rows_text(rows)}. Infinity is not a missing value: replace it by NaN if it "
            "marks one, or fix the data."
        )
    nan = np.isnan(X)
    empty_rows = np.flatnonzero(nan.all(axis=1))
    if empty_rows.size:
        raise ValueError(
            f"{name} has {empty_rows.size} row(s) with every value missing (NaN), rows "
            f"{_rows_text(empty_rows)}: such a row carries no information about the mixture. "
            f"Drop them first, for example {name}[~np.isnan({name}).all(axis=1)]."
        )
    empty_cols = np.flatnonzero(nan.all(axis=0))
    if empty_cols.size:
        raise ValueError(
            f"{name} has column(s) {empty_cols.tolist()} with every value missing (NaN): "
            "nothing can be learnt about that feature. Drop the column(s)."
        )


def _is_numeric_dtype(dtype: Any) -> bool:
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:  # pandas extension dtypes
        kind = getattr(dtype, "kind", "O")
        return kind in "biuf"


def check_n_components(n_components: Any, n_samples: int | None = None) -> int:
    """Validate the number of components against the number of samples."""
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise TypeError(f"n_components must be an integer; got {n_components!r}.")
    n_components = int(n_components)
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1; got {n_components}.")
    if n_samples is not None and n_components > n_samples:
        raise ValueError(
            f"n_components={n_components} exceeds the number of samples {n_samples}; "
            "each component needs data. Reduce n_components."
        )
    return n_components


def check_covariance_type(covariance_type: str, *, mclust: bool = False) -> str:
    """Validate a covariance type name and return its canonical name.

    Without ``mclust`` only the four types of the Bayesian model are accepted (as given).
    With ``mclust`` (EM) any of mclust's 14 names is accepted too: ``VVV``, ``EEE``,
    ``VVI``, ``VII`` (and the 1-D ``E``, ``V``) become ``full``, ``tied``, ``diag``,
    ``spherical`` (``tied``, ``full``); the ten others are returned as given.
    """
    if mclust:
        if covariance_type in COVARIANCE_TYPES:
            return covariance_type
        if isinstance(covariance_type, str) and covariance_type in COVARIANCE_ALIASES:
            return COVARIANCE_ALIASES[covariance_type]
        if covariance_type in MCLUST_STRUCTURES:
            return covariance_type
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, one of mclust's names "
            f"{MCLUST_STRUCTURES} or, for 1-D data, 'E' or 'V'; got {covariance_type!r}."
        )
    if covariance_type not in COVARIANCE_TYPES:
        hint = ""
        if isinstance(covariance_type, str) and (
            covariance_type in MCLUST_STRUCTURES or covariance_type in COVARIANCE_ALIASES
        ):
            hint = (
                f" {covariance_type!r} is an mclust structure: EM fits it (fit_em, "
                "GaussianMixtureEM, select_k); the Bayesian model has full (VVV), tied (EEE), "
                "diag (VVI) and spherical (VII)."
            )
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}; got {covariance_type!r}.{hint}"
        )
    return covariance_type


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Validate a finite positive (or non-negative) scalar."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number; got {value!r}.") from exc
    ok = number >= 0 if allow_zero else number > 0
    if not np.isfinite(number) or not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}; got {value!r}.")
    return number


def check_random_state(random_seed: Any) -> np.random.Generator:
    """Turn ``None``, an int, a SeedSequence or a Generator into a Generator."""
    if isinstance(random_seed, np.random.Generator):
        return random_seed
    if isinstance(random_seed, np.random.RandomState):
        return np.random.default_rng(random_seed.randint(0, 2**31 - 1))
    return np.random.default_rng(random_seed)


def seed_int(random_seed: Any) -> int:
    """An integer seed, for the samplers that take one (PyMC, nutpie, numpyro).

    A non-negative int is kept as it is; anything :func:`check_random_state` accepts
    (``None``, a SeedSequence, a Generator, a RandomState) gives one integer drawn from it,
    so ``None`` gives a fresh seed and a Generator advances.
    """
    if isinstance(random_seed, (int, np.integer)) and not isinstance(random_seed, bool):
        if random_seed < 0:
            raise ValueError(f"random_seed must be >= 0; got {random_seed}.")
        return int(random_seed)
    return int(check_random_state(random_seed).integers(2**31 - 1))


def constant_features(X: np.ndarray) -> np.ndarray:
    """Indices of the columns of ``X`` that hold one value everywhere (NaN ignored)."""
    if np.isnan(X).any():
        return np.flatnonzero(np.nanmax(X, axis=0) - np.nanmin(X, axis=0) == 0)
    return np.flatnonzero(np.ptp(X, axis=0) == 0)


def describe_features(indices: np.ndarray, feature_names: list[str] | None) -> str:
    """``"2"``, or ``"2 ('station')"`` with names: features as error messages list them."""
    if feature_names is None:
        return ", ".join(str(int(i)) for i in indices)
    return ", ".join(f"{int(i)} ({feature_names[i]!r})" for i in indices)
