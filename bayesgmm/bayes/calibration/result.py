"""Ranks of simulation-based calibration, their uniformity tests and the typed result.

Numpy, scipy and ArviZ only (no PyMC), so saved ranks can be re-tested and re-plotted
without the fitting stack; :func:`bayesgmm.bayes.calibration.sbc.run_sbc` produces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["SBCResult", "ranks_of", "uniformity_p_values"]


# ---------------------------------------------------------------------------------------
# Ranks and uniformity
# ---------------------------------------------------------------------------------------


def ranks_of(truth: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank of every true quantity among L draws: ``#{draw < truth}`` in ``0..L``, ties
    split at random (a discrete quantity must not pile up at one end)."""
    below = (draws < truth[None, :]).sum(axis=0)
    ties = (draws == truth[None, :]).sum(axis=0)
    return below + rng.integers(0, ties + 1)


def uniformity_p_values(ranks: np.ndarray, n_draws: int, n_bins: int) -> np.ndarray:
    """Chi-square p-value per column of ranks in ``0..n_draws``, binned in ``n_bins``
    bins of equal width (``n_bins`` divides ``n_draws + 1``, so uniform ranks fill every
    bin equally)."""
    width = (n_draws + 1) // n_bins
    out = np.empty(ranks.shape[1])
    for q in range(ranks.shape[1]):
        counts = np.bincount(ranks[:, q] // width, minlength=n_bins)
        out[q] = stats.chisquare(counts).pvalue
    return out


@dataclass(frozen=True, eq=False)
class SBCResult:
    """Ranks of an SBC run and their uniformity tests.

    Attributes
    ----------
    ranks : ndarray of shape (n_sims, Q)
        Rank of the true value of each quantity among ``n_draws`` posterior draws.
    quantities : tuple of str
        Names of the Q quantities (columns of ``ranks``).
    n_draws : int
        L: ranks lie in ``0..L``.
    n_bins : int
        Bins of the chi-square test.
    p_values : ndarray of shape (Q,)
        Chi-square p-value of uniformity per quantity (no correction).
    min_ess : ndarray of shape (n_sims,)
        Per simulation, the smallest bulk ESS of the quantities over all kept draws
        (before thinning to L); ``nan`` for ADVI, whose draws are independent.
    points : ndarray of shape (P, D)
        The fixed points of the ``logdens@p*`` quantities.
    settings : dict
        The arguments of :func:`run_sbc`.
    """

    ranks: np.ndarray
    quantities: tuple[str, ...]
    n_draws: int
    n_bins: int
    p_values: np.ndarray
    min_ess: np.ndarray
    points: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n_sims(self) -> int:
        return int(self.ranks.shape[0])

    def adjusted_p_values(self) -> np.ndarray:
        """Holm-adjusted p-values (family-wise error over the Q quantities)."""
        return _holm(self.p_values)

    def rejected(self, alpha: float = 0.01) -> tuple[str, ...]:
        """Quantities whose ranks are not uniform at family-wise level ``alpha`` (Holm)."""
        _check_alpha(alpha)
        return tuple(
            q for q, p in zip(self.quantities, self.adjusted_p_values(), strict=True) if p <= alpha
        )

    def passed(self, alpha: float = 0.01) -> bool:
        """Whether no quantity rejects uniformity.

        The Q tests are corrected by Holm's step-down method, so a calibrated fit fails
        with probability at most ``alpha`` however many quantities are ranked (for the
        pass / fail decision it equals Bonferroni: fail iff ``min p <= alpha / Q``). The
        quantities are dependent; Holm needs no independence.
        """
        return not self.rejected(alpha)

    def tail_p_values(self) -> np.ndarray:
        """One-sided binomial p-value per quantity for too many truths outside all L draws.

        Uniform ranks put the truth at rank 0 or L with probability ``2 / (L + 1)``. An
        overconfident (too narrow) fit puts it there more often; equal-width bins dilute
        that excess over a whole bin, so this test looks at the two end ranks alone.
        """
        extreme = ((self.ranks == 0) | (self.ranks == self.n_draws)).sum(axis=0)
        p = 2.0 / (self.n_draws + 1)
        return np.array(
            [stats.binomtest(int(k), self.n_sims, p, alternative="greater").pvalue for k in extreme]
        )

    def overconfident(self, alpha: float = 0.01) -> tuple[str, ...]:
        """Quantities whose truth falls outside all the draws too often (the tail test of
        :meth:`tail_p_values`, Holm-corrected over the quantities at level ``alpha``).

        Not part of :meth:`passed`, which is the uniformity test alone.
        """
        _check_alpha(alpha)
        adjusted = _holm(self.tail_p_values())
        return tuple(q for q, p in zip(self.quantities, adjusted, strict=True) if p <= alpha)

    def outside_band(self, alpha: float = 0.01) -> tuple[str, ...]:
        """Quantities whose rank ECDF leaves its simultaneous band (the graphical test).

        The band is ArviZ's optimised simultaneous band for the ECDF of ``n_sims`` uniform
        ranks on ``0..L`` (Säilynoja, Bürkner & Vehtari 2022), at level ``1 - alpha / Q``
        per quantity (Bonferroni over the Q quantities), so a calibrated fit has any
        quantity outside with probability at most ``alpha``. It is the band that
        :func:`bayesgmm.plotting.plot_sbc` draws when given ``ci_prob = 1 - alpha / Q``.
        """
        from arviz.stats.ecdf_utils import ecdf_confidence_band

        _check_alpha(alpha)
        eval_points = np.arange(self.n_draws + 1)
        cdf = (eval_points + 1) / (self.n_draws + 1)
        prob = 1.0 - float(alpha) / len(self.quantities)
        lower, upper = ecdf_confidence_band(
            self.n_sims, eval_points, cdf, prob=prob, method="optimized"
        )
        out = []
        for q, name in enumerate(self.quantities):
            ranks = np.sort(self.ranks[:, q])
            ecdf = np.searchsorted(ranks, eval_points, side="right") / self.n_sims
            if np.any(ecdf < lower - 1e-12) or np.any(ecdf > upper + 1e-12):
                out.append(name)
        return tuple(out)

    def table(self) -> Any:
        """A pandas DataFrame per quantity: the uniformity p-value, its Holm adjustment,
        and the one-sided tail p-value of :meth:`tail_p_values`."""
        import pandas as pd

        return pd.DataFrame(
            {
                "p_value": self.p_values,
                "p_holm": self.adjusted_p_values(),
                "p_tails": self.tail_p_values(),
            },
            index=pd.Index(self.quantities, name="quantity"),
        )


def _holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values."""
    order = np.argsort(p_values)
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * np.asarray(p_values)[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _check_alpha(alpha: float) -> None:
    if not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
