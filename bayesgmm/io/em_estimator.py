"""Save and load a fitted ``GaussianMixtureEM``: the EM fit file of
:func:`bayesgmm.io.em_file.em_dataset` (so ``bayesgmm report`` reads it too), with the
whole EM result and the estimator's parameters as JSON in its attrs.

Loading reads netCDF and parses JSON: nothing in the file is executed, and every array
is checked against the stored ``K`` and ``D`` (:mod:`bayesgmm.io.em_result`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayesgmm.io.em_file import EM_FILE_KIND, em_dataset
from bayesgmm.io.em_result import em_result_from_json, em_result_to_json

__all__ = ["load_em_estimator", "save_em_estimator"]

_PARAMS_ATTR = "bayesgmm_estimator_params"
_RESULT_ATTR = "bayesgmm_em_result"


def _param_to_json(name: str, value: Any) -> Any:
    """One constructor parameter as JSON (a Dask client or a Generator is not kept)."""
    if name == "client" or isinstance(value, np.random.Generator):
        return None
    if hasattr(value, "_fields"):  # a ConjugatePrior
        return {
            "__conjugate_prior__": {
                f: np.asarray(getattr(value, f)).tolist() for f in value._fields
            }
        }
    if isinstance(value, Mapping):  # init given as weights, means, covariances
        return {"__arrays__": {str(k): np.asarray(v).tolist() for k, v in value.items()}}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _param_from_json(value: Any) -> Any:
    from bayesgmm.em import ConjugatePrior

    if isinstance(value, dict) and "__conjugate_prior__" in value:
        fields = value["__conjugate_prior__"]
        return ConjugatePrior(
            np.asarray(fields["mean"], dtype=np.float64),
            float(fields["shrinkage"]),
            float(fields["dof"]),
            np.asarray(fields["scale"], dtype=np.float64),
            float(fields["weight_concentration"]),
        )
    if isinstance(value, dict) and "__arrays__" in value:
        return {k: np.asarray(v, dtype=np.float64) for k, v in value["__arrays__"].items()}
    return value


def save_em_estimator(estimator: Any, path: str | Path, X: Any = None) -> Path:
    """Write a fitted ``GaussianMixtureEM`` to ``path`` (netCDF).

    ``X`` (optional) is stored as the file's data, for ``bayesgmm report``'s plots;
    without it the file holds no rows.
    """
    path = Path(path)
    names = estimator.feature_names
    values = np.empty((0, len(names))) if X is None else estimator._check_predict_data(X)
    meta = {
        "params": {k: _param_to_json(k, v) for k, v in estimator.get_params().items()},
        "n_features_in": int(estimator.n_features_in_),
        "feature_names_in": (
            [str(n) for n in estimator.feature_names_in_]
            if hasattr(estimator, "feature_names_in_")
            else None
        ),
    }
    ds = em_dataset(
        estimator.result_,
        values,
        names,
        **{_PARAMS_ATTR: json.dumps(meta), _RESULT_ATTR: em_result_to_json(estimator.result_)},
    )
    ds.to_netcdf(path)
    return path


def load_em_estimator(cls: type, path: str | Path) -> Any:
    """Rebuild the ``GaussianMixtureEM`` that :func:`save_em_estimator` wrote."""
    import xarray as xr

    path_text = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such EM fit file: {path_text}")
    try:
        ds = xr.load_dataset(path)
    except Exception:  # any backend's "cannot read this"
        raise ValueError(f"{path_text!r} could not be read as netCDF.") from None
    if ds.attrs.get("bayesgmm_kind") != EM_FILE_KIND or _RESULT_ATTR not in ds.attrs:
        raise ValueError(
            f"{path_text!r} was not written by {cls.__name__}.save; save the fit with it."
        )
    result = em_result_from_json(str(ds.attrs[_RESULT_ATTR]), where=repr(path_text))
    try:
        meta = json.loads(str(ds.attrs[_PARAMS_ATTR]))
        params = {k: _param_from_json(v) for k, v in dict(meta["params"]).items()}
        estimator = cls(**params)
        n_features = int(meta["n_features_in"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{path_text!r}: the estimator's parameters are unreadable ({exc})."
        ) from None
    if n_features != result.means.shape[1]:
        raise ValueError(f"{path_text!r}: n_features_in does not match the stored means.")
    estimator.n_features_in_ = n_features
    if meta.get("feature_names_in") is not None:
        estimator.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    estimator._set_result(result)
    return estimator
