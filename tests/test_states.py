"""States within one solution: draws grouped by sorted component sizes, weighed by their
frequency with a Monte Carlo standard error (numpy-only synthetic chains, fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from bayesgmm.bayes.inference.idata import PosteriorDraws
from bayesgmm.posterior import states as st
from bayesgmm.posterior.modes import ChainSummary

N_OBS = 342
# Two states of one solution, as the penguins' sparse K=10 fit has them (expected sizes
# of the components, largest first): a fourth cluster of 12 points, or merged away.
SIZES = {
    0: [155, 111, 62, 12, 1.5, 0.3, 0.1, 0, 0, 0],
    1: [155, 122, 62, 1.4, 0.4, 0.1, 0, 0, 0, 0],
}
LOG_LIK = {0: -5150.0, 1: -5168.0}


def markov_labels(rng: np.random.Generator, shape: tuple[int, int], leave: tuple[float, float]):
    """(C, T) two-state Markov chains: ``leave[s]`` is the chance to leave state s per
    draw, so the stationary frequency of state 0 is leave[1] / (leave[0] + leave[1])."""
    n_chains, n_draws = shape
    stay = rng.random(shape)
    labels = np.empty(shape, dtype=np.intp)
    labels[:, 0] = rng.random(n_chains) < leave[0] / (leave[0] + leave[1])
    for t in range(1, n_draws):
        prev = labels[:, t - 1]
        labels[:, t] = np.where(stay[:, t] < np.take(leave, prev), 1 - prev, prev)
    return labels


def synthetic_draws(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights (C, T, K) and log-likelihoods (C, T) of draws in the states ``labels``:
    component sizes with Poisson-like noise (sd 1/2 on the square-root scale), shuffled
    (label switching), and a log-likelihood of sd 6 around the state's level."""
    rng = np.random.default_rng(seed)
    root = np.sqrt(np.array([SIZES[0], SIZES[1]]))[labels]
    root = np.abs(root + 0.5 * rng.standard_normal(root.shape) * (root > 1))
    weights = root**2 / (root**2).sum(axis=-1, keepdims=True)
    weights = rng.permuted(weights, axis=-1)
    log_lik = np.array([LOG_LIK[0], LOG_LIK[1]])[labels] + 6.0 * rng.standard_normal(labels.shape)
    return weights, log_lik


@pytest.mark.timeout(30)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_states_finds_two_states_the_chains_cross_between(seed: int) -> None:
    """Chains crossing every ~200 draws between two states: the split recovers them
    (up to the numbering) and their frequencies."""
    rng = np.random.default_rng(seed)
    truth = markov_labels(rng, (4, 1000), (0.004, 0.006))
    weights, log_lik = synthetic_draws(truth, seed)
    labels = st.split_states(st.size_features(weights, N_OBS), log_lik)
    assert labels.max() == 1
    agree = max((labels == truth).mean(), (labels != truth).mean())
    assert agree > 0.99
    weight, se, ess = st.state_weights(labels, 2)
    assert weight[0] >= weight[1]  # numbered by decreasing frequency
    np.testing.assert_allclose(weight.sum(), 1.0)
    assert np.all(se > 0) and np.all(ess < labels.size)


@pytest.mark.timeout(30)
def test_no_states_where_the_chains_agree_or_flicker() -> None:
    """One state when the chains agree (R-hat of the log-likelihood <= 1.01), and one
    when the sizes flip from draw to draw (bimodal, but not a state a chain stays in)."""
    rng = np.random.default_rng(3)
    flicker = rng.integers(0, 2, size=(4, 1000))
    weights, _ = synthetic_draws(flicker, 3)
    agree = -5150.0 + 6.0 * rng.standard_normal((4, 1000))
    features = st.size_features(weights, N_OBS)
    assert st.split_states(features, agree).max() == 0
    disagree = agree + np.array([0.0, 0.0, 8.0, 8.0])[:, None]  # chains disagree: R-hat > 1.01
    assert st.state_rhat(disagree, np.ones((4, 1000), dtype=bool)) > 1.01
    assert st.split_states(features, disagree).max() == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("leave", [(0.02, 0.03), (0.003, 0.002)])
def test_state_weight_standard_error_covers_the_stationary_frequency(leave: tuple) -> None:
    """Over 200 replicate runs of four chains, the stationary frequency lies within two
    standard errors of the estimated weight in about 95% of them: the ESS of the state's
    indicator accounts for slow crossing (a naive se from C x T draws would cover far
    less). Binomial(200, 0.95) puts 90% coverage 3.2 sds below; 0.85 is the bound."""
    rng = np.random.default_rng(4)
    target = leave[1] / (leave[0] + leave[1])
    hits, naive_hits = 0, 0
    for labels in markov_labels(rng, (800, 1000), leave).reshape(200, 4, 1000):
        in_zero = (labels == 0).astype(np.intp)
        weight, se, _ = st.state_weights(1 - in_zero, 2)  # state 0 of labels as state 0
        hits += abs(weight[0] - target) <= 2 * se[0]
        naive = np.sqrt(weight[0] * (1 - weight[0]) / labels.size)
        naive_hits += abs(weight[0] - target) <= 2 * naive
    assert hits / 200 >= 0.85
    assert naive_hits / 200 < 0.6


@pytest.mark.timeout(60)
@settings(max_examples=40, deadline=None)
@given(
    counts=hst.lists(hst.integers(0, 300), min_size=2, max_size=5),
    seed=hst.integers(0, 2**31),
)
def test_state_draw_indices_rows_of_equal_length_inside_the_state(counts: list, seed: int) -> None:
    """One row per chain with at least MIN_CHAIN_DRAWS draws in the state (a lone chain
    split in halves), all of one length, every index a draw of the state, in order."""
    rng = np.random.default_rng(seed)
    n_draws = 300
    in_state = np.zeros((len(counts), n_draws), dtype=bool)
    for c, k in enumerate(counts):
        in_state[c, rng.choice(n_draws, size=k, replace=False)] = True
    index = st.state_draw_indices(in_state)
    visiting = [c for c, k in enumerate(counts) if k >= st.MIN_CHAIN_DRAWS]
    if not visiting:
        assert index.size == 0
        return
    assert index.shape[0] == (2 if len(visiting) == 1 else len(visiting))
    assert in_state.ravel()[index].all()
    assert np.all(np.diff(index, axis=1) > 0)
    if len(visiting) > 1:
        assert index.shape[1] == min(counts[c] for c in visiting)
        assert [int(r[0]) // n_draws for r in index] == visiting


def _states_report(seed: int = 0):
    """A states report of synthetic chains (no sampler): the report's own code path."""
    from bayesgmm.posterior.state_report import states_report

    rng = np.random.default_rng(seed)
    truth = markov_labels(rng, (4, 500), (0.01, 0.015))
    summary, draws = _summary_and_draws(truth, seed)
    weights = draws.weights.reshape(4, 500, -1)
    labels = st.split_states(st.size_features(weights, N_OBS), summary.log_likelihood)
    return states_report(summary, draws, labels), truth


@pytest.mark.timeout(30)
def test_states_report_weights_and_words() -> None:
    """Every state a row: weight its frequency with its se, the chains that visit it, the
    words say states the chains cross between, never label switching."""
    report, truth = _states_report()
    table = report.table
    assert report.weighting == "frequency" and report.n_modes == 2 and report.multimodal
    np.testing.assert_allclose(table["weight"].sum(), 1.0)
    for s, row in table.iterrows():
        np.testing.assert_allclose(row["weight"], (report.draw_mode == s).mean())
    shares = report.chain_shares
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_allclose(shares.mean(axis=0), table["weight"])  # equal chain lengths
    for s, chains in enumerate(table["chains"]):
        assert list(chains) == list(np.flatnonzero(shares[:, s] >= 0.01))
    assert "cross slowly between two states" in report.message
    assert "sizes 155, 111, 62, 12" in report.message
    assert "label switching" not in report.message
    assert max((report.draw_mode == truth).mean(), (report.draw_mode != truth).mean()) > 0.99


@pytest.mark.timeout(30)
def test_states_report_round_trips_through_json_and_refuses_bad_states(tmp_path: Path) -> None:
    """The JSON of a fit file carries draw_mode; a draw_mode of the wrong shape or with an
    unknown state is refused with the file named."""
    import json

    from bayesgmm.exceptions import FitFileError
    from bayesgmm.io.modes_report import modes_from_json, modes_to_json

    report, _ = _states_report()
    text = modes_to_json(report)
    back = modes_from_json(text, 4, 10, 2, "fit.nc", n_draws=500)
    assert back.weighting == "frequency"
    np.testing.assert_array_equal(back.draw_mode, report.draw_mode)
    assert back.table.equals(report.table) and back.message == report.message
    data = json.loads(text)
    data["draw_mode"][0][0] = 7
    with pytest.raises(FitFileError, match="draw_mode") as caught:
        modes_from_json(json.dumps(data), 4, 10, 2, str(tmp_path / "bad.nc"), n_draws=500)
    assert "bad.nc" in str(caught.value)
    with pytest.raises(FitFileError, match="draw_mode"):
        modes_from_json(text, 4, 10, 2, "fit.nc", n_draws=400)


def _summary_and_draws(labels: np.ndarray, seed: int, coclustering: np.ndarray | None = None):
    """A ChainSummary and PosteriorDraws of synthetic draws in the states ``labels``."""
    rng = np.random.default_rng(seed)
    weights, log_lik = synthetic_draws(labels, seed)
    n_chains, n_draws, k = weights.shape
    flat = weights.reshape(-1, k)
    means = rng.standard_normal((flat.shape[0], k, 2))
    covariances = np.broadcast_to(np.eye(2), (*means.shape, 2))
    draws = PosteriorDraws(flat, means, covariances, n_chains, n_draws, "full", ["a", "b"])
    summary = ChainSummary(
        log_likelihood=log_lik,
        log_posterior=log_lik + 3.0,
        sorted_weights=-np.sort(-weights, axis=-1).mean(axis=1),
        kplus=(N_OBS * weights >= 1.0).sum(axis=-1),
        coclustering=np.zeros((n_chains, 3, 3)) if coclustering is None else coclustering,
        means=means[:n_chains],
        best=log_lik.max(axis=1),
        n_obs=N_OBS,
    )
    return summary, draws


@pytest.mark.timeout(30)
def test_crossing_states_only_for_one_clustering_whose_chains_cross() -> None:
    """States are reported when the chains hold one clustering and cross between states;
    not when a chain holds another clustering (co-clustering distance above 0.1: modes),
    nor when every chain stays in its own state (nothing to weigh by frequency)."""
    from bayesgmm.posterior.state_report import crossing_states

    rng = np.random.default_rng(5)
    crossing = markov_labels(rng, (4, 1000), (0.004, 0.006))
    summary, draws = _summary_and_draws(crossing, 5)
    labels = crossing_states(summary, draws)
    assert labels is not None and labels.max() == 1
    other = np.zeros((4, 3, 3))
    other[2:, 0, 1] = other[2:, 1, 0] = 1.0  # two chains put rows 0 and 1 together
    summary, draws = _summary_and_draws(crossing, 5, coclustering=other)
    assert crossing_states(summary, draws) is None
    stuck = np.repeat(np.array([0, 0, 0, 1])[:, None], 1000, axis=1)
    summary, draws = _summary_and_draws(stuck, 6)
    assert crossing_states(summary, draws) is None


@pytest.mark.timeout(60)
@settings(max_examples=30, deadline=None)
@given(
    n_states=hst.integers(1, 4),
    seed=hst.integers(0, 2**31),
)
def test_state_weights_are_frequencies_with_finite_errors(n_states: int, seed: int) -> None:
    """Weights are the frequencies (summing to 1); every se lies in [0, 1/2] and is 0
    only for a state holding all draws; the ESS is at most the number of draws."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_states, size=(4, 200))
    labels[0, 0] = n_states - 1
    weight, se, ess = st.state_weights(labels, n_states)
    np.testing.assert_allclose(weight.sum(), 1.0)
    np.testing.assert_allclose(weight, np.bincount(labels.ravel(), minlength=n_states) / 800)
    assert np.all((se >= 0) & (se <= 0.5) & (ess <= labels.size))
    assert np.all((se > 0) == ((weight > 0) & (weight < 1)))
