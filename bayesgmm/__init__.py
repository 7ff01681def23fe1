"""bayesgmm: Bayesian Gaussian mixture models on PyMC.

Light at import: PyMC, ArviZ and matplotlib load only when a Bayesian fit or a plot is
asked for, so ``import bayesgmm`` and ``bayesgmm.em`` stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from bayesgmm.datasets import load_faithful, make_gmm_data
from bayesgmm.em import EMResult, fit_em, select_k
from bayesgmm.exceptions import (
    CollapseError,
    ConvergenceWarning,
    DataPrecisionWarning,
    DegenerateComponentWarning,
    EditedModelWarning,
    LabelSwitchingWarning,
    MultimodalPosteriorWarning,
)

__version__ = "0.1.0"

# Public names that live in modules importing PyMC / ArviZ: loaded on first access.
_LAZY = {
    "GaussianMixtureEM": "bayesgmm.estimators.em",
    "BayesianGMM": "bayesgmm.estimators.bayesian",
    "GMMPriors": "bayesgmm.bayes.model.priors",
    "build_model": "bayesgmm.bayes.model.graph",
    "sample_nuts": "bayesgmm.bayes.inference",
    "fit_advi": "bayesgmm.bayes.inference",
    "fit_map": "bayesgmm.bayes.inference",
    "relabel_idata": "bayesgmm.posterior",
    "label_switching_report": "bayesgmm.posterior",
    "collapse_report": "bayesgmm.posterior",
    "find_modes": "bayesgmm.posterior",
    "compare": "bayesgmm.analysis",
    "membership": "bayesgmm.analysis",
    "n_clusters": "bayesgmm.analysis",
    "NClusters": "bayesgmm.analysis",
    "compare_k": "bayesgmm.analysis.compare_k",
    "partition": "bayesgmm.analysis.partition.estimate",
    "run_sbc": "bayesgmm.bayes.calibration.sbc",
    "SBCResult": "bayesgmm.bayes.calibration.sbc",
    "fit_em_fixed_variance": "bayesgmm.em.kmeans_limit",
    "FixedVarianceEM": "bayesgmm.em.kmeans_limit",
}

__all__ = [
    "CollapseError",
    "ConvergenceWarning",
    "DataPrecisionWarning",
    "DegenerateComponentWarning",
    "EMResult",
    "EditedModelWarning",
    "LabelSwitchingWarning",
    "MultimodalPosteriorWarning",
    "__version__",
    "fit_em",
    "load_faithful",
    "make_gmm_data",
    "select_k",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bayesgmm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
