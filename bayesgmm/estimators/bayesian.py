"""scikit-learn-style estimators: :class:`BayesianGMM`, the facade of the Bayesian fit, and
:class:`GaussianMixtureEM` (from :mod:`bayesgmm.estimators.em`), the facade of EM."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesgmm._utils.deprecation import DEPRECATED, renamed
from bayesgmm._utils.validation import check_random_state
from bayesgmm.estimators.base import MixtureFacade, fit_transaction
from bayesgmm.estimators.em import GaussianMixtureEM
from bayesgmm.estimators.impute import BayesianImputeMixin

__all__ = ["BayesianGMM", "GaussianMixtureEM"]


def _split_ordered_means(trace: Any, feature: int, n_features: int) -> Any:
    """The free variables of an ordered model, ``means_ordered`` (component) and
    ``means_other`` (component, other features), from the ``means`` the posterior keeps:
    without them PyMC would draw the means from their prior."""
    means = trace["means"]
    out = trace.assign(means_ordered=means.isel(feature=feature, drop=True))
    others = [d for d in range(n_features) if d != feature]
    if others:
        other = means.isel(feature=others).values
        out = out.assign(
            means_other=(("chain", "draw", "means_other_dim_0", "means_other_dim_1"), other)
        )
    return out


class BayesianGMM(BayesianImputeMixin, MixtureFacade):
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
        NUTS's target acceptance rate. ``None``: 0.95 under a sparse prior on alpha
        (``GMMPriors(alpha_prior=...)``, whose empty components form a funnel with
        alpha: at 0.8 alpha's R-hat reached 1.10, ``docs/number_of_clusters.md``), the
        backend's default (0.8) otherwise.
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
        chains), each with its chains, weight (stacking of chains on leave-one-out
        predictive density) and its uncertainty, K+, weights and means, log posterior and
        whether it holds a nearly empty component. When more than one mode carries weight,
        ``idata_`` (and so the summary, predictions, ``membership``, ``partition`` and
        ``n_clusters``) is the posterior averaged over the modes by weight, and a
        :class:`~bayesgmm.exceptions.MultimodalPosteriorWarning` says what was found.
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
        priors: Any = None,
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
        ordered: Any = None,
        advi_steps: int = 20000,
        minibatch_size: int | None = None,
        max_draws: int = 500,
        progressbar: bool = True,
        random_seed: Any = None,
        missing: str = "raise",
        max_predict_draws: Any = DEPRECATED,
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
        self, X: Any, y: Any = None, sample_weight: Any = None, *, labels: Any = None
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

    def _run_settings(self) -> Any:
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

    def _run(self, gmm: Any, start: Any, seed: int) -> Any:
        """The fit itself, through the one runner, from the one MAP-EM ``start``."""
        from bayesgmm.bayes.inference.run import run_inference

        outcome = run_inference(gmm, self._run_settings(), random_seed=seed, start=start)
        self.map_ = outcome.map_estimate
        return outcome.idata

    def _find_modes(self, raw: Any) -> Any:
        """The modes of a NUTS fit with several chains, warned of when several weigh."""
        from bayesgmm import posterior

        self.modes_ = None
        if self.method != "nuts" or self.n_components == 1 or raw.posterior.sizes["chain"] < 2:
            return raw
        self.modes_ = posterior.find_modes(raw, model=self.model_)
        posterior.warn_if_multimodal(self.modes_)
        return posterior.mode_weighted_idata(raw, self.modes_)

    def _label_chains(self, raw: Any, weighted: Any) -> tuple[Any, Any]:
        """The raw chains the label-switching report reads, and their relabeled draws
        (``None``: relabel them anew): the heaviest mode's chains, as sampled."""
        if not weighted.attrs.get("mode_weighted") and not self.idata_.attrs.get("mode_weighted"):
            return weighted, self.idata_
        if getattr(self, "modes_", None) is None:  # a loaded fit: its modes are not stored
            return raw, None
        chains = list(self.modes_.table["chains"].iloc[0])
        if len(chains) < 2:
            return None, None
        return raw.isel(chain=chains), None

    def _post_process(self, raw: Any) -> None:
        """Find the modes, relabel, check for collapse and label switching, cache the
        draws."""
        from bayesgmm import posterior
        from bayesgmm.posterior import labelled

        full_raw, raw = raw, self._find_modes(raw)
        identified = getattr(self, "labels_identify_components_", False)
        if self.method == "map" or self.relabel == "none" or self.n_components == 1:
            self.idata_ = raw
        elif identified:  # the labels fix each component's meaning: nothing to undo
            self.idata_ = labelled.mark_identified(raw)
        else:
            reference = self.em_ if self.relabel == "pivot" else None
            self.idata_ = posterior.relabel_idata(raw, method=self.relabel, reference=reference)
        self._diagnose(full_raw, raw)
        if self.collapse_report_ is not None:
            posterior.warn_if_collapsed(self.collapse_report_)
        if self.label_report_ is not None:
            posterior.warn_if_unresolved(self.label_report_)
        self._cache_draws()

    def _diagnose(self, raw: Any, weighted: Any = None) -> None:
        """``collapse_report_`` and ``label_report_`` of the sampled draws ``raw`` (their
        mode-weighted draws ``weighted``, when modes were weighed) and ``idata_``; after a
        fit, and again when a saved fit is loaded."""
        from bayesgmm import posterior
        from bayesgmm.posterior import labelled

        self.label_report_ = None
        self.collapse_report_ = None
        if self.method == "map":
            return
        self.collapse_report_ = posterior.collapse_report(self.idata_)
        chains, relabeled = self._label_chains(raw, raw if weighted is None else weighted)
        several = chains is not None and chains.posterior.sizes["chain"] > 1
        if self.method == "nuts" and self.n_components > 1 and several:
            if self.relabel == "none":
                relabeled = None
            method = "stephens" if self.relabel == "none" else self.relabel
            self.label_report_ = (
                labelled.identified_report(chains)
                if getattr(self, "labels_identify_components_", False)
                else posterior.label_switching_report(chains, relabeled=relabeled, method=method)
            )

    def _cache_draws(self) -> None:
        from bayesgmm.bayes.inference.idata import posterior_draws, thin_indices
        from bayesgmm.mixture.moments import anchored_mean

        draws = posterior_draws(self.idata_)
        max_draws = renamed(
            "BayesianGMM",
            "max_predict_draws",
            self.max_predict_draws,
            "max_draws",
            self.max_draws,
            500,
        )
        keep = thin_indices(draws.weights.shape[0], int(max_draws))
        self._draws = (draws.weights[keep], draws.means[keep], draws.covariances[keep])
        # Point summaries with scikit-learn's names: posterior means of the relabeled
        # draws (meaningful per component only after relabeling).
        self.weights_ = draws.weights.mean(axis=0)
        self.means_ = anchored_mean(draws.means)  # exact far from the origin
        self.covariances_ = draws.covariances.mean(axis=0)

    # -- prediction ------------------------------------------------------------------------

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior-mean membership probabilities, shape (N, K); rows sum to 1."""
        from bayesgmm.mixture import draws

        return draws.mean_responsibilities(self._check_predict_data(X), *self._draws)

    def predict(self, X: Any) -> np.ndarray:
        """Component with the largest posterior-mean membership probability."""
        return np.argmax(self.predict_proba(X), axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log posterior-predictive density ``log mean_s p(x | theta_s)`` of every row."""
        from bayesgmm.mixture import draws

        return draws.log_predictive_density(self._check_predict_data(X), *self._draws)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log posterior-predictive density per row."""
        return float(np.mean(self.score_samples(X)))

    def sample_posterior_predictive(
        self, n_samples: int | None = None, random_seed: Any = None
    ) -> Any:
        """Posterior-predictive data sets, one per posterior draw, in data units (the model's
        draws in internal units, moved back with ``spec.standardization.to_data``).

        Returns an InferenceData with a ``posterior_predictive`` group (variable ``x``,
        dims chain, draw, obs, feature) drawn through the PyMC model; ``n_samples`` thins
        the draws used (default: all).
        """
        import pymc as pm

        self._check_is_fitted()
        if self.model_.has_missing:
            raise NotImplementedError(
                "sample_posterior_predictive is not available for a model fitted with "
                "missing values (its likelihood has no observed variable to draw from); use "
                "impute(X) for the missing entries, or fit the complete rows."
            )
        spec, model = self.model_.spec, self.model_.model
        post = self.raw_idata_.posterior
        free = ("alpha", "weights", "means", "stds", "volume_sd", "log_shape", "partial_corr_unit")
        trace = post[[name for name in free if name in post and name in model.named_vars]]
        if n_samples is not None:
            draws_per_chain = max(1, int(n_samples) // post.sizes["chain"])
            trace = trace.isel(draw=slice(0, draws_per_chain))
        # The model is written in internal units: move the draws there and the data back.
        standard = spec.standardization
        moved = [n for n in ("means", "stds", "volume_sd", "log_shape") if n in trace]
        internal = standard.params_to_internal(
            {n: trace[n].values for n in moved}, spec.covariance_type
        )
        trace = trace.assign({n: trace[n].copy(data=v) for n, v in internal.items()})
        if spec.ordered is not None:
            trace = _split_ordered_means(trace, spec.ordered_feature, spec.n_features)
        with model:
            predictive = pm.sample_posterior_predictive(
                trace,
                var_names=["x"],
                random_seed=check_random_state(
                    self.random_seed if random_seed is None else random_seed
                ),
                progressbar=False,
            )
        x = predictive.posterior_predictive["x"]
        predictive.posterior_predictive["x"] = x.copy(data=standard.to_data(x.values))
        return predictive

    def sample_prior_predictive(
        self, n_samples: int = 500, X: Any = None, random_seed: Any = None
    ) -> Any:
        """Prior draws and one simulated data set per draw, in the data's units.

        Parameters
        ----------
        n_samples : int
            Prior draws.
        X : array-like of shape (N, D), optional
            The data whose model to draw from (priors scaled to it), with this
            estimator's settings; default: the fitted model (``model_``). An unfitted
            estimator needs ``X``.
        random_seed : int, optional
            Defaults to the estimator's ``random_seed``.

        Returns
        -------
        arviz.InferenceData
            ``prior`` (weights, means, stds, covariances ... in data units),
            ``prior_predictive`` (``x``: chain, draw, obs, feature, data units) and
            ``observed_data``; see :func:`bayesgmm.plotting.plot_predictive`.
        """
        from bayesgmm.bayes.inference.predictive import sample_prior_predictive
        from bayesgmm.bayes.model.graph import build_model

        if X is not None:
            gmm = build_model(
                X,
                self.n_components,
                self.covariance_type,
                priors=self.priors,
                ordered=self.ordered,
                missing=self._missing(),
            )
        elif self.__sklearn_is_fitted__() and getattr(self, "model_", None) is not None:
            gmm = self.model_
        else:
            raise ValueError(
                "sample_prior_predictive needs data: the priors are scaled to it. Pass X, "
                "or fit the estimator first."
            )
        seed = self.random_seed if random_seed is None else random_seed
        return sample_prior_predictive(gmm, n_samples, random_seed=seed)

    def summary(self, **kwargs: Any) -> Any:
        """ArviZ summary of the (relabeled) weights, means and standard deviations."""
        import arviz as az

        self._check_is_fitted()
        # The means' draws are summarised as exact differences from their first draw,
        # then moved back: ArviZ's sums of values near 1e15 lose more than a posterior sd.
        means = self.idata_.posterior["means"]
        anchor = means.isel(chain=0, draw=0)
        coords = {k: v for k, v in kwargs.get("coords", {}).items() if k in anchor.dims}
        anchor = anchor.sel(**coords) if coords else anchor
        shifted = self.idata_.posterior[["weights", "stds"]].assign(means=means - anchor)
        table = az.summary(shifted, var_names=["weights", "means", "stds"], **kwargs)
        rows = np.asarray(table.index.str.startswith("means["))
        located = [c for c in table.columns if c in ("mean", "median") or c[:4] in ("hdi_", "eti_")]
        table.loc[rows, located] += anchor.values.reshape(-1, 1)
        note = self.idata_.attrs.get("label_identification")
        if note:
            table.attrs["label_identification"] = note
        if self.idata_.attrs.get("mode_weighted"):
            # Its rows are draws resampled mode by mode, not chains: R-hat and ESS across
            # them mean nothing; modes_.table["rhat"] gives convergence within each mode.
            table.attrs["modes"] = self.modes_.message
            table[[c for c in table.columns if c.startswith(("r_hat", "ess"))]] = np.nan
        return table

    # -- persistence -----------------------------------------------------------------------

    def save(self, path: Any) -> None:
        """Write the fit to netCDF; the estimator's parameters go in the attrs."""
        from bayesgmm import io

        self._check_is_fitted()
        io.save_fit(self, path)

    @classmethod
    def load(cls, path: Any) -> BayesianGMM:
        """Read a fit written by :meth:`save`; predictions equal the original's."""
        from bayesgmm import io

        return io.load_fit(cls, path)
