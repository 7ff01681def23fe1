"""The one runner: method and sampler dispatch for every fit of the Bayesian model.

:class:`BayesianGMM <bayesgmm.estimators.bayesian.BayesianGMM>`, :func:`compare_k
<bayesgmm.analysis.compare_k.compare_k>`, :func:`run_sbc
<bayesgmm.bayes.calibration.sbc.run_sbc>` and the CLI all fit through :func:`run_inference`,
so that a setting that depends on the model (the step-size target of a sparse prior) is
decided once, here, and every caller gets it. The allowed options are declared once as
data (:data:`METHODS`, :data:`SAMPLERS`, :data:`MASS_MATRICES`, :data:`INITS`) and
checked by :class:`RunSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from bayesgmm.bayes.inference.map import fit_map, map_idata
from bayesgmm.bayes.inference.nuts import MASS_MATRICES, SAMPLERS, resolve_sampler, sample_nuts
from bayesgmm.bayes.inference.vi import fit_advi
from bayesgmm.em.results import EMResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    import arviz as az
    import numpy as np

    from bayesgmm.bayes.model.graph import GMMModel

__all__ = [
    "INITS",
    "MASS_MATRICES",
    "METHODS",
    "POSTERIOR_METHODS",
    "SAMPLERS",
    "SPARSE_TARGET_ACCEPT",
    "RunOutcome",
    "RunSettings",
    "low_rank_mass_matrix",
    "run_inference",
    "target_accept_for",
]

#: Every way to fit the Bayesian model: NUTS, the two ADVI families and the posterior mode.
METHODS = ("nuts", "advi", "fullrank_advi", "map")
#: The methods that give posterior draws (MAP gives one point).
POSTERIOR_METHODS = ("nuts", "advi", "fullrank_advi")
#: Where NUTS chains start: near the MAP-EM fit, or at the backend's own initial point.
INITS = ("em", "default")
#: NUTS's step-size target under a sparse (gamma-hyperprior) Dirichlet on a diagonal mass
#: matrix: its funnel between alpha and the empty components' weights needs smaller steps
#: than the default 0.8 there. nutpie's low-rank mass matrix learns that correlation and
#: samples the sparse mixture at its default 0.8 (docs/number_of_clusters.md: the same
#: R-hat at 2-3x fewer leapfrog steps; penguins K=10 took 137-846 steps a draw at 0.95,
#: 64-67 at 0.8).
SPARSE_TARGET_ACCEPT = 0.95


def _positive_int(name: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class RunSettings:
    """How to fit: the method, the sampler and their settings, checked at construction.

    Parameters
    ----------
    method : {"nuts", "advi", "fullrank_advi", "map"}
    sampler : {"auto", "nutpie", "pymc", "numpyro"}
        NUTS backend.
    draws, tune, chains : int
        NUTS draws and warm-up per chain, and chains; ``draws`` is also the number of
        draws from an ADVI approximation.
    init : {"em", "default"}
        NUTS start: near the MAP-EM fit, or the backend's own.
    target_accept : float, optional
        NUTS step-size target; ``None`` lets :func:`target_accept_for` decide from the
        model and the mass matrix (:data:`SPARSE_TARGET_ACCEPT` for a sparse prior on a
        diagonal mass matrix, else the sampler's own).
    mass_matrix : {"auto", "diag", "low_rank"}
        nutpie's mass-matrix adaptation.
    advi_steps : int
        ADVI optimisation steps.
    minibatch_size : int, optional
        Minibatch ADVI.
    progressbar : bool
    log_likelihood : bool
        Store the pointwise log-likelihood (LOO / WAIC need it; SBC does not).
    """

    method: str = "nuts"
    sampler: str = "auto"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    init: str = "em"
    target_accept: float | None = None
    mass_matrix: str = "auto"
    advi_steps: int = 20000
    minibatch_size: int | None = None
    progressbar: bool = False
    log_likelihood: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (
            ("method", METHODS),
            ("sampler", SAMPLERS),
            ("init", INITS),
            ("mass_matrix", MASS_MATRICES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; got {getattr(self, name)!r}.")
        _positive_int("draws", self.draws)
        _positive_int("tune", self.tune, low=0)
        _positive_int("chains", self.chains)
        _positive_int("advi_steps", self.advi_steps)
        if self.target_accept is not None and not 0.0 < float(self.target_accept) < 1.0:
            raise ValueError(f"target_accept must be in (0, 1); got {self.target_accept!r}.")


class RunOutcome(NamedTuple):
    """What a run gives: the InferenceData (data units), and the MAP point of a MAP fit."""

    idata: az.InferenceData
    map_estimate: dict[str, np.ndarray] | None


def target_accept_for(settings: RunSettings, gmm: GMMModel) -> float | None:
    """NUTS's step-size target for this model: the user's, else the sparse prior's on a
    diagonal mass matrix, else the sampler's own (``None``).

    The one place that decides it, so that every caller of :func:`run_inference` samples a
    sparse-prior model with the same target.
    """
    if settings.target_accept is not None:
        return float(settings.target_accept)
    if gmm.spec.priors.alpha_gamma is None or low_rank_mass_matrix(settings):
        return None
    return SPARSE_TARGET_ACCEPT


def low_rank_mass_matrix(settings: RunSettings) -> bool:
    """Will NUTS adapt nutpie's low-rank mass matrix (``mass_matrix="auto"`` or
    ``"low_rank"`` on nutpie)?"""
    return settings.mass_matrix != "diag" and resolve_sampler(settings.sampler) == "nutpie"


def run_inference(
    gmm: GMMModel,
    settings: RunSettings,
    *,
    random_seed: int,
    start: EMResult | Sequence[EMResult] | None = None,
) -> RunOutcome:
    """Fit ``gmm`` as ``settings`` say: NUTS, ADVI or MAP.

    Parameters
    ----------
    gmm : GMMModel
    settings : RunSettings
    random_seed : int
    start : EMResult or sequence of EMResult, optional
        The fit's MAP-EM start (internal units), so that it runs once per fit; each
        runner fits one when it is ``None``. A sequence (distinct local maxima, the best
        first: :func:`~bayesgmm.bayes.inference.starts.em_local_maxima`) splits NUTS's
        chains between them; ADVI and MAP start from its first.

    Returns
    -------
    RunOutcome
    """
    if settings.method == "nuts":
        idata = sample_nuts(
            gmm,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            sampler=settings.sampler,
            random_seed=random_seed,
            init=settings.init,
            start=start,
            progressbar=settings.progressbar,
            target_accept=target_accept_for(settings, gmm),
            mass_matrix=settings.mass_matrix,
            log_likelihood=settings.log_likelihood,
        )
        return RunOutcome(idata, None)
    if settings.method in ("advi", "fullrank_advi"):
        idata = fit_advi(
            gmm,
            method=settings.method,
            n=settings.advi_steps,
            minibatch_size=settings.minibatch_size,
            random_seed=random_seed,
            draws=settings.draws,
            progressbar=settings.progressbar,
            log_likelihood=settings.log_likelihood,
            start=_best(start),
        )
        return RunOutcome(idata, None)
    point = fit_map(gmm, random_seed=random_seed, start=_best(start))
    return RunOutcome(map_idata(gmm, point), point)


def _best(start: EMResult | Sequence[EMResult] | None) -> EMResult | None:
    """The one start of a runner that takes one: the first (best) of several."""
    if start is None or isinstance(start, EMResult):
        return start
    return start[0]
