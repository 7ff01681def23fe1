"""Predictions of :class:`~bayesgmm.BayesianGMM`: memberships, densities and data sets drawn
from the prior and posterior predictive distributions.

A mixin of the estimator. The predictions average over the draws cached at fit
(``max_draws`` of them, :mod:`bayesgmm.estimators.post_process`); the maths is in
:mod:`bayesgmm.mixture.draws`, the predictive draws in
:mod:`bayesgmm.bayes.inference.predictive`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import arviz as az
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike

__all__ = ["BayesianPredictiveMixin"]


class BayesianPredictiveMixin:
    """``predict``, ``predict_proba``, ``score_samples``, ``score`` and the prior and
    posterior predictive draws of a Bayesian estimator."""

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior-mean membership probabilities, shape (N, K); rows sum to 1."""
        from bayesgmm.mixture import draws

        return draws.mean_responsibilities(self._check_predict_data(X), *self._draws)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Component with the largest posterior-mean membership probability."""
        return np.argmax(self.predict_proba(X), axis=1)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log posterior-predictive density ``log mean_s p(x | theta_s)`` of every row."""
        from bayesgmm.mixture import draws

        return draws.log_predictive_density(self._check_predict_data(X), *self._draws)

    def score(self, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """Mean log posterior-predictive density per row."""
        return float(np.mean(self.score_samples(X)))

    def sample_posterior_predictive(
        self, n_samples: int | None = None, random_seed: SeedLike = None
    ) -> az.InferenceData:
        """Replicate data sets, one per posterior draw, in the data's units.

        Each data set has as many rows as the fitted data. A fit of complete data draws
        them through the PyMC model (``x``; the draws move to the model's internal units
        and the data sets back). A fit with ``missing="marginalize"`` has no observed
        variable: its replicates are complete rows simulated from the mixture at each
        draw, the model of ``X``; the missingness pattern is yours and is not simulated,
        so compare them with the observed entries of ``observed_data``
        (``docs/missing.md``).

        Parameters
        ----------
        n_samples : int, optional
            Thin to the first ``n_samples // chains`` draws of every chain (at least
            one); default: all draws.
        random_seed : int or Generator, optional
            Defaults to the estimator's ``random_seed``.

        Returns
        -------
        arviz.InferenceData
            ``posterior_predictive`` (``x``: chain, draw, obs, feature) and
            ``observed_data`` (``x``: the fitted data, NaN where missing), data units;
            see :func:`bayesgmm.plotting.plot_predictive`.
        """
        from bayesgmm.bayes.inference.predictive import sample_posterior_predictive

        self._check_is_fitted()
        seed = self.random_seed if random_seed is None else random_seed
        return sample_posterior_predictive(
            self.model_, self.raw_idata_.posterior, n_samples, random_seed=seed
        )

    def sample_prior_predictive(
        self, n_samples: int = 500, X: ArrayLike | None = None, random_seed: SeedLike = None
    ) -> az.InferenceData:
        """Prior draws and one simulated data set per draw, in the data's units.

        Parameters
        ----------
        n_samples : int
            Prior draws.
        X : array-like of shape (N, D), optional
            The data whose model to draw from (priors scaled to it), with this
            estimator's settings; default: the fitted model (``model_``). An unfitted
            estimator needs ``X``.
        random_seed : int or Generator, optional
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
