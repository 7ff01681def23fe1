"""scikit-learn-style estimators: :class:`BayesianGMM`, the facade of the Bayesian fit, and
:class:`GaussianMixtureEM` (from :mod:`bayesgmm.estimators.em`), the facade of EM.

This module holds the estimator's parameters and its fit; the rest of its API is in
mixins, one module per topic: the fit's post-processing (modes, relabeling, reports,
:mod:`~bayesgmm.estimators.post_process`), the predictions and predictive draws
(:mod:`~bayesgmm.estimators.predictive`), ``impute`` (:mod:`~bayesgmm.estimators.impute`),
``summary`` (:mod:`~bayesgmm.estimators.summary`) and ``save`` / ``load``
(:mod:`~bayesgmm.estimators.persistence`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayesgmm._utils.deprecation import DEPRECATED
from bayesgmm.estimators.base import MixtureFacade, fit_transaction
from bayesgmm.estimators.em import GaussianMixtureEM
from bayesgmm.estimators.impute import BayesianImputeMixin
from bayesgmm.estimators.persistence import BayesianPersistenceMixin
from bayesgmm.estimators.post_process import BayesianPostProcessMixin
from bayesgmm.estimators.predictive import BayesianPredictiveMixin
from bayesgmm.estimators.summary import BayesianSummaryMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    import arviz as az
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike
    from bayesgmm.bayes.inference.run import RunSettings
    from bayesgmm.bayes.model.graph import GMMModel
    from bayesgmm.bayes.model.priors import GMMPriors
    from bayesgmm.em.results import EMResult

__all__ = ["BayesianGMM", "GaussianMixtureEM"]


class BayesianGMM(
    BayesianPredictiveMixin,
    BayesianImputeMixin,
    BayesianSummaryMixin,
    BayesianPersistenceMixin,
    BayesianPostProcessMixin,
    MixtureFacade,
):
    """Bayesian Gaussian mixture fitted by NUTS, ADVI or MAP on the PyMC model.

    Parameters
    ----------
    n_components : int
    covariance_type : str
        "full", "diag", "spherical", "tied" (or their mclust names "VVV", "VVI", "VII",
        "EEE"), or mclust's "EII", "EEI", "VEI", "EVI", "VEE", "EVV" (the last four split
        the volume from the shape: ``docs/mclust.md``). Structures that EM alone fits
        (EVE, VVE, EEV, VEV) are refused with a message.
    priors : GMMPriors, optional
        Hyperparameters; unset fields are scaled to the data.
    method : {"nuts", "advi", "fullrank_advi", "map"}
    sampler : {"auto", "nutpie", "pymc", "numpyro"}
        NUTS backend (see :func:`bayesgmm.bayes.inference.sample_nuts`).
    draws, tune, chains : int
        NUTS draws and warm-up per chain and number of chains; ``draws`` is also the
        number of draws taken from an ADVI approximation. Four chains by default: on the
        compiled kernel a chain costs about a second on Old Faithful, and chains that
        land in different modes are what :attr:`modes_` weighs (``docs/modes.md``).
    n_starts : int
        With ``init="em"``, the chains start from up to this many distinct MAP-EM local
        maxima (the best one's group of chains the largest), so that modes EM knows of
        are visited and weighed; 1 starts every chain at the best MAP-EM fit.
    target_accept : float, optional
        NUTS's target acceptance rate. ``None``: the backend's default (0.8), but 0.95
        under a sparse prior on alpha (``GMMPriors(alpha_prior=...)``) on a diagonal mass
        matrix, where the funnel between alpha and the empty components needs smaller
        steps (at 0.8 alpha's R-hat reached 1.10). nutpie's low-rank mass matrix (the
        default) learns that funnel and samples it at 0.8 with 2-3x fewer leapfrog steps
        (``docs/number_of_clusters.md``).
    mass_matrix : {"auto", "diag", "low_rank"}
        nutpie's mass-matrix adaptation (see
        :func:`bayesgmm.bayes.inference.sample_nuts`); ``"auto"`` is low-rank on nutpie,
        diagonal on the other samplers.
    init : {"em", "default"}
        Start chains near a MAP-EM fit (default) or at the backend's own start.
    relabel : {"stephens", "pivot", "ecr", "ordering", "none"}
        How to undo label switching after sampling (see :func:`bayesgmm.relabel_idata`).
    ordered : str or int, optional
        Constrain one feature's means to increase (an alternative to relabeling).
    advi_steps : int
    minibatch_size : int, optional
        Stochastic (minibatch) ADVI: every step estimates the gradient from this many
        random rows, scaled by N / minibatch_size, on the compiled kernel (``pm.Minibatch``
        where the kernel is not built). The MAP-EM start and reference then use a random
        subsample of 20,000 rows.
    max_draws : int
        Posterior draws used by ``predict_proba`` / ``score_samples`` / ``impute`` (evenly
        thinned).
    progressbar : bool
    random_seed : int, optional
    missing : {"raise", "marginalize"}
        ``"raise"`` (default) refuses NaN. ``"marginalize"`` treats NaN as missing at
        random: each point's likelihood is the mixture of the marginals of its observed
        coordinates (grouped by missingness pattern), on the compiled kernel as the
        complete-data model is (see ``docs/missing.md``). Predictions use each row's
        observed coordinates, and :meth:`impute` draws the missing ones.
    max_predict_draws : int
        Deprecated alias of ``max_draws`` (warns once).

    Attributes
    ----------
    idata_ : arviz.InferenceData
        The relabeled posterior (or the raw one with ``relabel="none"``).
    raw_idata_ : arviz.InferenceData
        The draws as sampled, before relabeling.
    model_ : bayesgmm.bayes.model.graph.GMMModel
        The PyMC model (``model_.model``), its spec and its data.
    em_ : bayesgmm.em.EMResult
        The MAP-EM reference fit (pivot for relabeling, start for the chains).
    modes_ : bayesgmm.posterior.ModesReport or None
        NUTS with several chains: the modes the chains found (label-invariant groups of
        chains), each with its chains, weight (posterior mass by bridge sampling, else
        stacking of chains on leave-one-out predictive density) and its uncertainty, K+,
        weights and means, log posterior and whether it holds a nearly empty component.
        When more than one mode carries weight, ``idata_`` (and so the summary,
        predictions, ``membership``, ``partition`` and ``n_clusters``) is the posterior
        averaged over the modes by weight, and a
        :class:`~bayesgmm.exceptions.MultimodalPosteriorWarning` says what was found.
        ``save`` / ``load`` and pickle keep it as found.
    label_report_, collapse_report_
        Diagnostics from :mod:`bayesgmm.posterior` (None for MAP). ``label_report_``
        covers the chains of the heaviest mode (label switching happens within a mode).
    map_ : dict
        The MAP point, when ``method="map"``.
    weights_, means_, covariances_ : ndarray
        Posterior means of the (relabeled) weights, means and full covariance matrices.
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        priors: GMMPriors | None = None,
        method: str = "nuts",
        sampler: str = "auto",
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        n_starts: int = 2,
        target_accept: float | None = None,
        mass_matrix: str = "auto",
        init: str = "em",
        relabel: str = "stephens",
        ordered: str | int | None = None,
        advi_steps: int = 20000,
        minibatch_size: int | None = None,
        max_draws: int = 500,
        progressbar: bool = True,
        random_seed: SeedLike = None,
        missing: str = "raise",
        max_predict_draws: int | str = DEPRECATED,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.priors = priors
        self.method = method
        self.sampler = sampler
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.n_starts = n_starts
        self.target_accept = target_accept
        self.mass_matrix = mass_matrix
        self.init = init
        self.relabel = relabel
        self.ordered = ordered
        self.advi_steps = advi_steps
        self.minibatch_size = minibatch_size
        self.max_draws = max_draws
        self.max_predict_draws = max_predict_draws
        self.progressbar = progressbar
        self.random_seed = random_seed
        self.missing = missing

    # -- fitting ---------------------------------------------------------------------------

    @fit_transaction
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
        *,
        labels: ArrayLike | None = None,
    ) -> BayesianGMM:
        """Build the model on ``X`` and fit it.

        ``y`` is ignored, as scikit-learn's clusterers ignore it (so that
        ``cross_val_score(est, X, y)`` fits unsupervised). ``labels`` (N,), keyword only:
        partial labels, ``0..K-1`` or ``-1`` unknown; when every component has a labelled
        row they identify the components, the draws are not relabeled and
        ``label_report_`` says so. ``sample_weight`` (N,): observation weights, a power
        likelihood (integer weights = rows repeated). See ``docs/weights_and_labels.md``.

        A fit that raises (an error, or Ctrl-C at any stage: it raises
        ``KeyboardInterrupt``) leaves the estimator as it was before the call; see
        ``docs/robustness.md``.
        """
        from bayesgmm._utils.validation import check_n_components, seed_int
        from bayesgmm.bayes.inference.starts import (
            START_POINTS,
            em_local_maxima,
            em_result_to_data,
            model_em_start,
        )
        from bayesgmm.bayes.model.graph import build_model
        from bayesgmm.mixture.structures import bayesian_structure
        from bayesgmm.posterior.labelled import labels_identify

        self._run_settings()  # the method and sampler settings, checked before any work
        relabels = ("stephens", "pivot", "ecr", "ordering", "none")
        if self.relabel not in relabels:
            raise ValueError(f"relabel must be one of {relabels}; got {self.relabel!r}.")
        data = self._check_fit_data(X)  # the one validation of X in a fit
        bayesian_structure(self.covariance_type)
        check_n_components(self.n_components, data.X.shape[0])
        seed = seed_int(self.random_seed)
        gmm = build_model(
            data,
            self.n_components,
            self.covariance_type,
            priors=self.priors,
            ordered=self.ordered,
            feature_names=self.feature_names,
            sample_weight=sample_weight,
            labels=labels,
        )
        self.labels_identify_components_ = labels_identify(gmm.observations, self.n_components)
        # The one MAP-EM of a fit, in the model's internal units: every runner's start, and
        # in data units the reference point estimate. A minibatch fit never passes over
        # all N at once; nor does its EM.
        em_rows = None if self.minibatch_size is None else START_POINTS
        start = model_em_start(gmm, em_rows, seed)
        self.em_ = em_result_to_data(start, gmm.spec.standardization)
        self.model_ = gmm
        if self.method == "nuts" and self.init == "em":
            start = em_local_maxima(gmm, start, self._n_starts(), seed, em_rows)
        self.raw_idata_ = self._run(gmm, start, seed)
        self._post_process(self.raw_idata_)
        for idata in (self.raw_idata_, self.idata_):  # the option, for what reads them
            idata.attrs["missing"] = self._missing()
        return self

    def _run_settings(self) -> RunSettings:
        """The fit's method and sampler settings, checked (:class:`RunSettings`)."""
        from bayesgmm.bayes.inference.run import RunSettings

        return RunSettings(
            method=self.method,
            sampler=self.sampler,
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            init=self.init,
            target_accept=self.target_accept,
            mass_matrix=self.mass_matrix,
            advi_steps=self.advi_steps,
            minibatch_size=self.minibatch_size,
            progressbar=self.progressbar,
        )

    def _n_starts(self) -> int:
        if isinstance(self.n_starts, bool) or int(self.n_starts) < 1:
            raise ValueError(f"n_starts must be a positive integer; got {self.n_starts!r}.")
        return int(self.n_starts)

    def _run(
        self, gmm: GMMModel, start: EMResult | Sequence[EMResult], seed: int
    ) -> az.InferenceData:
        """The fit itself, through the one runner, from the one MAP-EM ``start`` (NUTS from
        init="em": from its distinct local maxima, the best first)."""
        from bayesgmm.bayes.inference.run import run_inference

        outcome = run_inference(gmm, self._run_settings(), random_seed=seed, start=start)
        self.map_ = outcome.map_estimate
        return outcome.idata
