"""Typed containers of EM: parameters, the conjugate prior, sufficient statistics and
the fit result.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class GMMParams(NamedTuple):
    """Parameters of a Gaussian mixture (shapes as in :mod:`bayesgmm.mixture.covariance`)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str


class ConjugatePrior(NamedTuple):
    """Conjugate prior for MAP-EM (Fraley & Raftery 2007).

    ``mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage)`` and ``Sigma_k ~ InvWishart(dof, scale)``
    (full, tied) or per-variance ``InvGamma(dof / 2, scale / 2)`` (diag, spherical);
    ``weights ~ Dirichlet(weight_concentration)`` with concentration >= 1.
    """

    mean: np.ndarray
    shrinkage: float
    dof: float
    scale: np.ndarray
    weight_concentration: float = 1.0


class EMSettings(NamedTuple):
    """How EM iterates: the same for every run of a fit.

    Attributes
    ----------
    tol : float or None
        The stopping rule: ``None`` a relative change of the objective of at most
        ``1e-8 (1 + |f|)``; a number, an absolute change per sample (scikit-learn's).
    max_iter : int
        Iterations at most.
    reg_covar : float
        Added to the diagonal of every covariance.
    prior : ConjugatePrior or None
        MAP-EM's prior (its mean in the units EM runs in), or ``None`` for maximum
        likelihood.
    """

    tol: float | None
    max_iter: int
    reg_covar: float
    prior: ConjugatePrior | None


class SufficientStats(NamedTuple):
    """Per-component sufficient statistics of a block of rows.

    ``second_moment`` is ``sum_n g_nk x_n x_n^T`` (K, D, D) for ``full``, the per-feature
    ``sum_n g_nk x_n^2`` (K, D) for ``diag`` / ``spherical``, and the responsibility-free
    ``X^T X`` (D, D) for ``tied``.  Statistics of blocks add up with :meth:`__add__`-style
    :func:`sum_statistics`.
    """

    resp_sum: np.ndarray
    weighted_sum: np.ndarray
    second_moment: np.ndarray
    log_likelihood: float
    n_samples: int
    # Sum over rows of log g_{n, argmax}: what ICL needs, for free during the E-step.
    log_max_resp: float


class EMRun(NamedTuple):
    """One EM run: where it ended, its last statistics, its objective trace."""

    params: GMMParams
    stats: SufficientStats
    trace: list[float]
    converged: bool
    n_iter: int


class EMResult(NamedTuple):
    """Result of :func:`fit_em`.

    Attributes
    ----------
    weights, means, covariances, precisions_cholesky, covariance_type
        The fitted parameters (scikit-learn layouts).
    objective_trace : ndarray
        Objective at the start of every iteration and at the end: the log-likelihood in
        ML mode, the log posterior (log-likelihood + log prior) in MAP mode.
    log_likelihood : float
        Log-likelihood of the data at the returned parameters.
    log_prior : float
        Log prior density at the returned parameters (0 in ML mode).
    converged : bool
    n_iter : int
        Iterations of the returned restart.
    init_objectives : ndarray
        Final objective of every restart (NaN where a restart collapsed).
    best_init : int
    degenerate_components : tuple of int
        Components flagged by the collapse checks.
    prior : ConjugatePrior or None
    reg_covar : float
    n_samples : int
    log_max_resp : float
        ``sum_n log max_k g_nk``, used by ICL.
    weight_total : float or None
        ``sum_n w_n`` of a fit with ``sample_weight`` (BIC / ICL count that many
        observations, as the rows repeated would); ``None`` without weights.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str
    objective_trace: np.ndarray
    log_likelihood: float
    log_prior: float
    converged: bool
    n_iter: int
    init_objectives: np.ndarray
    best_init: int
    degenerate_components: tuple[int, ...]
    prior: ConjugatePrior | None
    reg_covar: float
    n_samples: int
    log_max_resp: float
    weight_total: float | None = None

    @property
    def n_observations(self) -> float:
        """Observations BIC counts: ``weight_total`` with weights, else ``n_samples``."""
        return self.n_samples if self.weight_total is None else self.weight_total

    @property
    def params(self) -> GMMParams:
        """The fitted parameters as :class:`GMMParams`."""
        return GMMParams(
            self.weights,
            self.means,
            self.covariances,
            self.precisions_cholesky,
            self.covariance_type,
        )

    @property
    def objective(self) -> float:
        """Final objective (log-likelihood plus log prior)."""
        return self.log_likelihood + self.log_prior
