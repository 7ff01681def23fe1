"""EM on a Dask array, with the E-step on the workers of a ``dask.distributed`` cluster.

The data stay on the workers: they are read once to compute their moments and to gather a
random subsample for the starts, then centred and persisted. Every iteration sends the
parameters (a few kB) to one task per chunk, which returns the chunk's sufficient
statistics and log-likelihood (:func:`bayesgmm.sufficient_statistics`); the driver adds
them and runs the M-step (:func:`bayesgmm.em.m_step`). From the same start the result is
in-memory EM's up to the order of the sums (about 1e-14 relative).

Needs the ``dask`` extra: ``pip install "bayesgmm[dask]"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesgmm._utils.validation import (
    check_n_components,
    check_positive,
    check_random_state,
)
from bayesgmm.em.collapse import regularized_data_covariance, warn_about_scales
from bayesgmm.em.dask.data import (
    DASK_HINT,
    DataMoments,
    as_row_chunked_array,
    check_finite,
    data_moments,
)
from bayesgmm.em.fit import check_em_covariance_type
from bayesgmm.em.prior import _check_prior, prior_from_moments
from bayesgmm.em.restarts import DEFAULT_MAX_ITER, _RestartSearch, _run_once, best_result
from bayesgmm.em.results import (
    ConjugatePrior,
    EMResult,
    EMRun,
    EMSettings,
    GMMParams,
    SufficientStats,
)
from bayesgmm.em.starts import _INIT_METHODS, _init_error, _params_from_user, init_subsample_rows
from bayesgmm.em.steps import sufficient_statistics, sum_statistics

try:
    from dask.core import flatten
    from distributed import Client, Future, LocalCluster, futures_of, wait
except ImportError as exc:  # dask_data has said so already; kept for a partial install
    raise ImportError(f"{DASK_HINT} ({exc}).") from exc

__all__ = ["DASK_HINT", "fit_em_dask"]


class _ClusterRows:
    """The centred data, persisted on the workers: one future per chunk."""

    def __init__(self, client: Client, Xc: Any) -> None:
        self.client = client
        self.array = client.persist(Xc)
        wait(self.array)
        # In chunk order, so that the sums run in row order, as in memory.
        by_key = {f.key: f for f in futures_of(self.array)}
        self.chunks: list[Future] = [by_key[k] for k in flatten(self.array.__dask_keys__())]
        self.n_samples = int(Xc.shape[0])

    def statistics(self, params: GMMParams) -> SufficientStats:
        """The E-step: one task per chunk, the statistics added on the driver."""
        parts = self.client.map(sufficient_statistics, self.chunks, params=params, pure=False)
        return sum_statistics(self.client.gather(parts))

    def release(self) -> None:
        del self.chunks
        del self.array


class _ClusterSearch(_RestartSearch):
    """The restart search of :func:`bayesgmm.em.fit_em`, its long runs on the cluster.

    Starts and short runs use the subsample on the driver.
    """

    def __init__(self, data: _ClusterRows, subsample: np.ndarray, subsampled: bool, **kw: Any):
        super().__init__(subsample, init_X=subsample if subsampled else None, **kw)
        self.data = data

    def run_em(self, start: GMMParams, max_iter: int) -> EMRun:
        """EM on all rows, the E-step mapped over the chunks on the cluster."""
        settings = self.settings._replace(max_iter=max_iter)
        return _run_once(
            self.data,
            start,
            settings,
            estep=_ClusterRows.statistics,
            n_samples=self.data.n_samples,
        )


def _make_client(client: Any) -> tuple[Client, Any]:
    """The user's client, or a new LocalCluster and its client (to close after the fit)."""
    if isinstance(client, Client):
        return client, None
    if client is not None and not isinstance(client, Mapping):
        raise TypeError(
            "client must be a dask.distributed.Client, a mapping of LocalCluster arguments or "
            f"None; got {type(client).__name__}."
        )
    # One single-threaded worker per core: the E-step's BLAS calls then do not oversubscribe.
    # The dashboard on a free port: the default 8787 may be another cluster's.
    options = {"threads_per_worker": 1, "processes": True, "dashboard_address": ":0"}
    options.update(client or {})
    cluster = LocalCluster(**options)
    return Client(cluster), cluster


def fit_em_dask(
    X: Any,
    n_components: int,
    covariance_type: str = "full",
    *,
    init: str | Mapping[str, Any] | GMMParams | EMResult = "auto",
    n_init: int = 1,
    tol: float | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
    reg_covar: float = 1e-6,
    prior: ConjugatePrior | str | None = None,
    random_seed: int | np.random.Generator | None = None,
    warn: bool = True,
    client: Client | Mapping[str, Any] | None = None,
) -> EMResult:
    """:func:`bayesgmm.em.fit_em` on a Dask array or DataFrame chunked by rows.

    Every argument means what it means for :func:`~bayesgmm.em.fit_em`, which calls this
    function when given a Dask collection. The starts use the same random subsample of
    ``max(2000, 50 K)`` rows as in memory (:func:`bayesgmm.em.init_subsample_size`); with
    the same seed and data the result is in-memory EM's to rounding.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (N, D)
        Chunked by rows, with known chunk lengths; for example ``da.from_zarr(path)`` or
        ``dd.read_parquet(path).to_dask_array(lengths=True)``. Read twice (once for the
        moments and the subsample, once to persist the centred chunks) and never loaded
        on the driver.
    client : dask.distributed.Client, mapping or None
        A client of the cluster to run on (left open). ``None`` creates a ``LocalCluster``
        with one single-threaded worker process per core, a mapping a
        ``LocalCluster(**mapping)``; either is closed when the fit returns.

    Returns
    -------
    EMResult
    """
    X, feature_names = as_row_chunked_array(X)
    n_samples = int(X.shape[0])
    if n_samples < 2:
        raise ValueError(f"X has {n_samples} sample(s); at least 2 are needed to fit.")
    n_components = check_n_components(n_components, n_samples)
    covariance_type = check_em_covariance_type(covariance_type, int(X.shape[1]), prior)
    reg_covar = check_positive(reg_covar, "reg_covar", allow_zero=True)
    if tol is not None:
        tol = check_positive(tol, "tol", allow_zero=True)
    if isinstance(n_init, bool) or not isinstance(n_init, int | np.integer) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer; got {n_init!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 0:
        raise ValueError(f"max_iter must be a non-negative integer; got {max_iter!r}.")
    if isinstance(init, str) and init not in (*_INIT_METHODS, "kmeans"):
        raise ValueError(_init_error(init))
    if isinstance(prior, str) and prior != "default":
        raise ValueError(f"prior must be a ConjugatePrior, 'default' or None; got {prior!r}.")
    rng = check_random_state(random_seed)
    # As in memory: a user start draws nothing; small data come to the driver whole.
    rows = None if not isinstance(init, str) else init_subsample_rows(n_samples, n_components, rng)

    client, cluster = _make_client(client)
    try:
        moments = data_moments(X, rows if isinstance(init, str) else np.zeros(0, int), client)
        check_finite(moments)
        constant = np.flatnonzero(moments.minimum == moments.maximum)
        if warn:
            variances = np.diag(moments.scatter) / n_samples
            warn_about_scales(variances, constant, reg_covar, feature_names, stacklevel=4)
        center = moments.mean
        data = _ClusterRows(client, X - center)
        try:
            runs, search, prior = _search(
                data, moments, rows is not None, n_components, covariance_type, init=init,
                n_init=n_init, tol=tol, max_iter=max_iter, reg_covar=reg_covar, prior=prior,
                rng=rng,
            )  # fmt: skip
        finally:
            data.release()
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    return best_result(
        runs, search, constant, feature_names, center, prior, warn, n_samples, stacklevel=4
    )


def _search(
    data: _ClusterRows,
    moments: DataMoments,
    subsampled: bool,
    n_components: int,
    covariance_type: str,
    *,
    init: Any,
    n_init: int,
    tol: float,
    max_iter: int,
    reg_covar: float,
    prior: Any,
    rng: np.random.Generator,
) -> tuple[list[Any], _ClusterSearch, ConjugatePrior | None]:
    """The starts and runs of :func:`bayesgmm.em.fit_em`, on centred data."""
    n_features = len(moments.mean)
    center = moments.mean
    if isinstance(prior, str):
        prior = prior_from_moments(center, moments.covariance, n_components, covariance_type)
    if prior is not None:
        prior = _check_prior(prior, n_features, covariance_type)
        prior = prior._replace(mean=prior.mean - center)
    search = _ClusterSearch(
        data,
        moments.subsample - center,
        subsampled,
        covariance_type=covariance_type,
        settings=EMSettings(tol, max_iter, reg_covar, prior),
        data_cov=regularized_data_covariance(np.atleast_2d(moments.covariance)),
        rng=rng,
    )
    start = None
    if not isinstance(init, str):
        start = _params_from_user(init, n_components, n_features, covariance_type, reg_covar)
        start = start._replace(means=start.means - center)
    return search.restarts(init, start, n_components, n_init), search, prior
