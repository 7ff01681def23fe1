"""Plots for many parameters (issue 19, item 7), the CLI's --missing and --features, and
select_k's defaults (item 8)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from conftest import two_clusters
from matplotlib.patches import Ellipse

from bayesgmm import GaussianMixtureEM, compare, select_k
from bayesgmm.cli import main
from bayesgmm.datasets import make_gmm_data
from bayesgmm.em import SELECTION_N_INIT, fit_em
from bayesgmm.estimators.bayesian import BayesianGMM
from bayesgmm.plotting import plot_clusters, plot_comparison, plot_pairs

# ---------------------------------------------------------------------------------------
# The comparison plot of a K=3, D=8 fit
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table_k3_d8():
    rng = np.random.default_rng(0)
    means = rng.normal(scale=6.0, size=(3, 8))
    sim = make_gmm_data(300, [0.3, 0.3, 0.4], means, [1.0, 1.5, 0.8], random_seed=1)
    fit = BayesianGMM(3, method="advi", advi_steps=1500, draws=60, progressbar=False, random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(sim.X)
        return compare(fit.em_, fit)


@pytest.mark.timeout(300)
def test_comparison_plot_of_k3_d8_is_bounded_in_height(table_k3_d8):
    frame = table_k3_d8.table
    assert len(frame) == 3 + 3 * 8 + 3 * 8 + 3 * 28  # weights, means, stds, correlations
    ax = plot_comparison(table_k3_d8)
    height = ax.figure.get_size_inches()[1]
    assert height <= 11.0  # 30 rows; all 135 would be 44.5 inches (4,450 px at 100 dpi)
    assert len(ax.get_yticklabels()) == 30
    assert "rows 1-30 of 135" in ax.get_title() and "page=1" in ax.get_title()
    everything = plot_comparison(table_k3_d8, max_rows=None)
    assert everything.figure.get_size_inches()[1] > 40  # the bound above is not vacuous
    plt.close("all")


@pytest.mark.timeout(300)
def test_comparison_plot_puts_the_worst_disagreements_first(table_k3_d8):
    frame = table_k3_d8.table
    ax = plot_comparison(table_k3_d8)
    shown = [t.get_text() for t in ax.get_yticklabels()]
    outside = frame[~frame["em_in_hdi"]]
    first = outside.reindex(outside["z"].abs().sort_values(ascending=False).index)
    n_first = min(len(first), 30)
    assert shown[:n_first] == [str(i) for i in first.index[:n_first]]
    inside = frame[frame["em_in_hdi"]]
    rest = shown[n_first:]
    params = [frame.loc[name, "parameter"] for name in rest]
    # After them, weights and means before the other parameters.
    first_other = next((i for i, p in enumerate(params) if p not in ("weights", "means")), None)
    if first_other is not None:
        assert all(p not in ("weights", "means") for p in params[first_other:])
    assert len(inside) + len(outside) == len(frame)
    plt.close("all")


@pytest.mark.timeout(300)
def test_comparison_plot_filters_and_pages(table_k3_d8):
    ax = plot_comparison(table_k3_d8, parameters=("weights", "means"))
    assert len(ax.get_yticklabels()) == 27 and ax.get_title() == ""  # one page, table order
    labels = [t.get_text() for t in ax.get_yticklabels()]
    expected = table_k3_d8.table.index[table_k3_d8.table["parameter"].isin(["weights", "means"])]
    assert labels == [str(i) for i in expected]
    pages = [plot_comparison(table_k3_d8, page=p) for p in range(5)]
    seen = [t.get_text() for a in pages for t in a.get_yticklabels()]
    assert sorted(seen) == sorted(str(i) for i in table_k3_d8.table.index)  # each row once
    assert len(pages[-1].get_yticklabels()) == 135 - 4 * 30
    with pytest.raises(ValueError, match=r"page must be in \[0, 4\]"):
        plot_comparison(table_k3_d8, page=5)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['mean'\]"):
        plot_comparison(table_k3_d8, parameters="mean")
    with pytest.raises(ValueError, match="order must be one of"):
        plot_comparison(table_k3_d8, order="worst")
    with pytest.raises(ValueError, match="max_rows must be a positive integer"):
        plot_comparison(table_k3_d8, max_rows=0)
    plt.close("all")


# ---------------------------------------------------------------------------------------
# Components below a weight threshold
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse_k10():
    """Two real components and eight empty ones with prior-wide covariances."""
    sim = two_clusters(300, seed=2)
    weights = np.r_[0.4, 0.6 - 8e-4, np.full(8, 1e-4)]
    means = np.r_[[[0.0, 0.0], [5.0, 3.0]], np.random.default_rng(0).normal(size=(8, 2))]
    covariances = np.r_[
        [np.diag([1.0, 0.5]), np.diag([0.6, 1.4])], np.tile(400 * np.eye(2), (8, 1, 1))
    ]
    return sim.X, {"weights": weights, "means": means, "covariances": covariances}


def _ellipses(ax):
    return [p for p in ax.patches if isinstance(p, Ellipse)]


@pytest.mark.timeout(120)
def test_pairs_plot_skips_empty_components_and_says_so(sparse_k10):
    X, fit = sparse_k10
    axes = plot_pairs(X, fit)
    assert len(_ellipses(axes[1, 0])) == 2
    lo, hi = axes[1, 0].get_xlim()
    span = X[:, 0].max() - X[:, 0].min()
    assert lo > X[:, 0].min() - 0.5 * span and hi < X[:, 0].max() + 0.5 * span
    assert "8 component(s) with weight < 0.01 not drawn (2, 3, 4, 5, 6, 7, 8, 9)" in (
        axes[0, 0].figure.get_suptitle()
    )
    every = plot_pairs(X, fit, min_weight=0)
    assert len(_ellipses(every[1, 0])) == 10
    assert every[1, 0].get_xlim()[1] - every[1, 0].get_xlim()[0] > 3 * (hi - lo)
    with pytest.raises(ValueError, match=r"min_weight must be in \[0, 1\)"):
        plot_pairs(X, fit, min_weight=1.0)
    plt.close("all")


@pytest.mark.timeout(120)
def test_cluster_plot_skips_empty_components_and_says_so(sparse_k10):
    X, fit = sparse_k10
    ax = plot_clusters(X, em=fit)
    assert len(_ellipses(ax)) == 2
    notes = " ".join(t.get_text() for t in ax.texts)
    assert "8 EM component(s) with weight < 0.01 not drawn" in notes
    assert len(_ellipses(plot_clusters(X, em=fit, min_weight=0))) == 10
    plt.close("all")


# ---------------------------------------------------------------------------------------
# The CLI: --missing, and report --features
# ---------------------------------------------------------------------------------------


@pytest.fixture
def csv_with_gaps(tmp_path: Path) -> Path:
    sim = two_clusters(200, seed=6)
    frame = pd.DataFrame(sim.X, columns=["a", "b"])
    rows = np.arange(len(frame))
    frame.loc[rows % 9 == 0, "a"] = np.nan
    frame.loc[(rows % 11 == 4) & (rows % 9 != 0), "b"] = np.nan  # no row left empty
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.timeout(120)
def test_cli_missing_marginalises_empty_values(capsys, csv_with_gaps, tmp_path):
    code = main(["fit-em", str(csv_with_gaps), "-k", "2"])
    _, err = capsys.readouterr()
    assert code == 2 and "--missing marginalize" in err
    code = main(["fit-em", str(csv_with_gaps), "-k", "2", "--missing", "marginalize"])
    out, err = capsys.readouterr()
    assert code == 0, err
    X = pd.read_csv(csv_with_gaps).to_numpy()
    fit = GaussianMixtureEM(2, n_init=1, random_seed=0, missing="marginalize").fit(X)
    assert f"{fit.result_.log_likelihood:.6g}" in out
    out_file = tmp_path / "fit.nc"
    argv = ["fit", str(csv_with_gaps), "-k", "2", "--method", "em", "--out", str(out_file)]
    assert main([*argv, "--missing", "marginalize"]) == 0
    assert out_file.exists()


@pytest.mark.timeout(120)
def test_report_plots_the_features_asked_for(monkeypatch, capsys, tmp_path):
    sim = make_gmm_data(150, [0.5, 0.5], [[0, 0, 0], [4, 4, 4]], [1.0, 1.0], random_seed=3)
    data = tmp_path / "d3.csv"
    pd.DataFrame(sim.X, columns=["u", "v", "w"]).to_csv(data, index=False)
    fit_file = tmp_path / "fit.nc"
    assert main(["fit", str(data), "-k", "2", "--method", "em", "--out", str(fit_file)]) == 0
    from bayesgmm import plotting

    asked = []
    original = plotting.plot_clusters

    def record(*args, **kwargs):
        asked.append(kwargs.get("features"))
        return original(*args, **kwargs)

    monkeypatch.setattr(plotting, "plot_clusters", record)
    code = main(["report", str(fit_file), "--out", str(tmp_path / "r"), "--features", "w,u"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert asked == [(2, 0)]
    assert (tmp_path / "r" / "clusters.png").exists()
    for bad, message in (("u", "two features"), ("u,z", "'z' is not one of"), ("v,v", "twice")):
        assert main(["report", str(fit_file), "--features", bad]) == 2
        assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# select_k reaches what GaussianMixtureEM's defaults reach
# ---------------------------------------------------------------------------------------


def _datasets():
    from sklearn.datasets import load_iris

    from bayesgmm import load_faithful

    return {"faithful": load_faithful().to_numpy(float), "iris": load_iris().data}


@pytest.mark.parametrize("name", ["faithful", "iris"])
@pytest.mark.timeout(300)
def test_select_k_cells_are_at_least_the_estimators_default_fits(name):
    X = _datasets()[name]
    ks = [1, 2, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = select_k(X, ks)
        long = table.attrs["long"].set_index(["K", "covariance_type"])
        for cov in ("VVV", "EEE", "VVI", "VII"):  # the table's names for full ... spherical
            for k in ks:
                cell = long.loc[(k, cov), "log_likelihood"]
                same = fit_em(X, k, cov, n_init=SELECTION_N_INIT, random_seed=0)
                assert cell == pytest.approx(same.log_likelihood, rel=1e-12)
                # The estimator's defaults (one start), over several seeds: the table's
                # cell is at least the best of them.
                defaults = [
                    GaussianMixtureEM(k, covariance_type=cov, random_seed=s).fit(X)
                    for s in range(5)
                ]
                best = max(d.result_.log_likelihood for d in defaults)
                assert cell >= best - 1e-6 * abs(best), (cov, k, cell, best)
