"""One vocabulary: renamed arguments keep their old names one release, warning once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayesgmm._utils import deprecation
from bayesgmm._utils.deprecation import DEPRECATED, renamed
from bayesgmm.analysis.partition.estimate import partition_from_allocations
from bayesgmm.analysis.partition.loss import credible_ball
from bayesgmm.mixture.imputation import Imputation


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deprecation, "_WARNED", set())


@pytest.mark.timeout(30)
def test_the_new_name_passes_through_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert renamed("f", "prob", DEPRECATED, "hdi_prob", 0.8, 0.94) == 0.8


@pytest.mark.timeout(30)
def test_the_old_name_works_and_warns_once() -> None:
    with pytest.warns(FutureWarning, match="'prob' is renamed 'hdi_prob'"):
        assert renamed("f", "prob", 0.8, "hdi_prob", 0.94, 0.94) == 0.8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert renamed("f", "prob", 0.7, "hdi_prob", 0.94, 0.94) == 0.7


@pytest.mark.timeout(30)
def test_both_names_at_once_is_an_error() -> None:
    with pytest.raises(TypeError, match="got both 'prob' and 'hdi_prob'"):
        renamed("f", "prob", 0.8, "hdi_prob", 0.9, 0.94)


@pytest.fixture
def allocations() -> np.ndarray:
    rng = np.random.default_rng(3)
    base = np.repeat([0, 1, 2], 10)
    draws = np.tile(base, (60, 1))
    flip = rng.random(draws.shape) < 0.1
    draws[flip] = rng.integers(0, 3, flip.sum())
    return draws


@pytest.mark.timeout(60)
def test_partition_level_is_hdi_prob(allocations: np.ndarray) -> None:
    new = partition_from_allocations(allocations, hdi_prob=0.8)
    with pytest.warns(FutureWarning, match="'level' is renamed 'hdi_prob'"):
        old = partition_from_allocations(allocations, level=0.8)
    np.testing.assert_array_equal(old.labels, new.labels)
    assert old.credible_ball.radius == new.credible_ball.radius
    assert new.credible_ball.hdi_prob == 0.8
    assert new.settings["hdi_prob"] == 0.8
    with pytest.warns(FutureWarning, match="'level' is renamed"):
        assert new.credible_ball.level == 0.8


@pytest.mark.timeout(60)
def test_a_bad_mass_is_reported_under_the_name_the_user_gave(allocations: np.ndarray) -> None:
    estimate = allocations[0]
    with pytest.raises(ValueError, match="hdi_prob must be in"):
        credible_ball(estimate, allocations, hdi_prob=1.5)
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="level must be in"):
        credible_ball(estimate, allocations, level=1.5)


@pytest.mark.timeout(30)
def test_imputation_prob_is_hdi_prob() -> None:
    result = Imputation(np.zeros((1, 1)), np.zeros(0), np.zeros(0), np.zeros(0), hdi_prob=0.9)
    with pytest.warns(FutureWarning, match="'prob' is renamed 'hdi_prob'"):
        assert result.prob == 0.9


@pytest.mark.timeout(60)
def test_bayesian_gmm_speaks_max_draws() -> None:
    from bayesgmm import BayesianGMM

    params = BayesianGMM(max_draws=50).get_params()
    assert params["max_draws"] == 50 and params["max_predict_draws"] == DEPRECATED


@pytest.mark.timeout(30)
def test_n_draws_counts_every_draw_and_per_chain_is_named_so() -> None:
    from bayesgmm.bayes.inference.idata import PosteriorDraws

    draws = PosteriorDraws(
        np.ones((6, 1)), np.zeros((6, 1, 1)), np.ones((6, 1, 1, 1)), 2, 3, "full", ["x"]
    )
    assert (draws.n_draws, draws.n_draws_per_chain) == (6, 3)
