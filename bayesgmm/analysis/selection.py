"""Model selection criteria from fits already made: BIC / ICL (EM), PSIS-LOO / WAIC (posterior).

No fitting happens here: :func:`bayesgmm.analysis.compare_k.compare_k` (the facade) fits every
(K, covariance type) and hands the fits to :func:`em_criteria`, :func:`loo_waic` and
:func:`criteria_table`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm import em as em_module
from bayesgmm.exceptions import DegenerateComponentWarning
from bayesgmm.mixture.covariance import n_parameters

__all__ = ["criteria_table", "em_criteria", "loo_waic"]

# Pareto k above this makes the PSIS-LOO estimate of that point unreliable (Vehtari 2017).
_PARETO_K_BAD = 0.7


def em_criteria(
    fit: em_module.EMResult | None,
    caught: Sequence[warnings.WarningMessage] = (),
    error: str | None = None,
) -> dict[str, Any]:
    """BIC, ICL and the state of one EM fit, as one row of :func:`criteria_table`.

    Parameters
    ----------
    fit : EMResult or None
        ``None`` when the fit raised ``CollapseError`` (its message is ``error``).
    caught : sequence of warnings.WarningMessage
        Warnings recorded during the fit (a ``DegenerateComponentWarning`` marks it).
    error : str, optional

    Returns
    -------
    dict
        ``log_likelihood``, ``n_parameters``, ``bic``, ``icl`` (lower is better),
        ``em_converged``, ``em_degenerate``, ``em_error``.
    """
    if fit is None:
        return {"bic": np.nan, "icl": np.nan, "em_degenerate": True, "em_error": error}
    n_features = np.shape(fit.means)[1]
    n_components = np.shape(fit.means)[0]
    return {
        "log_likelihood": fit.log_likelihood,
        "n_parameters": n_parameters(fit.covariance_type, n_components, n_features),
        "bic": em_module.bic(fit),
        "icl": em_module.icl(fit),
        "em_converged": fit.converged,
        "em_degenerate": bool(fit.degenerate_components)
        or any(issubclass(w.category, DegenerateComponentWarning) for w in caught),
        "em_error": None,
    }


def loo_waic(idata: az.InferenceData) -> tuple[dict[str, Any], np.ndarray]:
    """PSIS-LOO and WAIC of a posterior's pointwise marginal log-likelihood.

    Returns
    -------
    criteria : dict
        ``elpd_loo``, ``se_loo``, ``p_loo``, ``n_pareto_k_bad`` (k > 0.7), ``elpd_waic``,
        ``se_waic``, ``p_waic``, ``waic_warning``.
    loo_i : numpy.ndarray of shape (N,)
        Pointwise LOO elpd.
    """
    if "log_likelihood" not in idata.groups() or "x" not in idata.log_likelihood:
        raise ValueError(
            "the InferenceData has no pointwise log_likelihood 'x'; sample with "
            "log_likelihood=True."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(idata, pointwise=True, var_name="x")
        waic = az.waic(idata, pointwise=True, var_name="x")
    pareto_k = np.asarray(loo.pareto_k)
    criteria = {
        "elpd_loo": float(loo.elpd_loo),
        "se_loo": float(loo.se),
        "p_loo": float(loo.p_loo),
        "n_pareto_k_bad": int(np.sum(pareto_k > _PARETO_K_BAD)),
        "elpd_waic": float(waic.elpd_waic),
        "se_waic": float(waic.se),
        "p_waic": float(waic.p_waic),
        "waic_warning": bool(waic.warning),
    }
    return criteria, np.asarray(loo.loo_i)


def _elpd_differences(
    elpd: np.ndarray, pointwise: dict[int, np.ndarray], n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """``elpd_best - elpd_row`` and its standard error ``sqrt(N var(loo_best - loo_row))``."""
    diff = np.full(n_rows, np.nan)
    dse = np.full(n_rows, np.nan)
    if not pointwise or np.all(np.isnan(elpd)):
        return diff, dse
    best = int(np.nanargmax(elpd))
    for row, loo_i in pointwise.items():
        gap = pointwise[best] - loo_i
        diff[row] = elpd[best] - elpd[row]
        dse[row] = float(np.sqrt(gap.size * np.var(gap, ddof=1))) if row != best else 0.0
    return diff, dse


def _best(table: pd.DataFrame, column: str, largest: bool) -> tuple[int, str] | None:
    if column not in table or not table[column].notna().any():
        return None
    row = table.loc[table[column].idxmax() if largest else table[column].idxmin()]
    return int(row["K"]), str(row["covariance_type"])


def criteria_table(
    rows: Sequence[Mapping[str, Any]],
    pointwise: Mapping[str, Mapping[int, np.ndarray]],
) -> pd.DataFrame:
    """Rank the rows of a model comparison by BIC and by LOO.

    Parameters
    ----------
    rows : sequence of dict
        One per (K, covariance type): ``K``, ``covariance_type``, the :func:`em_criteria`
        columns and, per Bayesian method, the :func:`loo_waic` columns (the second and later
        methods' columns prefixed ``{method}_``).
    pointwise : mapping
        Per Bayesian method, in order: row index -> pointwise LOO elpd (N,).

    Returns
    -------
    pandas.DataFrame
        The rows with ``rank_bic`` and, per method, ``rank_loo``, ``elpd_diff`` and ``dse``
        (difference to the best row and its standard error, from the pointwise LOO values
        as ``arviz.compare`` computes it). ``.attrs``: ``best_bic``, ``best_loo`` (the
        first method's), ``loo_method``.
    """
    table = pd.DataFrame(list(rows))
    if "bic" in table:
        table["rank_bic"] = table["bic"].rank(method="min").astype("Int64")
    methods = list(pointwise)
    for position, method in enumerate(methods):
        prefix = "" if position == 0 else f"{method}_"
        column = prefix + "elpd_loo"
        table[prefix + "rank_loo"] = (
            table[column].rank(ascending=False, method="min").astype("Int64")
        )
        diff, dse = _elpd_differences(table[column].to_numpy(), pointwise[method], len(table))
        table[prefix + "elpd_diff"] = diff
        table[prefix + "dse"] = dse
    table.attrs["best_bic"] = _best(table, "bic", largest=False)
    table.attrs["best_loo"] = _best(table, "elpd_loo", largest=True) if methods else None
    table.attrs["loo_method"] = methods[0] if methods else None
    return table
