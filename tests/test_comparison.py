"""EM versus posterior (compare), membership uncertainty, co-clustering and compare_k.

NUTS fits are short (2 chains x 300 tune + 300 draws, seeded) and shared per module.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

from bayesgmm import compare_k, make_gmm_data
from bayesgmm._utils.validation import seed_int
from bayesgmm.analysis import (
    ComparisonTable,
    Membership,
    compare,
    criteria_table,
    em_criteria,
    membership,
    similarity,
)
from bayesgmm.bayes.inference import sample_nuts
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.em import fit_em
from bayesgmm.estimators.bayesian import BayesianGMM, GaussianMixtureEM
from bayesgmm.exceptions import LabelSwitchingWarning
from bayesgmm.mixture.covariance import as_full
from bayesgmm.mixture.draws import hdi_columns

COMPONENT_VARS = ("weights", "means", "stds", "partial_corr_unit", "covariances", "correlations")
HDI_PROB = 0.94


def _nuts(X, k, cov_type="full", seed=1):
    gmm = build_model(X, k, cov_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sample_nuts(gmm, draws=300, tune=300, chains=2, random_seed=seed, progressbar=False)


def _reverse_labels_of_chain(idata: az.InferenceData, chain: int) -> az.InferenceData:
    """A copy in which one chain uses the reversed component labels (a label switch)."""
    out = idata.copy()
    post = out.posterior
    for name in COMPONENT_VARS:
        if name in post and "component" in post[name].dims:
            da = post[name]
            axis = da.dims.index("component")
            values = da.values.copy()
            values[chain] = np.flip(values[chain], axis=axis - 1)
            post[name] = da.copy(data=values)
    return out


@pytest.fixture(scope="module")
def faithful_std(faithful_df: pd.DataFrame) -> pd.DataFrame:
    return (faithful_df - faithful_df.mean()) / faithful_df.std()


@pytest.fixture(scope="module")
def faithful_idata(faithful_std: pd.DataFrame) -> az.InferenceData:
    return _nuts(faithful_std, 2)


@pytest.fixture(scope="module")
def faithful_em(faithful_std: pd.DataFrame):
    return fit_em(faithful_std, 2, "full", n_init=5, random_seed=0)


@pytest.fixture(scope="module")
def switched_idata(faithful_idata: az.InferenceData) -> az.InferenceData:
    return _reverse_labels_of_chain(faithful_idata, chain=1)


# ---------------------------------------------------------------------------------------
# hdi
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_hdi_is_the_shortest_interval_holding_the_mass_column_by_column():
    rng = np.random.default_rng(0)
    n_draws, prob = 401, 0.9
    # A different distribution in every column, so that a column mix-up cannot pass.
    draws = np.stack(
        [
            np.column_stack([rng.normal(size=n_draws), 3 + rng.gamma(0.5, size=n_draws)]),
            np.column_stack([rng.beta(0.3, 5.0, size=n_draws), -rng.exponential(size=n_draws)]),
            np.column_stack([rng.uniform(size=n_draws), 10 * rng.normal(size=n_draws)]),
        ],
        axis=1,
    )  # (S, 3, 2)
    low, high = hdi_columns(draws, prob)
    assert low.shape == high.shape == (3, 2)
    inside = int(np.floor(prob * n_draws)) + 1  # draws an interval of consecutive ones holds
    for j in range(3):
        for k in range(2):
            column = np.sort(draws[:, j, k])
            widths = [column[i + inside - 1] - column[i] for i in range(n_draws - inside + 1)]
            assert np.sum((draws[:, j, k] >= low[j, k]) & (draws[:, j, k] <= high[j, k])) >= inside
            assert high[j, k] - low[j, k] == pytest.approx(min(widths), rel=0, abs=0)


@pytest.mark.timeout(30)
def test_hdi_rejects_bad_input_and_keeps_one_draw():
    with pytest.raises(ValueError, match="hdi_prob"):
        hdi_columns(np.zeros((10, 2)), 1.0)
    with pytest.raises(ValueError, match="too few"):
        hdi_columns(np.zeros((10, 2)), 0.05)
    low, high = hdi_columns(np.array([[1.0, 2.0]]), 0.94)
    np.testing.assert_array_equal(low, [1.0, 2.0])
    np.testing.assert_array_equal(high, [1.0, 2.0])


# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------


def test_compare_faithful_has_every_element_and_em_means_in_hdi(faithful_em, faithful_idata):
    result = compare(faithful_em, faithful_idata, HDI_PROB)
    assert isinstance(result, ComparisonTable)
    table = result.table
    k, d = 2, 2
    expected = {"weights": k, "means": k * d, "stds": k * d, "correlations": k * d * (d - 1) // 2}
    assert table["parameter"].value_counts().to_dict() == expected
    assert len(table) == k * (1 + 2 * d + d * (d - 1) // 2)
    for column in (
        "parameter", "component", "feature", "feature_bis", "em_estimate", "map_estimate",
        "posterior_mean", "posterior_sd", "hdi_low", "hdi_high", "em_in_hdi", "z",
    ):  # fmt: skip
        assert column in table
    # EM values come from the EM fit, matched component by component.
    cov = as_full(faithful_em.covariances, "full", k, d)
    np.testing.assert_allclose(
        table.loc["stds[1, waiting]", "em_estimate"], np.sqrt(cov[1, 1, 1]), rtol=1e-12
    )
    np.testing.assert_allclose(
        table.loc["correlations[0, waiting, eruptions]", "em_estimate"],
        cov[0, 1, 0] / np.sqrt(cov[0, 0, 0] * cov[0, 1, 1]),
        rtol=1e-12,
    )
    means = table[table["parameter"] == "means"]
    assert means["em_in_hdi"].all()
    assert (means["hdi_low"] <= means["posterior_mean"]).all()
    assert (means["posterior_mean"] <= means["hdi_high"]).all()
    # The flags agree with the columns they summarise.
    inside = (table["hdi_low"] <= table["em_estimate"]) & (
        table["em_estimate"] <= table["hdi_high"]
    )
    assert (table["em_in_hdi"] == inside).all()
    z = (table["em_estimate"] - table["posterior_mean"]) / table["posterior_sd"]
    np.testing.assert_allclose(table["z"], z)
    assert table["map_estimate"].isna().all()
    assert result.flagged().empty  # 272 points, components of ~97 and ~175: EM agrees
    assert "94% HDI" in result.summary and "N=272" in result.summary
    assert result.summary in str(result)
    assert "<table" in result._repr_html_()
    assert result.to_frame().equals(table) and result.to_frame() is not table


def test_compare_matches_components_whatever_the_posterior_labels(
    faithful_em, faithful_idata, switched_idata
):
    plain = compare(faithful_em, faithful_idata).table
    switched = compare(faithful_em, switched_idata)
    numeric = ["posterior_mean", "posterior_sd", "hdi_low", "hdi_high"]
    np.testing.assert_allclose(switched.table[numeric], plain[numeric], rtol=1e-12)
    switched_draws = np.any(switched.perms != switched.perms[0], axis=1).mean()
    assert switched_draws == pytest.approx(0.5)
    assert "Label switching: 50.0% of the draws" in switched.summary


def test_compare_accepts_estimator_and_matches_a_map_point(faithful_std, faithful_idata):
    est = GaussianMixtureEM(2, n_init=5, random_seed=0).fit(faithful_std)
    reversed_point = {
        "weights": est.weights_[::-1],
        "means": est.means_[::-1],
        "covariances": est.covariances_[::-1],
    }
    table = compare(est, faithful_idata, map_fit=reversed_point).table
    # The MAP point is matched to EM like the draws, so its reversed labels are undone.
    np.testing.assert_allclose(table["map_estimate"], table["em_estimate"], rtol=1e-12)


def test_compare_one_chain_posterior_like_advi(faithful_em, faithful_idata):
    one_chain = faithful_idata.sel(chain=[0])
    one_chain.attrs = {**faithful_idata.attrs, "sampler": "advi"}
    result = compare(faithful_em, one_chain)
    assert len(result.table) == 12
    assert result.table["posterior_sd"].gt(0).all()
    assert "ADVI" in result.summary and "variational" in result.summary


def test_compare_rejects_mismatched_fits(faithful_std, faithful_idata):
    em3 = fit_em(faithful_std, 3, "full", random_seed=0)
    with pytest.raises(ValueError, match="K=3"):
        compare(em3, faithful_idata)
    with pytest.raises(TypeError, match="InferenceData"):
        compare(em3, {"weights": 1})
    with pytest.raises(TypeError, match="EMResult"):
        compare(faithful_idata, faithful_idata)
    with pytest.raises(ValueError, match="map_fit"):
        compare(fit_em(faithful_std, 2, random_seed=0), faithful_idata.sel(draw=[0], chain=[0]))


def _synthetic_posterior(fit, n_draws: int, seed: int) -> az.InferenceData:
    """Draws scattered around an EM fit, with the variables a posterior of that type has
    and no stored config (so the covariance type is read from the dims)."""
    rng = np.random.default_rng(seed)
    k, d = fit.means.shape
    cov = as_full(fit.covariances, fit.covariance_type, k, d)
    weights = rng.dirichlet(200 * fit.weights, size=n_draws)
    means = fit.means + 0.05 * rng.standard_normal((n_draws, k, d))
    shared = fit.covariance_type in ("tied",)
    scale = np.exp(0.1 * rng.standard_normal((n_draws, 1 if shared else k, 1, 1)))
    covariances = cov * scale
    sd = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    stds, stds_dims = {
        "full": (sd, ["component", "feature"]),
        "diag": (sd, ["component", "feature"]),
        "spherical": (sd[..., 0], ["component"]),
        "tied": (sd[:, 0], ["feature"]),
    }[fit.covariance_type]
    posterior = {
        "weights": weights[None],
        "means": means[None],
        "stds": stds[None],
        "covariances": covariances[None],
    }
    dims = {
        "weights": ["component"],
        "means": ["component", "feature"],
        "stds": stds_dims,
        "covariances": ["component", "feature", "feature_bis"],
    }
    return az.from_dict(posterior=posterior, dims=dims)


@pytest.mark.parametrize(
    ("cov_type", "n_rows", "n_rows_with_cov"),
    [
        # K=2, D=2: weights 2 + means 4, then stds / correlations / covariances.
        ("full", 12, 18),  # stds 4, correlations 2; covariances 2 x 3
        ("tied", 9, 12),  # stds 2, correlations 1 (shared); covariances 3 (shared)
        ("diag", 10, 14),  # stds 4; covariances = variances 4
        ("spherical", 8, 10),  # stds 2 (one per component); variances 2
    ],
)
def test_compare_every_covariance_type(faithful_std, cov_type, n_rows, n_rows_with_cov):
    fit = fit_em(faithful_std, 2, cov_type, n_init=3, random_seed=0)
    idata = _synthetic_posterior(fit, 400, seed=3)
    table = compare(fit, idata).table
    assert len(table) == n_rows
    assert len(compare(fit, idata, include_covariances=True).table) == n_rows_with_cov
    shared = table["component"].isna()
    assert shared.any() == (cov_type == "tied")
    # EM standard deviations are the square roots of the EM variances in any layout.
    variances = np.diagonal(as_full(fit.covariances, cov_type, 2, 2), axis1=1, axis2=2)
    stds = table.loc[table["parameter"] == "stds", "em_estimate"].to_numpy()
    expected = {
        "full": np.sqrt(variances).ravel(),
        "diag": np.sqrt(variances).ravel(),
        "spherical": np.sqrt(variances[:, 0]),
        "tied": np.sqrt(variances[0]),
    }[cov_type]
    np.testing.assert_allclose(stds, expected, rtol=1e-12)
    # Draws scattered around EM (means +- 0.05, scales x exp(+-0.1)) contain it.
    assert table["em_in_hdi"].all()


# ---------------------------------------------------------------------------------------
# membership
# ---------------------------------------------------------------------------------------


def test_membership_faithful_probabilities_and_intervals(faithful_std, faithful_idata):
    result = membership(faithful_idata, faithful_std, HDI_PROB, max_draws=400)
    assert isinstance(result, Membership) and result.n_draws == 400
    prob = result.probabilities
    mean, median = prob["mean"].values, prob["median"].values
    low, high = prob["hdi_low"].values, prob["hdi_high"].values
    assert mean.shape == (272, 2)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all((0 <= low) & (low <= high) & (high <= 1))
    # An interval holding more than half the draws always contains their median.
    assert np.all((low <= median) & (median <= high))
    # The mean can leave the HDI only through the excluded draws: at most a fraction
    # f = (S - floor(p S) - 1) / S of them lies outside, and they lie in [0, 1], so
    # low - f * low <= mean <= high + f * (1 - high).
    frac = (400 - np.floor(HDI_PROB * 400) - 1) / 400
    assert np.all(mean >= low - frac * low - 1e-15)
    assert np.all(mean <= high + frac * (1 - high) + 1e-15)
    assert np.all(result.labels == mean.argmax(axis=1))
    np.testing.assert_allclose(result.max_probability, mean.max(axis=1))
    np.testing.assert_allclose(result.uncertainty, 1 - result.max_probability)
    assert np.all((result.entropy >= 0) & (result.entropy <= np.log(2) + 1e-12))
    assert (result.ambiguous == (result.max_probability < 0.8)).all()
    assert result.n_occupied.index.tolist() == [1, 2]
    assert result.n_occupied.sum() == pytest.approx(1.0)
    assert result.n_occupied[2] == 1.0  # two well-populated clusters are always occupied
    frame = result.to_frame()
    assert frame.shape == (272, 5 + 3 * 2)
    np.testing.assert_allclose(frame["p1"], mean[:, 1])


def test_membership_flags_exactly_the_points_between_clusters():
    # Two unit-variance clusters at x0 = -4 and +4; the right one is the mirror image of
    # the left, so the data (and the data-scaled priors) are symmetric about x0 = 0, and
    # points on x0 = 0 are halfway in the fitted model too: mean membership ~ 0.5 each.
    rng = np.random.default_rng(11)
    left = rng.standard_normal((150, 2)) + np.array([-4.0, 0.0])
    mid = np.column_stack([np.zeros(10), np.linspace(-1.0, 1.0, 10)])
    X = np.vstack([left, left * [-1.0, 1.0], mid])
    is_mid = np.arange(len(X)) >= 300
    # BayesianGMM's defaults (four chains from two MAP-EM maxima): from one start, both
    # chains can sit where one component has taken the mid points (mean 3.7, sd 1.3 in x0).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = BayesianGMM(2, draws=300, tune=300, random_seed=1, progressbar=False).fit(X)
    result = membership(fit, X, ambiguity_threshold=0.8)
    # Threshold 0.8 = odds 4:1. With means +-4 and unit variances the log-odds at x0 is
    # about 8 x0, so max probability < 0.8 needs |x0| < log(4) / 8 = 0.17; the closest
    # cluster point is 1.8 from 0 here (log-odds ~ 15), so only the mid points qualify.
    assert np.abs(X[~is_mid, 0]).min() > 1.5
    np.testing.assert_array_equal(result.ambiguous, is_mid)
    assert np.all(result.max_probability[is_mid] < 0.75)  # 0.705 measured
    assert np.all(result.entropy[is_mid] > 0.6)  # log 2 = 0.69 for a 50/50 split
    assert result.n_occupied[2] == 1.0


def test_membership_warns_on_label_switching_and_relabels(
    faithful_std, faithful_idata, switched_idata
):
    plain = membership(faithful_idata, faithful_std, max_draws=200)
    with pytest.warns(LabelSwitchingWarning, match="label-switched"):
        mixed = membership(switched_idata, faithful_std, max_draws=200)
    # Averaging over two labelings blurs every point toward 50/50 ...
    assert np.median(plain.max_probability) > 0.99
    assert mixed.max_probability.max() < 0.6
    # ... but the label-invariant output does not care.
    pd.testing.assert_series_equal(mixed.n_occupied, plain.n_occupied)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelSwitchingWarning)
        fixed = membership(switched_idata, faithful_std, max_draws=200, relabel="pivot")
    # Relabeling undoes the switch (up to which label comes first).
    got, want = fixed.probabilities["mean"].values, plain.probabilities["mean"].values
    if not np.allclose(got, want, atol=1e-12):
        got = got[:, ::-1]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_membership_defaults_to_observed_data_and_validates(faithful_std, faithful_idata):
    a = membership(faithful_idata, max_draws=100)
    b = membership(faithful_idata, faithful_std, max_draws=100)
    np.testing.assert_allclose(a.probabilities["mean"], b.probabilities["mean"])
    with pytest.raises(ValueError, match="ambiguity_threshold"):
        membership(faithful_idata, ambiguity_threshold=1.5)
    with pytest.raises(ValueError, match="features"):
        membership(faithful_idata, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="max_draws"):
        membership(faithful_idata, max_draws=1)


# ---------------------------------------------------------------------------------------
# similarity
# ---------------------------------------------------------------------------------------


def test_similarity_properties_and_blocks_equal_direct(faithful_std, faithful_idata):
    X = faithful_std.iloc[::7]  # 39 points
    S = similarity(faithful_idata, X, block_rows=5, max_draws=150)
    assert S.dtype == np.float32 and S.shape == (39, 39)
    np.testing.assert_array_equal(S, S.T)
    np.testing.assert_array_equal(np.diag(S), 1.0)
    assert S.min() >= 0.0 and S.max() <= 1.0
    # Direct: mean over the same (evenly spaced) draws of R R^T, with P_ii = 1.
    post = faithful_idata.posterior
    index = np.unique(np.linspace(0, 599, 150).round().astype(int))
    from bayesgmm.mixture.draws import responsibilities

    def flat(name):
        values = post[name].values
        return values.reshape(-1, *values.shape[2:])[index]

    resp = responsibilities(X.to_numpy(), flat("weights"), flat("means"), flat("covariances"))
    direct = np.einsum("snk,smk->nm", resp, resp) / len(index)
    np.fill_diagonal(direct, 1.0)
    np.testing.assert_allclose(S, direct, rtol=0, atol=1e-6)  # float32 accumulation
    S64 = similarity(faithful_idata, X, block_rows=1000, dtype=np.float64, max_draws=150)
    np.testing.assert_allclose(S64, direct, rtol=0, atol=1e-12)
    out = np.full((39, 39), np.nan)
    assert similarity(faithful_idata, X, out=out, max_draws=150) is out
    np.testing.assert_allclose(out, S64, atol=1e-12)


def test_similarity_is_label_invariant(faithful_std, faithful_idata, switched_idata):
    X = faithful_std.iloc[::9]
    a = similarity(faithful_idata, X, dtype=np.float64, max_draws=200)
    b = similarity(switched_idata, X, dtype=np.float64, max_draws=200)
    np.testing.assert_allclose(a, b, atol=1e-12)
    # Points EM assigns with near certainty co-cluster with probability ~1 within a
    # cluster and ~0 across clusters.
    est = GaussianMixtureEM(2, n_init=3, random_seed=0).fit(faithful_std)
    proba = est.predict_proba(X)
    sure = proba.max(axis=1) > 0.999
    labels = proba.argmax(axis=1)[sure]
    block = a[np.ix_(sure, sure)]
    same = labels[:, None] == labels[None, :]
    assert block[same].min() > 0.99 and block[~same].max() < 0.01
    with pytest.raises(ValueError, match="out must"):
        similarity(faithful_idata, X, out=np.zeros((3, 3)))


# ---------------------------------------------------------------------------------------
# compare_k
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_clusters() -> np.ndarray:
    sim = make_gmm_data(
        300,
        [0.4, 0.3, 0.3],
        [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]],
        [np.eye(2)] * 3,
        random_seed=5,
    )
    return sim.X


def _check_compare_k(table: pd.DataFrame, ks: tuple[int, ...]) -> None:
    assert table["K"].tolist() == list(ks)
    assert table.attrs["best_bic"] == (3, "full")
    assert table.loc[table["K"] == 3, "rank_bic"].item() == 1
    assert (table["icl"] >= table["bic"] - 1e-9).all()  # ICL adds a non-negative entropy term


def test_compare_k_em_only_ranks_three_best(three_clusters):
    table = compare_k(three_clusters, (2, 3, 4), methods=("em",))
    _check_compare_k(table, (2, 3, 4))
    assert "elpd_loo" not in table and table.attrs["best_loo"] is None


def test_compare_k_em_and_nuts_prefers_three(three_clusters):
    table = compare_k(three_clusters, (1, 3), draws=300, tune=300, random_seed=0)
    _check_compare_k(table, (1, 3))
    for column in ("elpd_loo", "se_loo", "p_loo", "elpd_waic", "n_pareto_k_bad", "rank_loo"):
        assert column in table
    assert table.attrs["best_loo"] == (3, "full")
    best = table.loc[table["K"] == 3].iloc[0]
    assert best["rank_loo"] == 1 and best["elpd_diff"] == 0 and best["dse"] == 0
    worse = table.loc[table["K"] == 1].iloc[0]
    # K=1 is worse by many standard errors, not just by noise.
    assert worse["elpd_diff"] > 5 * worse["dse"] > 0


@pytest.mark.slow
def test_compare_k_nuts_over_two_to_four(three_clusters):
    table = compare_k(three_clusters, (2, 3, 4), draws=300, tune=300, random_seed=0)
    _check_compare_k(table, (2, 3, 4))
    assert table.attrs["best_loo"] == (3, "full")
    assert table.loc[table["K"] == 3, "rank_loo"].item() == 1


@pytest.mark.slow
def test_compare_with_a_real_advi_fit(faithful_em, faithful_std):
    from bayesgmm.bayes.inference import fit_advi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = fit_advi(
            build_model(faithful_std, 2), n=5000, random_seed=1, draws=400, progressbar=False
        )
    result = compare(faithful_em, idata)
    assert len(result.table) == 12 and "ADVI" in result.summary
    means = result.table[result.table["parameter"] == "means"]
    np.testing.assert_allclose(means["posterior_mean"], means["em_estimate"], atol=0.1)


@pytest.mark.timeout(30)
def test_seed_int_keeps_ints_and_draws_one_from_anything_else():
    assert seed_int(7) == 7 and seed_int(np.int64(7)) == 7
    assert seed_int(np.random.default_rng(3)) == seed_int(np.random.default_rng(3))
    rng = np.random.default_rng(3)
    first, second = seed_int(rng), seed_int(rng)  # a Generator advances
    assert first != second and 0 <= first < 2**31 - 1
    assert isinstance(seed_int(None), int)
    for bad in (-1, 2**32):  # the range every sampler accepts
        with pytest.raises(ValueError, match=r"in \[0, 2\*\*32 - 1\]"):
            seed_int(bad)


@pytest.mark.timeout(30)
def test_criteria_table_ranks_rows_and_takes_elpd_differences_from_pointwise_values():
    rng = np.random.default_rng(0)
    loo = {0: rng.normal(-2.0, 0.3, 50), 1: rng.normal(-1.0, 0.3, 50), 2: rng.normal(-1.5, 0.3, 50)}
    rows = [
        {"K": k, "covariance_type": "full", "bic": bic, "elpd_loo": float(loo[i].sum())}
        for i, (k, bic) in enumerate([(1, 30.0), (2, 10.0), (3, 20.0)])
    ]
    table = criteria_table(rows, {"nuts": loo})
    assert table["rank_bic"].tolist() == [3, 1, 2] and table["rank_loo"].tolist() == [3, 1, 2]
    assert table.attrs == {"best_bic": (2, "full"), "best_loo": (2, "full"), "loo_method": "nuts"}
    gap = loo[1] - loo[0]
    assert table.loc[0, "elpd_diff"] == pytest.approx(gap.sum(), rel=1e-12)
    assert table.loc[0, "dse"] == pytest.approx(np.sqrt(50 * np.var(gap, ddof=1)), rel=1e-12)
    assert table.loc[1, "elpd_diff"] == 0 and table.loc[1, "dse"] == 0
    # EM only: no LOO columns and no best_loo.
    em_only = criteria_table([{k: v for k, v in r.items() if k != "elpd_loo"} for r in rows], {})
    assert "rank_loo" not in em_only and em_only.attrs["best_loo"] is None


@pytest.mark.timeout(30)
def test_em_criteria_of_a_fit_and_of_a_collapsed_one(three_clusters):
    from bayesgmm import em

    fit = fit_em(three_clusters, 3, "diag", random_seed=0)
    row = em_criteria(fit)
    assert row["bic"] == em.bic(fit) and row["icl"] == em.icl(fit)
    assert row["n_parameters"] == 3 * 2 + 3 * 2 + 2 and row["em_error"] is None
    failed = em_criteria(None, error="collapsed")
    assert np.isnan(failed["bic"]) and failed["em_degenerate"] and failed["em_error"] == "collapsed"


@pytest.mark.timeout(30)
def test_analysis_and_posterior_layers_import_no_sampler_or_facade():
    # compare_k's fitting loop lives in the facade (bayesgmm.analysis.compare_k): the analysis and
    # posterior packages only read fits, and posterior never imports analysis.
    import ast
    from pathlib import Path

    import bayesgmm

    root = Path(bayesgmm.__file__).parent
    above = {"inference", "model", "kernel", "estimator", "selection", "plotting", "cli"}
    for package, also in (("analysis", set()), ("posterior", {"analysis", "comparison"})):
        for path in (root / package).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    names = [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "bayesgmm" and len(parts) > 1:
                        assert parts[1] not in above | also, f"{path.name} imports {name}"
