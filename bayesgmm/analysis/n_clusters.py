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

from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm.analysis._fits import as_idata, check_prob
from bayesgmm.analysis.kplus_prior import prior_n_clusters
from bayesgmm.bayes.inference.idata import idata_config
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.posterior.occupancy import occupied_components

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
    """

    table: pd.DataFrame
    mode: int
    alpha: pd.Series | None
    alpha_prior: str
    n_samples: int
    n_components: int
    hdi_prob: float

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
        if self.alpha is not None:
            a = self.alpha
            lines.append(
                f"alpha: posterior mean {a['mean']:.3g}, sd {a['sd']:.3g}, "
                f"{100 * self.hdi_prob:g}% HDI [{a['hdi_low']:.3g}, {a['hdi_high']:.3g}]"
            )
        return "\n".join(lines)


def _alpha_summary(idata: az.InferenceData, hdi_prob: float) -> pd.Series:
    draws = np.asarray(idata.posterior["alpha"].values, dtype=np.float64)
    low, high = az.hdi(draws.ravel(), hdi_prob=hdi_prob)
    return pd.Series(
        {"mean": draws.mean(), "sd": draws.std(ddof=1), "hdi_low": low, "hdi_high": high},
        name="alpha",
    )


def n_clusters(
    fit: Any,
    *,
    threshold: float | None = None,
    random_seed: Any = 0,
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
    return NClusters(
        table,
        int(table["posterior"].idxmax()),
        alpha,
        words,
        n_samples,
        n_components,
        hdi_prob,
    )
