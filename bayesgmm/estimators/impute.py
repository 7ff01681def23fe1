"""Missing values on the facades: :meth:`impute` for EM and for the posterior.

Mixins of :class:`bayesgmm.GaussianMixtureEM` and :class:`bayesgmm.BayesianGMM`, kept
apart so that the estimators' module stays one screenful per method and the
missing-value API reads in one place. The maths is in :mod:`bayesgmm.mixture.imputation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayesgmm._utils.deprecation import DEPRECATED, renamed
from bayesgmm._utils.validation import check_random_state
from bayesgmm.mixture.imputation import (
    Imputation,
    conditional_mean_imputation,
    imputation_from_mean,
    posterior_imputation,
)
from bayesgmm.mixture.observations import check_labels

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike

__all__ = ["BayesianImputeMixin", "EMImputeMixin"]


class EMImputeMixin:
    """``impute`` for a fitted EM estimator (conditional means)."""

    def impute(self, X: ArrayLike, *, labels: ArrayLike | None = None) -> Imputation:
        """Fill the NaN entries of ``X`` with their conditional means under the fit.

        ``E[x_m | x_o] = sum_k r_k(x_o) E[x_m | x_o, k]``, with ``r_k(x_o)`` the membership
        probabilities given the observed coordinates (missing at random assumed). Works
        whatever ``missing`` is; ``X`` itself is not modified.

        Parameters
        ----------
        X : array-like of shape (N, D)
        labels : array-like of shape (N,), optional
            Known components (``0..K-1``, ``-1`` unknown), as in :meth:`fit`: a labelled
            row gets its own component's conditional mean ``E[x_m | x_o, k]``.

        Returns
        -------
        Imputation
            ``completed`` (``X`` with NaN replaced), and per missing entry its ``rows``,
            ``columns`` and ``mean``; EM gives no draws or intervals.
        """
        values = self._impute_data(X)  # type: ignore[attr-defined]
        completed = conditional_mean_imputation(
            values,
            self.weights_,
            self.means_,
            self.covariances_,
            self.covariance_type,  # type: ignore[attr-defined]
            labels=check_labels(labels, values.shape[0], self.means_.shape[0]),
        )
        return imputation_from_mean(values, completed)


class BayesianImputeMixin:
    """``impute`` for a fitted Bayesian estimator (posterior draws)."""

    def impute(
        self,
        X: ArrayLike,
        *,
        labels: ArrayLike | None = None,
        hdi_prob: float = 0.94,
        interval: str = "hdi",
        random_seed: SeedLike = None,
        prob: float | str = DEPRECATED,
    ) -> Imputation:
        """Posterior draws, mean and intervals of the NaN entries of ``X``.

        Per posterior draw (at most ``max_draws``, evenly thinned), the component
        of each row is drawn from its membership probabilities given the observed
        coordinates, and the missing ones from that component's conditional Gaussian
        (missing at random assumed). Works whatever ``missing`` is; ``X`` is not modified.

        Parameters
        ----------
        X : array-like of shape (N, D)
        labels : array-like of shape (N,), optional
            Known components (``0..K-1``, ``-1`` unknown) of the fit's components (those
            of ``means_``): a labelled row's missing entries come from its own
            component's conditional Gaussian under every draw.
        hdi_prob : float
            Probability mass of the intervals (highest-density or equal-tailed).
        interval : {"hdi", "eti"}
            Highest-density or equal-tailed intervals.
        random_seed : int or Generator, optional
            Defaults to the estimator's ``random_seed``.
        prob : float
            Deprecated alias of ``hdi_prob`` (warns once).

        Returns
        -------
        Imputation
            ``draws`` (S, M), ``mean``, ``lower`` / ``upper`` per missing entry (at
            ``rows``, ``columns``), and ``completed``, ``X`` with NaN set to the mean.
        """
        hdi_prob = renamed("impute", "prob", prob, "hdi_prob", hdi_prob, 0.94)
        values = self._impute_data(X)
        known = check_labels(labels, values.shape[0], self._draws[0].shape[1])
        rng = check_random_state(self.random_seed if random_seed is None else random_seed)
        return posterior_imputation(
            values, *self._draws, rng, hdi_prob=hdi_prob, interval=interval, labels=known
        )
