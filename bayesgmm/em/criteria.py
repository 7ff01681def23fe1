"""Model selection: log-likelihood, BIC, AIC, ICL and the mclust-style table over K and
covariance types.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm._utils.validation import (
    check_data,
    check_ks,
    check_missing,
    check_positive,
    constant_features,
)
from bayesgmm.em.collapse import _warn_about_feature_scales
from bayesgmm.em.fit import fit_em
from bayesgmm.em.results import EMResult, GMMParams
from bayesgmm.em.steps import sufficient_statistics
from bayesgmm.exceptions import CollapseError, DegenerateComponentWarning
from bayesgmm.mixture.covariance import (
    n_parameters,
)
from bayesgmm.mixture.structures import check_covariance_type, get_structure, mclust_family

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike

#: EM restarts per cell of a selection table (select_k, compare_k, `bayesgmm report`).
#: With ``init="auto"`` they are the emEM search over ``5 * n_init`` short runs, whose
#: first k-means++ start is the one start of a default fit with the same seed: every cell
#: is at least as good as the fit GaussianMixtureEM's defaults reach with that seed, and
#: most often as good as many more restarts reach (issue 19: with 3, Diabetes' full K=3
#: cell stopped at BIC 5222.8 where 5 restarts reach 5220.9).
SELECTION_N_INIT = 5


def log_likelihood(X: ArrayLike, params: GMMParams | EMResult) -> float:
    """Total log-likelihood of ``X`` under a fitted mixture."""
    X, _ = check_data(X, n_features=params.means.shape[1])
    if isinstance(params, EMResult):
        params = params.params
    return float(sufficient_statistics(X, params).log_likelihood)


def n_free_parameters(fit: EMResult) -> int:
    n_components, n_features = fit.means.shape
    return n_parameters(fit.covariance_type, n_components, n_features)


def bic(fit: EMResult) -> float:
    """Bayesian information criterion ``-2 log L + p log N`` (lower is better).

    mclust reports the negative of this (higher is better). With ``sample_weight`` the
    log-likelihood is the weighted one and ``N = sum(w)``, as the rows repeated give.
    """
    return -2.0 * fit.log_likelihood + n_free_parameters(fit) * np.log(fit.n_observations)


def aic(fit: EMResult) -> float:
    """Akaike information criterion ``-2 log L + 2 p`` (lower is better)."""
    return -2.0 * fit.log_likelihood + 2.0 * n_free_parameters(fit)


def icl(fit: EMResult) -> float:
    """Integrated completed likelihood (Biernacki et al. 2000), BIC-style (lower is better).

    ``ICL = BIC - 2 sum_n log g_{n, z_n}`` with ``z_n`` the MAP label, as mclust computes it:
    BIC penalised by how uncertain the classification is.
    """
    return bic(fit) - 2.0 * fit.log_max_resp


#: The structures select_k fits by default: mclust's 14, its 6 diagonal ones when N <= D
#: (a covariance with correlations needs more rows than features), its 2 in 1-D.
DIAGONAL_STRUCTURES = mclust_family(n_samples=1, n_features=2)
SIGNS = ("bayesgmm", "mclust")


def default_structures(
    n_samples: int, n_features: int, with_prior: bool = False
) -> tuple[str, ...]:
    """mclust's default models for data of this size (its ``mclustBIC`` choice), from the
    registry (:func:`bayesgmm.mixture.structures.mclust_family`); ``with_prior``: only
    those that take the conjugate prior (MAP-EM), as mclust's ``priorControl`` has none
    for EVE, VEE, VVE and EVV."""
    names = mclust_family(n_samples, n_features)
    if with_prior:
        names = tuple(name for name in names if get_structure(name).takes_prior)
    return names


# Over 80 lines only through its docstring, which documents every argument; the body
# is under 60.
def select_k(
    X: ArrayLike,
    ks: Sequence[int] | range = range(1, 6),
    covariance_types: Sequence[str] | str | None = None,
    *,
    criterion: str = "bic",
    sign: str = "bayesgmm",
    **fit_kwargs: Any,
) -> Any:
    """BIC / AIC / ICL over a grid of K and covariance structures, laid out as mclust's
    ``mclustBIC``: one row per K, one column per structure.

    Parameters
    ----------
    X : array-like of shape (N, D)
    ks : sequence of int
    covariance_types : sequence of str, optional
        Any names :func:`fit_em` takes, the columns in this order. Default: mclust's 14
        structures (``EII`` ... ``VVV``), the 6 diagonal ones when ``N <= D``, ``E`` and
        ``V`` for 1-D data (:func:`default_structures`); with a ``prior``, those of them
        that take it (all but EVE, VEE, VVE and EVV).
    criterion : {"bic", "aic", "icl"}
        Which criterion fills the returned wide table.
    sign : {"bayesgmm", "mclust"}
        ``"bayesgmm"`` (default): ``-2 log L + p log N``, lower is better (scikit-learn's
        sign). ``"mclust"``: ``2 log L - p log N``, higher is better, as mclust prints it
        (and AIC, ICL likewise negated). The long table and ``best`` follow the sign.
    **fit_kwargs
        Passed to :func:`fit_em` (``n_init``, default :data:`SELECTION_N_INIT`;
        ``random_seed``, default 0; ``prior``, ``sample_weight``, ``labels``,
        ``missing`` ...). With ``missing="marginalize"`` ``X`` may hold NaN: every fit
        marginalises the missing coordinates, and the criteria are those of the observed
        data.

    Returns
    -------
    pandas.DataFrame
        Rows K, columns covariance types, values the criterion. ``.attrs["long"]`` holds
        the long table with every criterion, log-likelihood, parameter count, convergence
        and degeneracy flags; ``.attrs["best"]`` the (K, covariance_type) with the best
        criterion among non-degenerate fits; ``.attrs["criterion"]``, ``.attrs["sign"]``.
    """
    import pandas as pd

    if criterion not in ("bic", "aic", "icl"):
        raise ValueError(f"criterion must be 'bic', 'aic' or 'icl'; got {criterion!r}.")
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}; got {sign!r}.")
    missing = check_missing(fit_kwargs.get("missing", "raise"))
    X, feature_names = check_data(X, min_samples=2, missing=missing)
    ks = check_ks(ks, X.shape[0])
    if fit_kwargs.get("warn", True):
        # The fits below record their warnings into the table; say these once, up front.
        reg_covar = check_positive(fit_kwargs.get("reg_covar", 1e-6), "reg_covar", allow_zero=True)
        constant = constant_features(X)
        _warn_about_feature_scales(X, constant, reg_covar, feature_names)
    if covariance_types is None:
        covariance_types = default_structures(*X.shape, fit_kwargs.get("prior") is not None)
    elif isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    for cov_type in covariance_types:
        check_covariance_type(cov_type, X.shape[1])
    fit_kwargs.setdefault("n_init", SELECTION_N_INIT)
    seed = fit_kwargs.pop("random_seed", 0)
    rows = [_fit_row(X, k, cov_type, seed, fit_kwargs) for cov_type in covariance_types for k in ks]
    long = pd.DataFrame(rows)
    for name in ("bic", "aic", "icl"):
        if name not in long:
            long[name] = np.nan
        elif sign == "mclust":
            long[name] = -long[name]
    wide = long.pivot(index="K", columns="covariance_type", values=criterion)
    wide = wide.reindex(columns=list(covariance_types))
    usable = long[~long["degenerate"].astype(bool)].dropna(subset=[criterion])
    best = None
    if len(usable):
        values = usable[criterion]
        row = usable.loc[values.idxmax() if sign == "mclust" else values.idxmin()]
        best = (int(row["K"]), str(row["covariance_type"]))
    wide.attrs.update(long=long, best=best, criterion=criterion, sign=sign)
    return wide


def _fit_row(X: np.ndarray, k: int, cov_type: str, seed: SeedLike, fit_kwargs: dict) -> dict:
    """One cell of :func:`select_k`: the fit's criteria (``bayesgmm`` sign), or its error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = fit_em(X, k, cov_type, random_seed=seed, **fit_kwargs)
        except CollapseError as exc:
            return {"K": k, "covariance_type": cov_type, "error": str(exc), "degenerate": True}
    return {
        "K": k,
        "covariance_type": cov_type,
        "log_likelihood": fit.log_likelihood,
        "n_parameters": n_free_parameters(fit),
        "bic": bic(fit),
        "aic": aic(fit),
        "icl": icl(fit),
        "converged": fit.converged,
        "degenerate": bool(fit.degenerate_components)
        or any(issubclass(w.category, DegenerateComponentWarning) for w in caught),
        "error": None,
    }
