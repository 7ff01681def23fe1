"""Bridge sampling against normalising constants known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from bayesgmm.posterior import bridge


def _gaussian(dim: int, s: float = 0.7, log_c: float = 3.2):
    """q(x) = c exp(-|x|^2 / (2 s^2)): log Z = log c + d/2 log(2 pi s^2); exact draws."""

    def log_q(x: np.ndarray) -> np.ndarray:
        return log_c - 0.5 * (x**2).sum(axis=-1) / s**2

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        return s * rng.standard_normal((n, dim))

    return log_q, draw, log_c + 0.5 * dim * np.log(2 * np.pi * s**2)


def _funnel(k: int, sd_v: float = 1.5, log_c: float = -2.0):
    """Neal's funnel times c: v ~ N(0, sd_v^2), x_i | v ~ N(0, e^v), i = 1..k, so log Z =
    log c. A Gaussian proposal follows its neck and mouth badly (the shape of a sparse
    mixture's empty components with alpha)."""

    def log_q(x: np.ndarray) -> np.ndarray:
        v = x[:, 0]
        inner = norm.logpdf(x[:, 1:], 0.0, np.exp(v / 2)[:, None]).sum(axis=-1)
        return log_c + norm.logpdf(v, 0.0, sd_v) + inner

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        v = sd_v * rng.standard_normal(n)
        return np.column_stack([v, np.exp(v / 2)[:, None] * rng.standard_normal((n, k))])

    return log_q, draw, log_c


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dim", [1, 5, 20])
def test_bridge_recovers_gaussian_normaliser(monkeypatch: pytest.MonkeyPatch, dim: int) -> None:
    """The kernel's density is replaced by q itself; the draws are exact draws of q."""
    log_q, draw, exact = _gaussian(dim)
    monkeypatch.setattr(bridge, "_log_density", lambda theta, buffer: log_q(theta))
    theta = draw(np.random.default_rng(100 + dim), 2000)
    estimate = bridge.bridge_log_evidence(theta, log_q(theta), None, random_seed=1)
    assert estimate.log_evidence == pytest.approx(exact, abs=4 * estimate.se)
    assert estimate.se < 0.05


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", range(3))
def test_cross_fitted_bridge_is_unbiased_where_a_proposal_fitted_to_its_draws_is_not(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """d = 60, S = 1000 exact draws. A Gaussian proposal fitted to the very draws it is
    bridged with sits closer to them than to q: log Z comes out low by about
    d (d + 3) / (4 S) = 0.95 nats (the proposal's KL from q), at ten and more of its
    batch standard errors. Fitted to one half and bridged on the other, both ways, the
    estimate is within 4 of its standard errors and 0.3 nats of the truth."""
    log_q, draw, exact = _gaussian(60)
    monkeypatch.setattr(bridge, "_log_density", lambda theta, buffer: log_q(theta))
    theta = draw(np.random.default_rng(1000 + seed), 1000)
    same, same_se = bridge._one_way(theta, theta, log_q(theta), None, seed)
    bias = 60 * 63 / (4 * len(theta))
    assert same - exact == pytest.approx(-bias, abs=0.2)
    assert exact - same > 10 * same_se  # confidently wrong
    crossed = bridge.bridge_log_evidence(theta, log_q(theta), None, random_seed=seed)
    assert abs(crossed.log_evidence - exact) <= min(4 * crossed.se, 0.3)


@pytest.mark.timeout(60)
def test_masses_of_a_gaussian_and_a_funnel_are_within_their_standard_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two "modes" of known mass: a Gaussian (21 dimensions) and a funnel (1 + 20), with
    their constants set so that the funnel holds 0.3, from unequal numbers of draws (2000
    and 500, as a mode of three chains against a lone chain). Over 8 seeds, every mass is
    within three of its standard errors of the truth, and their mean error (-0.02: the
    bridge through a Gaussian fitted to 250 draws of the funnel keeps a small bias) is
    below their mean standard error (0.05). A proposal fitted to the bridged draws fails
    both: the funnel's mass 0.23 ± 0.011 at seed 3, a mean error of -0.06 against a mean
    standard error of 0.03."""
    gauss_q, gauss_draw, gauss_z = _gaussian(21, log_c=0.0)
    funnel_q, funnel_draw, _ = _funnel(20, log_c=gauss_z + np.log(0.3 / 0.7))
    errors, ses = [], []
    for seed in range(8):
        rng = np.random.default_rng(500 + seed)
        log_z, se = [], []
        for m, (log_q, draw, n) in enumerate(
            [(gauss_q, gauss_draw, 2000), (funnel_q, funnel_draw, 500)]
        ):
            monkeypatch.setattr(bridge, "_log_density", lambda theta, buffer, f=log_q: f(theta))
            theta = draw(rng, n)
            estimate = bridge.bridge_log_evidence(theta, log_q(theta), None, 2 * (seed + m))
            log_z.append(estimate.log_evidence)
            se.append(estimate.se)
        mass, mass_se = bridge.masses_from_log_evidence(np.array(log_z), np.array(se), seed)
        assert mass[1] == pytest.approx(0.3, abs=3 * mass_se[1] + 1e-3)
        errors.append(mass[1] - 0.3)
        ses.append(mass_se[1])
    assert abs(np.mean(errors)) <= np.mean(ses)


@pytest.mark.timeout(60)
def test_meng_wong_equal_densities_give_ratio_one() -> None:
    rng = np.random.default_rng(0)
    l1 = rng.normal(0.0, 0.01, 1000)
    l2 = rng.normal(0.0, 0.01, 1000)
    assert bridge._meng_wong(l1, l2) == pytest.approx(0.0, abs=0.01)


@pytest.mark.timeout(30)
def test_too_few_draws_give_no_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Halves of fewer than two draws per batch estimate nothing: NaN, which makes
    find_modes weigh by stacking (the mass is not estimable), not an error."""
    log_q, draw, _ = _gaussian(3)
    monkeypatch.setattr(bridge, "_log_density", lambda theta, buffer: log_q(theta))
    theta = draw(np.random.default_rng(0), 2 * bridge._MIN_HALF - 1)
    estimate = bridge.bridge_log_evidence(theta, log_q(theta), None)
    assert np.isnan(estimate.log_evidence) and np.isnan(estimate.se)
    theta = draw(np.random.default_rng(0), 2 * bridge._MIN_HALF)
    assert np.isfinite(bridge.bridge_log_evidence(theta, log_q(theta), None).log_evidence)
