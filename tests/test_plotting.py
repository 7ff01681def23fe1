"""bayesgmm.plotting: every plot returns its Axes and draws what it claims, headless (Agg).

Inputs are cheap: EM fits on Old Faithful / the 3-D simulation, and small synthetic
posteriors (2 chains x 20 draws jittered around an EM fit) built with ``az.from_dict``;
no sampler runs here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

matplotlib.use("Agg")
import arviz as az
import matplotlib.pyplot as plt
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.contour import ContourSet
from matplotlib.patches import Ellipse, StepPatch

from bayesgmm import analysis as compare
from bayesgmm import plotting
from bayesgmm.em import fit_em
from bayesgmm.mixture.covariance import as_full

COV_TYPES = ("full", "tied", "diag", "spherical")
N_CHAINS, N_DRAWS = 2, 20


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


def synthetic_idata(
    fit, X: np.ndarray, names: list[str], *, seed: int = 0, jitter: float = 1.0, switch=False
):
    """A small posterior around an EM fit: (chain, draw) = (2, 20), full covariances.

    ``jitter=0`` repeats the EM parameters exactly. ``switch=True`` swaps components 0 and 1
    in the second half of chain 1 (label switching, as a raw posterior may show).
    """
    rng = np.random.default_rng(seed)
    n_components, n_features = fit.means.shape
    cov = as_full(fit.covariances, fit.covariance_type, n_components, n_features)
    shape = (N_CHAINS, N_DRAWS)
    if jitter > 0:
        weights = rng.dirichlet(fit.weights * 300, size=shape)
        sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1)) / np.sqrt(
            fit.weights[:, None] * X.shape[0]
        )
        means = fit.means + jitter * sd * rng.standard_normal((*shape, n_components, n_features))
        scale = np.exp(0.1 * jitter * rng.standard_normal((*shape, n_components)))
        covariances = cov * scale[..., None, None]
    else:
        weights = np.broadcast_to(fit.weights, (*shape, n_components)).copy()
        means = np.broadcast_to(fit.means, (*shape, n_components, n_features)).copy()
        covariances = np.broadcast_to(cov, (*shape, *cov.shape)).copy()
    if switch:
        half = slice(N_DRAWS // 2, None)
        perm = np.arange(n_components)
        perm[[0, 1]] = [1, 0]
        for array in (weights, means, covariances):
            array[1, half] = array[1, half][:, perm]
    coords = {"component": np.arange(n_components), "feature": names, "feature_bis": names}
    config = {
        "n_components": n_components,
        "covariance_type": "full",
        "feature_names": names,
        "priors": {},
    }
    return az.from_dict(
        posterior={"weights": weights, "means": means, "covariances": covariances},
        observed_data={"x": X},
        coords={**coords, "obs": np.arange(X.shape[0])},
        dims={
            "weights": ["component"],
            "means": ["component", "feature"],
            "covariances": ["component", "feature", "feature_bis"],
            "x": ["obs", "feature"],
        },
        attrs={"bayesgmm_config": json.dumps(config)},
    )


@pytest.fixture(scope="module")
def em2(faithful):
    return fit_em(faithful, 2, "full", n_init=2, random_seed=0)


@pytest.fixture(scope="module")
def idata2(em2, faithful, faithful_df):
    return synthetic_idata(em2, faithful, list(faithful_df.columns))


@pytest.fixture(scope="module")
def em3(sim3d):
    return fit_em(sim3d.X, 3, "full", n_init=2, random_seed=0)


@pytest.fixture(scope="module")
def idata3(em3, sim3d):
    return synthetic_idata(em3, sim3d.X, ["x0", "x1", "x2"])


def ellipses(ax) -> list[Ellipse]:
    return [p for p in ax.patches if isinstance(p, Ellipse)]


def scatters(ax) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def mahalanobis_of_boundary(patch: Ellipse, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Mahalanobis radius of points on the drawn ellipse's outline."""
    angle = np.linspace(0.0, 2.0 * np.pi, 37)
    circle = np.column_stack([np.cos(angle), np.sin(angle)])  # the unit circle Ellipse maps
    outline = patch.get_patch_transform().transform(circle)
    centred = outline - mean
    return np.sqrt(np.einsum("nd,de,ne->n", centred, np.linalg.inv(cov), centred))


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cov",
    [np.diag([4.0, 1.0]), np.array([[2.0, 1.5], [1.5, 2.0]]), np.array([[1.0, -0.9], [-0.9, 3.0]])],
)
@pytest.mark.parametrize("n_std", [1.0, 2.4477])
def test_ellipse_outline_is_a_mahalanobis_contour(cov, n_std):
    mean = np.array([1.0, -2.0])
    patch = plotting._ellipse(mean, cov, n_std, edgecolor="k")
    assert isinstance(patch, Ellipse) and not patch.fill
    np.testing.assert_allclose(patch.center, mean)
    np.testing.assert_allclose(mahalanobis_of_boundary(patch, mean, cov), n_std, rtol=1e-9)
    # Area of an ellipse is pi * n_std^2 * sqrt(det(cov)).
    area = np.pi * patch.width * patch.height / 4
    np.testing.assert_allclose(area, np.pi * n_std**2 * np.sqrt(np.linalg.det(cov)))


def test_level_is_the_chi2_radius():
    for level in (0.5, 0.9, 0.95, 0.99):
        assert plotting._radius(level) == pytest.approx(np.sqrt(stats.chi2.ppf(level, 2)))
    with pytest.raises(ValueError, match="level"):
        plotting._radius(1.0)


def test_hdi_matches_arviz():
    from bayesgmm.mixture.draws import hdi_columns

    rng = np.random.default_rng(3)
    samples = rng.gamma(2.0, size=(400, 3))
    low, high = hdi_columns(samples, 0.9)
    for j in range(3):
        expected = az.hdi(samples[:, j], hdi_prob=0.9)
        np.testing.assert_allclose([low[j], high[j]], expected)


# ---------------------------------------------------------------------------------------
# plot_clusters
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_clusters_em_ellipses_for_every_covariance_type(faithful_df, faithful, cov_type):
    fit = fit_em(faithful, 2, cov_type, random_seed=0)
    ax = plotting.plot_clusters(faithful_df, em=fit)
    assert isinstance(ax, plt.Axes)
    drawn = ellipses(ax)
    assert len(drawn) == 2
    full = as_full(fit.covariances, cov_type, 2, 2)
    for k, patch in enumerate(drawn):
        np.testing.assert_allclose(patch.center, fit.means[k])
        radius = mahalanobis_of_boundary(patch, fit.means[k], full[k])
        np.testing.assert_allclose(radius, plotting._radius(0.95), rtol=1e-9)
    (points,) = scatters(ax)
    assert points.get_offsets().shape == (faithful.shape[0], 2)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("eruptions", "waiting")


def test_clusters_with_posterior_cloud(faithful_df, em2, idata2):
    ax = plotting.plot_clusters(faithful_df, em=em2, idata=idata2, n_ellipses=10)
    drawn = ellipses(ax)
    assert len(drawn) == 2 + 2 * 10
    thick = [p for p in drawn if p.get_linewidth() > 2]
    thin = [p for p in drawn if p.get_linewidth() < 1]
    assert len(thick) == 2 and len(thin) == 20
    assert all(p.get_alpha() is not None and p.get_alpha() < 0.5 for p in thin)
    # Posterior components are coloured like the EM component they sit on.
    for patch in thin:
        nearest = np.argmin(np.linalg.norm(em2.means - np.asarray(patch.center), axis=1))
        assert patch.get_edgecolor()[:3] == pytest.approx(thick[nearest].get_edgecolor()[:3])
    (points,) = scatters(ax)
    assert points.get_offsets().shape == (272, 2)
    # Every point shown stays inside the axes limits.
    x0, x1 = ax.get_xlim()
    assert x0 < faithful_df["eruptions"].min() and x1 > faithful_df["eruptions"].max()


def test_clusters_cloud_uses_all_draws_when_fewer_than_asked(faithful, em2, idata2):
    ax = plotting.plot_clusters(faithful, idata=idata2, n_ellipses=500)
    assert len(ellipses(ax)) == 2 * N_CHAINS * N_DRAWS
    assert ax.get_xlabel() == "x0"
    ax = plotting.plot_clusters(faithful, idata=SimpleNamespace(idata_=idata2), n_ellipses=3)
    assert len(ellipses(ax)) == 2 * 3  # a fitted BayesianGMM is read through idata_


def test_clusters_cloud_draws_depend_on_seed(faithful, idata2):
    def centres(seed):
        ax = plotting.plot_clusters(faithful, idata=idata2, n_ellipses=5, random_seed=seed)
        return np.array([p.center for p in ellipses(ax)])

    np.testing.assert_array_equal(centres(1), centres(1))
    assert not np.array_equal(centres(1), centres(2))


def test_clusters_shading_follows_membership(faithful, em2):
    n = faithful.shape[0]
    probability = np.linspace(0.5, 1.0, n)
    membership = np.column_stack([probability, 1 - probability])
    ax = plotting.plot_clusters(faithful, em=em2, membership=membership, threshold=0.75)
    (points,) = scatters(ax)
    alpha = points.get_facecolors()[:, 3]
    assert np.all(np.diff(alpha) >= 0) and alpha[0] < 0.2 and alpha[-1] == pytest.approx(1.0)
    ambiguous = probability < 0.75
    widths = np.asarray(points.get_linewidths())
    assert np.all(widths[ambiguous] > 0) and np.all(widths[~ambiguous] == 0)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"ambiguous: p < 0.75 ({ambiguous.sum()})" in labels


def test_clusters_memberships_default_to_the_fit(faithful, em2):
    from bayesgmm.em import e_step

    ax = plotting.plot_clusters(faithful, em=em2)
    (points,) = scatters(ax)
    labels = np.argmax(e_step(faithful, em2.params)[1], axis=1)
    colors = points.get_facecolors()[:, :3]
    for k in range(2):
        assert np.allclose(colors[labels == k], plotting._colors(2)[k][:3])


def test_clusters_3d_projection(sim3d, em3, idata3):
    ax = plotting.plot_clusters(sim3d.X, em=em3, idata=idata3, features=(0, 2), n_ellipses=4)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "x2")
    thick = [p for p in ellipses(ax) if p.get_linewidth() > 2]
    assert len(ellipses(ax)) == 3 + 3 * 4
    np.testing.assert_allclose([p.center for p in thick], em3.means[:, [0, 2]])
    cov = em3.covariances[0][np.ix_([0, 2], [0, 2])]
    radius = mahalanobis_of_boundary(thick[0], em3.means[0, [0, 2]], cov)
    np.testing.assert_allclose(radius, plotting._radius(0.95), rtol=1e-9)


def test_clusters_features_by_name_and_errors(faithful_df, em2):
    ax = plotting.plot_clusters(faithful_df, em=em2, features=("waiting", "eruptions"))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("waiting", "eruptions")
    np.testing.assert_allclose(ellipses(ax)[0].center, em2.means[0, ::-1])
    with pytest.raises(ValueError, match="not in the data"):
        plotting.plot_clusters(faithful_df, em=em2, features=("waiting", "duration"))
    with pytest.raises(ValueError, match="distinct"):
        plotting.plot_clusters(faithful_df, em=em2, features=(1, 1))
    with pytest.raises(ValueError, match="membership has 3 points"):
        plotting.plot_clusters(faithful_df, membership=np.full((3, 2), 0.5))
    with pytest.raises(TypeError, match="EM fit"):
        plotting.plot_clusters(faithful_df, em=object())


@pytest.mark.timeout(60)
def test_clusters_em_must_be_a_point_estimate(faithful_df, idata2):
    """A posterior passed as ``em`` is refused, not drawn as many thick "EM" ellipses."""
    with pytest.raises(TypeError, match="got InferenceData"):
        plotting.plot_clusters(faithful_df, em=idata2)
    # The one adapter still reads it as a posterior, every draw kept.
    mixture = plotting._mixture_of(idata2)
    n_draws = idata2.posterior.sizes["chain"] * idata2.posterior.sizes["draw"]
    assert mixture.weights.shape == (n_draws, 2)


def test_clusters_draws_on_the_given_axes(faithful, em2):
    _, ax = plt.subplots()
    assert plotting.plot_clusters(faithful, em=em2, ax=ax) is ax


# ---------------------------------------------------------------------------------------
# plot_density
# ---------------------------------------------------------------------------------------


def contour_sets(ax) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


@pytest.mark.parametrize("source", ["em", "idata"])
def test_density_contours(faithful_df, em2, idata2, source):
    fit = em2 if source == "em" else idata2
    ax = plotting.plot_density(faithful_df, fit, grid_size=40)
    assert isinstance(ax, plt.Axes)
    (contours,) = contour_sets(ax)
    assert len(contours.levels) > 3
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("eruptions", "waiting")
    assert scatters(ax)[0].get_offsets().shape == (272, 2)


def test_density_of_repeated_draws_equals_the_em_density(faithful, faithful_df, em2):
    constant = synthetic_idata(em2, faithful, list(faithful_df.columns), jitter=0.0)
    points = np.random.default_rng(0).uniform([1.5, 40], [5.5, 100], size=(50, 2))
    em_density = plotting._mixture_density(points, plotting._mixture_of(em2, 200))
    posterior_density = plotting._mixture_density(points, plotting._mixture_of(constant, 200))
    np.testing.assert_allclose(posterior_density, em_density, rtol=1e-10)
    expected = sum(
        w * stats.multivariate_normal(m, c).pdf(points)
        for w, m, c in zip(em2.weights, em2.means, em2.covariances, strict=True)
    )
    np.testing.assert_allclose(em_density, expected, rtol=1e-10)


@pytest.mark.parametrize("pair", [(0, 1), (1, 2), (2, 0)])
def test_density_3d_marginal_integrates_to_one(sim3d, idata3, pair):
    mixture = plotting._mixture_of(idata3, 8).marginal(list(pair))
    grid = np.linspace(-14, 14, 201)
    xx, yy = np.meshgrid(grid, grid)
    density = plotting._mixture_density(np.column_stack([xx.ravel(), yy.ravel()]), mixture)
    step = grid[1] - grid[0]
    assert density.sum() * step**2 == pytest.approx(1.0, abs=1e-3)
    ax = plotting.plot_density(sim3d.X, idata3, features=pair, grid_size=30)
    assert len(contour_sets(ax)) == 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == (f"x{pair[0]}", f"x{pair[1]}")


def test_density_rejects_a_fit_of_other_dimension(sim3d, em2):
    with pytest.raises(ValueError, match="2 features but X has 3"):
        plotting.plot_density(sim3d.X, em2)


# ---------------------------------------------------------------------------------------
# plot_pairs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_pairs_3d_with_em(sim3d, cov_type):
    fit = fit_em(sim3d.X, 3, cov_type, random_seed=0)
    axes = plotting.plot_pairs(sim3d.X, fit)
    assert axes.shape == (3, 3)
    full = as_full(fit.covariances, cov_type, 3, 3)
    for r in range(3):
        for c in range(3):
            ax = axes[r, c]
            if r == c:
                assert not ellipses(ax) and len(ax.patches) == 20  # histogram bars
                assert len(ax.lines) == 1  # the marginal mixture density
                continue
            drawn = ellipses(ax)
            assert len(drawn) == 3
            np.testing.assert_allclose([p.center for p in drawn], fit.means[:, [c, r]])
            cov = full[1][np.ix_([c, r], [c, r])]
            radius = mahalanobis_of_boundary(drawn[1], fit.means[1, [c, r]], cov)
            np.testing.assert_allclose(radius, plotting._radius(0.95), rtol=1e-9)
            assert scatters(ax)[0].get_offsets().shape == (sim3d.X.shape[0], 2)
    assert [axes[2, c].get_xlabel() for c in range(3)] == ["x0", "x1", "x2"]
    assert [axes[r, 0].get_ylabel() for r in range(3)] == ["x0", "x1", "x2"]


def test_pairs_diagonal_density_integrates_to_one(sim3d, em3):
    axes = plotting.plot_pairs(sim3d.X, em3)
    x, y = axes[0, 0].lines[0].get_data()
    inside = np.trapezoid(y, x)  # the data range holds nearly all the mass
    assert 0.95 < inside <= 1.0


def test_pairs_2d_posterior_and_membership(faithful_df, idata2):
    axes = plotting.plot_pairs(faithful_df, idata2)
    assert axes.shape == (2, 2)
    assert len(ellipses(axes[0, 1])) == 2 and len(ellipses(axes[1, 0])) == 2
    means = idata2.posterior["means"].mean(("chain", "draw")).values
    np.testing.assert_allclose([p.center for p in ellipses(axes[1, 0])], means, rtol=1e-12)
    membership = np.tile([1.0, 0.0], (272, 1))
    axes = plotting.plot_pairs(faithful_df, membership=membership)
    colors = scatters(axes[0, 1])[0].get_facecolors()
    assert np.allclose(colors[:, :3], plotting._colors(1)[0][:3])
    assert not ellipses(axes[0, 1])


def test_pairs_uses_given_axes_and_checks_their_number(sim3d, em3):
    _, grid = plt.subplots(3, 3)
    assert plotting.plot_pairs(sim3d.X, em3, axes=grid)[1, 2] is grid[1, 2]
    _, small = plt.subplots(2, 2)
    with pytest.raises(ValueError, match="3x3"):
        plotting.plot_pairs(sim3d.X, em3, axes=small)


# ---------------------------------------------------------------------------------------
# plot_trace_relabel
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def switched(em2, faithful, faithful_df):
    """Raw (chain 1 switches labels halfway) and relabeled versions of one posterior."""
    names = list(faithful_df.columns)
    raw = synthetic_idata(em2, faithful, names, seed=5, switch=True)
    relabeled = synthetic_idata(em2, faithful, names, seed=5)
    return raw, relabeled


def test_trace_relabel_panels(switched):
    raw, relabeled = switched
    axes = plotting.plot_trace_relabel(raw, relabeled)
    assert axes.shape == (3, 2)  # weights, means[eruptions], means[waiting]
    assert [axes[r, 0].get_ylabel() for r in range(3)] == [
        "weights",
        "means[eruptions]",
        "means[waiting]",
    ]
    assert axes[0, 0].get_title() == "before relabeling"
    assert axes[0, 1].get_title() == "after relabeling"
    for ax in axes.flat:
        assert len(ax.lines) == N_CHAINS * 2
    # The left panel shows the raw draws, the right one the relabeled draws.
    raw_weights = raw.posterior["weights"].values
    relabeled_weights = relabeled.posterior["weights"].values
    # Lines go chain by chain, component by component: chain 1, component 0 is line 2.
    np.testing.assert_allclose(axes[0, 0].lines[2].get_ydata(), raw_weights[1, :, 0])
    np.testing.assert_allclose(axes[0, 1].lines[2].get_ydata(), relabeled_weights[1, :, 0])
    assert axes[0, 0].get_ylim() == axes[0, 1].get_ylim()


def test_rank_plot_flags_the_switched_chain(switched):
    raw, relabeled = switched
    axes = plotting.plot_trace_relabel(raw, relabeled, var_names="weights", kind="rank", bins=5)
    assert axes.shape == (1, 2)
    before, after = axes[0]
    steps_before = [p for p in before.patches if isinstance(p, StepPatch)]
    assert len(steps_before) == N_CHAINS * 2
    assert len(before.get_yticklabels()) == N_CHAINS * 2

    def spread(patch: StepPatch) -> float:
        return float(np.ptp(patch.get_data().values))

    # The switched chain's ranks are far from uniform before relabeling, not after.
    steps_after = [p for p in after.patches if isinstance(p, StepPatch)]
    assert max(spread(p) for p in steps_before) > max(spread(p) for p in steps_after)


def test_trace_relabel_errors(switched):
    raw, relabeled = switched
    with pytest.raises(ValueError, match="kind"):
        plotting.plot_trace_relabel(raw, relabeled, kind="forest")
    with pytest.raises(ValueError, match="not in the posterior"):
        plotting.plot_trace_relabel(raw, relabeled, var_names=("stds",))


# ---------------------------------------------------------------------------------------
# plot_comparison
# ---------------------------------------------------------------------------------------


def comparison_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parameter": ["weights", "means", "means", "covariances"],
            "component": [0, 0, 1, 1],
            "feature": [None, "waiting", "waiting", "waiting"],
            "em_estimate": [0.35, 54.5, 90.0, 30.0],
            "posterior_mean": [0.36, 54.6, 80.0, 34.0],
            "posterior_sd": [0.03, 0.8, 0.6, 3.0],
            "hdi_low": [0.30, 53.0, 78.9, 28.5],
            "hdi_high": [0.42, 56.1, 81.1, 39.6],
        }
    )


def test_comparison_rows_markers_and_highlight():
    frame = comparison_frame()
    ax = plotting.plot_comparison(frame, standardize=False)
    assert isinstance(ax, plt.Axes)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "weights[0]",
        "means[0, waiting]",
        "means[1, waiting]",
        "covariances[1, waiting]",
    ]
    red = [t.get_text() for t in ax.get_yticklabels() if t.get_color() == "tab:red"]
    assert red == ["means[1, waiting]"]  # EM 90 is outside [78.9, 81.1]
    means_dots, em_marks = scatters(ax)
    y = means_dots.get_offsets()[:, 1]
    assert np.all(np.diff(y) < 0)  # first row on top
    np.testing.assert_allclose(em_marks.get_offsets()[:, 0], frame["em_estimate"])
    shaded = [p for p in ax.patches if not isinstance(p, Ellipse)]
    assert len(shaded) == 1


def test_comparison_standardizes_per_row():
    frame = comparison_frame()
    ax = plotting.plot_comparison(SimpleNamespace(table=frame), standardize=True)
    _, em_marks = scatters(ax)
    expected = (frame["em_estimate"] - frame["posterior_mean"]) / frame["posterior_sd"]
    np.testing.assert_allclose(em_marks.get_offsets()[:, 0], expected)
    assert "posterior sd" in ax.get_xlabel()
    # Left to itself it standardizes rows of such different widths.
    auto = plotting.plot_comparison(frame)
    np.testing.assert_allclose(scatters(auto)[1].get_offsets()[:, 0], expected)
    same_scale = frame.iloc[1:3]
    assert plotting.plot_comparison(same_scale).get_xlabel() == "value"


def test_comparison_of_a_real_compare_table(em2, idata2):
    table = compare.compare(em2, idata2)
    ax = plotting.plot_comparison(table)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [str(i) for i in table.table.index]
    assert len(scatters(ax)[1].get_offsets()) == len(table.table)


def test_comparison_requires_its_columns():
    with pytest.raises(ValueError, match="hdi_low"):
        plotting.plot_comparison(comparison_frame().drop(columns="hdi_low"))


# ---------------------------------------------------------------------------------------
# plot_membership_uncertainty
# ---------------------------------------------------------------------------------------


def test_membership_uncertainty_from_draws():
    rng = np.random.default_rng(2)
    draws = rng.dirichlet([2.0, 1.0, 0.5], size=(60, 40))  # (S, N, K)
    ax = plotting.plot_membership_uncertainty(draws, threshold=0.7, hdi_prob=0.8)
    (line,) = [line for line in ax.lines if len(line.get_xdata()) == 40]
    mean = draws.mean(axis=0)
    np.testing.assert_allclose(line.get_ydata(), np.sort(mean.max(axis=1)))
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "threshold 0.7" in labels and "80% HDI" in labels
    n_ambiguous = int((mean.max(axis=1) < 0.7).sum())
    assert f"ambiguous ({n_ambiguous} of 40)" in labels


def test_membership_uncertainty_from_probabilities_has_no_band(faithful, em2):
    from bayesgmm.em import e_step

    probabilities = np.exp(e_step(faithful, em2.params)[1])
    ax = plotting.plot_membership_uncertainty(probabilities)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert any(np.allclose(line.get_ydata(), 0.8) for line in ax.lines)  # default threshold


def test_membership_uncertainty_of_a_membership(faithful, idata2):
    membership = compare.membership(idata2, faithful, ambiguity_threshold=0.9)
    ax = plotting.plot_membership_uncertainty(membership)
    (line,) = [line for line in ax.lines if len(line.get_xdata()) == faithful.shape[0]]
    np.testing.assert_allclose(line.get_ydata(), np.sort(membership.max_probability))
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1
    assert any(np.allclose(line.get_ydata(), 0.9) for line in ax.lines)
    ax = plotting.plot_clusters(faithful, idata=idata2, membership=membership, n_ellipses=2)
    widths = np.asarray(scatters(ax)[0].get_linewidths())
    np.testing.assert_array_equal(widths > 0, membership.ambiguous)


# ---------------------------------------------------------------------------------------
# matplotlib is optional
# ---------------------------------------------------------------------------------------

CALLS = {
    "plot_clusters": lambda X, fit, idata: plotting.plot_clusters(X, em=fit),
    "plot_density": lambda X, fit, idata: plotting.plot_density(X, fit),
    "plot_pairs": lambda X, fit, idata: plotting.plot_pairs(X, fit),
    "plot_n_clusters": lambda X, fit, idata: plotting.plot_n_clusters(idata),
    "plot_trace_relabel": lambda X, fit, idata: plotting.plot_trace_relabel(idata, idata),
    "plot_comparison": lambda X, fit, idata: plotting.plot_comparison(comparison_frame()),
    "plot_membership_uncertainty": lambda X, fit, idata: plotting.plot_membership_uncertainty(
        np.full((4, 2), 0.5)
    ),
    # drawn and checked in tests/test_modes.py
    "plot_modes": lambda X, fit, idata: plotting.plot_modes(
        SimpleNamespace(
            table=pd.DataFrame(
                {"chains": [(0, 1)], "weight": [1.0], "weight_se": [0.0], "description": ["x"]}
            ),
            n_modes=1,
            means=np.zeros((1, 2, 2)),
            sorted_weights=np.full((1, 2), 0.5),
        ),
        X,
    ),
    # drawn and checked in tests/test_mclust_selection.py
    "plot_select_k": lambda X, fit, idata: plotting.plot_select_k(
        pd.DataFrame({"VVV": [1.0, 0.5]}, index=[1, 2])
        .rename_axis("K")
        .pipe(lambda t: t.attrs.update(criterion="bic") or t)
    ),
    # drawn and checked in tests/test_prior_predictive.py
    "plot_predictive": lambda X, fit, idata: plotting.plot_predictive(idata),
    # drawn and checked in tests/test_calibration.py
    "plot_sbc": lambda X, fit, idata: plotting.plot_sbc(
        SimpleNamespace(ranks=np.zeros((4, 1), dtype=int), quantities=("q",), n_draws=9)
    ),
}


def test_every_public_function_is_covered():
    assert sorted(CALLS) == sorted(plotting.__all__)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_missing_matplotlib_gives_the_install_hint(monkeypatch, faithful, em2, idata2, name):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "bayesgmm\[plot\]"'):
        CALLS[name](faithful, em2, idata2)


def test_importing_plotting_loads_no_matplotlib():
    code = (
        "import sys, bayesgmm.plotting\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'pymc')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
