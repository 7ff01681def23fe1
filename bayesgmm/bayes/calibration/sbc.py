"""Simulation-based calibration (SBC; Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

Draw parameters from the prior and a data set from them; fit the data with the same prior;
rank the true value of a quantity among L posterior draws. If the fit is the exact
posterior, the rank is uniform on ``0..L`` (the true value and the draws are exchangeable
given the data). A non-uniform rank histogram means the posterior, the sampler or the
model code is wrong: a U shape is an over-confident (underdispersed) fit, a hump an
underconfident one, a slope a bias.

The parameters of a mixture are only defined up to a permutation of the components, so
the ranked quantities are label-invariant: the largest weight, the sorted means of every
feature (the j-th smallest mean of feature d), the smallest component sd, the
log-likelihood of the simulated data set, and the log mixture density at a few points
fixed for the whole run.

The prior and the data come from :mod:`bayesgmm.bayes.calibration.prior` (numpy and scipy,
written apart from the model and the C kernel); the fits go through the public
:func:`bayesgmm.bayes.model.graph.build_model`, :func:`bayesgmm.bayes.inference.sample_nuts` and
:func:`bayesgmm.bayes.inference.fit_advi`, and are read in data units through
:func:`bayesgmm.bayes.inference.idata.posterior_draws`.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import arviz as az
import numpy as np

from bayesgmm._utils.deprecation import DEPRECATED, renamed
from bayesgmm.bayes.calibration.prior import check_fixed_priors, simulate_prior
from bayesgmm.bayes.calibration.result import SBCResult, ranks_of, uniformity_p_values
from bayesgmm.bayes.inference.idata import posterior_draws
from bayesgmm.bayes.inference.run import POSTERIOR_METHODS, RunSettings, run_inference
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.mixture.draws import pointwise_log_likelihood
from bayesgmm.mixture.structures import bayesian_structure

__all__ = [
    "SBCResult",
    "observe",
    "ranks_of",
    "run_sbc",
    "sbc_quantities",
    "uniformity_p_values",
]

METHODS = POSTERIOR_METHODS  # SBC needs posterior draws: not MAP


# ---------------------------------------------------------------------------------------
# Label-invariant quantities
# ---------------------------------------------------------------------------------------


def quantity_names(n_components: int, n_features: int, n_points: int) -> tuple[str, ...]:
    """Names of the columns of :func:`sbc_quantities`, in order."""
    sorted_means = [f"mean[x{d}]({j + 1})" for d in range(n_features) for j in range(n_components)]
    points = [f"logdens@p{p}" for p in range(n_points)]
    return ("max_weight", *sorted_means, "min_sd", "loglik", *points)


def _log_mixture_density(
    Y: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray:
    """``log sum_k w_sk N(y_m | mu_sk, Sigma_sk)``: shape (S, M) (the package's one numpy
    density, through :func:`bayesgmm.mixture.draws.pointwise_log_likelihood`). Where ``Y``
    has NaN, the density of each row's observed coordinates (the marginal the fit uses)."""
    return pointwise_log_likelihood(Y, weights, means, covariances)


def sbc_quantities(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    X: np.ndarray,
    points: np.ndarray,
) -> np.ndarray:
    """Label-invariant quantities of S parameter draws (see :func:`quantity_names`).

    Parameters
    ----------
    weights : ndarray of shape (S, K)
    means : ndarray of shape (S, K, D)
    covariances : ndarray of shape (S, K, D, D)
    X : ndarray of shape (N, D)
        The data set whose log-likelihood is a quantity.
    points : ndarray of shape (P, D)
        Fixed points of the log mixture density.

    Returns
    -------
    ndarray of shape (S, 1 + K*D + 2 + P)
    """
    n_draws = weights.shape[0]
    sorted_means = np.sort(means, axis=1).transpose(0, 2, 1).reshape(n_draws, -1)
    sds = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    loglik = _log_mixture_density(X, weights, means, covariances).sum(axis=1)
    density = _log_mixture_density(points, weights, means, covariances)
    return np.column_stack(
        [weights.max(axis=1), sorted_means, sds.min(axis=(1, 2)), loglik, density]
    )


def fixed_points(priors: GMMPriors, data: list[np.ndarray], n_points: int) -> np.ndarray:
    """Points at the prior mean and one prior-predictive sd away from it (all data sets
    pooled), alternating the direction's signs across features so correlations show."""
    centre = np.asarray(priors.mean_loc, dtype=np.float64)
    spread = np.concatenate(data).std(axis=0)
    n_features = len(centre)
    alternating = np.where(np.arange(n_features) % 2 == 0, 1.0, -1.0)
    base = [np.ones(n_features), alternating, -np.ones(n_features), -alternating]
    directions = [np.zeros(n_features)]
    directions += [base[(p - 1) % 4] * (1 + (p - 1) // 4) for p in range(1, n_points)]
    return centre + np.array(directions) * spread


# ---------------------------------------------------------------------------------------
# Fits
# ---------------------------------------------------------------------------------------


def observe(
    sim: Any, missing_rate: float, label_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """What the fit sees of a simulated data set: its X with entries removed completely at
    random (each with probability ``missing_rate``; a row that lost every entry gets one
    back, chosen at random, since an all-NaN row carries nothing and is refused), and its
    true labels revealed for a random share ``label_rate`` of the rows (-1 elsewhere).

    Both draws depend on ``rng`` alone, never on the values, so the missingness is MCAR and
    the labelling ignorable: the posterior given what is seen is the model's posterior, and
    SBC holds for it as for complete data. Nothing is drawn when a rate is 0, so the
    complete-data runs keep their random streams.
    """
    X = np.array(sim.X, dtype=np.float64)
    if missing_rate > 0:
        drop = rng.random(X.shape) < missing_rate
        empty = np.flatnonzero(drop.all(axis=1))
        drop[empty, rng.integers(X.shape[1], size=empty.size)] = False
        X[drop] = np.nan
    labels = None
    if label_rate > 0:
        labels = np.where(rng.random(X.shape[0]) < label_rate, sim.labels, -1)
    return X, labels


FitFunction = Callable[[Any, int], az.InferenceData]


def _fit(model: Any, method: str | FitFunction, seed: int, opts: dict[str, Any]) -> Any:
    if callable(method):
        return method(model, seed)
    settings = RunSettings(
        method=method,
        sampler=opts["sampler"],
        # NUTS keeps every draw (thinned to L later); ADVI draws L from its approximation.
        draws=opts["draws"] if method == "nuts" else opts["n_draws"],
        tune=opts["tune"],
        chains=opts["chains"],
        target_accept=opts["target_accept"],
        mass_matrix=opts["mass_matrix"],
        advi_steps=opts["advi_steps"],
        log_likelihood=False,
    )
    return run_inference(model, settings, random_seed=seed).idata


def _thin_ranks(
    idata: Any,
    truth: np.ndarray,
    X: np.ndarray,
    points: np.ndarray,
    n_draws: int,
    rng: np.random.Generator,
    mcmc: bool,
) -> tuple[np.ndarray, float]:
    """Ranks of the truth among ``n_draws`` evenly thinned draws, and the smallest ESS."""
    post = posterior_draws(idata)
    values = sbc_quantities(post.weights, post.means, post.covariances, X, points)
    total = values.shape[0]
    if total < n_draws:
        raise RuntimeError(f"the fit returned {total} draws; SBC needs n_draws={n_draws}.")
    ess = np.nan
    if mcmc and post.n_draws_per_chain > 3:
        chains = values.reshape(post.n_chains, post.n_draws_per_chain, -1)
        ess = float(np.nanmin([az.ess(chains[..., q]) for q in range(values.shape[1])]))
    keep = np.linspace(0, total - 1, n_draws).round().astype(np.intp)
    return ranks_of(truth, values[keep], rng), ess


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def _check_run_args(n_sims: int, n_samples: int, n_draws: int, n_bins: int) -> None:
    for name, value, low in (("n_sims", n_sims, 2), ("n_samples", n_samples, 2)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer; got {n_draws!r}.")
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2; got {n_bins!r}.")
    if (n_draws + 1) % n_bins:
        raise ValueError(
            f"n_bins={n_bins} must divide n_draws + 1 = {n_draws + 1} so that uniform ranks "
            "fill the bins equally; e.g. n_draws=99 with n_bins=10 or 20."
        )


def _rank_simulations(
    sims: list[Any],
    streams: list[np.random.Generator],
    points: np.ndarray,
    model_args: tuple[int, str, GMMPriors],
    method: str | FitFunction,
    opts: dict[str, Any],
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit every simulated data set and rank its truth among the posterior draws."""
    n_components, covariance_type, fit_priors = model_args
    n_features, n_draws = sims[0].X.shape[1], opts["n_draws"]
    n_sims, n_points = len(sims), points.shape[0]
    ranks = np.empty((n_sims, 1 + n_components * n_features + 2 + n_points), dtype=np.int64)
    min_ess = np.full(n_sims, np.nan)
    for i, (sim, rng) in enumerate(zip(sims, streams, strict=True)):
        X, labels = observe(sim, opts["missing_rate"], opts["label_rate"], rng)
        truth = sbc_quantities(
            sim.weights[None], sim.means[None], sim.covariances[None], X, points
        )[0]
        seed = int(rng.integers(2**31 - 1))
        try:
            missing = "marginalize" if opts["missing_rate"] > 0 else "raise"
            model = build_model(
                X, n_components, covariance_type, fit_priors, labels=labels, missing=missing
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                idata = _fit(model, method, seed, opts)
        except Exception as exc:
            raise RuntimeError(
                f"SBC simulation {i} (fit seed {seed}) failed: {exc}. The ranks so far are "
                "lost; rerun with another random_seed or report the failing seed."
            ) from exc
        ranks[i], min_ess[i] = _thin_ranks(
            idata, truth, X, points, n_draws, rng, mcmc=method == "nuts"
        )
        if progress and (i + 1) % 10 == 0:
            print(f"sbc {covariance_type}: {i + 1}/{n_sims}", file=sys.stderr, flush=True)
    return ranks, min_ess


def run_sbc(
    priors: GMMPriors,
    n_components: int,
    covariance_type: str = "full",
    *,
    n_features: int | None = None,
    n_samples: int = 50,
    n_sims: int = 100,
    method: str | FitFunction = "nuts",
    sampler: str = "nutpie",
    fit_priors: GMMPriors | None = None,
    n_draws: int = 99,
    n_bins: int = 10,
    draws: int = 200,
    tune: int = 300,
    chains: int = 2,
    target_accept: float | None = None,
    mass_matrix: str = "auto",
    advi_steps: int = 10000,
    n_points: int = 3,
    missing_rate: float = 0.0,
    label_rate: float = 0.0,
    random_seed: int | None = None,
    progressbar: bool = False,
    progress: bool | str = DEPRECATED,
) -> SBCResult:
    """Simulation-based calibration of a bayesgmm fit on a fixed prior.

    Parameters
    ----------
    priors : GMMPriors
        The prior to simulate from, fixed: ``mean_loc``, ``mean_scale`` and ``std_scale``
        must be set (``None`` would rescale the prior to every simulated data set).
    n_components : int
        K of the simulation and of the fit.
    covariance_type : {"full", "diag", "spherical", "tied"}
        Or their mclust names ("VVV", "VVI", "VII", "EEE"). Structures that EM alone fits
        are refused with a message.
    n_features : int, optional
        D; taken from the vector-valued prior fields when ``None``.
    n_samples : int
        N, rows per simulated data set.
    n_sims : int
        Simulated data sets (each is fitted once).
    method : {"nuts", "advi", "fullrank_advi"} or callable
        The fit: :func:`bayesgmm.bayes.inference.sample_nuts` or
        :func:`bayesgmm.bayes.inference.fit_advi`; or ``f(gmm, random_seed) ->
        InferenceData`` taking the :class:`~bayesgmm.bayes.model.graph.GMMModel` of
        :func:`~bayesgmm.bayes.model.graph.build_model`.
    sampler : {"nutpie", "pymc", "numpyro", "auto"}
        NUTS backend ("nutpie" runs the compiled C kernel).
    fit_priors : GMMPriors, optional
        Prior of the fit, by default ``priors``. A different one shows SBC's power: the
        ranks then should not be uniform.
    n_draws : int
        L, the posterior draws each truth is ranked among. NUTS keeps ``chains * draws``
        draws and thins them evenly to L: with a bulk ESS of at least L (``min_ess``
        reports it) the kept draws are close to independent, as Talts et al. ask. The
        tail test (:meth:`SBCResult.overconfident`) needs more: keeping every 4th draw
        (bulk ESS ~65 of 200) put 11 % too many truths outside all draws; every 20th, none.
    n_bins : int
        Bins of the chi-square test; must divide ``n_draws + 1``. Keep ``n_sims / n_bins``
        at 10 or more.
    draws, tune, chains : int
        NUTS settings per fit.
    target_accept : float, optional
        NUTS step-size adaptation target; ``None``: the runner's choice for the fitted
        model, as ``BayesianGMM``'s (:func:`~bayesgmm.bayes.inference.run.target_accept_for`:
        0.95 for a sparse finite mixture on a diagonal mass matrix, else the sampler's own).
    mass_matrix : {"auto", "diag", "low_rank"}
        nutpie's mass-matrix adaptation (:func:`bayesgmm.bayes.inference.sample_nuts`).
    advi_steps : int
        ADVI optimisation steps per fit.
    n_points : int
        Fixed points of the log mixture density.
    missing_rate : float
        Share of entries removed completely at random before the fit, which then
        marginalises them (``missing="marginalize"``); the log-likelihood quantity is then
        that of the observed coordinates. See :func:`observe`.
    label_rate : float
        Share of rows whose true component is given to the fit as a partial label.
    random_seed : int, optional
        Seeds the simulations and every fit (each simulation gets its own stream).
    progressbar : bool
        Print a line to stderr every 10 simulations.
    progress : bool
        Deprecated alias of ``progressbar``.

    Returns
    -------
    SBCResult
    """
    progressbar = renamed("run_sbc", "progress", progress, "progressbar", progressbar, False)
    priors = check_fixed_priors(priors, n_features)
    n_features = len(priors.mean_loc)
    fit_priors = priors if fit_priors is None else check_fixed_priors(fit_priors, n_features)
    covariance_type = bayesian_structure(covariance_type).name
    if not callable(method) and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS} or a callable; got {method!r}.")
    _check_run_args(n_sims, n_samples, n_draws, n_bins)
    if method == "nuts" and int(draws) * int(chains) < n_draws:
        raise ValueError(
            f"draws * chains = {int(draws) * int(chains)} < n_draws = {n_draws}: "
            "NUTS must keep at least L draws to thin."
        )
    if not isinstance(n_points, int) or n_points < 1:
        raise ValueError(f"n_points must be a positive integer; got {n_points!r}.")
    for name, rate in (("missing_rate", missing_rate), ("label_rate", label_rate)):
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"{name} must be in [0, 1); got {rate!r}.")
    opts = {
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "sampler": sampler,
        "target_accept": None if target_accept is None else float(target_accept),
        "mass_matrix": mass_matrix,
        "advi_steps": int(advi_steps),
        "n_draws": int(n_draws),
        "missing_rate": float(missing_rate),
        "label_rate": float(label_rate),
    }
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(random_seed).spawn(n_sims)]
    sims = [
        simulate_prior(priors, n_components, covariance_type, n_samples, rng) for rng in streams
    ]
    points = fixed_points(priors, [s.X for s in sims], n_points)
    ranks, min_ess = _rank_simulations(
        sims,
        streams,
        points,
        (n_components, covariance_type, fit_priors),
        method,
        opts,
        progressbar,
    )
    settings = {
        "n_components": int(n_components),
        "covariance_type": covariance_type,
        "n_samples": int(n_samples),
        "n_sims": int(n_sims),
        "method": method if isinstance(method, str) else getattr(method, "__name__", "custom"),
        "priors": priors.to_dict(),
        "fit_priors": fit_priors.to_dict(),
        "random_seed": random_seed,
        **opts,
    }
    names = quantity_names(n_components, n_features, n_points)
    return SBCResult(
        ranks=ranks,
        quantities=names,
        n_draws=int(n_draws),
        n_bins=int(n_bins),
        p_values=uniformity_p_values(ranks, n_draws, n_bins),
        min_ess=min_ess,
        points=points,
        settings=settings,
    )
