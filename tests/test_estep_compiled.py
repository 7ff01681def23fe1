"""EM's compiled normalisation (bayesgmm/em/_estep.c) against its numpy version."""

from __future__ import annotations

import numpy as np
import pytest

from bayesgmm import em
from bayesgmm.em import steps

pytestmark = pytest.mark.skipif(
    steps._compiled_normalize() is None, reason="bayesgmm.em._estep was not built"
)

# exp and log written out are within a few ulps of libm's: 2-3 ulps each (the kernel's
# tests), then one division, so 8 eps relative for the responsibilities; the log terms
# are sums of values up to the largest log term, hence relative to max(1, |value|).
ULPS = 8 * np.finfo(np.float64).eps


def _both(weighted: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    return steps._normalize(weighted.copy()), steps._normalize_numpy(weighted.copy())


def _close(compiled: np.ndarray, reference: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(compiled), np.isnan(reference))
    ok = ~np.isnan(reference)
    scale = np.maximum(1.0, np.abs(reference[ok]))
    assert np.all(np.abs(compiled[ok] - reference[ok]) <= ULPS * scale)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape", [(1, 7), (3, 1), (10, 992), (4, 1001)])
def test_compiled_normalisation_equals_numpy(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    # Log terms over a wide range: overlapping components, and far ones below the floor.
    weighted = rng.normal(scale=200.0, size=shape) - 1e3
    for compiled, reference in zip(*_both(weighted), strict=True):
        _close(compiled, reference)
    responsibilities = steps._normalize(weighted.copy())[1]
    np.testing.assert_allclose(responsibilities.sum(axis=0), 1.0, rtol=0, atol=shape[0] * ULPS)


@pytest.mark.timeout(60)
def test_compiled_normalisation_edge_values() -> None:
    """A zero-weight component (-inf), a row of -inf everywhere and a NaN row behave
    exactly as numpy does: the floor gives -inf e^-300 / total, the other two NaN."""
    weighted = np.array([[0.0, -np.inf, np.nan, -5.0], [-np.inf, -np.inf, 1.0, -1e300]])
    with np.errstate(invalid="ignore"):
        results = _both(weighted)
    for compiled, reference in zip(*results, strict=True):
        _close(compiled, reference)


@pytest.mark.timeout(120)
def test_em_with_the_compiled_normalisation_equals_numpy(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(3000, 4)), rng.normal(4.0, 0.5, size=(2000, 4))])
    compiled = em.fit_em(X, 3, "full", random_seed=2, tol=0, max_iter=30)
    monkeypatch.setattr(steps, "_compiled_normalize", lambda: None)
    numpy_only = em.fit_em(X, 3, "full", random_seed=2, tol=0, max_iter=30)
    # Few-ulp differences per iteration, amplified by 30 EM iterations at most linearly.
    np.testing.assert_allclose(compiled.means, numpy_only.means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(compiled.covariances, numpy_only.covariances, rtol=1e-10)
    assert compiled.log_likelihood == pytest.approx(numpy_only.log_likelihood, rel=1e-12)
