"""From the draws as sampled to the fitted posterior of :class:`~bayesgmm.BayesianGMM`.

A mixin of the estimator: the modes of the chains, the relabeling, the collapse and
label-switching reports and the cached draws that the predictions read. It runs after
every fit, and again (its reports recomputed) when a saved fit is loaded
(:func:`bayesgmm.io.fit.load_fit`). The algorithms are in :mod:`bayesgmm.posterior`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayesgmm._utils.deprecation import renamed

if TYPE_CHECKING:
    import arviz as az

__all__ = ["BayesianPostProcessMixin"]


class BayesianPostProcessMixin:
    """Modes, relabeling, reports and cached draws of a fitted Bayesian estimator."""

    def _find_modes(self, raw: az.InferenceData) -> az.InferenceData:
        """The modes of a NUTS fit with several chains, warned of when several weigh."""
        from bayesgmm import posterior

        self.modes_ = None
        if self.method != "nuts" or self.n_components == 1 or raw.posterior.sizes["chain"] < 2:
            return raw
        self.modes_ = posterior.find_modes(raw, model=self.model_)
        posterior.warn_if_multimodal(self.modes_)
        return posterior.mode_weighted_idata(raw, self.modes_)

    def _label_chains(
        self, raw: az.InferenceData, weighted: az.InferenceData
    ) -> tuple[az.InferenceData | None, az.InferenceData | None]:
        """The raw chains the label-switching report reads, and their relabeled draws
        (``None``: relabel them anew): the heaviest mode's chains, as sampled."""
        if not weighted.attrs.get("mode_weighted") and not self.idata_.attrs.get("mode_weighted"):
            return weighted, self.idata_
        if getattr(self, "modes_", None) is None:  # a file written before modes were stored
            return raw, None
        chains = list(self.modes_.table["chains"].iloc[0])
        if len(chains) < 2:
            return None, None
        return raw.isel(chain=chains), None

    def _post_process(self, raw: az.InferenceData) -> None:
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

    def _diagnose(self, raw: az.InferenceData, weighted: az.InferenceData | None = None) -> None:
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
        """The draws the predictions read (at most ``max_draws``, evenly thinned) and the
        point summaries ``weights_``, ``means_``, ``covariances_``."""
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
