"""Bridge sampling against a normalising constant known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from bayesgmm.posterior import bridge


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dim", [1, 5, 20])
def test_bridge_recovers_gaussian_normaliser(monkeypatch: pytest.MonkeyPatch, dim: int) -> None:
    """q(x) = c exp(-|x - m|^2 / (2 s^2)) with known c: log Z = log c + d/2 log(2 pi s^2).
    The kernel's density is replaced by q itself; the draws are exact draws of q."""
    rng = np.random.default_rng(dim)
    m, s, log_c = rng.normal(size=dim), 0.7, 3.2

    def log_q(x: np.ndarray) -> np.ndarray:
        return log_c - 0.5 * ((x - m) ** 2).sum(axis=-1) / s**2

    monkeypatch.setattr(bridge, "_log_density", lambda theta, buffer: log_q(theta))
    theta = m + s * rng.standard_normal((2000, dim))
    estimate = bridge.bridge_log_evidence(theta, log_q(theta), None, random_seed=1)
    exact = log_c + 0.5 * dim * np.log(2 * np.pi * s**2)
    # The proposal is fitted to S = 2000 draws: its KL from q is about d (d + 3) / (4 S)
    # (half the parameter count over S), which bounds the bias of log Z; twice that plus
    # 5 standard errors.
    kl = dim * (dim + 3) / (4 * len(theta))
    assert estimate.log_evidence == pytest.approx(exact, abs=2 * kl + 5 * estimate.se)
    assert estimate.se < 0.05


@pytest.mark.timeout(60)
def test_meng_wong_equal_densities_give_ratio_one() -> None:
    rng = np.random.default_rng(0)
    l1 = rng.normal(0.0, 0.01, 1000)
    l2 = rng.normal(0.0, 0.01, 1000)
    assert bridge._meng_wong(l1, l2) == pytest.approx(0.0, abs=0.01)
