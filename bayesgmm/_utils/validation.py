"""Input checks shared by every entry point.

Every public fit / predict path funnels its data through :func:`check_data` so that bad
input fails early with a message that names the problem, and so that PyMC never sees a NaN
(it would silently treat it as missing data and impute it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd
    from numpy.typing import ArrayLike, DTypeLike

    from bayesgmm._utils.types import SeedLike

__all__ = [
    "MISSING_OPTIONS",
    "CheckedData",
    "check_data",
    "check_ks",
    "check_missing",
    "check_n_components",
    "check_positive",
    "check_random_state",
    "constant_features",
    "describe_features",
    "nan_hint_for_fit",
    "seed_int",
]

#: What a fit does with NaN entries: refuse them (the default) or marginalise them out.
MISSING_OPTIONS = ("raise", "marginalize")
#: The largest integer seed: numpy's legacy RandomState, nutpie (u64) and numpyro's PRNG
#: key all accept it.
MAX_SEED = 2**32 - 1


class CheckedData(NamedTuple):
    """Validated data: a fresh float64 array and the feature names it came with."""

    X: np.ndarray
    feature_names: list[str] | None


def _feature_names(X: ArrayLike) -> list[str] | None:
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    return [str(c) for c in columns]


def check_data(
    X: ArrayLike,
    *,
    min_samples: int = 1,
    n_features: int | None = None,
    name: str = "X",
    owner: str = "the model",
    missing: str = "raise",
    nan_hint: str | None = None,
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
        _check_columns(X, name)
    array = _as_array(X, name)
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
            f"{bad_rows[:10].tolist()}{'...' if bad_rows.size > 10 else ''}. "
            + (nan_hint or _FIT_NAN_HINT)
        )
    return CheckedData(out, feature_names)


_FIT_NAN_HINT = (
    "Drop or impute them first, or pass missing='marginalize' to marginalise NaN entries out "
    "of the likelihood (assumes they are missing at random); bayesgmm never imputes silently."
)


def nan_hint_for_fit(what: str = "the fit") -> str:
    """The NaN advice of a function that reads a fit: NaN follows the fit's ``missing``."""
    return (
        f"{what} was made without missing='marginalize', so X must be complete: drop or "
        "impute the rows, or refit with missing='marginalize' (then NaN entries are "
        "marginalised out, assuming they are missing at random)."
    )


def _check_columns(frame: pd.DataFrame, name: str) -> None:
    """A DataFrame's columns: numeric (nullable pandas types included) and uniquely named."""
    non_numeric = [
        str(c)
        for c, dt in zip(frame.columns, frame.dtypes, strict=True)
        if not _is_numeric_dtype(dt)
    ]
    if non_numeric:
        raise TypeError(f"{name} has non-numeric columns {non_numeric}; drop or encode them first.")
    duplicated = frame.columns[frame.columns.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"{name} has duplicate column names {sorted({str(c) for c in duplicated})}: every "
            "feature needs its own name in the results. Rename or drop the repeated columns."
        )


def _as_array(X: ArrayLike, name: str) -> np.ndarray:
    """``X`` as a numpy array, missing entries as NaN: a masked array's masked entries and
    pandas' ``pd.NA`` (nullable dtypes) mean "missing", not the values underneath."""
    try:
        if np.ma.isMaskedArray(X):
            if X.dtype.kind not in "biuf":
                raise TypeError(f"{name} is a masked array of non-numeric dtype {X.dtype}.")
            return np.ma.filled(X.astype(np.float64), np.nan)
        if type(X).__module__.startswith("pandas") and hasattr(X, "columns"):  # checked
            return X.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(X)
    except TypeError:
        raise
    except Exception as exc:  # ragged nested sequences and the like
        raise ValueError(f"{name} could not be read as a 2-D numeric array: {exc}") from exc


def check_missing(missing: str) -> str:
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


def _is_numeric_dtype(dtype: DTypeLike) -> bool:
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:  # pandas extension dtypes
        kind = getattr(dtype, "kind", "O")
        return kind in "biuf"


def check_n_components(n_components: int, n_samples: int | None = None) -> int:
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


def check_ks(ks: Iterable[int], n_samples: int) -> list[int]:
    """Validate a grid of component counts (``select_k``, ``compare_k``): a non-empty
    sequence of integers, each a valid ``n_components`` for ``n_samples`` rows."""
    try:
        values = list(ks)
    except TypeError as exc:
        raise TypeError(
            f"ks must be a sequence of integers, like range(1, 6); got {ks!r}."
        ) from exc
    if not values:
        raise ValueError(
            "ks is empty: give at least one number of components to try, like ks=range(1, 6)."
        )
    return [check_n_components(k, n_samples) for k in values]


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
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


def check_random_state(random_seed: SeedLike) -> np.random.Generator:
    """Turn ``None``, an int, a SeedSequence or a Generator into a Generator."""
    if isinstance(random_seed, np.random.Generator):
        return random_seed
    if isinstance(random_seed, np.random.RandomState):
        return np.random.default_rng(random_seed.randint(0, 2**31 - 1))
    return np.random.default_rng(random_seed)


def seed_int(random_seed: SeedLike) -> int:
    """An integer seed, for the samplers that take one (PyMC, nutpie, numpyro).

    A non-negative int is kept as it is; anything :func:`check_random_state` accepts
    (``None``, a SeedSequence, a Generator, a RandomState) gives one integer drawn from it,
    so ``None`` gives a fresh seed and a Generator advances.
    """
    if isinstance(random_seed, (int, np.integer)) and not isinstance(random_seed, bool):
        if not 0 <= random_seed <= MAX_SEED:
            raise ValueError(
                f"random_seed must be an integer in [0, 2**32 - 1] (the range every sampler "
                f"accepts), a numpy Generator or None; got {random_seed}. Pass a smaller "
                "integer, for example random_seed % 2**32."
            )
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
