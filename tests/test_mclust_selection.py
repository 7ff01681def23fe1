"""select_k over mclust's family: the table's layout, mclust's sign, defaults, the plot."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from bayesgmm.em import select_k
from bayesgmm.em.criteria import DIAGONAL_STRUCTURES, default_structures
from bayesgmm.mixture.structures import mclust_family
from bayesgmm.plotting import plot_select_k

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(4)
    return np.concatenate([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) * [3, 0.5] + 7])


@pytest.mark.timeout(30)
def test_default_structures_follow_mclust():
    assert default_structures(100, 3) == mclust_family()
    assert default_structures(3, 3) == DIAGONAL_STRUCTURES  # N <= D: no correlations
    assert default_structures(50, 1) == ("E", "V")


@pytest.mark.timeout(120)
def test_mclust_sign_negates_the_table_and_keeps_the_choice(blobs):
    kinds = ["EII", "VVI", "VEV"]
    ours = select_k(blobs, ks=[1, 2, 3], covariance_types=kinds)
    theirs = select_k(blobs, ks=[1, 2, 3], covariance_types=kinds, sign="mclust")
    np.testing.assert_allclose(theirs.to_numpy(), -ours.to_numpy())
    assert theirs.attrs["best"] == ours.attrs["best"]
    assert theirs.attrs["sign"] == "mclust" and ours.attrs["sign"] == "bayesgmm"
    assert list(theirs.columns) == kinds and list(theirs.index) == [1, 2, 3]
    long = theirs.attrs["long"]
    for name in ("bic", "aic", "icl"):
        np.testing.assert_allclose(long[name], -ours.attrs["long"][name])
    # mclust's BIC: 2 log L - p log N
    row = long.iloc[0]
    assert row["bic"] == pytest.approx(
        2 * row["log_likelihood"] - row["n_parameters"] * np.log(len(blobs))
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"sign": "R"}, "sign must be"), ({"covariance_types": ["VEV", "XYZ"]}, "covariance_type")],
)
def test_bad_arguments(blobs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_k(blobs, ks=[1], **kwargs)


@pytest.mark.timeout(120)
def test_one_dimensional_data_get_mclusts_two_models():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=80), rng.normal(size=40) * 0.3 + 5])[:, None]
    table = select_k(x, ks=[1, 2, 3])
    assert list(table.columns) == ["E", "V"]
    assert table.attrs["best"] == (2, "V")


@pytest.mark.timeout(120)
def test_plot_draws_one_line_per_structure_and_rings_the_best(blobs):
    table = select_k(blobs, ks=[1, 2, 3], covariance_types=["EII", "VVV", "VEV"], sign="mclust")
    ax = plot_select_k(table)
    assert isinstance(ax, matplotlib.axes.Axes)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines[:3]] == ["EII", "VVV", "VEV"]
    for line, name in zip(lines[:3], table.columns, strict=True):
        np.testing.assert_allclose(line.get_ydata(), table[name].to_numpy())
    k, name = table.attrs["best"]
    ring = lines[3]
    assert ring.get_xdata()[0] == k and ring.get_ydata()[0] == table.loc[k, name]
    assert "higher is better" in ax.get_ylabel()
    with pytest.raises(TypeError, match="select_k"):
        plot_select_k(np.zeros((2, 2)))
    matplotlib.pyplot.close("all")
