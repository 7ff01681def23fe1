"""Tests for bayesgmm.posterior: relabeling an InferenceData, label-switching diagnostics and
collapse detection.

Most tests use a synthetic "posterior-like" InferenceData: per-draw parameters are the truth
plus small noise (so every draw is label-consistent), then scrambled by a known permutation
``sigma`` per draw (``scrambled[s, k] = clean[s, sigma[s, k]]``). If relabeling returns the
total permutations ``P`` (raw -> new labels), new label ``k`` of draw ``s`` is clean component
``compose_permutations(sigma, P)[s, k]``; a correct relabeling makes that one global
permutation for (almost) every draw. A few tests run NUTS on real or simulated data.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesgmm import posterior
from bayesgmm.datasets import load_faithful, make_gmm_data
from bayesgmm.em import fit_em
from bayesgmm.exceptions import (
    DegenerateComponentWarning,
    LabelSwitchingWarning,
    MultimodalPosteriorWarning,
)
from bayesgmm.mixture.draws import covariances_from_draws, pointwise_log_likelihood
from bayesgmm.mixture.parametrization import cpc_from_cholesky
from bayesgmm.posterior.relabel import apply_permutations, compose_permutations, invert_permutations

TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[-4.0, 0.0], [0.0, 3.0], [4.0, -1.0]])
TRUE_COVS = np.array(
    [
        [[1.0, 0.3], [0.3, 0.8]],
        [[0.6, -0.2], [-0.2, 0.9]],
        [[0.8, 0.0], [0.0, 0.5]],
    ]
)
K, D = TRUE_MEANS.shape
N_OBS = 300
N_CHAINS, N_DRAWS = 2, 250
S = N_CHAINS * N_DRAWS
FEATURES = ["f0", "f1"]
PER_COMPONENT = ("weights", "means", "stds", "partial_corr_unit", "covariances", "correlations")


class Synthetic(NamedTuple):
    idata: az.InferenceData
    sigma: np.ndarray  # (S, K) scrambling permutations
    X: np.ndarray


def _clean_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Label-consistent draws: component k of every draw is true component k."""
    weights = rng.dirichlet(TRUE_WEIGHTS * 400, size=S)
    means = TRUE_MEANS + 0.08 * rng.standard_normal((S, K, D))
    true_sd = np.sqrt(np.diagonal(TRUE_COVS, axis1=1, axis2=2))
    stds = true_sd * np.exp(0.03 * rng.standard_normal((S, K, D)))
    true_corr = TRUE_COVS[:, 1, 0] / (true_sd[:, 0] * true_sd[:, 1])
    rho = np.clip(true_corr + 0.02 * rng.standard_normal((S, K)), -0.95, 0.95)
    corr = np.broadcast_to(np.eye(D), (S, K, D, D)).copy()
    corr[:, :, 1, 0] = corr[:, :, 0, 1] = rho
    unit = (1.0 + cpc_from_cholesky(np.linalg.cholesky(corr))) / 2.0
    return {"weights": weights, "means": means, "stds": stds, "partial_corr_unit": unit}


def build_idata(params: dict[str, np.ndarray], X: np.ndarray) -> az.InferenceData:
    """An InferenceData shaped like sample_nuts output, from flat (S, ...) parameters."""
    cov, corr = covariances_from_draws(params["stds"], params["partial_corr_unit"], "full", K, D)
    flat = {**params, "covariances": cov, "correlations": corr}
    n_draws = flat["weights"].shape[0] // N_CHAINS
    idata = az.from_dict(
        posterior={k: v.reshape(N_CHAINS, n_draws, *v.shape[1:]) for k, v in flat.items()},
        coords={
            "component": np.arange(K),
            "feature": FEATURES,
            "feature_bis": FEATURES,
            "corr_pair": ["f1|f0"],
        },
        dims={
            "weights": ["component"],
            "means": ["component", "feature"],
            "stds": ["component", "feature"],
            "partial_corr_unit": ["component", "corr_pair"],
            "covariances": ["component", "feature", "feature_bis"],
            "correlations": ["component", "feature", "feature_bis"],
        },
    )
    loglik = pointwise_log_likelihood(X, flat["weights"], flat["means"], cov)
    idata.add_groups(
        {
            "log_likelihood": xr.Dataset(
                {"x": (("chain", "draw", "obs"), loglik.reshape(N_CHAINS, n_draws, -1))}
            ),
            "observed_data": xr.Dataset(
                {"x": (("obs", "feature"), X)}, coords={"feature": FEATURES}
            ),
            "sample_stats": xr.Dataset(
                {"diverging": (("chain", "draw"), np.zeros((N_CHAINS, n_draws), dtype=bool))}
            ),
        }
    )
    return idata


def make_synthetic(seed: int, scramble: Any = "random") -> Synthetic:
    """Synthetic posterior; ``scramble`` is "random", "none" or an (S, K) permutation array."""
    rng = np.random.default_rng(seed)
    X = make_gmm_data(N_OBS, TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVS, random_seed=seed).X
    params = _clean_params(rng)
    if isinstance(scramble, str) and scramble == "random":
        sigma = rng.permuted(np.tile(np.arange(K), (S, 1)), axis=1)
    elif isinstance(scramble, str) and scramble == "none":
        sigma = np.tile(np.arange(K), (S, 1))
    else:
        sigma = np.asarray(scramble)
    return Synthetic(build_idata(apply_permutations(params, sigma), X), sigma, X)


def total_perms(relabeled: az.InferenceData) -> np.ndarray:
    da = relabeled[posterior.PERMUTATION_GROUP]["permutation"]
    return da.transpose("chain", "draw", "component").values.reshape(-1, K)


def flat(idata: az.InferenceData, name: str) -> np.ndarray:
    values = idata.posterior[name].values
    return values.reshape(-1, *values.shape[2:])


def recovery(sigma: np.ndarray, perms: np.ndarray) -> tuple[float, np.ndarray]:
    """Fraction of draws mapped to the modal global permutation, and that permutation."""
    to_clean = compose_permutations(sigma, perms)
    rows, counts = np.unique(to_clean, axis=0, return_counts=True)
    best = np.argmax(counts)
    return counts[best] / len(to_clean), rows[best]


@pytest.fixture(scope="module")
def scrambled() -> Synthetic:
    return make_synthetic(11)


@pytest.fixture(scope="module")
def relabeled_stephens(scrambled: Synthetic) -> az.InferenceData:
    return posterior.relabel_idata(scrambled.idata, "stephens")


# ---------------------------------------------------------------------------------------
# relabel_idata
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["stephens", "ecr", "pivot", "ordering"])
def test_relabel_recovers_clean_labels(scrambled: Synthetic, method: str) -> None:
    out = posterior.relabel_idata(scrambled.idata, method)
    frac, global_perm = recovery(scrambled.sigma, total_perms(out))
    assert frac >= 0.99
    # The relabeled means are the truth, up to that one global permutation; the posterior
    # mean of each component is within a few noise sd (0.08 / sqrt(S)) of it.
    post_means = flat(out, "means").mean(axis=0)
    np.testing.assert_allclose(post_means, TRUE_MEANS[global_perm], atol=0.02)
    if method == "ordering":  # components ascend in feature 0
        assert np.all(np.diff(flat(out, "means")[:, :, 0], axis=1) > 0)


def test_relabel_permutes_every_component_variable_consistently(
    scrambled: Synthetic, relabeled_stephens: az.InferenceData
) -> None:
    perms = total_perms(relabeled_stephens)
    for name in PER_COMPONENT:
        expected = apply_permutations(flat(scrambled.idata, name), perms)
        np.testing.assert_array_equal(flat(relabeled_stephens, name), expected)
    # Derived variables still match the free parameters they come from, draw by draw.
    cov, corr = covariances_from_draws(
        flat(relabeled_stephens, "stds"),
        flat(relabeled_stephens, "partial_corr_unit"),
        "full",
        K,
        D,
    )
    np.testing.assert_allclose(flat(relabeled_stephens, "covariances"), cov, rtol=1e-12)
    np.testing.assert_allclose(flat(relabeled_stephens, "correlations"), corr, atol=1e-12)
    assert relabeled_stephens.posterior["means"].dims == scrambled.idata.posterior["means"].dims


def test_relabel_leaves_input_and_label_invariant_groups_unchanged(scrambled: Synthetic) -> None:
    before = scrambled.idata.copy()
    attrs_before = dict(scrambled.idata.attrs)
    outs = [posterior.relabel_idata(scrambled.idata, m) for m in posterior.RELABEL_METHODS]
    assert scrambled.idata.groups() == before.groups()
    for group in before.groups():
        xr.testing.assert_identical(scrambled.idata[group], before[group])
    assert dict(scrambled.idata.attrs) == attrs_before
    for out in outs:
        for group in ("log_likelihood", "observed_data", "sample_stats"):
            xr.testing.assert_identical(out[group], before[group])
        # A new object that shares no memory with the input.
        assert not np.shares_memory(out.posterior["means"].values, before.posterior["means"].values)
        assert not np.shares_memory(
            out.log_likelihood["x"].values, scrambled.idata.log_likelihood["x"].values
        )


def test_relabel_attrs_and_raw_draws_recoverable(
    scrambled: Synthetic, relabeled_stephens: az.InferenceData
) -> None:
    perms = total_perms(relabeled_stephens)
    n_permuted = int(np.any(perms != np.arange(K), axis=1).sum())
    for attrs in (relabeled_stephens.attrs, relabeled_stephens.posterior.attrs):
        assert attrs["relabel_method"] == "stephens"
        assert attrs["relabel_n_permuted"] == n_permuted
        assert attrs["relabel_fraction_permuted"] == pytest.approx(n_permuted / S)
        assert attrs["relabel_converged"] == 1
    # Random scrambling over 3! = 6 permutations: about 5/6 of the draws need relabeling
    # (the most frequent permutation is made the identity).
    assert 0.7 < n_permuted / S < 0.9
    raw = apply_permutations(flat(relabeled_stephens, "covariances"), invert_permutations(perms))
    np.testing.assert_array_equal(raw, flat(scrambled.idata, "covariances"))


def test_relabeling_twice_composes_permutations(scrambled: Synthetic) -> None:
    first = posterior.relabel_idata(scrambled.idata, "pivot")
    second = posterior.relabel_idata(first, "ordering", feature="f1")
    perms = total_perms(second)
    raw = apply_permutations(flat(second, "means"), invert_permutations(perms))
    np.testing.assert_array_equal(raw, flat(scrambled.idata, "means"))
    assert np.all(np.diff(flat(second, "means")[:, :, 1], axis=1) > 0)  # ascending in f1
    assert second.attrs["relabel_feature"] == "f1"


def test_variables_without_component_dim_are_untouched(scrambled: Synthetic) -> None:
    idata = scrambled.idata.copy()
    shared = np.random.default_rng(0).standard_normal((N_CHAINS, N_DRAWS, D))
    idata.posterior["shared_stds"] = (("chain", "draw", "feature"), shared)
    out = posterior.relabel_idata(idata, "pivot")
    np.testing.assert_array_equal(out.posterior["shared_stds"].values, shared)


@pytest.mark.parametrize("cov_type", ["full", "diag", "tied", "spherical"])
def test_reference_fit_fixes_the_labels(scrambled: Synthetic, cov_type: str) -> None:
    fit = fit_em(scrambled.X, K, cov_type, n_init=3, random_seed=0)
    # Reorder EM's components so that the reference labels are known not to be sorted.
    order = np.argsort(fit.means[:, 0])[[2, 0, 1]]
    reference = {
        "weights": fit.weights[order],
        "means": fit.means[order],
        "covariances": fit.covariances if cov_type == "tied" else fit.covariances[order],
        "covariance_type": cov_type,
    }
    for method in ("pivot", "stephens", "ecr"):
        out = posterior.relabel_idata(scrambled.idata, method, reference=reference)
        # New label k is reference component k (EM and the synthetic posterior differ by
        # the sampling error of EM, about 0.1).
        np.testing.assert_allclose(flat(out, "means").mean(axis=0), reference["means"], atol=0.3)
        assert out.attrs["relabel_reference"] == "user"


def test_reference_as_dict_and_gmmparams(scrambled: Synthetic) -> None:
    fit = fit_em(scrambled.X, K, "full", n_init=3, random_seed=0)
    as_dict = {"weights": fit.weights, "means": fit.means, "covariances": fit.covariances}
    a = posterior.relabel_idata(scrambled.idata, "pivot", reference=as_dict)
    b = posterior.relabel_idata(scrambled.idata, "pivot", reference=fit.params)
    np.testing.assert_array_equal(total_perms(a), total_perms(b))


def test_streamed_stephens_matches_in_memory(
    scrambled: Synthetic, relabeled_stephens: az.InferenceData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(posterior.relabeling, "PROBABILITY_BUDGET", 1)
    monkeypatch.setattr(posterior._data, "BLOCK_BUDGET", 40 * N_OBS * K)  # 13 blocks of 40 draws
    streamed = posterior.relabel_idata(scrambled.idata, "stephens")
    np.testing.assert_array_equal(total_perms(streamed), total_perms(relabeled_stephens))


def test_ecr_with_sampled_allocations_is_seeded(scrambled: Synthetic) -> None:
    a = posterior.relabel_idata(scrambled.idata, "ecr", random_seed=3)
    b = posterior.relabel_idata(scrambled.idata, "ecr", random_seed=3)
    np.testing.assert_array_equal(total_perms(a), total_perms(b))
    assert recovery(scrambled.sigma, total_perms(a))[0] >= 0.99


def test_covariances_rebuilt_when_missing(scrambled: Synthetic) -> None:
    idata = scrambled.idata.copy()
    full = posterior.posterior_draws(idata)
    idata.posterior = idata.posterior.drop_vars(["covariances", "correlations"])
    rebuilt = posterior.posterior_draws(idata)
    assert rebuilt.covariance_type == "full"
    np.testing.assert_allclose(rebuilt.covariances, full.covariances, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "kmeans"}, "method must be one of"),
        ({"method": "pivot", "feature": 0}, "only used by method='ordering'"),
        ({"method": "ordering", "feature": "f9"}, "is not one of the features"),
        ({"method": "ordering", "feature": 2}, "out of range"),
        ({"method": "stephens", "max_iter": 0}, "max_iter"),
        ({"method": "pivot", "reference": {"means": np.zeros((2, 2))}}, "needs 'means' and"),
        (
            {"method": "pivot", "reference": {"means": np.zeros((2, 2)), "covariances": 1}},
            r"shape \(K, D\)",
        ),
    ],
)
def test_relabel_rejects_bad_arguments(
    scrambled: Synthetic, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        posterior.relabel_idata(scrambled.idata, **kwargs)


def test_ambiguous_reference_layout_is_an_error() -> None:
    # K == D == 2: a (2, 2) array could be tied (D, D) or diag (K, D).
    with pytest.raises(ValueError, match="covariance_type"):
        posterior.point_mixture({"means": np.zeros((2, 2)), "covariances": np.eye(2)})
    mixture = posterior.point_mixture(
        {"means": np.zeros((2, 2)), "covariances": np.eye(2), "covariance_type": "tied"}
    )
    np.testing.assert_array_equal(mixture.covariances[0], np.stack([np.eye(2)] * 2))
    assert mixture.covariance_type == "tied" and mixture.weights is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical", "tied"])
def test_point_mixture_expands_every_em_layout(cov_type: str) -> None:
    X = load_faithful().to_numpy()
    fit = fit_em(X, 2, cov_type, random_seed=0)
    for source in (fit, fit.params, fit._asdict()):
        mixture = posterior.point_mixture(source, shape=(2, 2))
        assert mixture.covariance_type == cov_type
        assert (mixture.n_draws, mixture.n_components, mixture.n_features) == (1, 2, 2)
        np.testing.assert_array_equal(mixture.weights[0], fit.weights)
        np.testing.assert_array_equal(mixture.means[0], fit.means)
        # Every layout expands to the full matrices whose precision Cholesky EM holds.
        prec = fit.precisions_cholesky
        for k in range(2):
            chol = prec if cov_type == "tied" else prec[k]
            if cov_type == "diag":
                chol = np.diag(chol)
            elif cov_type == "spherical":
                chol = chol * np.eye(2)
            product = mixture.covariances[0, k] @ chol @ chol.T
            np.testing.assert_allclose(product, np.eye(2), atol=1e-9)
    with pytest.raises(ValueError, match=r"reference means must have shape \(K, D\) = \(3, 2\)"):
        posterior.point_mixture(fit, shape=(3, 2), what="reference")
    with pytest.raises(TypeError, match="EM fit"):
        posterior.point_mixture(object())


@pytest.mark.timeout(60)
def test_as_mixture_of_a_posterior_thins_marginalises_and_averages(scrambled: Synthetic) -> None:
    draws = posterior.posterior_draws(scrambled.idata)
    every = posterior.as_mixture(scrambled.idata)
    assert every.n_draws == draws.weights.shape[0] and every.covariance_type == "full"
    np.testing.assert_array_equal(every.means, draws.means)
    thinned = posterior.as_mixture(scrambled.idata, max_draws=50)
    assert thinned.n_draws == 50
    np.testing.assert_array_equal(thinned.means[[0, -1]], draws.means[[0, -1]])
    subset = posterior.as_mixture(scrambled.idata, max_draws=50, rng=np.random.default_rng(0))
    assert subset.n_draws == 50 and not np.array_equal(subset.means, thinned.means)
    one = every.marginal([1])
    np.testing.assert_array_equal(one.covariances[..., 0, 0], draws.covariances[..., 1, 1])
    np.testing.assert_allclose(every.mean().means[0], draws.means.mean(axis=0), rtol=1e-12)
    # A posterior given as a point (e.g. map_fit) is its posterior mean.
    np.testing.assert_allclose(
        posterior.point_mixture(scrambled.idata).weights[0], draws.weights.mean(axis=0)
    )


def test_relabel_rejects_non_idata() -> None:
    with pytest.raises(TypeError, match="InferenceData"):
        posterior.relabel_idata({"posterior": None})
    with pytest.raises(ValueError, match="lacks"):
        posterior.relabel_idata(az.from_dict(posterior={"a": np.zeros((1, 5))}))


# ---------------------------------------------------------------------------------------
# Label-invariant summary and switching diagnostics
# ---------------------------------------------------------------------------------------


def test_label_invariant_summary_is_finite_and_label_invariant(scrambled: Synthetic) -> None:
    clean = make_synthetic(11, scramble="none")  # same draws as `scrambled`, before scrambling
    a = posterior.label_invariant_summary(clean.idata)
    b = posterior.label_invariant_summary(scrambled.idata)
    expected_rows = ["log_likelihood"] + [f"weights_sorted[{i}]" for i in range(K)]
    expected_rows += [f"density[{j}]" for j in range(5)]
    assert list(a.index) == expected_rows
    assert list(a.columns) == ["mean", "sd", "ess_bulk", "ess_tail", "r_hat"]
    assert np.all(np.isfinite(a.to_numpy()))
    pd.testing.assert_frame_equal(a, b, rtol=1e-10)
    np.testing.assert_allclose(a.loc["weights_sorted[0]", "mean"], 0.5, atol=0.01)
    # Independent draws: R-hat near 1, ESS near the number of draws.
    assert a["r_hat"].max() < 1.02
    assert a["ess_bulk"].min() > 0.5 * S


def test_label_invariant_summary_custom_points(scrambled: Synthetic) -> None:
    table = posterior.label_invariant_summary(scrambled.idata, points=TRUE_MEANS)
    assert [i for i in table.index if i.startswith("density")] == [
        "density[0]",
        "density[1]",
        "density[2]",
    ]
    np.testing.assert_array_equal(table.attrs["points"], TRUE_MEANS)
    with pytest.raises(ValueError, match="points must have shape"):
        posterior.label_invariant_summary(scrambled.idata, points=np.zeros((2, 3)))


def _chain_scramble(within_switch_at: int | None = None) -> np.ndarray:
    """Chain 1 sits in another label mode; chain 0 optionally switches once."""
    sigma = np.tile(np.arange(K), (S, 1))
    sigma[N_DRAWS:] = [1, 2, 0]
    if within_switch_at is not None:
        sigma[within_switch_at:N_DRAWS] = [1, 0, 2]
    return sigma


def test_count_switches_and_chain_modes() -> None:
    clean = make_synthetic(5, scramble="none")
    table = posterior.count_switches(clean.idata)
    assert list(table["n_switches"]) == [0, 0]
    assert not posterior.chains_in_different_modes(clean.idata)

    switched = make_synthetic(5, scramble=_chain_scramble(within_switch_at=200))
    table = posterior.count_switches(switched.idata)
    assert list(table["n_switches"]) == [1, 0]
    assert table.loc[0, "modal_fraction"] == pytest.approx(200 / N_DRAWS)
    assert table.loc[1, "modal_fraction"] == 1.0
    assert posterior.chains_in_different_modes(switched.idata)
    # The same answer from a precomputed relabeling.
    relabeled = posterior.relabel_idata(switched.idata, "pivot")
    pd.testing.assert_frame_equal(
        posterior.count_switches(switched.idata, relabeled), table, check_dtype=False
    )


def test_report_chains_in_different_modes_fixed_by_relabeling() -> None:
    synth = make_synthetic(5, scramble=_chain_scramble())
    report = posterior.label_switching_report(synth.idata)
    assert report.chains_in_different_modes
    assert report.switching_detected
    assert report.rhat_before > 1.5
    assert report.rhat_after <= 1.01
    assert report.resolved
    assert report.invariant_rhat <= 1.01
    assert report.fraction_relabeled == pytest.approx(0.5)
    assert str(report) == report.message
    assert report.message.startswith("Chains 0 and 1 sit in different label modes")
    assert "fine after relabeling" in report.message
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelSwitchingWarning)
        assert not posterior.warn_if_unresolved(report)


def test_report_no_switching() -> None:
    report = posterior.label_switching_report(make_synthetic(5, scramble="none").idata)
    assert not report.switching_detected
    assert report.fraction_relabeled == 0.0
    assert report.rhat_before == pytest.approx(report.rhat_after)
    assert report.message.startswith("Relabeling with stephens found no label switching")
    assert report.message.endswith("the fit is fine.")


def test_report_unresolved_switching_warns() -> None:
    # A "relabeled" object whose permutations leave the chains in different modes.
    synth = make_synthetic(5, scramble=_chain_scramble())
    identity = np.broadcast_to(np.arange(K), (N_CHAINS, N_DRAWS, K)).astype(np.int64)
    failed = synth.idata.copy()
    failed.add_groups(
        {
            posterior.PERMUTATION_GROUP: xr.Dataset(
                {"permutation": (("chain", "draw", "component"), identity)}
            )
        }
    )
    report = posterior.label_switching_report(synth.idata, relabeled=failed)
    assert report.rhat_after > 1.5
    assert not report.resolved
    assert report.invariant_rhat <= 1.01
    assert "still have R-hat > 1.01" in report.message
    with pytest.warns(LabelSwitchingWarning, match="R-hat"):
        assert posterior.warn_if_unresolved(report)


def test_report_flags_non_convergence_beyond_labels() -> None:
    # Chain 1 is centred elsewhere: label-invariant quantities disagree as well.
    rng = np.random.default_rng(2)
    params = _clean_params(rng)
    params["means"][N_DRAWS:] += 0.5
    X = make_gmm_data(N_OBS, TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVS, random_seed=2).X
    report = posterior.label_switching_report(build_idata(params, X))
    assert report.invariant_rhat > 1.1
    assert report.chains_disagree
    # Its own report, naming the chains; never called label switching.
    assert report.message.startswith("The chains found different solutions")
    assert "chain 0: K+" in report.message and "chain 1: K+" in report.message
    assert "log-likelihood" in report.message
    assert "label modes" not in report.message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert posterior.warn_if_unresolved(report)
    assert [w.category for w in caught] == [MultimodalPosteriorWarning]


# ---------------------------------------------------------------------------------------
# Collapse detection and occupied components
# ---------------------------------------------------------------------------------------


def test_collapse_flags_generalised_eigenvalue() -> None:
    data_cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    scales = np.array([1e-6, 1e-4 * 0.99, 1e-4 * 1.01, 1.0])
    cov = scales[None, :, None, None] * data_cov  # (1, 4, 2, 2): ratio == scale exactly
    flags = posterior.collapse_flags(
        np.full((1, 4), 0.25), cov, data_cov, n_samples=10, min_count=3, rtol=1e-4
    )
    np.testing.assert_allclose(flags.eigenvalue_ratio[0], scales, rtol=1e-8)
    assert flags.singular[0].tolist() == [True, True, False, False]
    assert flags.few_points[0].tolist() == [True] * 4  # 10 * 0.25 = 2.5 < 3
    # A covariance thin in one direction only: the ratio is that direction's variance ratio.
    thin = np.array([[[[2.0 * 1e-5, 0.0], [0.0, 1.0]]]])
    flags = posterior.collapse_flags(np.ones((1, 1)), thin, np.diag([2.0, 1.0]), 10, min_count=3)
    np.testing.assert_allclose(flags.eigenvalue_ratio, [[1e-5]], rtol=1e-8)
    assert flags.singular[0, 0]


def _collapsed_synthetic() -> tuple[Synthetic, np.ndarray, np.ndarray]:
    """Component 2 near-singular in the first 30% of draws; component 1 nearly empty
    (N * weight = 0.3) in the last 20%."""
    rng = np.random.default_rng(4)
    X = make_gmm_data(N_OBS, TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVS, random_seed=4).X
    params = _clean_params(rng)
    singular = np.arange(S) < int(0.3 * S)
    empty = np.arange(S) >= S - int(0.2 * S)
    params["stds"][singular, 2, 0] = 1e-4 * X[:, 0].std()  # variance ratio ~1e-8
    w = params["weights"]
    w[empty, 1] = 0.3 / N_OBS
    w[empty] /= w[empty].sum(axis=1, keepdims=True)
    return Synthetic(build_idata(params, X), np.tile(np.arange(K), (S, 1)), X), singular, empty


def test_collapse_report_clean_posterior_does_not_warn(scrambled: Synthetic) -> None:
    report = posterior.collapse_report(scrambled.idata)
    assert report.fraction_any == 0.0
    assert not report.collapsed
    assert report.min_count == D + 1
    assert report.message.startswith("No component collapsed in any of the 500 draws")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        assert not posterior.warn_if_collapsed(report)


def test_collapse_report_finds_hand_placed_collapse() -> None:
    synth, singular, empty = _collapsed_synthetic()
    report = posterior.collapse_report(synth.idata)
    assert report.table.loc[2, "singular"] == pytest.approx(singular.mean())
    assert report.table.loc[1, "few_points"] == pytest.approx(empty.mean())
    assert report.table.loc[0, "collapsed"] == 0.0
    assert report.fraction_any == pytest.approx(np.mean(singular | empty))
    assert report.fraction_any_singular == pytest.approx(singular.mean())
    for advice in ("std_scale", "inversegamma", "smaller K", "alpha < 1"):
        assert advice in report.message
    with pytest.warns(DegenerateComponentWarning, match="collapsed component"):
        assert posterior.warn_if_collapsed(report)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        assert not posterior.warn_if_collapsed(report, threshold=0.6)
    # rtol below the placed ratio (~1e-8): only the count criterion remains.
    loose = posterior.collapse_report(synth.idata, rtol=1e-10)
    assert loose.fraction_any_singular == 0.0
    assert loose.fraction_any == pytest.approx(empty.mean())
    assert "empty components" in loose.message
    # Per-component fractions follow the labels; the union does not.
    relabeled = posterior.relabel_idata(make_synthetic(4).idata, "pivot")
    assert posterior.collapse_report(relabeled).relabeled


def test_occupied_components_on_a_hand_placed_empty_component() -> None:
    # Data from components 0 and 1 only; component 2 (far away) gets weight 1e-6.
    rng = np.random.default_rng(6)
    X = make_gmm_data(N_OBS, [0.6, 0.4], TRUE_MEANS[:2], TRUE_COVS[:2], random_seed=6).X
    params = _clean_params(rng)
    params["weights"][:, 2] = 1e-6
    params["weights"] /= params["weights"].sum(axis=1, keepdims=True)
    idata = build_idata(params, X)
    by_weights = posterior.occupied_components(idata, criterion="weights")
    assert by_weights.index.tolist() == [1, 2, 3]
    assert by_weights.to_dict() == {1: 0.0, 2: 1.0, 3: 0.0}
    by_alloc = posterior.occupied_components(idata, random_seed=1)
    assert by_alloc.sum() == pytest.approx(1.0)
    assert by_alloc.idxmax() == 2
    assert by_alloc[2] >= 0.99
    pd.testing.assert_series_equal(by_alloc, posterior.occupied_components(idata, random_seed=1))
    # All three components hold at least 50 points in the clean posterior.
    clean = make_synthetic(6, scramble="none").idata
    assert posterior.occupied_components(clean, threshold=50)[3] == 1.0


@pytest.mark.timeout(120)
def test_occupancy_membership_and_partition_draw_the_same_allocations(monkeypatch) -> None:
    """One sampler: from one seed, occupied_counts, membership's n_occupied (rows in
    blocks of one) and allocation_draws (draws in blocks) see the same allocations."""
    from bayesgmm.analysis import memberships
    from bayesgmm.analysis.partition.estimate import allocation_draws
    from bayesgmm.posterior.occupancy import occupied_counts

    rng = np.random.default_rng(8)
    X = make_gmm_data(N_OBS, TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVS, random_seed=8).X
    params = _clean_params(rng)
    # Component 2 overlaps component 1 with ~3 expected points: some draws leave it empty.
    params["means"][:, 2] = params["means"][:, 1]
    params["weights"][:, 2] = 0.01
    params["weights"] /= params["weights"].sum(axis=1, keepdims=True)
    idata = build_idata(params, X)
    alloc = allocation_draws(idata, max_draws=None, random_seed=3)
    sizes = np.stack([np.bincount(row, minlength=K) for row in alloc])
    for threshold in (1, 50):
        counts = occupied_counts(idata, threshold, random_seed=3).reshape(-1)
        np.testing.assert_array_equal(counts, (sizes >= threshold).sum(axis=1))
    kplus = (sizes > 0).sum(axis=1)
    assert 0.01 < np.mean(kplus == 2) < 0.5  # the check can tell the draws apart
    monkeypatch.setattr(memberships, "_BUDGET", S * K * D)  # one row per block
    found = memberships.membership(idata, max_draws=S, random_seed=3, warn=False)
    expected = np.bincount(kplus, minlength=K + 1)[1:] / S
    np.testing.assert_allclose(found.n_occupied.to_numpy(), expected)


# ---------------------------------------------------------------------------------------
# Real sampling
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faithful_two_modes() -> az.InferenceData:
    """NUTS on standardized Old Faithful whose 2 chains sit in different label modes.

    With random starts (init="default") each chain picks one of the 2! labelings; seed 2
    (nutpie, 1000 + 1000 per chain, about 3 s) lands them in different ones. The seeds are
    tried in order so that a change of sampler internals only costs a few more seconds.
    """
    from bayesgmm.bayes.inference import sample_nuts
    from bayesgmm.bayes.model.graph import build_model

    df = load_faithful()
    X = ((df - df.mean()) / df.std()).to_numpy()
    gmm = build_model(X, 2, "full", feature_names=list(df.columns))
    for seed in (2, 12, 22):
        idata = sample_nuts(
            gmm,
            draws=1000,
            tune=1000,
            chains=2,
            random_seed=seed,
            init="default",
            progressbar=False,
        )
        if float(az.rhat(idata.posterior["means"])["means"].max()) > 1.1:
            return idata
    raise AssertionError("no seed put the chains in different label modes")


def test_nuts_faithful_label_switching_fixed_by_stephens(
    faithful_two_modes: az.InferenceData,
) -> None:
    idata = faithful_two_modes
    assert float(az.rhat(idata.posterior["means"])["means"].max()) > 1.1  # the precondition
    relabeled = posterior.relabel_idata(idata, "stephens")
    rhat = az.rhat(relabeled.posterior[["weights", "means"]])
    assert float(rhat["weights"].max()) <= 1.01
    assert float(rhat["means"].max()) <= 1.01
    report = posterior.label_switching_report(idata, relabeled)
    assert report.chains_in_different_modes
    assert report.switching_detected and report.resolved
    assert report.rhat_before > 1.1
    assert report.invariant_rhat <= 1.01
    assert report.ess_bulk_after > 400
    assert "different label modes" in report.message
    assert "fine after relabeling" in report.message
    # The relabeled components are Old Faithful's short and long eruptions.
    means = relabeled.posterior["means"].mean(("chain", "draw")).values
    assert np.sign(means[0, 0]) != np.sign(means[1, 0])
    assert not posterior.collapse_report(idata).collapsed
    assert posterior.occupied_components(idata).idxmax() == 2


@pytest.mark.slow
def test_nuts_overfitted_sparse_dirichlet_occupies_two_components() -> None:
    from bayesgmm.bayes.inference import sample_nuts
    from bayesgmm.bayes.model.graph import build_model
    from bayesgmm.bayes.model.priors import GMMPriors

    sim = make_gmm_data(
        200, [0.6, 0.4], [[0.0, 0.0], [6.0, 6.0]], [np.eye(2), 0.7 * np.eye(2)], random_seed=1
    )
    gmm = build_model(sim.X, 5, "full", priors=GMMPriors(alpha=0.05))
    idata = sample_nuts(gmm, draws=200, tune=200, chains=2, random_seed=1, progressbar=False)
    occupied = posterior.occupied_components(idata, random_seed=0)
    assert occupied.idxmax() == 2
    assert occupied[2] > 0.7
    # The emptied components are flagged by the count criterion, not as singular: their
    # covariances are draws from the (proper) lognormal prior.
    report = posterior.collapse_report(idata)
    assert report.fraction_any_few_points > 0.9
    assert report.fraction_any_singular < 0.05


@pytest.mark.slow
def test_nuts_weak_covariance_prior_collapses_onto_duplicates() -> None:
    from bayesgmm.bayes.inference import sample_nuts
    from bayesgmm.bayes.model.graph import build_model
    from bayesgmm.bayes.model.priors import GMMPriors

    rng = np.random.default_rng(0)
    X = np.vstack([np.tile([[1.0, 2.0]], (30, 1)), 2.0 * rng.standard_normal((120, 2))])
    gmm = build_model(X, 3, "full", priors=GMMPriors(std_family="halfnormal"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # divergences are expected here
        idata = sample_nuts(gmm, draws=100, tune=200, chains=2, random_seed=1, progressbar=False)
    report = posterior.collapse_report(idata)
    assert report.fraction_any_singular > 0.5
    assert "halfnormal" in report.message
    with pytest.warns(DegenerateComponentWarning):
        posterior.warn_if_collapsed(report)
