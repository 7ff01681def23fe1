"""Modes of a mixture's posterior: which chains found which solution, and how much it weighs.

A mixture's posterior has more modes than the K! relabelings of one solution: different
clusterings, and solutions with a nearly empty component. NUTS chains do not cross between
them, and no relabeling joins them. :func:`find_modes` groups the chains by label-invariant
summaries (the co-clustering of the points, the sorted weights, the log-likelihood, K+),
weighs every group by stacking the chains on their leave-one-out predictive density
(:mod:`bayesgmm.posterior.stacking`), and says what it found in plain words.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm._utils.validation import check_random_state
from bayesgmm.bayes.inference.idata import check_idata, posterior_draws, thin_indices
from bayesgmm.exceptions import MultimodalPosteriorWarning
from bayesgmm.mixture import draws as draw_math
from bayesgmm.posterior._data import observed
from bayesgmm.posterior.bridge import mode_masses
from bayesgmm.posterior.modes_text import (
    NEGLIGIBLE_WEIGHT,
    _modes_message,
    _tell_apart,
    describe_weights,
)
from bayesgmm.posterior.stacking import stack_chains

if TYPE_CHECKING:
    from bayesgmm.bayes.inference.idata import PosteriorDraws
    from bayesgmm.bayes.model.graph import GMMModel

__all__ = [
    "ChainSummary",
    "ModesReport",
    "chain_summaries",
    "describe_chains",
    "find_modes",
    "warn_if_multimodal",
]

#: Co-clustering distance (mean absolute difference of the co-clustering probabilities
#: over pairs of points) above which two chains hold different clusterings. Within one
#: mode it is Monte Carlo error, ~0.01 at 100 draws per chain, up to 0.05 for single
#: chains of geyser K=3 that still drift; different clusterings measured 0.19-0.5
#: (geyser, iris, the square's mirror modes).
PARTITION_DISTANCE = 0.1
#: Largest difference of a chain's mean sorted weights within one mode.
WEIGHT_DISTANCE = 0.1
#: Largest standard error of a mode's mass (bridge sampling) for the mass to be the
#: weight; above it the weight is the stacking weight. Where symmetry fixes the mass (the
#: square's mirror modes) its se is 0.003-0.004, iris's 0.002-0.005; on a sparse K=10
#: fit of the penguins (a funnel of five empty components in 150 dimensions) 0.35 for
#: seed 4's 0.41, which a proposal not cross-fitted had put at 0.01 ± 0.03 (long run 0.36).
MAX_MASS_SE = 0.1
# Draws per chain and rows behind the co-clustering matrices (their cost is T x n^2 x K).
_PSM_DRAWS = 100
_PSM_ROWS = 300
# A component holding fewer points than this (N x weight) is "nearly empty".
_NEARLY_EMPTY_POINTS = 2.0


@dataclass(frozen=True, eq=False)
class ChainSummary:
    """Label-invariant summaries of every chain (arrays indexed by chain).

    Attributes
    ----------
    log_likelihood : ndarray of shape (C, T)
        Total log-likelihood of every draw.
    log_posterior : ndarray of shape (C, T) or None
        The sampler's log density of every draw (``sample_stats.lp`` / ``logp``), on the
        sampler's unconstrained scale; differences between chains are meaningful.
    sorted_weights : ndarray of shape (C, K)
        Every chain's mean of the weights sorted in decreasing order.
    kplus : ndarray of shape (C, T)
        Components holding at least one point (``N x weight >= 1``) per draw.
    coclustering : ndarray of shape (C, n, n)
        Every chain's posterior probability that two of ``n`` rows share a component.
    means : ndarray of shape (C, K, D)
        The means of every chain's best draw (highest log posterior, else log-likelihood),
        components by decreasing weight at that draw: a representative point of the
        chain's solution (averaging means across draws would mix components of equal
        weight).
    best : ndarray of shape (C,)
        The log posterior (else log-likelihood) of those draws.
    n_obs : int
    """

    log_likelihood: np.ndarray
    log_posterior: np.ndarray | None
    sorted_weights: np.ndarray
    kplus: np.ndarray
    coclustering: np.ndarray
    means: np.ndarray
    best: np.ndarray
    n_obs: int

    def partition_distance(self) -> np.ndarray:
        """(C, C) mean absolute difference of the chains' co-clustering probabilities."""
        psm = self.coclustering
        n = psm.shape[1]
        pairs = max(n * (n - 1), 1)
        diff = np.abs(psm[:, None] - psm[None, :]).sum(axis=(2, 3))
        return diff / pairs


def _pointwise_log_lik(idata: az.InferenceData, X: np.ndarray, draws: PosteriorDraws) -> np.ndarray:
    """(C, T, N) pointwise log-likelihood: the stored one when it covers every draw."""
    ll = idata.log_likelihood if "log_likelihood" in idata.groups() else None
    shape = (draws.n_chains, draws.n_draws_per_chain)
    if ll is not None and len(ll.data_vars) and ll.sizes.get("draw") == draws.n_draws_per_chain:
        da = ll["x"] if "x" in ll else ll[next(iter(ll.data_vars))]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        values = da.transpose("chain", "draw", *other).values
        return np.asarray(values, dtype=np.float64).reshape(*shape, -1)
    pointwise = draw_math.pointwise_log_likelihood(X, draws.weights, draws.means, draws.covariances)
    return pointwise.reshape(*shape, -1)


def _log_posterior(idata: az.InferenceData) -> np.ndarray | None:
    stats = idata.sample_stats if "sample_stats" in idata.groups() else None
    for name in ("lp", "logp"):
        if stats is not None and name in stats:
            return np.asarray(stats[name].transpose("chain", "draw").values, dtype=np.float64)
    return None


def _coclustering(X: np.ndarray, draws: PosteriorDraws, chain: int, rows: np.ndarray) -> np.ndarray:
    """A chain's co-clustering probabilities of ``rows``: mean over draws of R R^T."""
    start = chain * draws.n_draws_per_chain
    keep = start + thin_indices(draws.n_draws_per_chain, _PSM_DRAWS)
    resp = draw_math.responsibilities(
        X[rows], draws.weights[keep], draws.means[keep], draws.covariances[keep]
    )
    flat = resp.transpose(1, 0, 2).reshape(len(rows), -1)  # (n, S K): one BLAS product
    return flat @ flat.T / len(keep)


def _best_draws(draws: PosteriorDraws, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every chain's best draw by ``score`` (C, T): its means by decreasing weight."""
    best = np.argmax(score, axis=1) + np.arange(draws.n_chains) * draws.n_draws_per_chain
    order = np.argsort(-draws.weights[best], axis=1, kind="stable")
    means = np.take_along_axis(draws.means[best], order[:, :, None], axis=1)
    return means, score.reshape(-1)[best]


def chain_summaries(idata: az.InferenceData) -> ChainSummary:
    """Label-invariant summaries of every chain of ``idata`` (see :class:`ChainSummary`)."""
    idata = check_idata(idata)
    draws = posterior_draws(idata)
    X = observed(idata, "chain_summaries")
    n_obs = X.shape[0]
    shape = (draws.n_chains, draws.n_draws_per_chain)
    log_lik = _pointwise_log_lik(idata, X, draws).sum(axis=2)
    sorted_w = -np.sort(-draws.weights, axis=1)
    complete = np.flatnonzero(~np.isnan(X).any(axis=1))  # co-clustering on complete rows
    rows = np.sort(check_random_state(0).permutation(complete)[:_PSM_ROWS])
    psm = np.stack([_coclustering(X, draws, c, rows) for c in range(draws.n_chains)])
    log_post = _log_posterior(idata)
    log_lik = log_lik.reshape(shape)
    means, best = _best_draws(draws, log_lik if log_post is None else log_post)
    return ChainSummary(
        log_likelihood=log_lik,
        log_posterior=log_post,
        sorted_weights=sorted_w.reshape(*shape, -1).mean(axis=1),
        kplus=(n_obs * draws.weights >= 1.0).sum(axis=1).reshape(shape),
        coclustering=psm,
        means=means,
        best=best,
        n_obs=n_obs,
    )


def describe_chains(summary: ChainSummary) -> str:
    """Every chain in words: its K+, its mean sorted weights and its log posterior."""
    lp = summary.log_posterior if summary.log_posterior is not None else None
    parts = []
    for c in range(summary.log_likelihood.shape[0]):
        weights = "/".join(f"{w:.2f}" for w in summary.sorted_weights[c])
        text = f"chain {c}: K+ {summary.kplus[c].mean():.1f}, weights {weights}"
        if lp is not None:
            text += f", log posterior {lp[c].mean():.1f}"
        parts.append(text + f", log-likelihood {summary.log_likelihood[c].mean():.1f}")
    return "; ".join(parts)


def _same_mode(summary: ChainSummary, a: int, b: int, distance: np.ndarray) -> bool:
    """Do chains ``a`` and ``b`` hold the same solution? Every summary must agree."""
    ll = summary.log_likelihood
    spread = np.sqrt(0.5 * (ll[a].var() + ll[b].var()))
    return bool(
        distance[a, b] <= PARTITION_DISTANCE
        and np.max(np.abs(summary.sorted_weights[a] - summary.sorted_weights[b])) <= WEIGHT_DISTANCE
        and abs(ll[a].mean() - ll[b].mean()) <= 2.0 * spread
        and abs(summary.kplus[a].mean() - summary.kplus[b].mean()) < 0.5
    )


def group_chains(summary: ChainSummary) -> list[list[int]]:
    """Chains joined when their summaries agree (transitively), best log-likelihood first."""
    n_chains = summary.log_likelihood.shape[0]
    distance = summary.partition_distance()
    parent = list(range(n_chains))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a in range(n_chains):
        for b in range(a + 1, n_chains):
            if _same_mode(summary, a, b, distance):
                parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for c in range(n_chains):
        groups.setdefault(root(c), []).append(c)
    mean_ll = summary.log_likelihood.mean(axis=1)
    return sorted(groups.values(), key=lambda g: -float(mean_ll[g].mean()))


@dataclass(frozen=True, eq=False)
class ModesReport:
    """What :func:`find_modes` found: the modes, their weights, and a ``message``.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per mode (index ``mode`` 0, 1, ...; heaviest first): ``chains`` (tuple),
        ``weight`` and ``weight_se`` (stacking weight and its Bayesian-bootstrap standard
        error), ``kplus`` (mean K+), ``log_likelihood`` and ``log_posterior`` (means over
        the mode's draws), ``nearly_empty`` (a component expected to hold fewer than two
        points), ``rhat`` (largest label-invariant R-hat within the mode, NaN for one
        chain) and ``description`` (the mode in words).
    sorted_weights : ndarray of shape (M, K)
        Every mode's mean weights, largest first.
    means : ndarray of shape (M, K, D)
        The means of every mode's best draw (highest log posterior), components by
        decreasing weight at that draw.
    chain_mode : ndarray of shape (C,)
        The mode of every chain.
    weighting : {"mass", "stacking", "frequency"}
        What ``table["weight"]`` is: the posterior mass by bridge sampling, or the
        stacking weight (without the compiled kernel, or when a mass's standard error
        exceeds ``MAX_MASS_SE``), or, for states the chains cross between
        (:mod:`bayesgmm.posterior.state_report`), a state's frequency among the draws.
    chain_weights : ndarray of shape (C,)
        Every chain's share: its mode's weight split evenly between the mode's chains
        (the chains of a mode are stacked as one group of draws).
    partition_distance : ndarray of shape (C, C)
        The chains' co-clustering distances.
    message : str
    draw_mode : ndarray of int, shape (C, T), or None
        The state of every draw when the rows are states the chains cross between
        (``weighting="frequency"``; ``chains`` are then the chains that visit a state,
        ``chain_mode`` every chain's most visited state, ``mass`` and ``stacking`` NaN);
        ``None`` when the rows are groups of chains.
    """

    table: pd.DataFrame
    sorted_weights: np.ndarray
    means: np.ndarray
    chain_mode: np.ndarray
    chain_weights: np.ndarray
    partition_distance: np.ndarray
    message: str
    weighting: str = "stacking"
    draw_mode: np.ndarray | None = None

    @property
    def n_modes(self) -> int:
        """Modes found (distinct solutions among the chains)."""
        return len(self.table)

    @property
    def n_weighted(self) -> int:
        """Modes whose weight is at least ``NEGLIGIBLE_WEIGHT``."""
        return int((self.table["weight"] >= NEGLIGIBLE_WEIGHT).sum())

    @property
    def chain_shares(self) -> np.ndarray:
        """(C, M) every chain's share of its draws in every mode or state (0 or 1 when
        the modes are groups of chains)."""
        n_modes = self.n_modes
        if self.draw_mode is None:
            return np.eye(n_modes)[self.chain_mode]
        return np.stack([(self.draw_mode == m).mean(axis=1) for m in range(n_modes)], axis=1)

    @property
    def multimodal(self) -> bool:
        """More than one mode carries weight."""
        return self.n_weighted > 1

    def __str__(self) -> str:
        return self.message


def _within_rhat(summary: ChainSummary, chains: list[int]) -> float:
    if len(chains) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(summary.log_likelihood[chains])
    return float(np.asarray(rhat))


def _mass_is_estimable(mass: np.ndarray, mass_se: np.ndarray) -> bool:
    """Are the bridge-sampling masses the weights? Computed, and every standard error at
    most ``MAX_MASS_SE`` (else the stacking weight, which is estimable, stands in)."""
    return bool(np.all(np.isfinite(mass)) and np.all(mass_se <= MAX_MASS_SE))


def find_modes(
    idata: az.InferenceData, random_seed: int = 0, model: GMMModel | None = None
) -> ModesReport:
    """Group the chains of a posterior into modes and weigh every mode.

    Chains join one mode when their co-clustering of the points differs by at most
    ``PARTITION_DISTANCE``, their sorted mean weights by at most ``WEIGHT_DISTANCE``,
    their mean log-likelihoods by at most two within-chain standard deviations and their
    mean K+ by less than a half.

    Two weights per mode (``docs/modes.md``): ``mass``, its posterior mass by bridge
    sampling (:mod:`bayesgmm.posterior.bridge`; needs ``model`` on the compiled kernel),
    and ``stacking``, its share in the combination of modes that best predicts each point
    left out (:func:`bayesgmm.posterior.stacking.stack_chains`, a mode's chains pooled).
    ``weight`` is the mass when it is available and every mode's mass has a standard
    error of at most ``MAX_MASS_SE``, else the stacking weight.

    When every chain holds the same clustering and they cross slowly between states of it
    (a small component present or merged away), the rows are those states instead, each
    weighed by its frequency among the draws with a Monte Carlo standard error
    (:func:`bayesgmm.posterior.state_report.crossing_states`).

    Parameters
    ----------
    idata : arviz.InferenceData
        Raw sampler output (label-invariant summaries: relabeling does not matter).
    random_seed : int
        Seed of the Bayesian bootstrap and of the bridge's proposal draws.
    model : GMMModel, optional
        The model ``idata`` samples (``BayesianGMM.model_``), for bridge sampling.

    Returns
    -------
    ModesReport
    """
    from bayesgmm.posterior.state_report import crossing_states, states_report

    idata = check_idata(idata)
    summary = chain_summaries(idata)
    draws = posterior_draws(idata)
    labels = crossing_states(summary, draws)  # chains crossing between states of one solution
    if labels is not None:
        return states_report(summary, draws, labels)
    groups = group_chains(summary)
    chain_mode = np.empty(draws.n_chains, dtype=np.intp)
    for m, chains in enumerate(groups):
        chain_mode[chains] = m
    stack, stack_se = np.ones(1), np.zeros(1)
    mass, mass_se = np.ones(1), np.zeros(1)
    if len(groups) > 1:  # one mode weighs 1: nothing to weigh
        pointwise = _pointwise_log_lik(idata, observed(idata, "find_modes"), draws)
        parts = [pointwise[g].reshape(-1, pointwise.shape[2]) for g in groups]
        stacking = stack_chains(parts, random_seed)
        stack, stack_se = stacking.weights, stacking.replicates.std(axis=0, ddof=1)
        try:
            masses = mode_masses(model, idata, groups, random_seed)
        except np.linalg.LinAlgError:  # a mode too degenerate for its Gaussian proposal
            masses = None  # (a collapsing component): weigh by stacking instead
        mass, mass_se = masses if masses is not None else (np.full(len(groups), np.nan),) * 2
    use_mass = _mass_is_estimable(mass, mass_se)
    weight, weight_se = (mass, mass_se) if use_mass else (stack, stack_se)
    rows = []
    for m, chains in enumerate(groups):
        weights = summary.sorted_weights[chains].mean(axis=0)
        lp = summary.log_posterior
        rows.append(
            {
                "chains": tuple(chains),
                "weight": float(weight[m]),
                "weight_se": float(weight_se[m]),
                "mass": float(mass[m]),
                "mass_se": float(mass_se[m]),
                "stacking": float(stack[m]),
                "stacking_se": float(stack_se[m]),
                "kplus": float(summary.kplus[chains].mean()),
                "log_likelihood": float(summary.log_likelihood[chains].mean()),
                "log_posterior": float(lp[chains].mean()) if lp is not None else float("nan"),
                "nearly_empty": bool(weights.min() * summary.n_obs < _NEARLY_EMPTY_POINTS),
                "rhat": _within_rhat(summary, chains),
                "description": describe_weights(weights, summary.n_obs),
            }
        )
    table = pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="mode"))
    means = np.stack([summary.means[g[int(np.argmax(summary.best[g]))]] for g in groups])
    _tell_apart(table, means, summary.n_obs)
    return ModesReport(
        table=table,
        sorted_weights=np.stack([summary.sorted_weights[g].mean(axis=0) for g in groups]),
        means=means,
        chain_mode=chain_mode,
        chain_weights=weight[chain_mode] / np.bincount(chain_mode)[chain_mode],
        partition_distance=summary.partition_distance(),
        message=_modes_message(table, use_mass),
        weighting="mass" if use_mass else "stacking",
    )


def warn_if_multimodal(report: ModesReport) -> bool:
    """Issue a :class:`~bayesgmm.exceptions.MultimodalPosteriorWarning` when more than one
    mode carries weight; returns whether it did."""
    if report.multimodal:
        warnings.warn(report.message, MultimodalPosteriorWarning, stacklevel=2)
        return True
    return False
