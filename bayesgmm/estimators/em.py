"""The EM facade: :class:`GaussianMixtureEM`, scikit-learn's ``GaussianMixture`` API over
:mod:`bayesgmm.em` (re-exported by :mod:`bayesgmm.estimators.bayesian`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm import em
from bayesgmm._utils.validation import check_random_state
from bayesgmm.em.fit import _is_dask_collection as is_dask_collection
from bayesgmm.estimators.base import MixtureFacade, fit_transaction
from bayesgmm.estimators.impute import EMImputeMixin
from bayesgmm.mixture.covariance import as_full
from bayesgmm.mixture.missing import observed_e_step
from bayesgmm.mixture.structures import get_structure

if TYPE_CHECKING:
    from collections.abc import Mapping

    from distributed import Client
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import PathLike, SeedLike
    from bayesgmm.em.results import ConjugatePrior, EMResult, GMMParams

__all__ = ["GaussianMixtureEM"]


class GaussianMixtureEM(EMImputeMixin, MixtureFacade):
    """Gaussian mixture fitted by EM (maximum likelihood) or MAP-EM.

    A drop-in for ``sklearn.mixture.GaussianMixture`` with a conjugate-prior option and
    collapse detection.

    Parameters
    ----------
    n_components : int
        Number of mixture components K.
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` or one of mclust's 14
        structures (``"EII"`` ... ``"VVV"``; see :func:`bayesgmm.em.fit_em` and
        ``docs/mclust.md``).
    tol : float or None
        ``None`` (default): stop when an iteration changes the objective ``f`` by at most
        ``1e-8 * (1 + |f|)`` (relative, as mclust). A number: scikit-learn's rule, a change
        of the objective per sample below ``tol`` (see :func:`bayesgmm.em.fit_em`).
    reg_covar : float
        Non-negative floor added to covariance diagonals.
    max_iter : int
        EM iterations per run (default 1000).
    n_init : int
        Restarts; the best non-degenerate one is kept.
    init : {"auto", "hc", "kmeans++", "random", "random_from_data"} or mapping
        Initialisation (see :func:`bayesgmm.em.fit_em`: ``"auto"`` runs from mclust's
        hierarchical start ``"hc"`` and from k-means++, and searches short EM runs from
        many k-means++ and random-row starts when ``n_init > 1``), or a mapping with
        ``weights``, ``means`` and ``covariances``.
    prior : None, "default" or :class:`bayesgmm.em.ConjugatePrior`
        ``None`` for maximum likelihood; ``"default"`` for MAP-EM with the data-scaled
        Fraley & Raftery (2007) prior (every structure but EVE, VEE, VVE and EVV).
    random_seed : int, numpy Generator or None
    client : dask.distributed.Client, mapping or None
        Only used when ``fit`` gets a Dask array or DataFrame: the cluster that runs EM,
        or the arguments of a ``LocalCluster`` made for the fit (see
        :func:`bayesgmm.em.dask.engine.fit_em_dask`). Prediction takes in-memory data.
    missing : {"raise", "marginalize"}
        ``"raise"`` (default) refuses NaN. ``"marginalize"`` treats NaN as missing at
        random: EM for incomplete data at fit, and ``predict`` / ``predict_proba`` /
        ``score_samples`` on each row's observed coordinates (see ``docs/missing.md``);
        :meth:`impute` fills NaN with their conditional means.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_cholesky_, precisions_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Final objective per sample (as scikit-learn's ``lower_bound_``).
    objective_trace_ : ndarray
    result_ : :class:`bayesgmm.em.EMResult`
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float | None = None,
        reg_covar: float = 1e-6,
        max_iter: int = em.DEFAULT_MAX_ITER,
        n_init: int = 1,
        init: str | Mapping[str, ArrayLike] | GMMParams | EMResult = "auto",
        prior: str | ConjugatePrior | None = None,
        random_seed: SeedLike = None,
        client: Client | Mapping[str, Any] | None = None,
        missing: str = "raise",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init = init
        self.prior = prior
        self.random_seed = random_seed
        self.client = client
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
    ) -> GaussianMixtureEM:
        """Fit the mixture to ``X``.

        Parameters
        ----------
        X : array-like of shape (N, D)
        y : ignored
            Accepted for scikit-learn's API and ignored, as ``GaussianMixture`` and
            ``KMeans`` do: ``cross_val_score(est, X, y)`` and pipelines pass their targets
            here, and a clusterer fits unsupervised. Partial labels go in ``labels``.
        sample_weight : array-like of shape (N,), optional
            Non-negative observation weights; an integer weight fits as the row repeated.
            See ``docs/weights_and_labels.md``.
        labels : array-like of shape (N,), optional, keyword only
            Partial labels: a component index ``0..K-1`` per row, ``-1`` where unknown.
            Labelled rows count for their own component only, and component ``k`` is the
            one the labels call ``k``.

        Notes
        -----
        A fit that raises (an error, or Ctrl-C: it raises ``KeyboardInterrupt``) leaves
        the estimator as it was before the call; see ``docs/robustness.md``.
        """
        result = em.fit_em(
            self._fit_data(X),
            self.n_components,
            self.covariance_type,
            init=self.init,
            n_init=self.n_init,
            tol=self.tol,
            max_iter=self.max_iter,
            reg_covar=self.reg_covar,
            prior=self.prior,
            random_seed=self.random_seed,
            client=self.client,
            sample_weight=sample_weight,
            labels=labels,
            missing=self._missing(),
        )
        self._set_result(result)
        return self

    def _set_result(self, result: em.EMResult) -> None:
        """The fitted attributes of ``result`` (after ``fit``, or ``load``)."""
        self.result_ = result
        self.weights_ = result.weights
        self.means_ = result.means
        self.covariances_ = result.covariances
        self.precisions_cholesky_ = result.precisions_cholesky
        pc = result.precisions_cholesky
        self.precisions_ = get_structure(result.covariance_type).precisions(pc)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.objective / result.n_observations
        self.objective_trace_ = result.objective_trace
        self.degenerate_components_ = result.degenerate_components

    def _fit_data(self, X: ArrayLike) -> Any:
        if not is_dask_collection(X):
            return self._check_fit_data(X)  # CheckedData: fit_em does not check it again
        # A Dask collection stays on its cluster: only its shape and column names are read.
        if len(X.shape) != 2:
            raise ValueError(
                f"X must be 2-D (n_samples, n_features); got a {len(X.shape)}-D Dask array of "
                f"shape {X.shape}. Reshape it, for example X.reshape(-1, 1) for one feature."
            )
        self.n_features_in_ = int(X.shape[1])
        columns = getattr(X, "columns", None)
        if columns is not None and all(isinstance(c, str) for c in columns):
            self.feature_names_in_ = np.asarray(list(columns), dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return X

    def fit_predict(
        self,
        X: ArrayLike,
        y: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
        *,
        labels: ArrayLike | None = None,
    ) -> np.ndarray:
        """Fit (``y`` ignored, as in :meth:`fit`), then return the most likely component of
        every row."""
        return self.fit(X, sample_weight=sample_weight, labels=labels).predict(X)

    # -- prediction ------------------------------------------------------------------------

    def _e_step(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        values = self._check_predict_data(X)
        if np.isnan(values).any():  # missing="marginalize": on the observed coordinates
            return observed_e_step(values, self.result_.params)
        return em.e_step(values, self.result_.params)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log mixture density of every row."""
        return self._e_step(X)[0]

    def score(self, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """Mean log-likelihood per row."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Membership probabilities, shape (N, K); rows sum to 1."""
        return np.exp(self._e_step(X)[1])

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most likely component of every row."""
        return np.argmax(self._e_step(X)[1], axis=1)

    def sample(
        self, n_samples: int = 1, random_seed: SeedLike = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` points from the fitted mixture; returns (X, labels)."""
        self._check_is_fitted()
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be >= 1; got {n_samples}.")
        rng = check_random_state(self.random_seed if random_seed is None else random_seed)
        n_components, n_features = self.means_.shape
        cov = as_full(self.covariances_, self.result_.covariance_type, n_components, n_features)
        labels = rng.choice(n_components, size=int(n_samples), p=self.weights_)
        chol = np.linalg.cholesky(cov)
        noise = rng.standard_normal((int(n_samples), n_features))
        return self.means_[labels] + np.einsum("nde,ne->nd", chol[labels], noise), labels

    # -- model selection -------------------------------------------------------------------

    def _refit_result(self, X: ArrayLike) -> em.EMResult:
        Xc = self._check_predict_data(X)
        if np.isnan(Xc).any():  # observed-data log-likelihood (missing="marginalize")
            from bayesgmm.em.missing import missing_statistics

            stats = missing_statistics(Xc, self.result_.params)
        else:
            stats = em.sufficient_statistics(Xc, self.result_.params)
        return self.result_._replace(
            log_likelihood=stats.log_likelihood,
            n_samples=Xc.shape[0],
            log_max_resp=stats.log_max_resp,
            weight_total=None,  # the rows of X, unweighted
        )

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        return em.bic(self._refit_result(X))

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        return em.aic(self._refit_result(X))

    def icl(self, X: ArrayLike) -> float:
        """Integrated completed likelihood on ``X`` (lower is better)."""
        return em.icl(self._refit_result(X))

    def n_parameters(self) -> int:
        """Number of free parameters."""
        self._check_is_fitted()
        return em.n_free_parameters(self.result_)

    # -- persistence -----------------------------------------------------------------------

    def save(self, path: PathLike, X: ArrayLike | None = None) -> None:
        """Write the fit to ``path`` (netCDF, the EM fit file ``bayesgmm report`` reads).

        Parameters
        ----------
        path : str or Path
            Overwritten if it exists.
        X : array-like of shape (N, D), optional
            Data stored beside the fit, for ``bayesgmm report``'s plots.

        Notes
        -----
        The whole EM result and the constructor's parameters are stored as JSON; a Dask
        ``client`` is not (it is a handle on a running cluster).
        """
        from bayesgmm.io.em_estimator import save_em_estimator

        self._check_is_fitted()
        save_em_estimator(self, path, X)

    @classmethod
    def load(cls, path: PathLike) -> GaussianMixtureEM:
        """Read a fit written by :meth:`save`; predictions equal the original's. Nothing in
        the file is executed (netCDF and JSON)."""
        from bayesgmm.io.em_estimator import load_em_estimator

        return load_em_estimator(cls, path)
