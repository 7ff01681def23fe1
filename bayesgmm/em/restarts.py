"""EM runs from starts: one run to convergence, the restart and emEM search, and the
choice of the best run, shared by the in-memory and the Dask engines.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

import numpy as np

from bayesgmm._utils.validation import (
    describe_features,
)
from bayesgmm.em import starts
from bayesgmm.em.collapse import degenerate_components
from bayesgmm.em.hierarchical import hc_labels, hc_rows
from bayesgmm.em.prior import log_prior
from bayesgmm.em.results import (
    ConjugatePrior,
    EMResult,
    EMRun,
    EMSettings,
    GMMParams,
    SufficientStats,
)
from bayesgmm.em.starts import (
    _standardize,
    _stats_from_resp,
    align_to_labels,
    init_subsample_rows,
)
from bayesgmm.em.steps import m_step, sufficient_statistics
from bayesgmm.exceptions import CollapseError, ConvergenceWarning, DegenerateComponentWarning
from bayesgmm.mixture.covariance import (
    collapse_hint,
)
from bayesgmm.mixture.observations import Observations

# The "auto" search (see _RestartSearch.short_run_selection): _CANDIDATES_PER_RUN * n_init
# starts each get _SHORT_RUN_ITER EM iterations before n_init of them are run on. Measured
# on raw Old Faithful, K=3 full (whose best maximum only ~15-19% of single k-means++ or
# random-row starts reach): after 20 iterations the starts bound for it lead the ranking,
# after 5-10 they do not yet. With 5 starts per long run, fits reach it for 100 of 100
# seeds with n_init=10 or 5, and 93 of 100 with n_init=3.
_CANDIDATES_PER_RUN = 5
_SHORT_RUN_ITER = 20
# Random responsibilities are left out of the pool: every component starts at the data
# mean and 20 iterations barely break that symmetry, so their short-run objective says
# nothing about where they end.
_SHORT_RUN_STRATEGIES = ("kmeans++", "random_from_data")
# No weights, no labels: the default of every function that takes them.
_PLAIN = Observations()


def _subsample(Xc: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray | None:
    rows = init_subsample_rows(Xc.shape[0], n_components, rng)
    return None if rows is None else Xc[rows]


def _start_rows(
    n_components: int, rng: np.random.Generator, obs: Observations, n_samples: int
) -> np.ndarray | None:
    """The rows the starts see with weights or labels given: :func:`init_subsample_rows`
    among the rows of positive weight (a row of weight 0 is not in the data), or ``None``
    when that is every row. Without weights, exactly the rows of :func:`_subsample`."""
    if obs.sample_weight is None:
        return init_subsample_rows(n_samples, n_components, rng)
    positive = np.flatnonzero(obs.sample_weight > 0)
    rows = init_subsample_rows(positive.size, n_components, rng)
    if rows is None:
        return None if positive.size == n_samples else positive
    return positive[rows]


def _objective(stats_: SufficientStats, params: GMMParams, prior: ConjugatePrior | None) -> float:
    return stats_.log_likelihood + log_prior(params, prior)


# The default stopping rule (``tol=None``), as mclust's: one iteration changes the objective
# f by at most _DEFAULT_RTOL * (1 + |f|). Set by measurement on raw Old Faithful (K=1..4,
# every covariance type, seeds 0..9, n_init 1 and 10; benchmarks/bench_em_convergence.py):
# with n_init=10, 1e-5 (mclust's default) stops up to 0.99 below the maximum EM is climbing
# to, 1e-6 up to 0.01, 1e-7 up to 1.6e-3; 1e-8 within 1.6e-4 (a stop leaves ~df * r / (1 - r)
# to climb, for EM's linear rate r, near 1 for overlapping components). Runs then take up to
# ~750 iterations, hence DEFAULT_MAX_ITER: scikit-learn's 100 stopped up to 10 of 10 K >= 3
# single-start fits before the rule was met. docs/em.md has the table.
_DEFAULT_RTOL = 1e-8
DEFAULT_MAX_ITER = 1000


def _converged(previous: float, current: float, n_samples: int, tol: float | None) -> bool:
    """Whether one EM step from ``previous`` to ``current`` objective counts as converged.

    ``tol=None`` is the default relative rule, ``|df| <= _DEFAULT_RTOL * (1 + |f|)``; a
    number is scikit-learn's absolute rule on the objective per sample, ``|df| / N < tol``.
    """
    change = abs(current - previous)
    if tol is None:
        return change <= _DEFAULT_RTOL * (1.0 + abs(current))
    return change / n_samples < tol


def _rule(tol: float | None) -> str:
    """The stopping rule in words, for messages."""
    if tol is None:
        return f"relative change of the objective <= {_DEFAULT_RTOL:g}"
    return f"tol={tol:g} per sample"


def _run_once(
    X: Any,
    start: GMMParams,
    settings: EMSettings,
    *,
    obs: Observations = _PLAIN,
    estep: Callable[[Any, GMMParams], SufficientStats] | None = None,
    n_samples: float | None = None,
) -> EMRun:
    """EM from ``start`` to convergence or ``settings.max_iter``: the one EM loop.

    The E-step is pluggable: ``estep(X, params)`` returns the summed sufficient statistics
    of the rows ``X``. It defaults to the complete-data E-step on an in-memory array (the
    weights and labels ``obs`` applied); EM for incomplete data passes its own, the Dask
    engine one that maps the E-step over the chunks persisted on a cluster (``X`` is then
    its handle on them, and ``n_samples`` their number of rows).
    """
    tol, max_iter, reg_covar, prior = settings
    params = start
    trace: list[float] = []
    converged = False
    # With weights, tol is per unit of weight: as per row of the data duplicated.
    w = obs.sample_weight
    if n_samples is None:
        n_samples = X.shape[0] if w is None else float(w.sum())
    n_iter = 0
    if estep is None:
        estep = functools.partial(sufficient_statistics, sample_weight=w, labels=obs.labels)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        stats_ = estep(X, params)
        trace.append(_objective(stats_, params, prior))
        if len(trace) > 1 and _converged(trace[-2], trace[-1], n_samples, tol):
            converged = True
            break
        params = m_step(
            stats_, params.covariance_type, reg_covar=reg_covar, prior=prior, previous=params
        )
    else:
        stats_ = estep(X, params)
        trace.append(_objective(stats_, params, prior))
        converged = (
            max_iter > 0 and len(trace) > 1 and _converged(trace[-2], trace[-1], n_samples, tol)
        )
    return EMRun(params, stats_, trace, converged, n_iter)


class _Run(NamedTuple):
    """One EM run from one start."""

    params: GMMParams
    stats: SufficientStats
    trace: list[float]
    converged: bool
    n_iter: int
    degenerate: tuple[int, ...]


class _RestartSearch:
    """Runs EM from starts of the initialisation strategies; remembers failed starts.

    A start that hits a singular covariance (only possible with ``reg_covar=0`` and no
    prior) counts as failed: its run is ``None`` and its :class:`CollapseError` is kept.
    """

    def __init__(
        self,
        Xc: np.ndarray,
        covariance_type: str,
        *,
        settings: EMSettings,
        data_cov: np.ndarray,
        rng: np.random.Generator,
        init_X: np.ndarray | None = None,
        obs: Observations = _PLAIN,
        init_obs: Observations | None = None,
    ) -> None:
        self.Xc = Xc
        # Weights and labels of Xc, and of the rows the starts see.
        self.obs = obs
        self.init_obs = obs if init_obs is None else init_obs
        # The rows the starts and short runs see: all of Xc, or a subsample of it.
        self.subsampled = init_X is not None
        self.init_X = Xc if init_X is None else init_X
        self.covariance_type = covariance_type
        self.settings = settings
        self.data_cov = data_cov
        self.rng = rng
        self.errors: list[CollapseError] = []
        self.n_starts = 0

    @functools.cached_property
    def Z(self) -> np.ndarray:
        """The standardised rows the starts see (only computed when a start is drawn)."""
        return _standardize(self.init_X)

    def _start(self, n_components: int, strategy: str) -> GMMParams:
        X, obs = self.init_X, self.init_obs
        if strategy == "hc":  # deterministic: draws no random number
            rows = hc_rows(len(X))
            X, obs = X[rows], obs.take(rows)
            labels = hc_labels(X, n_components)
            resp = np.zeros((len(labels), n_components))
            resp[np.arange(len(labels)), labels] = 1.0
        else:
            resp = starts._initial_responsibilities(self.Z, n_components, strategy, self.rng)
        if obs.labels is not None:
            resp = align_to_labels(resp, obs.labels)
        return m_step(
            _stats_from_resp(X, resp, self.covariance_type, obs.sample_weight),
            self.covariance_type,
            reg_covar=self.settings.reg_covar,
            prior=self.settings.prior,
        )

    def _finish(self, outcome: EMRun) -> _Run:
        params, stats_, trace, converged, n_iter = outcome
        degenerate = (
            degenerate_components(
                params, stats_.resp_sum, self.data_cov, reg_covar=self.settings.reg_covar
            )
            if self.settings.prior is None
            else ()
        )
        return _Run(params, stats_, trace, converged, n_iter, degenerate)

    def run(self, make_start: Callable[[], GMMParams], max_iter: int) -> _Run | None:
        """EM for at most ``max_iter`` iterations from ``make_start()``."""
        self.n_starts += 1
        try:
            outcome = self.run_em(make_start(), max_iter)
        except CollapseError as exc:
            self.errors.append(exc)
            return None
        return self._finish(outcome)

    def run_em(self, start: GMMParams, max_iter: int) -> EMRun:
        """EM on all rows; the engines for missing values and Dask pass their E-step."""
        return _run_once(self.Xc, start, self.settings._replace(max_iter=max_iter), obs=self.obs)

    def subsample_search(self) -> _RestartSearch:
        """A search over the subsample alone, sharing this one's random stream and errors."""
        sub = _RestartSearch(
            self.init_X,
            self.covariance_type,
            settings=self.settings,
            data_cov=self.data_cov,
            rng=self.rng,
            obs=self.init_obs,
        )
        sub.errors = self.errors
        return sub

    def run_strategy(self, n_components: int, strategy: str, max_iter: int) -> _Run | None:
        return self.run(lambda: self._start(n_components, strategy), max_iter)

    def resume(self, run: _Run) -> _Run | None:
        """Continue a run up to ``max_iter`` iterations in all, as if never paused."""
        if run.converged or run.n_iter >= self.settings.max_iter:
            return run
        try:
            params, stats_, trace, converged, n_iter = self.run_em(
                run.params, self.settings.max_iter - run.n_iter
            )
        except CollapseError as exc:
            self.errors.append(exc)
            return None
        # trace[0] re-evaluates the objective at run.params, the paused run's last entry.
        return self._finish(
            EMRun(params, stats_, run.trace + trace[1:], converged, run.n_iter + n_iter)
        )

    def restarts(
        self, init: Any, user_start: GMMParams | None, n_components: int, n_init: int
    ) -> list[_Run | None]:
        """The runs of a fit: from the user's start, the emEM search, or plain restarts."""
        if user_start is not None:
            return [self.run(lambda: user_start, self.settings.max_iter)]
        if init == "hc":  # deterministic: one run whatever n_init
            return [self.run_strategy(n_components, "hc", self.settings.max_iter)]
        # "auto": mclust's start, then the k-means++ restarts or the emEM search, which
        # draw exactly the random numbers they drew before the hc start existed.
        first = [self.hc_run(n_components)] if init == "auto" and n_components > 1 else []
        if init == "auto" and n_init > 1 and n_components > 1:
            return first + self.short_run_selection(n_components, n_init)
        strategy = "kmeans++" if init == "auto" else init
        runs = [
            self.run_strategy(n_components, strategy, self.settings.max_iter) for _ in range(n_init)
        ]
        return first + runs

    def hc_run(self, n_components: int) -> _Run | None:
        """The run from mclust's start, or ``None`` when the rows the starts see have
        fewer distinct values than components (the tree cannot be cut there)."""
        if len(np.unique(self.init_X[hc_rows(len(self.init_X))], axis=0)) < n_components:
            return None
        return self.run_strategy(n_components, "hc", self.settings.max_iter)

    def short_run_selection(self, n_components: int, n_init: int) -> list[_Run | None]:
        """The ``"auto"`` search: short runs from many starts, then ``n_init`` long ones.

        Half the long runs (rounded up) go to the starts that lead after the short runs
        (emEM, Biernacki, Celeux & Govaert 2003; clean ones first, then by objective); the
        rest to the first k-means++ starts not already chosen, whatever their rank, so that
        maxima whose basin shows late are still explored as by plain restarts.
        """
        short_iter = min(_SHORT_RUN_ITER, self.settings.max_iter)
        # On a subsample the short runs are cheap and not counted in max_iter: the long
        # runs start afresh on all rows from where the short runs ended.
        short = self.subsample_search() if self.subsampled else self
        pool: list[tuple[str, _Run]] = []
        for i in range(_CANDIDATES_PER_RUN * n_init):
            strategy = _SHORT_RUN_STRATEGIES[i % len(_SHORT_RUN_STRATEGIES)]
            run = short.run_strategy(n_components, strategy, short_iter)
            if run is not None:
                pool.append((strategy, run))
        # Stable: equal keys keep the order of the starts.
        ranked = sorted(
            range(len(pool)), key=lambda i: (bool(pool[i][1].degenerate), -pool[i][1].trace[-1])
        )
        chosen = ranked[: n_init - n_init // 2]
        unranked = [i for i, (strategy, _) in enumerate(pool) if strategy == "kmeans++"]
        for i in unranked + ranked:
            if len(chosen) == n_init:
                break
            if i not in chosen:
                chosen.append(i)
        if self.subsampled:
            runs = [self.run(lambda p=pool[i][1].params: p, self.settings.max_iter) for i in chosen]
            self.n_starts = short.n_starts  # the long runs continue starts already counted
        else:
            runs = [self.resume(pool[i][1]) for i in chosen]
        return runs + [None] * (n_init - len(runs))


def best_result(
    runs: Sequence[_Run | None],
    search: _RestartSearch,
    constant: np.ndarray,
    feature_names: list[str] | None,
    center: np.ndarray,
    prior: ConjugatePrior | None,
    warn: bool,
    n_samples: int,
    stacklevel: int,
) -> EMResult:
    """The best of the restarts as an :class:`EMResult` (data uncentred), with the errors
    and warnings of a fit; shared by the in-memory and the Dask engines.

    ``stacklevel`` points the warnings at the user's call.
    """
    objectives = np.array([np.nan if r is None else r.trace[-1] for r in runs])
    if all(r is None for r in runs):
        constant_hint = (
            f" Feature(s) {describe_features(constant, feature_names)} are constant: drop them."
            if constant.size
            else ""
        )
        raise CollapseError(
            f"all {search.n_starts} EM start(s) failed: {search.errors[0]} With reg_covar=0 "
            "this happens on duplicated points or constant features." + constant_hint
        )
    clean = [i for i, r in enumerate(runs) if r is not None and not r.degenerate]
    candidates = clean or [i for i, r in enumerate(runs) if r is not None]
    best = max(candidates, key=lambda i: objectives[i])
    # candidates holds only runs that did not fail.
    params, stats_, trace, converged, n_iter, degenerate = cast(_Run, runs[best])
    if warn and degenerate:
        counts = ", ".join(f"{k} (N_k={stats_.resp_sum[k]:.3g})" for k in degenerate)
        warnings.warn(
            f"component(s) {counts} collapsed onto a few points or a lower-dimensional "
            f"subspace in every one of the {len(runs)} restart(s); the likelihood is unbounded "
            "there and these estimates are not meaningful. "
            + collapse_hint(search.settings.reg_covar, search.settings.prior is not None)
            + ".",
            DegenerateComponentWarning,
            stacklevel=stacklevel,
        )
    if warn and not converged and search.settings.max_iter > 0 and search.settings.tol != 0:
        warnings.warn(
            f"EM did not converge in max_iter={search.settings.max_iter} iterations "
            f"({_rule(search.settings.tol)}); increase max_iter"
            + (" or tol." if search.settings.tol is not None else "."),
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    params = params._replace(means=params.means + center)
    return EMResult(
        weights=params.weights,
        means=params.means,
        covariances=params.covariances,
        precisions_cholesky=params.precisions_cholesky,
        covariance_type=params.covariance_type,
        objective_trace=np.asarray(trace),
        log_likelihood=float(stats_.log_likelihood),
        log_prior=float(trace[-1] - stats_.log_likelihood),
        converged=bool(converged),
        n_iter=int(n_iter),
        init_objectives=objectives,
        best_init=int(best),
        degenerate_components=degenerate,
        prior=None if prior is None else prior._replace(mean=prior.mean + center),
        reg_covar=search.settings.reg_covar,
        n_samples=n_samples,
        log_max_resp=float(stats_.log_max_resp),
    )
