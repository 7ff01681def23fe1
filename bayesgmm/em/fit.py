""":func:`fit_em`, the entry point: checks, centring, and the restart search."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm._utils.validation import (
    CheckedData,
    check_data,
    check_missing,
    check_n_components,
    check_positive,
    check_random_state,
    constant_features,
)
from bayesgmm.em.collapse import (
    DataMoments,
    _warn_about_feature_scales,
    centre_with_moments,
    constant_columns,
    regularized_data_covariance,
    warn_about_scales,
)
from bayesgmm.em.missing import MissingSearch
from bayesgmm.em.prior import _check_prior, default_prior, prior_from_moments
from bayesgmm.em.restarts import (
    DEFAULT_MAX_ITER,
    _RestartSearch,
    _start_rows,
    _subsample,
    best_result,
)
from bayesgmm.em.results import ConjugatePrior, EMResult, EMSettings, GMMParams
from bayesgmm.em.starts import _INIT_METHODS, _init_error, _params_from_user
from bayesgmm.mixture.missing import nan_covariance, nan_mean
from bayesgmm.mixture.moments import check_feature_scales, warn_if_quantised
from bayesgmm.mixture.observations import Observations, check_observations, weighted_moments
from bayesgmm.mixture.structures import check_covariance_type, get_structure, structures

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def _is_dask_collection(X: object) -> bool:
    # By type name, so that neither this check nor in-memory EM imports Dask.
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(X, "dask")


# Over 80 lines only through its docstring, which documents every argument; the body
# is about 60.
def fit_em(
    X: ArrayLike,
    n_components: int,
    covariance_type: str = "full",
    *,
    init: str | Mapping[str, Any] | GMMParams | EMResult = "auto",
    n_init: int = 1,
    tol: float | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
    reg_covar: float = 1e-6,
    prior: ConjugatePrior | str | None = None,
    random_seed: int | np.random.Generator | None = None,
    warn: bool = True,
    client: Any = None,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    missing: str = "raise",
) -> EMResult:
    """Fit a Gaussian mixture by EM (ML) or MAP-EM.

    Parameters
    ----------
    X : array-like of shape (N, D)
        Or a Dask array (or Dask DataFrame) chunked by rows: EM then runs on a Dask
        cluster, see :func:`bayesgmm.em.dask.engine.fit_em_dask` (needs ``bayesgmm[dask]``).
    n_components : int
        Number of components K (1 <= K <= N).
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``, or one of mclust's 14
        structures ``"EII"``, ``"VII"``, ``"EEI"``, ``"VEI"``, ``"EVI"``, ``"VVI"``,
        ``"EEE"``, ``"VEE"``, ``"EVE"``, ``"VVE"``, ``"EEV"``, ``"VEV"``, ``"EVV"``,
        ``"VVV"`` (``"E"``, ``"V"`` for 1-D data): see ``docs/mclust.md``. VVV, EEE, VVI
        and VII are the four original types under their mclust names; the other ten store
        full (K, D, D) matrices.
    init : {"auto", "hc", "kmeans++", "random", "random_from_data"} or mapping
        How to start. The strategies work on per-feature standardised data, so that the
        start, like EM, does not depend on the units of the features:

        - ``"hc"``: mclust's start, model-based agglomerative hierarchical clustering
          (:mod:`bayesgmm.em.hierarchical`) on at most 2000 rows of the starts' rows, cut
          at K clusters; deterministic, one run whatever ``n_init``;
        - ``"kmeans++"``: k-means++ seeding followed by Lloyd's k-means, for every restart;
        - ``"random"``: random responsibilities, for every restart;
        - ``"random_from_data"``: K distinct rows as centres, nearest-centre assignment;
        - ``"auto"`` (default): the ``"hc"`` run (for K > 1), then with ``n_init=1`` (or
          K=1) one ``"kmeans++"`` start, with ``n_init > 1`` a search over ``5 * n_init``
          starts, alternately ``"kmeans++"`` and ``"random_from_data"``, each given 20 EM
          iterations (counted in ``max_iter``). Half the ``n_init`` long runs (rounded
          up) continue the starts with the highest objective by then (emEM, Biernacki,
          Celeux & Govaert 2003; starts already collapsing last); the others continue the
          first k-means++ starts not yet chosen, as plain restarts would. The best of
          all these runs is kept;
        - a mapping, :class:`GMMParams` or :class:`EMResult` with ``weights``, ``means``
          and ``covariances``: one run from these parameters (``n_init`` is ignored).

        With ``N`` above :func:`init_subsample_size` (``max(2000, 50 K)``) the starts and
        the short runs use a random subsample of that many rows, so that their cost does
        not grow with ``N``; the short runs then do not count in ``max_iter``.
    n_init : int
        Runs to convergence. The best non-degenerate one is kept (by objective).
    tol : float or None
        ``None`` (default): stop when one iteration changes the objective ``f`` (the total
        log-likelihood, plus the log prior for MAP-EM) by at most ``1e-8 * (1 + |f|)``, a
        relative rule as mclust's. A number: stop when ``f`` changes by less than ``tol``
        per sample, scikit-learn's absolute rule (its default ``1e-3`` can stop well short
        of the maximum: 0.26 below it for K=3 ``tied`` on raw Old Faithful). ``tol=0``
        runs exactly ``max_iter`` iterations.
    max_iter : int
        EM iterations per run (default 1000); short search runs count towards it. A run
        that stops here without meeting the rule gives a :class:`ConvergenceWarning`.
    reg_covar : float
        Added to every covariance diagonal: a floor against collapse.
    prior : ConjugatePrior, "default" or None
        ``None`` is maximum likelihood. ``"default"`` uses :func:`default_prior`
        (Fraley & Raftery 2007); the objective then is the log posterior. Every
        structure takes it but EVE, VEE, VVE and EVV, for which mclust has none either
        (``docs/mclust.md``, "MAP-EM under mclust's prior").
    random_seed : int or numpy Generator, optional
    warn : bool
        Emit :class:`DegenerateComponentWarning` / :class:`ConvergenceWarning`.
    client : dask.distributed.Client or mapping, optional
        Only for a Dask ``X``: the cluster to run on, or keyword arguments of the
        ``LocalCluster`` to create (and close) for the fit.
    sample_weight : array-like of shape (N,), optional
        Non-negative observation weights (scikit-learn's name): every statistic and the
        log-likelihood weigh row ``n`` by ``w_n``, so integer weights fit exactly as the
        rows repeated. BIC / ICL then count ``sum(w)`` observations, and a number ``tol``
        is per unit of weight. The starts see the rows of positive weight (their k-means
        ignores the weights; the start's parameters weigh them); the data-scaled default
        prior uses the weighted moments. Not with a Dask ``X``.
    labels : array-like of shape (N,), optional
        Partial labels: a component index ``0..K-1`` per row, or ``-1`` where unknown. A
        labelled row's responsibilities are fixed one-hot on its label and its term is
        ``log pi_k + log N(x | mu_k, Sigma_k)``; the starts are permuted to agree with
        the labels, so component ``k`` is the one the labels call ``k``.
    missing : {"raise", "marginalize"}
        ``"raise"`` (default) refuses NaN. ``"marginalize"`` treats NaN entries as missing
        at random and runs the EM for incomplete data (:mod:`bayesgmm.em.missing`):
        the E-step on each row's observed coordinates, the M-step on the conditional
        expectations of the missing ones. The log-likelihood (and so BIC / ICL) is that of
        the observed data. Data without NaN give exactly the ``"raise"`` fit.

    Returns
    -------
    EMResult

    Raises
    ------
    CollapseError
        Every restart hit a singular covariance (possible only with ``reg_covar=0`` and no
        prior); the message says what to do.
    """
    if _is_dask_collection(X):
        if sample_weight is not None or labels is not None:
            raise NotImplementedError(
                "sample_weight and labels are not supported on a Dask X yet: compute X "
                "into memory (X.compute()) to fit with them, or fit without them."
            )
        from bayesgmm.em.dask.engine import fit_em_dask

        if check_missing(missing) != "raise":
            raise ValueError("missing='marginalize' is not supported on a Dask array yet.")
        return fit_em_dask(
            X, n_components, covariance_type, init=init, n_init=n_init, tol=tol,
            max_iter=max_iter, reg_covar=reg_covar, prior=prior, random_seed=random_seed,
            warn=warn, client=client,
        )  # fmt: skip
    if client is not None:
        raise ValueError("client is only used with a Dask array X; X is in memory.")
    # Data a facade has validated already (CheckedData) are not validated again; the copy
    # check_data made is ours, and is centred in place.
    missing = check_missing(missing)
    owned = not isinstance(X, CheckedData)
    X, feature_names = check_data(X, min_samples=2, missing=missing) if owned else X
    has_nan = missing == "marginalize" and bool(np.isnan(X).any())
    n_samples, n_features = X.shape
    n_components = check_n_components(n_components, n_samples)
    covariance_type = check_em_covariance_type(covariance_type, n_features, prior)
    reg_covar = check_positive(reg_covar, "reg_covar", allow_zero=True)
    if tol is not None:
        tol = check_positive(tol, "tol", allow_zero=True)
    _check_counts(n_init, max_iter)
    rng = check_random_state(random_seed)
    obs = check_observations(sample_weight, labels, n_samples, n_components)
    check_feature_scales(X, feature_names)
    if warn:  # reads evenly spaced rows only
        warn_if_quantised(X, feature_names or [f"x{i}" for i in range(n_features)])
    if has_nan or not obs.is_plain:
        constant = constant_features(X)
        if warn:
            _warn_about_feature_scales(X, constant, reg_covar, feature_names)
    if not obs.is_plain:
        return _fit_observed(
            X, feature_names, n_components, covariance_type, obs, constant, rng, has_nan,
            init=init, n_init=n_init, settings=EMSettings(tol, max_iter, reg_covar, prior),
            warn=warn,
        )  # fmt: skip

    # EM is translation-equivariant: centring costs nothing and keeps the second-moment
    # statistics free of cancellation when the data sit far from the origin.
    moments = None
    if has_nan:
        center = nan_mean(X)
        Xc = X - center
    else:  # one pass for the means, one for the covariance, every use of them served
        Xc, moments = centre_with_moments(X, in_place=owned)
        center = moments.center
        constant = constant_columns(Xc, moments.covariance)
        if warn:
            variances = np.diag(moments.covariance) * ((n_samples - 1) / n_samples)
            warn_about_scales(variances, constant, reg_covar, feature_names)
    # With moments, X (centred in place when owned) is not read again: Xc from here on.
    prior = _centred_prior(prior, X, center, n_components, covariance_type, moments=moments)
    user_start = _centred_start(init, center, n_components, covariance_type, reg_covar)
    if user_start is not None:
        n_init = 1

    settings = EMSettings(tol, max_iter, reg_covar, prior)
    if moments is None:  # EM for incomplete data: em/missing.py
        search: _RestartSearch = MissingSearch(
            Xc, covariance_type, n_components=n_components, settings=settings, rng=rng
        )
    else:
        init_X = None if user_start is not None else _subsample(Xc, n_components, rng)
        data_cov = regularized_data_covariance(moments.covariance)
        search = _RestartSearch(
            Xc, covariance_type, settings=settings, rng=rng, data_cov=data_cov, init_X=init_X
        )
    runs = search.restarts(init, user_start, n_components, n_init)

    return best_result(
        runs, search, constant, feature_names, center, prior, warn, n_samples, stacklevel=3
    )


def _fit_observed(
    X: np.ndarray,
    feature_names: list[str] | None,
    n_components: int,
    covariance_type: str,
    obs: Observations,
    constant: np.ndarray,
    rng: np.random.Generator,
    has_nan: bool,
    *,
    init: str | Mapping[str, Any] | GMMParams | EMResult,
    n_init: int,
    settings: EMSettings,
    warn: bool,
) -> EMResult:
    """:func:`fit_em` with weights or labels: the same steps, each given ``obs``; on data
    with NaN (``has_nan``) the EM for incomplete data, whose statistics weigh the rows
    in the same way.

    A separate path, so that a fit without them runs exactly the code it ran before.
    """
    n_samples = X.shape[0]
    weights = np.ones(n_samples) if obs.sample_weight is None else obs.sample_weight
    if has_nan:
        center = nan_mean(X, weights)
    else:
        center, data_cov = weighted_moments(X, weights)
    Xc = X - center
    prior = _centred_prior(settings.prior, X, center, n_components, covariance_type, weights)
    user_start = _centred_start(init, center, n_components, covariance_type, settings.reg_covar)
    settings = settings._replace(prior=prior)
    common = dict(settings=settings, rng=rng, obs=obs)
    search: _RestartSearch
    if has_nan:  # EM for incomplete data: em/missing.py
        search = MissingSearch(Xc, covariance_type, n_components=n_components, **common)
    else:
        rows = None if user_start is not None else _start_rows(n_components, rng, obs, n_samples)
        search = _RestartSearch(
            Xc,
            covariance_type,
            data_cov=regularized_data_covariance(data_cov),
            init_X=None if rows is None else Xc[rows],
            init_obs=None if rows is None else obs.take(rows),
            **common,
        )
    n_init = 1 if user_start is not None else n_init
    runs = search.restarts(init, user_start, n_components, n_init)
    fit = best_result(
        runs, search, constant, feature_names, center, prior, warn, n_samples, stacklevel=4
    )
    return fit._replace(weight_total=float(weights.sum()))


def check_em_covariance_type(
    covariance_type: str, n_features: int, prior: ConjugatePrior | str | None
) -> str:
    """The canonical name of an EM covariance type (any registered name or alias),
    checked against the data's dimension (mclust's 1-D names) and the prior (the
    structures without MAP-EM refuse one)."""
    structure = get_structure(check_covariance_type(covariance_type, n_features))
    if prior is not None and not structure.takes_prior:
        with_prior = ", ".join(s.name for s in structures() if s.takes_prior)
        raise ValueError(
            f"MAP-EM (prior={'default' if isinstance(prior, str) else 'a ConjugatePrior'}) is "
            f"not available for covariance_type={covariance_type!r} yet: fit it without a "
            f"prior (prior=None), or use a structure that takes the prior: {with_prior}."
        )
    return structure.name


def _check_counts(n_init: int, max_iter: int) -> None:
    if isinstance(n_init, bool) or not isinstance(n_init, int | np.integer) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer; got {n_init!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 0:
        raise ValueError(f"max_iter must be a non-negative integer; got {max_iter!r}.")


def _centred_prior(
    prior: ConjugatePrior | str | None,
    X: np.ndarray,
    center: np.ndarray,
    n_components: int,
    covariance_type: str,
    sample_weight: np.ndarray | None = None,
    moments: DataMoments | None = None,
) -> ConjugatePrior | None:
    """The checked prior (``"default"`` resolved on ``X``, weighted by ``sample_weight``
    when given, or on the complete data's ``moments``, which are exactly those
    :func:`default_prior` takes), its mean moved by ``-center``."""
    if isinstance(prior, str):
        if prior != "default":
            raise ValueError(f"prior must be a ConjugatePrior, 'default' or None; got {prior!r}.")
        if moments is not None:
            prior = prior_from_moments(*moments, n_components, covariance_type)
        elif np.isnan(X).any():  # the moments of the observed values (weighted if given)
            mean, cov = nan_mean(X, sample_weight), nan_covariance(X, sample_weight)
            prior = prior_from_moments(mean, cov, n_components, covariance_type)
        else:
            prior = default_prior(X, n_components, covariance_type, sample_weight=sample_weight)
    if prior is None:
        return None
    prior = _check_prior(prior, X.shape[1], covariance_type)
    return prior._replace(mean=prior.mean - center)


def _centred_start(
    init: str | Mapping[str, Any] | GMMParams | EMResult,
    center: np.ndarray,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
) -> GMMParams | None:
    """The user's starting parameters, centred, or ``None`` for a named strategy."""
    if isinstance(init, str):
        if init not in (*_INIT_METHODS, "kmeans"):
            raise ValueError(_init_error(init))
        return None
    start = _params_from_user(init, n_components, len(center), covariance_type, reg_covar)
    return start._replace(means=start.means - center)
