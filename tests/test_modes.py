"""Modes of the posterior: grouping of chains, stacking weights, the weighted posterior."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesgmm.exceptions import LabelSwitchingWarning, MultimodalPosteriorWarning
from bayesgmm.posterior.modes_text import describe_weights
from bayesgmm.posterior.stacking import stacking_weights

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))


def _square(seed: int) -> np.ndarray:
    from bench_modes import square

    return square(seed)


@pytest.mark.timeout(60)
@settings(max_examples=30, deadline=None)
@given(
    w=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31),
)
def test_stacking_recovers_mixture_weight(w: float, seed: int) -> None:
    """Points drawn from w p1 + (1 - w) p2: stacking p1 and p2 (known densities) recovers
    w within the binomial error of the draw."""
    rng = np.random.default_rng(seed)
    n = 4000
    first = rng.random(n) < w
    x = np.where(first, rng.normal(-2, 1, n), rng.normal(2, 1, n))
    logp = np.stack([-0.5 * (x + 2) ** 2, -0.5 * (x - 2) ** 2])
    weights = stacking_weights(logp)
    assert weights.sum() == pytest.approx(1.0)
    # Maximum likelihood of a two-point mixture proportion: sd <= sqrt(w(1-w)/n) / overlap.
    assert weights[0] == pytest.approx(w, abs=5 * np.sqrt(w * (1 - w) / n) + 0.01)


@pytest.mark.timeout(30)
def test_stacking_weight_zero_for_a_useless_chain() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    logp = np.stack([-0.5 * x**2, -0.5 * (x - 5) ** 2])
    assert stacking_weights(logp)[1] < 0.01


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("weights", "n", "words"),
    [
        ([0.34, 0.33, 0.33], 150, "three clusters"),
        ([0.66, 0.333, 0.007], 150, "two clusters plus a one-point component"),
        ([0.6, 0.4, 0.0, 0.0], 200, "two clusters plus two empty components"),
    ],
)
def test_describe_weights(weights: list[float], n: int, words: str) -> None:
    assert describe_weights(np.array(weights), n) == words


@pytest.fixture(scope="module")
def square_fits() -> dict[int, object]:
    from bayesgmm import BayesianGMM

    fits = {}
    for seed in range(5):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits[seed] = BayesianGMM(2, progressbar=False, random_seed=seed).fit(_square(seed))
        fits[seed].caught_ = [w.category for w in caught]
    return fits


@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", range(5))
def test_square_mirror_modes_weigh_half_each(square_fits: dict, seed: int) -> None:
    """Four equal clusters at the corners of a square (exactly symmetric under swapping
    the coordinates), K=2: the left/right and top/bottom splits are mirror images, each
    with half the posterior mass. The chains start at both (distinct MAP-EM maxima)."""
    fit = square_fits[seed]
    table = fit.modes_.table
    assert len(table) == 2
    assert fit.modes_.weighting == "mass"
    # Both estimates: the posterior mass (bridge sampling) and the stacking weight.
    assert table["mass"].to_numpy() == pytest.approx([0.5, 0.5], abs=0.1)
    assert table["stacking"].to_numpy() == pytest.approx([0.5, 0.5], abs=0.1)
    assert np.array_equal(table["weight"], table["mass"])
    # The two modes split the points differently: half the pairs change side.
    assert fit.modes_.partition_distance.max() > 0.4
    assert MultimodalPosteriorWarning in fit.caught_
    assert LabelSwitchingWarning not in fit.caught_
    assert "two modes" in fit.modes_.message
    assert "not label switching" in fit.modes_.message


@pytest.mark.timeout(900)
def test_square_weighted_posterior_holds_both_modes(square_fits: dict) -> None:
    """The summaries use the posterior averaged over the modes: half the draws from each."""
    from bayesgmm import membership

    fit = square_fits[0]
    assert fit.idata_.attrs.get("mode_weighted")
    assert fit.idata_.posterior.sizes["chain"] * fit.idata_.posterior.sizes["draw"] == 4000
    # Left/right draws have components apart in x, top/bottom draws apart in y: the
    # weighted posterior holds each in proportion to its mode's weight.
    means = fit.idata_.posterior["means"].values.reshape(-1, 2, 2)
    apart = np.abs(means[:, 0] - means[:, 1])
    share = np.mean(apart[:, 0] > apart[:, 1])
    weight_lr = fit.modes_.table["weight"].to_numpy()
    assert share == pytest.approx(weight_lr[0], abs=0.01) or share == pytest.approx(
        weight_lr[1], abs=0.01
    )
    with pytest.warns(MultimodalPosteriorWarning, match="averages over modes"):
        result = membership(fit)
    assert result.n_occupied.index.max() <= 2
    from bayesgmm import partition

    estimate = partition(fit, max_draws=200, n_runs=2)
    assert "Over several modes: The chains found two modes" in str(estimate)
    table = fit.summary()
    assert "modes" in table.attrs
    assert table["r_hat"].isna().all()


@pytest.mark.timeout(600)
def test_label_report_says_chains_disagree_not_label_switching() -> None:
    """Chains in different solutions (iris K=3 from distinct starts, one chain each): the
    label-switching report names every chain and says it is not label switching."""
    from sklearn.datasets import load_iris

    from bayesgmm import BayesianGMM
    from bayesgmm.posterior import label_switching_report, warn_if_unresolved

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = BayesianGMM(
            3, chains=2, n_starts=2, draws=300, tune=300, progressbar=False, random_seed=0
        ).fit(load_iris().data)
    if fit.modes_.n_modes == 1:
        pytest.skip("both chains found one solution with this seed")
    report = label_switching_report(fit.raw_idata_)
    assert report.chains_disagree
    assert "different solutions" in report.message
    assert "chain 0: K+" in report.message and "chain 1: K+" in report.message
    assert "label modes" not in report.message
    with pytest.warns(MultimodalPosteriorWarning):
        warn_if_unresolved(report)


@pytest.mark.timeout(600)
def test_n_clusters_reports_convergence() -> None:
    """n_clusters gives the label-invariant R-hat of K+ and alpha, and warns when poor."""
    from bayesgmm import BayesianGMM, GMMPriors, load_faithful, n_clusters
    from bayesgmm.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = BayesianGMM(
            4,
            priors=GMMPriors(alpha_prior="sparse"),
            draws=50,
            tune=50,
            progressbar=False,
            random_seed=0,
        ).fit(load_faithful())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = n_clusters(fit)
    assert set(result.convergence.index) == {"K+", "alpha"}
    assert "R-hat" in str(result)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert warned == (not result.converged)


@pytest.mark.timeout(900)
def test_plot_modes_one_panel_per_mode(square_fits: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from bayesgmm.plotting import plot_modes

    fit = square_fits[0]
    axes = plot_modes(fit, _square(0))
    assert len(axes) == fit.modes_.n_modes
    assert f"weight {fit.modes_.table['weight'].iloc[0]:.2f}" in axes[0].get_title()
    assert fit.modes_.table["weight"].iloc[0] == pytest.approx(0.5, abs=0.1)
    with pytest.raises(ValueError, match="one Axes per mode"):
        plot_modes(fit, _square(0), axes=[axes[0]])


@pytest.mark.timeout(300)
def test_mode_weighted_idata_drops_weightless_modes_and_resamples_the_rest() -> None:
    import dataclasses

    import pandas as pd

    from bayesgmm import BayesianGMM, load_faithful
    from bayesgmm.posterior import mode_weighted_idata
    from bayesgmm.posterior.weighted import mode_draw_indices

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = BayesianGMM(2, draws=100, tune=100, progressbar=False, random_seed=0).fit(
            load_faithful()
        )
    raw = fit.raw_idata_
    # A mode below NEGLIGIBLE_WEIGHT leaves: the other's chains, as sampled.
    table = pd.DataFrame({"chains": [(0, 1), (2, 3)], "weight": [0.995, 0.005]})
    kept = mode_weighted_idata(raw, dataclasses.replace(fit.modes_, table=table))
    assert list(kept.posterior.chain.values) == [0, 1]
    np.testing.assert_array_equal(
        kept.posterior["weights"].values, raw.posterior["weights"].values[:2]
    )
    # Two modes weighing 0.7 / 0.3: 280 and 120 of the 400 draws, from their own chains.
    table = pd.DataFrame({"chains": [(0, 1), (2, 3)], "weight": [0.7, 0.3]})
    report = dataclasses.replace(fit.modes_, table=table)
    index = mode_draw_indices(report, 100)
    assert np.sum(index < 200) == 280 and np.sum(index >= 200) == 120
    mixed = mode_weighted_idata(raw, report)
    assert mixed.attrs["mode_weighted"]
    flat = raw.log_likelihood["x"].values.reshape(400, -1)
    np.testing.assert_array_equal(mixed.log_likelihood["x"].values.reshape(400, -1), flat[index])


@pytest.mark.timeout(300)
def test_sample_nuts_splits_chains_between_starts() -> None:
    """Chains go to their starts in contiguous groups, the first start's group the larger;
    one EMResult (a NamedTuple, itself a sequence) is one start."""
    from bayesgmm import build_model, load_faithful
    from bayesgmm.bayes.inference import sample_nuts
    from bayesgmm.bayes.inference.nuts import chain_groups
    from bayesgmm.bayes.inference.starts import model_em_start

    assert chain_groups(4, 2) == [2, 2]
    assert chain_groups(5, 2) == [3, 2]
    assert chain_groups(2, 3) == [1, 1, 0]
    gmm = build_model(load_faithful(), 2, "full")
    start = model_em_start(gmm, None, 0)
    one = sample_nuts(gmm, draws=20, tune=20, chains=2, start=start, progressbar=False)
    assert one.posterior.sizes["chain"] == 2
    three = sample_nuts(
        gmm, draws=20, tune=20, chains=3, start=[start, start], progressbar=False, random_seed=1
    )
    assert three.posterior.sizes["chain"] == 3
    assert list(three.posterior.chain.values) == [0, 1, 2]


def _same_modes(a, b) -> bool:
    """Two ModesReports hold the same modes, weights and words."""
    arrays = ("sorted_weights", "means", "chain_mode", "chain_weights", "partition_distance")
    return (
        a.table.equals(b.table)
        and all(np.array_equal(getattr(a, n), getattr(b, n)) for n in arrays)
        and (a.message, a.weighting) == (b.message, b.weighting)
        and (a.draw_mode is None) == (b.draw_mode is None)
        and (a.draw_mode is None or np.array_equal(a.draw_mode, b.draw_mode))
    )


@pytest.mark.timeout(900)
def test_saved_and_pickled_fits_keep_their_modes(square_fits: dict, tmp_path: Path) -> None:
    """save / load and pickle carry ``modes_`` (stored, not recomputed), and the loaded
    fit's summaries and label report read them as the fitted one's do."""
    import pickle

    from bayesgmm import BayesianGMM, n_clusters

    fit = square_fits[0]
    assert fit.modes_.multimodal  # two modes of weight: the report worth keeping
    fit.save(tmp_path / "fit.nc")
    loaded = BayesianGMM.load(tmp_path / "fit.nc")
    assert _same_modes(loaded.modes_, fit.modes_)
    assert loaded.modes_.table["chains"].tolist() == fit.modes_.table["chains"].tolist()
    assert loaded.summary().attrs["modes"] == fit.modes_.message
    assert loaded.label_report_.n_chains == fit.label_report_.n_chains
    # n_clusters reads convergence within the modes' chains, as on the fitted estimator.
    before, after = n_clusters(fit, random_seed=0), n_clusters(loaded, random_seed=0)
    assert not before.convergence.empty and after.convergence.equals(before.convergence)
    assert _same_modes(pickle.loads(pickle.dumps(fit)).modes_, fit.modes_)
    assert _same_modes(pickle.loads(pickle.dumps(loaded)).modes_, fit.modes_)


@pytest.mark.timeout(900)
def test_a_states_report_survives_save_load_and_pickle(square_fits: dict, tmp_path: Path) -> None:
    """A report of states (draws, not chains, grouped; weighed by frequency) is stored
    with its draw_mode and given back by load and pickle; the loaded fit's summary and
    n_clusters read it as the fitted one's do (R-hat of K+ within each state's draws)."""
    import pickle

    from bayesgmm import BayesianGMM, n_clusters
    from bayesgmm.bayes.inference.idata import posterior_draws
    from bayesgmm.posterior.modes import chain_summaries
    from bayesgmm.posterior.state_report import states_report

    fit = pickle.loads(pickle.dumps(square_fits[0]))
    raw = fit.raw_idata_
    n_chains, n_draws = raw.posterior.sizes["chain"], raw.posterior.sizes["draw"]
    labels = np.zeros((n_chains, n_draws), dtype=np.intp)
    labels[:2, n_draws // 2 :] = 1  # two chains cross half way; a third visits briefly
    labels[3, : n_draws // 4] = 1
    fit.modes_ = states_report(chain_summaries(raw), posterior_draws(raw), labels)
    assert fit.modes_.weighting == "frequency" and fit.modes_.n_modes == 2
    np.testing.assert_allclose(fit.modes_.table["weight"], [0.6875, 0.3125])
    fit.save(tmp_path / "fit.nc")
    loaded = BayesianGMM.load(tmp_path / "fit.nc")
    assert _same_modes(loaded.modes_, fit.modes_)
    assert _same_modes(pickle.loads(pickle.dumps(loaded)).modes_, fit.modes_)
    before, after = n_clusters(fit, random_seed=0), n_clusters(loaded, random_seed=0)
    assert not before.convergence.empty and after.convergence.equals(before.convergence)
    assert "cross slowly between two states" in before.modes
    # The posterior of states is the draws as sampled, marked, and read as such.
    from bayesgmm.posterior import mode_weighted_idata

    pooled = mode_weighted_idata(raw, fit.modes_)
    assert pooled.attrs["mode_states"] == 1 and "mode_weighted" not in pooled.attrs
    assert pooled.posterior["means"].equals(raw.posterior["means"])
    assert n_clusters(pooled, random_seed=0).modes == fit.modes_.message


def _corrupt(table: list, key: str, value: object) -> None:
    table[0][key] = value


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(table=[]), "list 1 to 4 modes"),
        (lambda d: _corrupt(d["table"], "chains", [0, 9]), "chain numbers below 4"),
        (lambda d: _corrupt(d["table"], "chains", [0, 2, 3]), "two modes"),
        (lambda d: _corrupt(d["table"], "weight", 2.0), r"weight must lie in \[0, 1\]"),
        (lambda d: _corrupt(d["table"], "kplus", "2"), "kplus must be a number"),
        (lambda d: _corrupt(d["table"], "description", None), "description is not text"),
        (lambda d: d.update(means=[[[0.0, 0.0]]]), r"means is not \(2, 2, 2\)"),
        (lambda d: d["sorted_weights"][0].__setitem__(0, float("nan")), "sorted_weights"),
        (lambda d: d.update(chain_mode=[0, 0, 0, 0]), "chain_mode disagree"),
        (lambda d: d.update(weighting="votes"), "weighting must be one of"),
    ],
)
def test_a_corrupt_modes_report_is_refused(
    square_fits: dict, tmp_path: Path, edit: object, match: str
) -> None:
    """A fit file's modes report is untrusted: every field is checked against the
    fit's chains, K and D, and a bad one names the file."""
    import json

    import arviz as az

    from bayesgmm import BayesianGMM
    from bayesgmm.exceptions import FitFileError
    from bayesgmm.io.modes_report import MODES_ATTR

    square_fits[0].save(tmp_path / "fit.nc")
    idata = az.from_netcdf(tmp_path / "fit.nc")
    data = json.loads(idata.posterior.attrs[MODES_ATTR])
    edit(data)
    idata.posterior.attrs[MODES_ATTR] = json.dumps(data)
    idata.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(FitFileError, match=match) as caught:
        BayesianGMM.load(tmp_path / "bad.nc")
    assert "bad.nc" in str(caught.value)


@pytest.mark.timeout(900)
def test_an_uncertain_mass_is_not_the_weight(square_fits: dict, monkeypatch) -> None:
    """Masses whose standard error exceeds MAX_MASS_SE leave the weight to stacking; the
    mass and its se stay in the table and the message says why they are not used."""
    from bayesgmm.posterior import find_modes, modes

    fit = square_fits[0]
    exact = find_modes(fit.raw_idata_, model=fit.model_)
    assert exact.weighting == "mass"
    assert exact.table["mass_se"].max() <= modes.MAX_MASS_SE
    uncertain = (np.array([0.29, 0.71]), np.array([0.27, 0.27]))
    monkeypatch.setattr(modes, "mode_masses", lambda *args, **kwargs: uncertain)
    report = find_modes(fit.raw_idata_, model=fit.model_)
    table = report.table
    assert report.weighting == "stacking"
    np.testing.assert_array_equal(table["weight"], table["stacking"])
    np.testing.assert_array_equal(table["weight_se"], table["stacking_se"])
    np.testing.assert_array_equal(table["mass"], uncertain[0])
    np.testing.assert_array_equal(table["mass_se"], uncertain[1])
    assert "mass 0.29 ± 0.27" in report.message
    assert "standard errors up to 0.27, too uncertain" in report.message
    np.testing.assert_allclose(table["weight"], exact.table["stacking"])


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("rhat", "slow"), [(1.045, True), (1.004, False), (np.nan, False)])
def test_one_mode_that_mixes_slowly_says_so(rhat: float, slow: bool) -> None:
    """Chains in one solution whose log-likelihood R-hat exceeds 1.01 are named as mixing
    slowly (not as different modes), with the R-hat; a converged or one-chain mode is not."""
    import pandas as pd

    from bayesgmm.posterior.modes_text import _modes_message

    table = pd.DataFrame(
        {"chains": [(0, 1, 2, 3)], "rhat": [rhat], "description": ["four clusters"]}
    )
    message = _modes_message(table)
    assert message.startswith("All chains found one solution: four clusters.")
    assert ("mix slowly" in message) == slow
    assert ("R-hat 1.045" in message) == slow
