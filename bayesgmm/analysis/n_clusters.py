"""How many clusters? The prior and the posterior of K+, the number of non-empty components.

An overfitted mixture (K larger than needed) with a small Dirichlet concentration, fixed
or with the sparse finite mixture's hyperprior ``alpha ~ Gamma(a, b)`` (Malsiner-Walli,
Frühwirth-Schnatter & Grün 2016), leaves the components the data do not need empty. The
posterior of K+ comes from allocations redrawn per draw
(:func:`bayesgmm.posterior.occupied_components`); the prior of K+ implied by the same N, K
and alpha prior (:mod:`bayesgmm.analysis.kplus_prior`, as fipp computes it) sits beside it, so
that a reader sees how much of the answer the data gave and how much the prior did.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm.analysis._fits import as_idata, check_prob
from bayesgmm.analysis.kplus_prior import prior_n_clusters
from bayesgmm.bayes.inference.idata import idata_config
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.exceptions import ConvergenceWarning
from bayesgmm.posterior.modes import NEGLIGIBLE_WEIGHT
from bayesgmm.posterior.occupancy import occupied_components, occupied_counts
from bayesgmm.posterior.states import state_draw_indices
from bayesgmm.posterior.switching import RHAT_THRESHOLD
from bayesgmm.posterior.weighted import rows_idata

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike
    from bayesgmm.posterior.mixture import PosteriorFit
    from bayesgmm.posterior.modes import ModesReport

__all__ = ["NClusters", "n_clusters"]


@dataclass(frozen=True)
class NClusters:
    """The prior and posterior of K+ for one fit.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``n_clusters`` = 1..K; columns ``prior`` and ``posterior`` (probabilities).
    mode : int
        The posterior mode of K+.
    alpha : pandas.Series or None
        Posterior summary of alpha (``mean``, ``sd``, ``hdi_low``, ``hdi_high``) when it
        has a prior (a sparse finite mixture); ``None`` when alpha is fixed.
    alpha_prior : str
        The prior on alpha in words, e.g. ``"alpha ~ Gamma(10, 100)"`` or ``"alpha = 0.1"``.
    n_samples, n_components : int
        N and K.
    hdi_prob : float
        Mass of the alpha HDI.
    convergence : pandas.DataFrame
        Label-invariant convergence of the chains: rows ``K+`` (the draws' counts of
        non-empty components) and ``alpha`` (when it has a prior); columns ``r_hat``
        (rank-normalised split R-hat) and ``ess_bulk``. For a posterior averaged over
        modes (``BayesianGMM.modes_``), the worst over the modes, each within its chains.
    modes : str
        The fit's modes in words when more than one carries weight, else "".
    """

    table: pd.DataFrame
    mode: int
    alpha: pd.Series | None
    alpha_prior: str
    n_samples: int
    n_components: int
    hdi_prob: float
    convergence: pd.DataFrame = field(default_factory=pd.DataFrame)
    modes: str = ""

    @property
    def converged(self) -> bool:
        """Every R-hat of :attr:`convergence` is at most 1.01."""
        rhat = self.convergence.get("r_hat", pd.Series(dtype=float))
        return bool(np.all(rhat.to_numpy() <= RHAT_THRESHOLD))

    def convergence_line(self) -> str:
        """The convergence of K+ and alpha in one line, with what to do when poor."""
        if self.convergence.empty:
            return (
                "convergence: not assessed (fewer than two chains in every mode that "
                "carries weight, or a posterior averaged over modes whose chains are not at "
                "hand, as in a file written before fits stored their modes)"
            )
        parts = ", ".join(
            f"{name} R-hat {row['r_hat']:.3f} (bulk ESS {row['ess_bulk']:.0f})"
            for name, row in self.convergence.iterrows()
        )
        if self.converged:
            return f"convergence: {parts}"
        return (
            f"NOT CONVERGED: {parts}; R-hat should be <= {RHAT_THRESHOLD}. The table is "
            "not yet reliable: run more draws (and tune), or more chains."
        )

    @property
    def prior_mode(self) -> int:
        """The prior mode of K+."""
        return int(self.table["prior"].idxmax())

    def __str__(self) -> str:
        lines = [
            f"K+ (non-empty components of K = {self.n_components}, N = {self.n_samples}); "
            f"{self.alpha_prior}",
            self.table.round(3).to_string(),
            f"posterior mode K+ = {self.mode} (prior mode {self.prior_mode})",
        ]
        if self.modes:
            lines.append(self.modes)
        if self.alpha is not None:
            a = self.alpha
            lines.append(
                f"alpha: posterior mean {a['mean']:.3g}, sd {a['sd']:.3g}, "
                f"{100 * self.hdi_prob:g}% HDI [{a['hdi_low']:.3g}, {a['hdi_high']:.3g}]"
            )
        lines.append(self.convergence_line())
        return "\n".join(lines)


def _rhat_ess(values: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant draws: R-hat is NaN, said as such
        rhat = float(az.rhat(values.astype(np.float64)))
        ess = float(az.ess(values.astype(np.float64), method="bulk"))
    if np.ptp(values) == 0:  # every draw equal: the chains agree exactly
        rhat, ess = 1.0, float(values.size)
    return rhat, ess


def _chain_sets(fit: PosteriorFit, idata: az.InferenceData) -> list[az.InferenceData]:
    """The posteriors whose chains are chains: the fit's modes' raw chains for a
    posterior averaged over modes, every state's draws per visiting chain for states the
    chains cross between, else the posterior itself."""
    modes, raw = getattr(fit, "modes_", None), getattr(fit, "raw_idata_", None)
    if getattr(modes, "draw_mode", None) is not None and raw is not None:
        indices = [state_draw_indices(modes.draw_mode == s) for s in range(modes.n_modes)]
        return [rows_idata(raw, index) for index in indices if index.size and index.shape[1] >= 4]
    if not idata.attrs.get("mode_weighted"):
        return [idata]
    if modes is None or raw is None:
        return []
    kept = modes.table[modes.table["weight"] >= NEGLIGIBLE_WEIGHT]
    return [raw.isel(chain=list(c)) for c in kept["chains"] if len(c) > 1]


def _modes_words(modes: ModesReport | None, idata: az.InferenceData) -> str:
    """The fit's modes in words when more than one carries weight, else ""."""
    if modes is not None:
        return modes.message if modes.multimodal else ""
    averaged = idata.attrs.get("mode_weighted") or idata.attrs.get("mode_states")
    return str(idata.attrs.get("modes", "")) if averaged else ""


def _convergence(fit: PosteriorFit, idata: az.InferenceData, random_seed: SeedLike) -> pd.DataFrame:
    rows: dict[str, list[tuple[float, float]]] = {"K+": [], "alpha": []}
    for part in _chain_sets(fit, idata):
        if part.posterior.sizes["chain"] < 2:
            continue
        rows["K+"].append(_rhat_ess(occupied_counts(part, random_seed=random_seed)))
        if "alpha" in part.posterior:
            alpha = part.posterior["alpha"].transpose("chain", "draw").values
            rows["alpha"].append(_rhat_ess(alpha))
    table = {
        name: {"r_hat": max(v[0] for v in vals), "ess_bulk": min(v[1] for v in vals)}
        for name, vals in rows.items()
        if vals
    }
    return pd.DataFrame.from_dict(table, orient="index", columns=["r_hat", "ess_bulk"])


def _alpha_summary(idata: az.InferenceData, hdi_prob: float) -> pd.Series:
    draws = np.asarray(idata.posterior["alpha"].values, dtype=np.float64)
    low, high = az.hdi(draws.ravel(), hdi_prob=hdi_prob)
    return pd.Series(
        {"mean": draws.mean(), "sd": draws.std(ddof=1), "hdi_low": low, "hdi_high": high},
        name="alpha",
    )


def n_clusters(
    fit: PosteriorFit,
    *,
    threshold: float | None = None,
    random_seed: SeedLike = 0,
    hdi_prob: float = 0.94,
) -> NClusters:
    """Prior versus posterior of the number of non-empty components K+.

    Parameters
    ----------
    fit : arviz.InferenceData or BayesianGMM
        A posterior from :mod:`bayesgmm.bayes.inference` (or a fitted ``BayesianGMM``),
        with its observed data and stored config.
    threshold : float, optional
        Fewest points a non-empty component holds (default 1, the definition of K+; the
        prior is computed for 1 only, so any other value is refused).
    random_seed : int or numpy Generator
        Seed of the allocations redrawn per draw.
    hdi_prob : float
        Mass of the alpha HDI.

    Returns
    -------
    NClusters
        Its ``convergence`` holds the label-invariant R-hat and ESS of K+ and alpha; a
        :class:`~bayesgmm.exceptions.ConvergenceWarning` says when either R-hat exceeds
        1.01, and by how much.
    """
    idata = as_idata(fit)
    hdi_prob = check_prob(hdi_prob, "hdi_prob")
    if threshold is not None and float(threshold) != 1.0:
        raise ValueError(
            "n_clusters counts components with at least one point (K+), the count the "
            f"prior is computed for; got threshold={threshold!r}. Use "
            "bayesgmm.posterior.occupied_components for other thresholds (posterior only)."
        )
    config = idata_config(idata)
    if not config.get("priors") or not config.get("n_samples"):
        raise ValueError(
            "the InferenceData has no stored model config (priors, N): the prior of K+ needs "
            "them. Pass the output of sample_nuts / fit_advi or a fitted BayesianGMM."
        )
    priors = GMMPriors.from_dict(config["priors"])
    n_samples, n_components = int(config["n_samples"]), int(config["n_components"])
    hyper = priors.alpha_gamma
    if hyper is None:
        prior = prior_n_clusters(n_samples, n_components, alpha=float(priors.alpha))
        words = f"alpha = {float(priors.alpha):g} (fixed)"
    else:
        prior = prior_n_clusters(n_samples, n_components, alpha_gamma=hyper)
        words = f"alpha ~ Gamma({hyper[0]:g}, {hyper[1]:g}) (shape, rate)"
    posterior = occupied_components(idata, random_seed=random_seed)
    index = pd.RangeIndex(1, n_components + 1, name="n_clusters")
    table = pd.DataFrame(
        {"prior": prior, "posterior": posterior.reindex(index, fill_value=0.0).to_numpy()},
        index=index,
    )
    alpha = _alpha_summary(idata, hdi_prob) if "alpha" in idata.posterior else None
    modes = getattr(fit, "modes_", None)
    result = NClusters(
        table,
        int(table["posterior"].idxmax()),
        alpha,
        words,
        n_samples,
        n_components,
        hdi_prob,
        _convergence(fit, idata, random_seed),
        _modes_words(modes, idata),
    )
    if not result.converged:
        warnings.warn(f"n_clusters: {result.convergence_line()}", ConvergenceWarning, stacklevel=2)
    return result
