"""EM versus posterior: side-by-side estimates, membership uncertainty and model selection.

Three questions a user asks once both a maximum-likelihood (EM) fit and a posterior
(NUTS / ADVI) exist, one module each:

* :mod:`~bayesgmm.analysis.comparison`, :func:`compare`: *where do the point estimate and the
  posterior disagree, and why?* A tidy table with one row per parameter element (EM
  estimate, optional MAP, posterior mean / sd, HDI, whether the EM estimate lies in the
  HDI, a z-score) and a summary paragraph in plain words.
* :mod:`~bayesgmm.analysis.memberships`, :func:`membership` and :func:`similarity`: *how sure
  is each point's cluster?* Posterior-mean membership probabilities with credible
  intervals, entropy, mclust's uncertainty, an ambiguity flag, the posterior of the number
  of occupied clusters, and the label-invariant co-clustering matrix ``P(z_i = z_j | X)``.
* :mod:`~bayesgmm.analysis.n_clusters`, :func:`n_clusters`: *how many clusters?* The
  prior and the posterior of K+, the number of non-empty components.
* :mod:`~bayesgmm.analysis.selection`: *how many components?* BIC / ICL from EM fits and
  PSIS-LOO / WAIC from posteriors, ranked. The loop that fits every K is the facade
  :func:`bayesgmm.compare_k` (:mod:`bayesgmm.analysis.compare_k`): this layer only reads fits.

All maths is numpy on flattened draws (:mod:`bayesgmm.mixture.draws`,
:mod:`bayesgmm.posterior.relabel`);
nothing here runs a sampler. See ``docs/comparison.md``.
"""

from __future__ import annotations

from bayesgmm.analysis.comparison import ComparisonTable, compare
from bayesgmm.analysis.memberships import Membership, membership, similarity
from bayesgmm.analysis.n_clusters import NClusters, n_clusters
from bayesgmm.analysis.selection import criteria_table, em_criteria, loo_waic

__all__ = [
    "ComparisonTable",
    "Membership",
    "NClusters",
    "compare",
    "criteria_table",
    "em_criteria",
    "loo_waic",
    "membership",
    "n_clusters",
    "similarity",
]
