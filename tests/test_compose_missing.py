"""Features compose (issue 19, item 3): a fit made with missing="marginalize" (or partial
labels) carries the option to every call that reads it.

The reference for every membership is scipy's multivariate normal on each row's observed
coordinates, written out here independently of bayesgmm's densities.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
from scipy import special, stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from conftest import mcar, two_clusters

from bayesgmm import GaussianMixtureEM, compare, membership, n_clusters, select_k
from bayesgmm.analysis import similarity
from bayesgmm.analysis.compare_k import compare_k
from bayesgmm.analysis.partition.estimate import partition
from bayesgmm.bayes.inference.idata import posterior_draws
from bayesgmm.em import fit_em
from bayesgmm.estimators.bayesian import BayesianGMM
from bayesgmm.plotting import plot_clusters, plot_density, plot_pairs


def observed_log_terms(X, weights, means, covariances):
    """log pi_k + log N(x_o | mu_ko, Sigma_koo) per draw, row, component: (S, N, K)."""
    n_draws, n_comp = weights.shape
    out = np.empty((n_draws, X.shape[0], n_comp))
    observed = ~np.isnan(X)
    for pattern in np.unique(observed, axis=0):
        rows = np.flatnonzero((observed == pattern).all(axis=1))
        cols = np.flatnonzero(pattern)
        x = X[np.ix_(rows, cols)]
        for s in range(n_draws):
            for k in range(n_comp):
                cov = covariances[s, k][np.ix_(cols, cols)]
                dist = stats.multivariate_normal(means[s, k, cols], cov)
                out[s, rows, k] = np.log(weights[s, k]) + np.atleast_1d(dist.logpdf(x))
    return out


def reference_memberships(X, weights, means, covariances):
    terms = observed_log_terms(X, weights, means, covariances)
    return np.exp(terms - special.logsumexp(terms, axis=-1, keepdims=True))


@pytest.fixture(scope="module")
def data():
    sim = two_clusters(300, seed=3)
    X = mcar(sim.X, 0.15, seed=4)
    assert np.isnan(X).any(axis=1).sum() > 50
    X.setflags(write=False)
    return X, sim


@pytest.fixture(scope="module")
def marginalised(data):
    """An ADVI posterior (draws, for compare and partition) made with NaN in X."""
    X, _ = data
    fit = BayesianGMM(
        2,
        method="advi",
        advi_steps=3000,
        draws=100,
        missing="marginalize",
        progressbar=False,
        random_seed=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(X)
    return fit


@pytest.fixture(scope="module")
def em_fit(data):
    X, _ = data
    return GaussianMixtureEM(2, missing="marginalize", random_seed=0).fit(X)


def _draws(fit):
    return _idata_draws(fit.idata_)


def _idata_draws(idata):
    draws = posterior_draws(idata)
    return draws.weights, draws.means, draws.covariances


@pytest.mark.timeout(300)
def test_membership_uses_the_observed_coordinates(data, marginalised):
    X, _ = data
    result = membership(marginalised, X, max_draws=1000, warn=False)
    expected = reference_memberships(X, *_draws(marginalised)).mean(axis=0)
    got = result.probabilities["mean"].transpose("obs", "component").values
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)
    # X=None reads the same rows, NaN included, from observed_data.
    default = membership(marginalised, max_draws=1000, warn=False)
    np.testing.assert_allclose(default.probabilities["mean"].values, result.probabilities["mean"])


@pytest.mark.timeout(300)
def test_similarity_is_the_mean_product_of_memberships(data, marginalised):
    X, _ = data
    rows = np.r_[np.flatnonzero(np.isnan(X).any(axis=1))[:20], 0, 1, 2]
    got = similarity(marginalised, X[rows], dtype=np.float64)
    resp = reference_memberships(X[rows], *_draws(marginalised))
    expected = np.einsum("sik,sjk->ij", resp, resp) / resp.shape[0]
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.timeout(300)
def test_partition_of_rows_with_missing_values(data, marginalised):
    X, sim = data
    result = partition(marginalised, X=X, n_runs=4, max_draws=100)
    assert result.labels.shape == (X.shape[0],)
    # Two well-separated clusters: the partition is the truth, rows with NaN included,
    # up to the cluster names.
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(sim.labels, result.labels) > 0.9
    same = partition(marginalised, n_runs=4, max_draws=100)  # X=None: the fitted rows
    np.testing.assert_array_equal(same.labels, result.labels)


@pytest.mark.timeout(300)
def test_n_clusters_of_a_marginalised_fit(marginalised):
    result = n_clusters(marginalised)
    assert result.mode == 2
    assert result.table["posterior"].sum() == pytest.approx(1.0)
    assert result.table.loc[2, "posterior"] > 0.9  # two well-separated clusters


@pytest.mark.timeout(300)
def test_compare_a_marginalised_fit_with_em(data, marginalised, em_fit):
    table = compare(em_fit, marginalised)
    means = table.table[table.table["parameter"] == "means"]
    assert len(means) == 4
    # EM on the observed data and the posterior agree on two well-separated clusters.
    assert means["em_in_hdi"].mean() >= 0.75


@pytest.mark.timeout(300)
def test_predictions_use_the_observed_coordinates(data, marginalised, em_fit):
    X, _ = data
    params = em_fit.result_
    one = (params.weights[None], params.means[None], _full(params)[None])
    terms = observed_log_terms(X, *one)[0]
    np.testing.assert_allclose(
        em_fit.predict_proba(X), np.exp(terms - special.logsumexp(terms, axis=1, keepdims=True))
    )
    np.testing.assert_allclose(em_fit.score_samples(X), special.logsumexp(terms, axis=1))
    np.testing.assert_array_equal(em_fit.predict(X), em_fit.predict_proba(X).argmax(axis=1))
    draws = _draws(marginalised)
    proba = marginalised.predict_proba(X)
    np.testing.assert_allclose(proba, reference_memberships(X, *draws).mean(axis=0))
    np.testing.assert_array_equal(marginalised.predict(X), proba.argmax(axis=1))
    log_density = special.logsumexp(observed_log_terms(X, *draws), axis=-1)
    expected = special.logsumexp(log_density, axis=0) - np.log(log_density.shape[0])
    np.testing.assert_allclose(marginalised.score_samples(X), expected, rtol=1e-10)


def _full(params):
    from bayesgmm.mixture.covariance import as_full

    k, d = params.means.shape
    return as_full(params.covariances, params.covariance_type, k, d)


def _hidden(X, pair):
    return int(np.isnan(X[:, pair]).any(axis=1).sum())


@pytest.mark.timeout(300)
def test_plot_clusters_shows_the_rows_it_can(data, marginalised, em_fit):
    X, _ = data
    ax = plot_clusters(X, em=em_fit, idata=marginalised, n_ellipses=5)
    points = ax.collections[0].get_offsets()
    assert len(points) == X.shape[0] - _hidden(X, [0, 1])
    assert np.isfinite(np.asarray(points)).all()
    notes = [t.get_text() for t in ax.texts]
    assert any(f"{_hidden(X, [0, 1])} row(s) with a missing coordinate" in t for t in notes)
    plt.close("all")


@pytest.mark.timeout(300)
def test_plot_density_of_a_marginalised_fit(data, marginalised):
    X, _ = data
    ax = plot_density(X, marginalised, grid_size=30)
    scatter = [c for c in ax.collections if len(c.get_offsets()) > 10][-1]
    assert len(scatter.get_offsets()) == X.shape[0] - _hidden(X, [0, 1])
    # The grid spans the observed values of each feature.
    lo, hi = ax.get_xlim()
    assert lo < np.nanmin(X[:, 0]) and hi > np.nanmax(X[:, 0])
    plt.close("all")


@pytest.mark.timeout(300)
def test_plot_pairs_of_a_marginalised_fit(data, marginalised):
    X, _ = data
    axes = plot_pairs(X, marginalised)
    off = axes[1, 0].collections[0].get_offsets()
    assert len(off) == X.shape[0] - _hidden(X, [0, 1])
    heights = sum(p.get_height() * p.get_width() for p in axes[0, 0].patches)
    assert heights == pytest.approx(1.0)  # a density histogram of the observed values
    title = axes[0, 0].figure.get_suptitle()
    assert f"{int(np.isnan(X).any(axis=1).sum())} row(s) with a missing coordinate" in title
    plt.close("all")


@pytest.mark.timeout(300)
def test_select_k_marginalises_when_asked(data):
    X, _ = data
    table = select_k(X, [1, 2], ["full", "diag"], missing="marginalize")
    long = table.attrs["long"].set_index(["K", "covariance_type"])
    for k in (1, 2):
        for cov in ("full", "diag"):
            fit = fit_em(X, k, cov, n_init=5, random_seed=0, missing="marginalize")
            assert long.loc[(k, cov), "log_likelihood"] == pytest.approx(fit.log_likelihood)
    assert table.attrs["best"] == (2, "diag")  # the truth: two diagonal components
    with pytest.raises(ValueError, match=r"missing='marginalize'"):
        select_k(X, [1, 2])


@pytest.mark.timeout(300)
def test_compare_k_marginalises_when_asked(data):
    X, _ = data
    table = compare_k(
        X,
        [1, 2],
        methods=("em", "advi"),
        missing="marginalize",
        advi_steps=2000,
        draws=100,
    )
    row = table.set_index("K").loc[2]
    fit = fit_em(X, 2, "full", n_init=5, random_seed=0, missing="marginalize")
    from bayesgmm.em import bic

    assert row["bic"] == pytest.approx(bic(fit))
    assert np.isfinite(table["elpd_loo"]).all()
    assert table.attrs["best_bic"] == (2, "full")
    with pytest.raises(ValueError, match=r"missing='marginalize'"):
        compare_k(X, [1], methods=("em",))


@pytest.mark.timeout(300)
def test_a_complete_data_fit_refuses_nan_and_says_why(data):
    X, sim = data
    fit = BayesianGMM(2, method="map", progressbar=False, random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(sim.X)
    for call in (
        lambda: membership(fit, X),
        lambda: plot_pairs(X, fit),
        lambda: plot_clusters(X, em=fit),
        lambda: fit.predict(X),
    ):
        with pytest.raises(ValueError, match=r"NaN") as info:
            call()
        assert "missing='marginalize'" in str(info.value)
    plt.close("all")


@pytest.mark.timeout(300)
def test_fitted_partial_labels_fix_their_rows(data):
    from bayesgmm.bayes.inference.run import RunSettings, run_inference
    from bayesgmm.bayes.model.graph import build_model

    X, sim = data
    labels = np.full(X.shape[0], -1)
    labels[:40] = sim.labels[:40]
    labels[1] = 1 - labels[1]  # one row labelled against its data
    gmm = build_model(X, 2, "full", labels=labels, missing="marginalize")
    idata = run_inference(gmm, RunSettings(method="map"), random_seed=0).idata
    result = membership(idata, warn=False)
    mean = result.probabilities["mean"].transpose("obs", "component").values
    np.testing.assert_array_equal(mean[:40], np.eye(2)[labels[:40]])
    assert result.labels[1] == labels[1]
    # A new X has no labels: the same row is classified by its data.
    free = membership(idata, X[:40], warn=False)
    assert free.labels[1] != labels[1]


@pytest.mark.timeout(300)
def test_occupancy_counts_the_fits_weights_and_labels(data):
    import xarray as xr

    from bayesgmm.bayes.inference.run import RunSettings, run_inference
    from bayesgmm.bayes.model.graph import build_model
    from bayesgmm.posterior import occupied_components

    X, _ = data
    idata = run_inference(
        build_model(X, 2, "full", missing="marginalize"), RunSettings(method="map"), random_seed=0
    ).idata
    assert occupied_components(idata)[2] == 1.0  # two well-separated clusters

    def with_constant(**values):
        out = idata.copy()
        out.add_groups(
            constant_data=xr.Dataset(
                {name: ("obs", value) for name, value in values.items()},
                coords={"obs": np.arange(X.shape[0])},
            )
        )
        return out

    # Rows of weight 0 count for nothing: the component that could hold only them is empty.
    resp = reference_memberships(X, *_idata_draws(idata))[0]
    weights = np.where(resp[:, 1] > 1e-12, 0.0, 1.0)
    assert 0 < weights.sum() < X.shape[0]
    assert occupied_components(with_constant(sample_weight=weights))[1] == 1.0
    # Rows labelled 0 all belong to component 0, whatever their data say.
    labels = np.zeros(X.shape[0], dtype=np.int64)
    assert occupied_components(with_constant(labels=labels))[1] == 1.0


@pytest.mark.timeout(300)
def test_the_posterior_alone_carries_the_option(data):
    """A marginalised fit of complete data: its idata_ (no NaN in observed_data) still
    accepts NaN, from idata.attrs["missing"]."""
    X, sim = data
    fit = BayesianGMM(2, method="map", missing="marginalize", progressbar=False, random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(sim.X)
    assert fit.idata_.attrs["missing"] == "marginalize"
    result = membership(fit.idata_, X, warn=False)
    expected = reference_memberships(X, *_idata_draws(fit.idata_)).mean(axis=0)
    np.testing.assert_allclose(result.probabilities["mean"].values, expected, rtol=1e-8)
    axes = plot_pairs(X, fit.idata_)
    assert len(axes[1, 0].collections[0].get_offsets()) == X.shape[0] - _hidden(X, [0, 1])
    plt.close("all")
