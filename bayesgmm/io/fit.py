"""Save and load Bayesian fits as netCDF (InferenceData), with the configuration in the attrs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    import arviz as az

    from bayesgmm.em.results import EMResult
    from bayesgmm.mixture.observations import Observations
    from bayesgmm.posterior.modes import ModesReport

_ESTIMATOR_ATTR = "bayesgmm_estimator_params"
_EM_ATTR = "bayesgmm_em_result"
#: The draws as sampled, before relabeling (only when relabeling changed them).
_RAW_GROUP = "raw_posterior"


class BayesianEstimator(Protocol):
    """What :func:`save_fit` reads from, and :func:`load_fit` sets on, a fitted
    ``BayesianGMM``; named by its shape, since ``io`` sits below ``estimators``."""

    idata_: az.InferenceData
    raw_idata_: az.InferenceData
    n_features_in_: int
    em_: EMResult | None
    modes_: ModesReport | None

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def _diagnose(
        self, raw: az.InferenceData, weighted: az.InferenceData | None = None
    ) -> None: ...

    def _cache_draws(self) -> None: ...


Estimator = TypeVar("Estimator", bound=BayesianEstimator)


def _jsonable(value: Any) -> Any:
    """A parameter's value for JSON: GMMPriors as their dict, a numpy scalar as Python's,
    a Generator as None (not stored), anything else as it is."""
    if hasattr(value, "to_dict"):
        return {"__priors__": value.to_dict()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.random.Generator):
        return None
    return value


def save_fit(estimator: BayesianEstimator, path: str | Path) -> Path:
    """Write ``estimator.idata_`` (and the raw draws) to ``path`` as netCDF.

    The estimator's parameters, the feature names and the MAP-EM reference weights are
    stored as JSON in the InferenceData attrs so :func:`load_fit` can rebuild it; the
    MAP-EM reference ``em_`` too, the modes' report ``modes_`` (as found: its weights
    come from random draws), and the raw draws (group ``raw_posterior``) when relabeling
    changed them, so that the loaded fit recomputes its other reports. The file is
    written whole or not at all (:func:`~bayesgmm.io.atomic.write_atomically`).
    """
    import warnings

    from bayesgmm._utils.deprecation import DEPRECATED
    from bayesgmm.io.atomic import write_atomically
    from bayesgmm.io.em_result import em_result_to_json
    from bayesgmm.io.modes_report import MODES_ATTR, modes_to_json

    path = Path(path)
    idata = estimator.idata_.copy()
    raw = getattr(estimator, "raw_idata_", None)
    if raw is not None and raw is not estimator.idata_ and _RAW_GROUP not in idata.groups():
        with warnings.catch_warnings():  # a group of our own, which ArviZ does not know
            warnings.simplefilter("ignore")
            idata.add_groups({_RAW_GROUP: raw.posterior})
    params = {  # a deprecated alias left at its "not given" default is not a setting
        name: _jsonable(value)
        for name, value in estimator.get_params().items()
        if not (isinstance(value, str) and value == DEPRECATED)
    }
    meta = {
        "params": params,
        "n_features_in": int(estimator.n_features_in_),
        "feature_names_in": (
            [str(n) for n in estimator.feature_names_in_]
            if hasattr(estimator, "feature_names_in_")
            else None
        ),
    }
    em_json = em_result_to_json(estimator.em_) if getattr(estimator, "em_", None) else None
    modes = getattr(estimator, "modes_", None)
    if modes is not None:  # stored, not recomputed: bridge sampling would draw anew
        idata.posterior.attrs[MODES_ATTR] = modes_to_json(modes)
    for group in idata.groups():
        idata[group].attrs[_ESTIMATOR_ATTR] = json.dumps(meta)
        if em_json is not None:
            idata[group].attrs[_EM_ATTR] = em_json
    return write_atomically(path, lambda tmp: idata.to_netcdf(str(tmp)))


def load_idata(path: str | Path) -> az.InferenceData:
    """Read an InferenceData written by bayesgmm (or any ArviZ netCDF file)."""
    import arviz as az  # imported on use: reading an EM file or a CSV needs no ArviZ

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such fit file: {path}")
    return az.from_netcdf(str(path))


def load_fit(cls: type[Estimator], path: str | Path) -> Estimator:
    """Rebuild a fitted estimator of class ``cls`` from :func:`save_fit` output.

    Everything read is checked first (:func:`bayesgmm.io.read_fit_file`, then the stored
    parameters against ``cls``): a file that is not a valid fit of ``cls`` raises one
    :class:`~bayesgmm.exceptions.FitFileError` naming what is wrong.
    """
    from bayesgmm.bayes.model.priors import GMMPriors
    from bayesgmm.exceptions import FitFileError
    from bayesgmm.io.fit_checks import CONFIG_ATTR, check_estimator_meta
    from bayesgmm.io.fit_file import read_fit_file
    from bayesgmm.io.netcdf_header import not_a_fit

    kind, idata = read_fit_file(path)
    if kind != "bayes":
        raise FitFileError(
            f"{str(path)!r} is an EM fit file (bayesgmm fit --method em), not a "
            f"{cls.__name__} fit; read it with bayesgmm.io.read_fit_file or `bayesgmm report`."
        )
    raw_meta = idata.posterior.attrs.get(_ESTIMATOR_ATTR)
    if raw_meta is None:
        raise FitFileError(
            f"{str(path)!r} was not written by {cls.__name__}.save (no estimator attrs); "
            "read it with bayesgmm.io.read_fit_file."
        )
    config = json.loads(idata.posterior.attrs[CONFIG_ATTR])  # checked by read_fit_file
    meta = check_estimator_meta(raw_meta, cls, config, str(path))
    params = dict(meta["params"])
    if "max_predict_draws" in params and "max_draws" not in params:  # a file from before
        params["max_draws"] = params.pop("max_predict_draws")  # the rename: no warning
    priors = params.get("priors")
    if isinstance(priors, dict):
        try:
            params["priors"] = GMMPriors.from_dict(priors["__priors__"])
        except (TypeError, ValueError) as exc:
            problem = f"the estimator's priors are invalid ({exc})"
            raise not_a_fit(str(path), problem) from None
    estimator = cls(**params)
    estimator.idata_ = idata
    estimator.raw_idata_ = _raw_idata(idata)
    estimator.n_features_in_ = meta["n_features_in"]
    if meta["feature_names_in"] is not None:
        estimator.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    if "observed_data" in idata.groups():
        from bayesgmm.bayes.model.graph import model_from_spec
        from bayesgmm.bayes.model.spec import MixtureSpec

        # The stored spec, internal units included: the model the fit ran on.
        values = np.ascontiguousarray(idata.observed_data["x"].values, dtype=np.float64)
        estimator.model_ = model_from_spec(
            MixtureSpec.from_config(config), values, observations=_observations(idata)
        )
    estimator.labels_identify_components_ = "label_identification" in idata.attrs
    estimator.modes_ = _modes(idata, estimator.raw_idata_, config, str(path))
    _restore_reports(estimator, idata, path)
    estimator._cache_draws()
    return estimator


def _modes(
    idata: az.InferenceData, raw: az.InferenceData, config: dict[str, Any], path: str
) -> ModesReport | None:
    """The stored ``modes_`` (checked against the draws as sampled); ``None`` when the
    fit had none, or the file was written before they were stored."""
    from bayesgmm.io.modes_report import MODES_ATTR, modes_from_json

    text = idata.posterior.attrs.get(MODES_ATTR)
    if text is None:
        return None
    n_chains = int(raw.posterior.sizes["chain"])
    k, d = int(config["n_components"]), len(config["feature_names"])
    n_draws = int(raw.posterior.sizes["draw"])
    return modes_from_json(text, n_chains, k, d, path, n_draws=n_draws)


def _raw_idata(idata: az.InferenceData) -> az.InferenceData:
    """The draws as sampled: the ``raw_posterior`` group as the posterior, when stored."""
    if _RAW_GROUP not in idata.groups():
        return idata
    import arviz as az

    groups = {g: idata[g] for g in idata.groups() if g not in ("posterior", _RAW_GROUP)}
    out = az.InferenceData(posterior=idata[_RAW_GROUP], **groups)
    out.attrs = dict(idata.attrs)
    return out


def _restore_reports(
    estimator: BayesianEstimator, idata: az.InferenceData, path: str | Path
) -> None:
    """``em_`` (stored JSON), ``collapse_report_`` and ``label_report_`` (recomputed from
    the stored draws, their warnings already given at fit)."""
    import warnings

    from bayesgmm.io.em_result import em_result_from_json

    em_json = idata.posterior.attrs.get(_EM_ATTR)
    estimator.em_ = None if em_json is None else em_result_from_json(em_json, where=str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator._diagnose(estimator.raw_idata_)


def _observations(idata: az.InferenceData) -> Observations:
    """The fit's weights and labels, from ``constant_data`` (none when not stored)."""
    from bayesgmm.mixture.observations import Observations

    if "constant_data" not in idata.groups():
        return Observations()
    data = idata.constant_data
    weights = data["sample_weight"].values if "sample_weight" in data else None
    labels = data["labels"].values.astype(np.int64) if "labels" in data else None
    return Observations(None if weights is None else np.asarray(weights, dtype=np.float64), labels)
