"""An :class:`~bayesgmm.em.EMResult` as JSON, and back, checked.

Used by ``GaussianMixtureEM.save`` / ``load`` (the whole fit) and by ``BayesianGMM.save``
(its MAP-EM reference ``em_``). JSON only: loading parses numbers and lists, never code,
and checks every shape against ``K`` and ``D`` before building arrays from them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.mixture.structures import COVARIANCE_NAMES, get_structure

if TYPE_CHECKING:
    from bayesgmm.em.results import EMResult

__all__ = ["em_result_from_json", "em_result_to_json"]

_PRIOR_FIELDS = ("mean", "shrinkage", "dof", "scale", "weight_concentration")


def em_result_to_json(result: EMResult) -> str:
    """``result`` (an EMResult) as a JSON string; the precision factors are recomputed
    on load."""
    prior = result.prior
    out = {
        "covariance_type": result.covariance_type,
        "weights": np.asarray(result.weights).tolist(),
        "means": np.asarray(result.means).tolist(),
        "covariances": np.asarray(result.covariances).tolist(),
        "objective_trace": np.asarray(result.objective_trace).tolist(),
        "log_likelihood": float(result.log_likelihood),
        "log_prior": float(result.log_prior),
        "converged": bool(result.converged),
        "n_iter": int(result.n_iter),
        "init_objectives": np.asarray(result.init_objectives).tolist(),
        "best_init": int(result.best_init),
        "degenerate_components": [int(k) for k in result.degenerate_components],
        "prior": None
        if prior is None
        else {name: np.asarray(getattr(prior, name)).tolist() for name in _PRIOR_FIELDS},
        "reg_covar": float(result.reg_covar),
        "n_samples": int(result.n_samples),
        "log_max_resp": float(result.log_max_resp),
        "weight_total": None if result.weight_total is None else float(result.weight_total),
    }
    # NaN (a collapsed restart's objective) is not JSON: Python's json writes NaN tokens,
    # which its reader accepts; other readers see a string-free, code-free document.
    return json.dumps(out)


def _array(data: dict[str, Any], name: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        array = np.asarray(data[name], dtype=np.float64)
    except KeyError:
        raise ValueError(f"{where}: the EM fit lacks {name!r}; save the fit again.") from None
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name!r} is not an array of numbers.") from None
    if array.shape != shape:
        raise ValueError(f"{where}: {name!r} has shape {array.shape}; expected {shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: {name!r} holds NaN or infinite values.")
    return array


def em_result_from_json(text: str, where: str = "the file") -> Any:
    """The EMResult written by :func:`em_result_to_json`, every field checked.

    Parameters
    ----------
    text : str
    where : str
        Names the source in error messages (the user's file).

    Raises
    ------
    ValueError
        Not JSON, or a field missing, of the wrong shape or not finite.
    """
    try:
        data = json.loads(text)
        cov_type = str(data["covariance_type"])
        k, d = np.shape(data["means"])
    except (TypeError, ValueError, KeyError):
        raise ValueError(f"{where}: the stored EM fit is not readable; save it again.") from None
    if not isinstance(cov_type, str) or cov_type not in COVARIANCE_NAMES:
        raise ValueError(f"{where}: unknown covariance_type {cov_type!r}.")
    weights = _array(data, "weights", (k,), where)
    means = _array(data, "means", (k, d), where)
    covariances = _array(data, "covariances", get_structure(cov_type).shape(k, d), where)
    try:
        return _result(data, weights, means, covariances, cov_type, where)
    except (KeyError, TypeError, ValueError) as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: the stored EM fit is not readable ({exc!r}).") from None


def _result(
    data: dict[str, Any],
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    cov_type: str,
    where: str,
) -> Any:
    from bayesgmm.em import ConjugatePrior, EMResult
    from bayesgmm.mixture.covariance import precisions_cholesky

    prior = data.get("prior")
    if prior is not None:
        d = means.shape[1]
        prior = ConjugatePrior(
            _array(prior, "mean", (d,), where),
            float(prior["shrinkage"]),
            float(prior["dof"]),
            np.asarray(prior["scale"], dtype=np.float64),
            float(prior["weight_concentration"]),
        )
    trace = np.asarray(data.get("objective_trace", []), dtype=np.float64).reshape(-1)
    inits = np.asarray(data.get("init_objectives", []), dtype=np.float64).reshape(-1)
    weight_total = data.get("weight_total")
    return EMResult(
        weights,
        means,
        covariances,
        precisions_cholesky(covariances, cov_type),
        cov_type,
        trace,
        float(data["log_likelihood"]),
        float(data["log_prior"]),
        bool(data["converged"]),
        int(data["n_iter"]),
        inits,
        int(data["best_init"]),
        tuple(int(c) for c in data["degenerate_components"]),
        prior,
        float(data["reg_covar"]),
        int(data["n_samples"]),
        float(data["log_max_resp"]),
        None if weight_total is None else float(weight_total),
    )
