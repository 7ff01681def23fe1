"""Reading a Dask array for EM: whole-row chunks, column moments and a row subsample.

One pass over the chunks gives what a fit needs before its first iteration: the count,
mean and scatter matrix (combined pairwise, so that no digits are lost far from the
origin), the column minima and maxima, the NaN / infinity counts, and chosen rows.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bayesgmm._utils.validation import _is_numeric_dtype

DASK_HINT = 'EM on a Dask array needs dask and distributed: pip install "bayesgmm[dask]"'

try:
    import dask
    import dask.array as da
    from distributed import Client
except ImportError as exc:  # exercised by a test that hides distributed
    raise ImportError(f"{DASK_HINT} ({exc}).") from exc

__all__ = ["DataMoments", "as_row_chunked_array", "check_finite", "data_moments"]


class DataMoments(NamedTuple):
    """Column moments of the data, and the rows gathered for the starts."""

    n_samples: int
    mean: np.ndarray
    scatter: np.ndarray  # sum_n (x_n - mean)(x_n - mean)^T, shape (D, D)
    minimum: np.ndarray
    maximum: np.ndarray
    n_nan: int
    n_inf: int
    subsample: np.ndarray  # rows of X (not centred), in row order

    @property
    def covariance(self) -> np.ndarray:
        """Data covariance with ``ddof=1`` (as ``np.cov``)."""
        return self.scatter / max(self.n_samples - 1, 1)


def _chunk_moments(block: np.ndarray, rows: np.ndarray) -> DataMoments:
    """Moments of one chunk (centred on the chunk mean, so that they lose no digits)."""
    block = np.asarray(block, dtype=np.float64)
    finite = np.isfinite(block)
    if not finite.all():
        n_nan = int(np.isnan(block).sum())
        nothing = np.zeros(0)
        return DataMoments(
            0,
            nothing,
            nothing,
            nothing,
            nothing,
            n_nan,
            int((~finite).sum()) - n_nan,
            nothing,
        )
    mean = block.mean(axis=0)
    centred = block - mean
    return DataMoments(
        len(block),
        mean,
        centred.T @ centred,
        block.min(axis=0),
        block.max(axis=0),
        0,
        0,
        block[rows],
    )


def _combine(a: DataMoments, b: DataMoments) -> DataMoments:
    """Chan, Golub & LeVeque's pairwise update of the mean and the scatter matrix."""
    if a.n_nan or a.n_inf or b.n_nan or b.n_inf or not b.n_samples:
        # Once a chunk is not finite only the counts matter (the fit will refuse the data).
        n_nan, n_inf = a.n_nan + b.n_nan, a.n_inf + b.n_inf
        base = a if a.n_samples else b
        return base._replace(n_nan=n_nan, n_inf=n_inf)
    if not a.n_samples:
        return b
    n = a.n_samples + b.n_samples
    delta = b.mean - a.mean
    return DataMoments(
        n,
        a.mean + delta * (b.n_samples / n),
        a.scatter + b.scatter + np.outer(delta, delta) * (a.n_samples * b.n_samples / n),
        np.minimum(a.minimum, b.minimum),
        np.maximum(a.maximum, b.maximum),
        0,
        0,
        np.concatenate([a.subsample, b.subsample]),
    )


def as_row_chunked_array(X: Any) -> tuple[Any, list[str] | None]:
    """A float64 Dask array with one chunk across the columns, and the column names if any.

    A Dask DataFrame is converted with known chunk lengths. Columns split over several
    chunks are rechunked, because every task needs whole rows.
    """
    names = None
    if hasattr(X, "columns") and hasattr(X, "to_dask_array"):
        non_numeric = [str(c) for c, t in X.dtypes.items() if not _is_numeric_dtype(t)]
        if non_numeric:
            raise TypeError(f"X has non-numeric columns {non_numeric}; drop or encode them first.")
        names = [str(c) for c in X.columns]
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"expected a Dask array or DataFrame; got {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    if X.dtype.kind == "c":
        raise ValueError(
            "Complex data not supported: X is complex; Gaussian mixtures need real data."
        )
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X has unsupported dtype {X.dtype}; expected numbers.")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            "X has chunks of unknown length; compute them first, e.g. "
            "dataframe.to_dask_array(lengths=True) or array.compute_chunk_sizes()."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty (shape={X.shape}).")
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X.astype(np.float64), names


def data_moments(X: Any, rows: np.ndarray | None, client: Client) -> DataMoments:
    """One pass over the chunks: moments, counts of NaN / inf, and the given rows.

    ``rows`` are sorted global row indices (``None`` for all rows).
    """
    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])])
    blocks = X.to_delayed().ravel()
    tasks = []
    for i, block in enumerate(blocks):
        if rows is None:
            local = np.arange(offsets[i + 1] - offsets[i])
        else:
            lo, hi = np.searchsorted(rows, offsets[i : i + 2])
            local = rows[lo:hi] - offsets[i]
        tasks.append(dask.delayed(_chunk_moments)(block, local))
    parts = client.gather(client.compute(tasks))
    total = parts[0]
    for part in parts[1:]:
        total = _combine(total, part)
    return total


def check_finite(moments: DataMoments) -> None:
    if moments.n_nan or moments.n_inf:
        raise ValueError(
            f"X contains {moments.n_nan} NaN and {moments.n_inf} infinite value(s). Drop or "
            "impute them first (for example X[da.isfinite(X).all(axis=1)]); bayesgmm never "
            "imputes silently."
        )
