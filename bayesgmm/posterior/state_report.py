"""The modes report of chains that cross slowly between states of one solution.

:func:`crossing_states` decides whether a posterior is such a case (every pair of chains
holds the same clustering up to a small component, the chains disagree on the
log-likelihood, the draws split into states, :mod:`bayesgmm.posterior.states`, and a chain
visits two of them); :func:`states_report` writes the :class:`ModesReport` whose rows are
the states, weighed by their frequencies among the draws (``weighting="frequency"``,
``draw_mode`` the state of every draw).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayesgmm.posterior import states as st
from bayesgmm.posterior.modes import (
    _NEARLY_EMPTY_POINTS,
    PARTITION_DISTANCE,
    ChainSummary,
    ModesReport,
)
from bayesgmm.posterior.modes_text import _number, _tell_apart, describe_weights
from bayesgmm.posterior.switching import RHAT_THRESHOLD

if TYPE_CHECKING:
    from bayesgmm.bayes.inference.idata import PosteriorDraws

__all__ = ["crossing_states", "states_report"]

# A chain is named among a state's chains when at least this share of its draws is there.
_VISIT_SHARE = 0.01


def crossing_states(summary: ChainSummary, draws: PosteriorDraws) -> np.ndarray | None:
    """The state of every draw (C, T) when the chains cross between states of one
    solution, else ``None`` (the chains are grouped into modes as usual)."""
    ll = summary.log_likelihood
    if ll.shape[0] < 2 or summary.partition_distance().max() > PARTITION_DISTANCE:
        return None
    if not st.state_rhat(ll, np.ones(ll.shape, dtype=bool)) > RHAT_THRESHOLD:
        return None
    weights = draws.weights.reshape(*ll.shape, -1)
    labels = st.split_states(st.size_features(weights, summary.n_obs), ll)
    n_states = int(labels.max()) + 1
    counts = np.stack([(labels == s).sum(axis=1) for s in range(n_states)], axis=1)
    crossing = ((counts >= st.MIN_STATE_DRAWS).sum(axis=1) >= 2).any()
    return labels if n_states > 1 and crossing else None


def _describe(mean_weights: np.ndarray, n_obs: int) -> str:
    """A state in words, with its components' sizes (states of one solution often differ
    by sizes alone: a fourth cluster of 12 points or of 44)."""
    points = mean_weights * n_obs
    sizes = ", ".join(f"{p:.0f}" for p in points[points >= 0.5])
    return f"{describe_weights(mean_weights, n_obs)} (sizes {sizes})"


def _visits(in_state: np.ndarray) -> str:
    share = in_state.mean(axis=1)
    return ", ".join(f"{c}: {100 * share[c]:.0f}%" for c in np.flatnonzero(share >= _VISIT_SHARE))


def _message(table: pd.DataFrame, ess: np.ndarray, visits: list[str]) -> str:
    parts = [
        f"{row['description']}, K+ {row['kplus']:.1f}, weight {row['weight']:.2f} ± "
        f"{row['weight_se']:.2f} (chains {visits[s]} of their draws; R-hat within "
        f"{row['rhat']:.3f})"
        for s, row in table.iterrows()
    ]
    text = (
        f"The chains cross slowly between {_number(len(table))} states of one solution: "
        + "; ".join(parts)
        + ". The weights are the states' frequencies among the draws; their standard errors "
        f"come from the effective sample size of each state's indicator ({ess.min():.0f} "
        "draws: the chains cross rarely). The summaries, memberships and partitions pool "
        "all draws, which weighs the states by these frequencies."
    )
    slow = table[~(table["rhat"] <= RHAT_THRESHOLD)]
    if not slow.empty:
        which = ", ".join(f"state {s} (R-hat {row['rhat']:.3f})" for s, row in slow.iterrows())
        text += (
            f" Within {which} the chains still disagree on the log-likelihood (the "
            f"label-invariant R-hat should be <= {RHAT_THRESHOLD}): run more draws (and "
            "tune), or more chains, for the weights and the states to settle."
        )
    return text


def _state_row(summary: ChainSummary, in_state: np.ndarray, mean_w: np.ndarray) -> dict:
    """A state's row of the table (weight and weight_se filled in by the caller)."""
    lp = summary.log_posterior
    nan = float("nan")
    return {
        "chains": tuple(int(c) for c in np.flatnonzero(in_state.mean(axis=1) >= _VISIT_SHARE)),
        "weight": nan,
        "weight_se": nan,
        "mass": nan,
        "mass_se": nan,
        "stacking": nan,
        "stacking_se": nan,
        "kplus": float(summary.kplus[in_state].mean()),
        "log_likelihood": float(summary.log_likelihood[in_state].mean()),
        "log_posterior": float(lp[in_state].mean()) if lp is not None else nan,
        "nearly_empty": bool(mean_w.min() * summary.n_obs < _NEARLY_EMPTY_POINTS),
        "rhat": st.state_rhat(summary.log_likelihood, in_state),
        "description": _describe(mean_w, summary.n_obs),
    }


def _best_means(draws: PosteriorDraws, score: np.ndarray, in_state: np.ndarray) -> np.ndarray:
    """The means of the state's best draw by ``score`` (C, T), by decreasing weight."""
    best = np.flatnonzero(in_state.ravel())[np.argmax(score[in_state])]
    return draws.means[best][np.argsort(-draws.weights[best], kind="stable")]


def states_report(summary: ChainSummary, draws: PosteriorDraws, labels: np.ndarray) -> ModesReport:
    """The :class:`ModesReport` of the states ``labels`` (C, T), one row a state: its
    weight the state's frequency among the draws, ``weight_se`` its Monte Carlo standard
    error (:func:`bayesgmm.posterior.states.state_weights`), ``chains`` the chains with
    at least 1% of their draws in it, ``rhat`` the R-hat of the log-likelihood within it
    (:func:`bayesgmm.posterior.states.state_rhat`); ``mass`` and ``stacking`` NaN."""
    n_chains, n_draws = labels.shape
    n_states = int(labels.max()) + 1
    weight, se, ess = st.state_weights(labels, n_states)
    sorted_w = -np.sort(-draws.weights.reshape(n_chains, n_draws, -1), axis=-1)
    score = summary.log_likelihood if summary.log_posterior is None else summary.log_posterior
    in_states = [labels == s for s in range(n_states)]
    mean_weights = np.stack([sorted_w[in_state].mean(axis=0) for in_state in in_states])
    rows = [_state_row(summary, *args) for args in zip(in_states, mean_weights, strict=True)]
    table = pd.DataFrame(rows, index=pd.RangeIndex(n_states, name="mode"))
    table["weight"], table["weight_se"] = weight, se
    means = np.stack([_best_means(draws, score, in_state) for in_state in in_states])
    _tell_apart(table, means, summary.n_obs)
    counts = np.stack([in_state.sum(axis=1) for in_state in in_states], axis=1)
    return ModesReport(
        table=table,
        sorted_weights=mean_weights,
        means=means,
        chain_mode=np.argmax(counts, axis=1).astype(np.intp),
        chain_weights=np.full(n_chains, 1.0 / n_chains),
        partition_distance=summary.partition_distance(),
        message=_message(table, ess, [_visits(in_state) for in_state in in_states]),
        weighting="frequency",
        draw_mode=labels.astype(np.intp),
    )
