"""One best partition of the data, and its credible ball, from a posterior.

What R's salso and mcclust.ext give a Bayesian clustering user: the partition that
minimises the posterior expected Binder loss or variation of information (VI), found by
SALSO (Dahl, Johnson & Müller 2022; :mod:`bayesgmm.analysis.partition.search`), and the 95%
credible ball around it (Wade & Ghahramani 2018; :mod:`bayesgmm.analysis.partition.loss`).

* :func:`partition_from_allocations`: pure numpy, on allocation draws ``(S, N)``.
* :func:`partition`: on a fitted :class:`~bayesgmm.BayesianGMM` or its InferenceData. The
  mixture marginalises ``z``, so allocations are redrawn per posterior draw from the
  membership probabilities, as :func:`bayesgmm.posterior.occupied_components` does
  (:func:`bayesgmm.mixture.allocations.sample_allocations`); the PSM defaults to the
  Rao-Blackwellised :func:`bayesgmm.analysis.similarity`. Partitions are
  label-invariant: no relabeling is needed.

See ``docs/partition.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm._utils.deprecation import DEPRECATED
from bayesgmm._utils.validation import check_random_state
from bayesgmm.analysis import similarity
from bayesgmm.analysis._fits import as_idata
from bayesgmm.analysis.partition.loss import (
    CredibleBall,
    binder_weights,
    check_allocations,
    check_loss,
    check_psm,
    credible_ball,
    psm_from_allocations,
    resolve_hdi_prob,
)
from bayesgmm.analysis.partition.search import salso
from bayesgmm.bayes.inference.idata import check_idata, posterior_draws, thin_indices
from bayesgmm.mixture.allocations import sample_allocations
from bayesgmm.posterior._data import fitted_labels
from bayesgmm.posterior.mixture import check_fit_data

if TYPE_CHECKING:
    import arviz as az
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike
    from bayesgmm.posterior.mixture import PosteriorFit

__all__ = ["PartitionResult", "allocation_draws", "partition", "partition_from_allocations"]

_PSM_SOURCES = ("responsibilities", "allocations")


@dataclass(frozen=True)
class PartitionResult:
    """The partition minimising a posterior expected loss, with its credible ball.

    Attributes
    ----------
    labels : numpy.ndarray of shape (N,)
        Cluster of every item, ``0..n_clusters-1`` in order of first appearance.
    n_clusters : int
    cluster_sizes : numpy.ndarray of shape (n_clusters,)
    loss : {"VI", "binder"}
    expected_loss : float
        The minimised objective: the expected Binder loss, or the lower bound of the
        expected VI (bits), both from the PSM.
    credible_ball : CredibleBall
        Radius and bounds of the ball around ``labels`` holding ``hdi_prob`` of the draws,
        under the same loss (exact VI or Binder loss to each draw).
    run_losses : numpy.ndarray
        Objective reached by each SALSO run (how often the best was found).
    settings : dict
        Loss weights, runs, cluster bound, hdi_prob, seed, PSM source and draws used.
    modes : str
        When the posterior averages over several modes (``BayesianGMM.modes_``), what
        they are and weigh; else "". The partition and its ball then span the modes.
    """

    labels: np.ndarray
    n_clusters: int
    cluster_sizes: np.ndarray
    loss: str
    expected_loss: float
    credible_ball: CredibleBall
    run_losses: np.ndarray
    settings: Mapping[str, Any] = field(default_factory=dict)
    modes: str = ""

    def __str__(self) -> str:
        ball = self.credible_ball
        low, high = ball.n_clusters_range
        name = "VI lower bound" if self.loss == "VI" else "Binder loss"
        text = (
            f"{self.n_clusters} clusters (sizes {', '.join(map(str, self.cluster_sizes))}); "
            f"expected {name} {self.expected_loss:.4g}. "
            f"{100 * ball.hdi_prob:.0f}% credible ball: radius {ball.radius:.4g}, "
            f"{low} to {high} clusters among the draws inside it."
        )
        return text + (f" Over several modes: {self.modes}" if self.modes else "")


def partition_from_allocations(
    allocations: ArrayLike,
    loss: str = "VI",
    *,
    psm: ArrayLike | None = None,
    a: float = 1.0,
    b: float | None = None,
    hdi_prob: float = 0.95,
    n_runs: int = 16,
    max_clusters: int | None = None,
    max_sweeps: int = 100,
    random_seed: SeedLike = 0,
    level: float | str = DEPRECATED,
) -> PartitionResult:
    """The partition minimising the posterior expected loss, from allocation draws.

    Parameters
    ----------
    allocations : array-like of int, shape (S, N)
        Posterior draws of the cluster labels (any integers; only the partitions matter).
    loss : {"VI", "binder"}
        ``"VI"`` minimises the lower bound of the expected variation of information
        (Wade & Ghahramani 2018), as mcclust.ext's ``minVI`` and salso's ``"VI.lb"``:
        it needs only the PSM, so a SALSO move costs O(N). ``"binder"``: the expected
        Binder loss, exact given the PSM.
    psm : array-like of shape (N, N), optional
        Posterior similarity matrix; defaults to the co-clustering frequencies of
        ``allocations``.
    a, b : float
        Binder weights (salso's): ``a`` the cost of separating two items that belong
        together, ``b`` (default ``2 - a``) of joining two that belong apart.
    hdi_prob : float in (0, 1)
        Mass of the credible ball.
    n_runs : int
        SALSO runs (random allocation orders, seeded).
    max_clusters : int, optional
        Most clusters the estimate may have; default the most in any draw (salso's).
    max_sweeps : int
        Cap on sweetening sweeps per run.
    random_seed : int or numpy.random.Generator
    level : float
        Deprecated alias of ``hdi_prob`` (warns once).

    Returns
    -------
    PartitionResult
    """
    loss = check_loss(loss)
    a, b = binder_weights(a, b)
    hdi_prob = resolve_hdi_prob("partition_from_allocations", hdi_prob, level)
    alloc = check_allocations(allocations)
    P = psm_from_allocations(alloc) if psm is None else check_psm(psm, n_items=alloc.shape[1])
    limit = int(alloc.max()) + 1 if max_clusters is None else max_clusters
    found = salso(
        P,
        loss,
        a=a,
        b=b,
        n_runs=n_runs,
        max_clusters=limit,
        max_sweeps=max_sweeps,
        random_seed=random_seed,
    )
    ball = credible_ball(found.labels, alloc, loss, hdi_prob, a=a, b=b)
    sizes = np.bincount(found.labels)
    settings = {
        "loss": loss,
        "a": a,
        "b": b,
        "hdi_prob": hdi_prob,
        "n_runs": n_runs,
        "max_clusters": limit,
        "max_sweeps": max_sweeps,
        "random_seed": random_seed if isinstance(random_seed, (int, np.integer)) else None,
        "n_draws": int(alloc.shape[0]),
        "psm": "allocations" if psm is None else "given",
    }
    return PartitionResult(
        labels=found.labels,
        n_clusters=int(sizes.shape[0]),
        cluster_sizes=sizes,
        loss=loss,
        expected_loss=found.expected_loss,
        credible_ball=ball,
        run_losses=found.run_losses,
        settings=settings,
    )


def _as_idata(fit: PosteriorFit) -> Any:
    return check_idata(
        as_idata(
            fit, "Fit the model first, or pass allocation draws to partition_from_allocations."
        )
    )


def _data(
    idata: az.InferenceData, X: ArrayLike | None, n_features: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows to partition and their partial labels (those of the fit for its own rows)."""
    if X is not None:
        return check_fit_data(X, idata, n_features=n_features, owner="the posterior").X, None
    if "observed_data" not in idata.groups() or "x" not in idata.observed_data:
        raise ValueError("X is required: the InferenceData has no observed_data 'x'.")
    values = idata.observed_data["x"].transpose("obs", ...).values
    return np.asarray(values, dtype=np.float64), fitted_labels(idata)


def allocation_draws(
    fit: PosteriorFit,
    X: ArrayLike | None = None,
    *,
    max_draws: int | None = 1000,
    random_seed: SeedLike = 0,
) -> np.ndarray:
    """One allocation vector per posterior draw, ``z_sn ~ Categorical(r_sn)``.

    ``r_sn`` are the membership probabilities of row n under draw s
    (:func:`bayesgmm.mixture.draws.responsibilities`); the allocations are sampled by
    :func:`bayesgmm.mixture.allocations.sample_allocations`, the sampler
    :func:`bayesgmm.posterior.occupied_components` and :func:`bayesgmm.membership` use.

    Parameters
    ----------
    fit : BayesianGMM or arviz.InferenceData
    X : array-like of shape (N, D), optional
        Defaults to the fitted data (``observed_data``).
    max_draws : int, optional
        Use at most this many draws, evenly spaced over the flattened chains.
    random_seed : int or numpy.random.Generator

    Returns
    -------
    numpy.ndarray of int, shape (S, N)
    """
    idata = _as_idata(fit)
    draws = posterior_draws(idata)
    data, labels = _data(idata, X, draws.means.shape[2])
    index = thin_indices(draws.weights.shape[0], max_draws)
    return sample_allocations(
        data,
        draws.weights[index],
        draws.means[index],
        draws.covariances[index],
        check_random_state(random_seed),
        labels=labels,
    )


def partition(
    fit: PosteriorFit,
    loss: str = "VI",
    *,
    X: ArrayLike | None = None,
    psm: str = "responsibilities",
    a: float = 1.0,
    b: float | None = None,
    hdi_prob: float = 0.95,
    n_runs: int = 16,
    max_clusters: int | None = None,
    max_draws: int = 1000,
    random_seed: SeedLike = 0,
    level: float | str = DEPRECATED,
) -> PartitionResult:
    """The partition of the data minimising the posterior expected loss, with its ball.

    Parameters
    ----------
    fit : BayesianGMM or arviz.InferenceData
        A posterior (NUTS or ADVI draws; a MAP fit has one draw and no uncertainty).
    loss : {"VI", "binder"}
        See :func:`partition_from_allocations`.
    X : array-like of shape (N, D), optional
        Items to partition; defaults to the fitted data.
    psm : {"responsibilities", "allocations"}
        Source of the posterior similarity matrix: ``"responsibilities"`` (default) the
        Rao-Blackwellised ``mean_s sum_k r_sik r_sjk`` of
        :func:`bayesgmm.analysis.similarity`, lower in Monte Carlo variance;
        ``"allocations"`` the co-clustering frequencies of the redrawn allocations.
        The credible ball always uses the redrawn allocations.
    a, b, hdi_prob, n_runs, max_clusters
        See :func:`partition_from_allocations`.
    max_draws : int
        Posterior draws used (at least 2), evenly spaced, for the allocations and the PSM.
    random_seed : int or numpy.random.Generator
        Seeds the allocations and the search.
    level : float
        Deprecated alias of ``hdi_prob`` (warns once).

    Returns
    -------
    PartitionResult
    """
    loss = check_loss(loss)
    hdi_prob = resolve_hdi_prob("partition", hdi_prob, level)
    if psm not in _PSM_SOURCES:
        raise ValueError(f"psm must be one of {_PSM_SOURCES}; got {psm!r}.")
    rng = check_random_state(random_seed)
    alloc = allocation_draws(fit, X, max_draws=max_draws, random_seed=rng)
    P = None
    if psm == "responsibilities":
        P = similarity(_as_idata(fit), X, dtype=np.float64, max_draws=max_draws)
    result = partition_from_allocations(
        alloc,
        loss,
        psm=P,
        a=a,
        b=b,
        hdi_prob=hdi_prob,
        n_runs=n_runs,
        max_clusters=max_clusters,
        random_seed=rng,
    )
    settings = {**result.settings, "psm": psm, "max_draws": max_draws}
    if isinstance(random_seed, (int, np.integer)):
        settings["random_seed"] = int(random_seed)
    idata = _as_idata(fit)
    averaged = idata.attrs.get("mode_weighted") or idata.attrs.get("mode_states")
    modes = str(idata.attrs.get("modes", "")) if averaged else ""
    return PartitionResult(**{**result.__dict__, "settings": settings, "modes": modes})
