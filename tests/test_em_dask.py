"""EM on Dask: equal to in-memory EM, data kept on the workers, Zarr / Parquet, bad input.

The cluster is a LocalCluster of threads (``processes=False``): the same scheduler, worker
and serialisation paths as separate processes, without the cost of starting them.
"""

from __future__ import annotations

import sys

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from bayesgmm import em
from bayesgmm.datasets import make_gmm_data
from bayesgmm.em.dask import engine as em_dask
from bayesgmm.estimators.bayesian import GaussianMixtureEM
from bayesgmm.exceptions import DegenerateComponentWarning

# Identical iterations from identical starts differ only in the order of the sums (per
# chunk, then over chunks): about 1e-15 relative per iteration, far below this.
RTOL = 1e-10
COV_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    """5,000 rows of a 3-component mixture in D=3, more than the 2000-row subsample."""
    means = np.array([[0.0, 0.0, 0.0], [5.0, 1.0, -2.0], [-2.0, 6.0, 3.0]])
    rng = np.random.default_rng(3)
    factors = rng.normal(size=(3, 3, 3)) / 2.0
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.3 * np.eye(3)
    X = make_gmm_data(5000, np.array([0.5, 0.3, 0.2]), means, covariances, random_seed=4).X
    X = X + 100.0  # far from the origin: the centring must hold on the cluster too
    X.setflags(write=False)
    return X


def as_dask(X: np.ndarray, rows: int = 700):
    # 700 does not divide 5000: the last chunk is shorter.
    return da.from_array(np.array(X), chunks=(rows, X.shape[1]))


def start_for(X: np.ndarray, covariance_type: str) -> dict[str, np.ndarray]:
    start = em.fit_em(X, 3, covariance_type, max_iter=0, random_seed=0, warn=False)
    return {"weights": start.weights, "means": start.means, "covariances": start.covariances}


def assert_same_fit(a: em.EMResult, b: em.EMResult, rtol: float = RTOL) -> None:
    for name in ("weights", "means", "covariances", "objective_trace"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, err_msg=name)
    np.testing.assert_allclose(a.log_likelihood, b.log_likelihood, rtol=rtol)
    np.testing.assert_allclose(a.log_prior, b.log_prior, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.log_max_resp, b.log_max_resp, rtol=1e-8)
    assert (a.n_iter, a.converged, a.n_samples) == (b.n_iter, b.converged, b.n_samples)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prior", [None, "default"])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_equals_in_memory_em_from_identical_start(client, data, covariance_type, prior):
    kwargs = {"init": start_for(data, covariance_type), "tol": 0.0, "max_iter": 12}
    memory = em.fit_em(data, 3, covariance_type, prior=prior, **kwargs)
    cluster = em.fit_em(as_dask(data), 3, covariance_type, prior=prior, client=client, **kwargs)
    assert_same_fit(cluster, memory)
    if prior is not None:
        np.testing.assert_allclose(cluster.prior.scale, memory.prior.scale, rtol=RTOL)


@pytest.mark.timeout(120)
def test_map_em_of_an_mclust_structure_equals_in_memory(client, data):
    """VEV under mclust's prior (an iterative MAP M-step warm-started from the last
    covariances) on chunks is in-memory EM's to rounding (the alternation stops at a
    relative change of 1e-12, so the chunked sums' rounding may move where: 1e-8)."""
    kwargs = {"init": start_for(data, "VEV"), "tol": 0.0, "max_iter": 12, "prior": "default"}
    memory = em.fit_em(data, 3, "VEV", **kwargs)
    cluster = em.fit_em(as_dask(data), 3, "VEV", client=client, **kwargs)
    assert_same_fit(cluster, memory, rtol=1e-8)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("n_rows", "n_init"), [(5000, 1), (5000, 3), (1500, 3)])
def test_same_seed_gives_in_memory_fit(client, data, n_rows, n_init):
    # The starts come from the same random subsample (all rows when N <= 2000) as in
    # memory, so the whole fit, restarts included, is in-memory EM's to rounding.
    X = data[:n_rows]
    memory = em.fit_em(X, 3, n_init=n_init, random_seed=7)
    cluster = em.fit_em(as_dask(X), 3, n_init=n_init, random_seed=7, client=client)
    # Restarts that reach the same maximum tie to rounding, and the ranking of the short
    # runs may then order them differently: the same fit, possibly in another labelling.
    order = [np.argsort(fit.means[:, 0]) for fit in (cluster, memory)]
    cluster, memory = (
        fit._replace(weights=fit.weights[o], means=fit.means[o], covariances=fit.covariances[o])
        for fit, o in zip((cluster, memory), order, strict=True)
    )
    assert_same_fit(cluster, memory, rtol=1e-8)
    np.testing.assert_allclose(cluster.init_objectives, memory.init_objectives, rtol=1e-8)


# Rows of every chunk read from the source; module level, so that the graph pickles it
# by reference (the workers are threads of this process). list.append is atomic.
READS: list[int] = []


def counted_read(block: np.ndarray) -> np.ndarray:
    READS.append(len(block))
    return block


@pytest.mark.timeout(60)
def test_source_is_read_twice_whatever_the_iterations(client, data):
    # Once for the moments and the subsample, once to persist the centred chunks; the
    # iterations reuse the persisted chunks.
    X = as_dask(data).map_blocks(counted_read, dtype=float)
    n_chunks = X.numblocks[0]
    for max_iter in (1, 8):
        READS.clear()
        em.fit_em(X, 3, "diag", tol=0.0, max_iter=max_iter, random_seed=0, client=client)
        assert len(READS) == 2 * n_chunks
        assert sum(READS) == 2 * len(data)


@pytest.mark.timeout(60)
def test_estimator_takes_a_dask_dataframe(client, data):
    frame = pd.DataFrame(np.array(data), columns=["a", "b", "c"])
    ddf = dd.from_pandas(frame, npartitions=4)
    model = GaussianMixtureEM(3, covariance_type="diag", random_seed=1, client=client).fit(ddf)
    reference = GaussianMixtureEM(3, covariance_type="diag", random_seed=1).fit(frame)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-8)
    # Prediction takes in-memory rows.
    np.testing.assert_array_equal(model.predict(frame), reference.predict(frame))


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:The inplace keyword")  # inside dask's Parquet reader
def test_fits_from_zarr_and_parquet_without_loading_them(tmp_path):
    """1e6 rows written chunk by chunk to Zarr and to Parquet, fitted from there."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr

    n_rows, n_chunk = 1_000_000, 250_000
    means = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 1.0], [0.0, 5.0, -1.0]])
    weights = np.array([0.5, 0.3, 0.2])
    covariances = np.array([np.diag([1.0, 0.5, 2.0]), np.eye(3), np.diag([0.3, 1.0, 1.0])])
    store = zarr.open_array(
        str(tmp_path / "x.zarr"), mode="w", shape=(n_rows, 3), chunks=(n_chunk, 3), dtype="f8"
    )
    (tmp_path / "x.parquet").mkdir()
    for i, lo in enumerate(range(0, n_rows, n_chunk)):
        part = make_gmm_data(n_chunk, weights, means, covariances, random_seed=i).X
        store[lo : lo + n_chunk] = part
        table = pa.table({name: part[:, j] for j, name in enumerate("xyz")})
        pq.write_table(table, tmp_path / "x.parquet" / f"part-{i}.parquet")

    from_zarr = da.from_zarr(str(tmp_path / "x.zarr"))
    from_parquet = dd.read_parquet(str(tmp_path / "x.parquet")).to_dask_array(lengths=True)
    in_memory = np.asarray(store[:])
    start = em.fit_em(in_memory, 3, "diag", max_iter=0, random_seed=0, warn=False)
    kwargs = {"init": start, "tol": 0.0, "max_iter": 4}
    memory = em.fit_em(in_memory, 3, "diag", **kwargs)
    options = {"n_workers": 1, "threads_per_worker": 1, "processes": False}
    for X in (from_zarr, from_parquet):
        assert X.shape == (n_rows, 3)
        # A mapping: a LocalCluster made for the fit, and closed after it.
        assert_same_fit(em.fit_em(X, 3, "diag", client=options, **kwargs), memory)
    # The simulated truth is recovered from the disk-backed fit (sorted weights, to many
    # binomial standard errors of 5e-4 at N=1e6 after only a few iterations).
    fit = em.fit_em(from_zarr, 3, "diag", tol=1e-6, random_seed=0, client=options)
    np.testing.assert_allclose(np.sort(fit.weights), np.sort(weights), atol=0.01)


@pytest.mark.timeout(60)
def test_a_cluster_made_for_the_fit_is_closed(data, monkeypatch):
    closed = []

    class Recording(LocalCluster):
        def close(self, *args, **kwargs):
            closed.append(True)
            return super().close(*args, **kwargs)

    monkeypatch.setattr(em_dask, "LocalCluster", Recording)
    options = {"n_workers": 1, "processes": False}
    em.fit_em(as_dask(data), 2, "spherical", max_iter=3, tol=0.0, client=options)
    assert closed == [True]
    # Also when the fit fails.
    bad = da.from_array(np.vstack([data, [np.nan, 0.0, 0.0]]), chunks=(1000, 3))
    with pytest.raises(ValueError, match="1 NaN"):
        em.fit_em(bad, 2, client=options)
    assert closed == [True, True]


@pytest.mark.timeout(60)
def test_constant_feature_warns_on_the_cluster(client, data):
    X = np.array(data)
    X[:, 1] = 2.5
    with pytest.warns(DegenerateComponentWarning, match=r"feature\(s\) 1 are constant"):
        # The prior keeps the constant feature's variance (and the fit) proper.
        em.fit_em(as_dask(X), 2, "diag", prior="default", max_iter=2, tol=0.0, client=client)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda X: da.from_array(np.vstack([X, [np.inf, 0, 0]]), chunks=700), ValueError, "inf"),
        (lambda X: da.from_array(X[:, 0], chunks=700), ValueError, "2-D"),
        (lambda X: da.from_array(X + 1j, chunks=(700, 3)), ValueError, "Complex"),
        (lambda X: da.from_array(X.astype(str), chunks=(700, 3)), TypeError, "dtype"),
        (lambda X: da.from_array(X[:1], chunks=(1, 3)), ValueError, "at least 2"),
        (lambda X: da.from_array(X, chunks=(700, 3))[da.from_array(X[:, 0] > 100)], ValueError,
         "unknown length"),
        (lambda X: dd.from_pandas(pd.DataFrame({"a": X[:, 0], "s": "x"}), npartitions=2),
         TypeError, "non-numeric"),
    ],
    ids=["inf", "1-D", "complex", "strings", "one-row", "unknown-chunks", "string-column"],
)  # fmt: skip
def test_bad_input_is_refused(client, data, make, error, match):
    with pytest.raises(error, match=match):
        em.fit_em(make(np.array(data)), 2, client=client)


@pytest.mark.timeout(60)
def test_bad_arguments_are_refused(client, data):
    X = as_dask(data)
    with pytest.raises(TypeError, match="client must be"):
        em.fit_em(X, 2, client="tcp://nowhere:8786")
    with pytest.raises(ValueError, match="only used with a Dask array"):
        em.fit_em(np.array(data), 2, client=client)
    with pytest.raises(ValueError, match="n_init"):
        em.fit_em(X, 2, n_init=0, client=client)
    with pytest.raises(ValueError, match="init must be"):
        em.fit_em(X, 2, init="kmeans+++", client=client)
    with pytest.raises(ValueError, match="n_components"):
        em.fit_em(X, 0, client=client)


@pytest.mark.timeout(60)
def test_column_chunks_are_joined(client, data):
    # A task needs whole rows: an array split across columns is rechunked.
    X = da.from_array(np.array(data), chunks=(1000, 1))
    start = start_for(data, "full")
    kwargs = {"init": start, "tol": 0.0, "max_iter": 3}
    assert_same_fit(em.fit_em(X, 3, client=client, **kwargs), em.fit_em(data, 3, **kwargs))


@pytest.mark.timeout(60)
def test_install_hint_without_distributed(data, monkeypatch):
    # A Dask array but no distributed installed: the error says what to install.
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "bayesgmm.em.dask.engine")
    monkeypatch.delitem(sys.modules, "bayesgmm.em.dask.data")
    with pytest.raises(ImportError, match=r'pip install "bayesgmm\[dask\]"'):
        em.fit_em(as_dask(data), 2)
