"""The schema of bayesgmm's fit files, checked on everything read before it is used.

A fit file is untrusted input. Its layout (dimension sizes, variables, dtypes, the JSON
configuration in its attributes) is checked against the spec it declares before any array
is read (:func:`check_bayes_layout`, :func:`check_em_layout`); the arrays are then checked
for the values the spec allows (:func:`check_bayes_values`, :func:`check_em_values`), and
the estimator's stored parameters against the estimator (:func:`check_estimator_meta`).
Every failure is one :class:`~bayesgmm.exceptions.FitFileError` naming what is wrong.
Only JSON is ever parsed: nothing in a file is executed.
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.io.netcdf_header import Group, not_a_fit
from bayesgmm.mixture.structures import BAYESIAN_COVARIANCE_TYPES, get_structure

if TYPE_CHECKING:
    import xarray as xr

CONFIG_ATTR = "bayesgmm_config"
ESTIMATOR_ATTR = "bayesgmm_estimator_params"
#: Keys and JSON types of an EM file's ``em_summary`` (:func:`bayesgmm.io.em_summary`).
_SUMMARY_TYPES: dict[str, tuple[type, ...]] = {
    "log_likelihood": (int, float),
    "log_prior": (int, float),
    "n_parameters": (int,),
    "bic": (int, float),
    "aic": (int, float),
    "icl": (int, float),
    "converged": (bool,),
    "n_iter": (int,),
    "degenerate_components": (list,),
}
_FLOAT_KINDS = "f"
_INT_KINDS = "iu"


def _json_dict(raw: Any, what: str, path: str) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        raise not_a_fit(path, f"{what} is not JSON text")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise not_a_fit(path, f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise not_a_fit(path, f"{what} is not a JSON object")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _count(value: Any, what: str, path: str, low: int = 1) -> int:
    if not _is_int(value) or int(value) < low:
        raise not_a_fit(path, f"{what} must be an integer >= {low}; got {value!r}")
    return int(value)


def _numbers(value: Any, what: str, path: str, sizes: tuple[int, ...]) -> np.ndarray:
    """A finite JSON number or list of them, of one of the ``sizes``."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        raise not_a_fit(path, f"{what} must be a number or a list of numbers")
    array = np.asarray(items, dtype=np.float64)
    if array.size not in sizes or not np.all(np.isfinite(array)):
        raise not_a_fit(path, f"{what} must hold {' or '.join(map(str, sizes))} finite number(s)")
    return array


def _variable(group: Group, name: str, dims: tuple[str, ...], kinds: str, where: str, path: str):
    var = group.variables.get(name)
    if var is None:
        raise not_a_fit(path, f"{where} has no variable {name!r}")
    if var.dims != dims:
        raise not_a_fit(path, f"{where}.{name} has dims {var.dims}; expected {dims}")
    if var.dtype.kind not in kinds:
        raise not_a_fit(path, f"{where}.{name} has dtype {var.dtype}, not a number type")
    return var


def _sizes(group: Group, wanted: dict[str, int], where: str, path: str) -> None:
    for dim, size in wanted.items():
        found = group.sizes.get(dim)
        if found is not None and found != size:
            raise not_a_fit(path, f"{where} has {found} {dim}(s); its configuration says {size}")


# -- the model configuration -----------------------------------------------------------------


def check_config(config: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``bayesgmm_config`` JSON checked against :meth:`MixtureSpec.to_config`'s schema."""
    from bayesgmm.bayes.model.priors import GMMPriors

    for key in ("n_components", "covariance_type", "feature_names", "priors"):
        if key not in config:
            raise not_a_fit(path, f"its configuration has no {key!r}")
    _count(config["n_components"], "the configuration's n_components", path)
    if config["covariance_type"] not in BAYESIAN_COVARIANCE_TYPES:
        raise not_a_fit(path, f"unknown covariance_type {config['covariance_type']!r}")
    names = config["feature_names"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise not_a_fit(path, "the configuration's feature_names is not a list of names")
    if len(set(names)) != len(names):
        raise not_a_fit(path, "the configuration's feature_names repeat a name")
    n_features = len(names)
    _count(config.get("n_samples", 0), "the configuration's n_samples", path, low=0)
    ordered = config.get("ordered")
    if not (
        ordered is None or ordered in names or (_is_int(ordered) and 0 <= ordered < n_features)
    ):
        raise not_a_fit(path, f"the configuration's ordered={ordered!r} is not a feature")
    priors = config["priors"]
    if not isinstance(priors, dict):
        raise not_a_fit(path, "the configuration's priors is not a JSON object")
    try:
        resolved = GMMPriors.from_dict(priors)
    except (TypeError, ValueError) as exc:
        raise not_a_fit(path, f"the configuration's priors are invalid ({exc})") from None
    if not resolved.is_resolved:
        raise not_a_fit(path, "the configuration's priors are not resolved to the data")
    for name in ("mean_loc", "mean_scale", "std_scale"):
        _numbers(priors[name], f"the prior's {name}", path, (1, n_features))
    standard = config.get("standardization")
    if standard is not None:
        if not isinstance(standard, dict) or set(standard) != {"center", "scale"}:
            raise not_a_fit(path, "the configuration's standardization is not {center, scale}")
        _numbers(standard["center"], "the standardization's center", path, (n_features,))
        scale = _numbers(standard["scale"], "the standardization's scale", path, (n_features,))
        if np.any(scale <= 0):
            raise not_a_fit(path, "the standardization's scale must be > 0")
    return config


def _bayes_config(layout: dict[str, Group], path: str) -> dict[str, Any]:
    """The one configuration every group agrees on."""
    raws = [g.attrs[CONFIG_ATTR] for g in layout.values() if CONFIG_ATTR in g.attrs]
    if not raws:
        raise not_a_fit(path, "it holds no bayesgmm configuration (attribute bayesgmm_config)")
    configs = [_json_dict(raw, "the configuration (bayesgmm_config)", path) for raw in raws]
    if any(c != configs[0] for c in configs[1:]):
        raise not_a_fit(path, "its groups disagree on the model configuration")
    return check_config(configs[0], path)


# -- Bayesian fit files ----------------------------------------------------------------------


def check_bayes_layout(layout: dict[str, Group], path: str) -> dict[str, Any]:
    """Groups, dims and dtypes of an InferenceData fit file against its configuration.

    Returns the checked configuration. Reads no array.
    """
    if "posterior" not in layout:
        raise not_a_fit(path, "it has no posterior group")
    config = _bayes_config(layout, path)
    k, d = int(config["n_components"]), len(config["feature_names"])
    post = layout["posterior"]
    _sizes(post, {"component": k, "feature": d, "feature_bis": d}, "the posterior", path)
    _sizes(post, {"corr_pair": d * (d - 1) // 2}, "the posterior", path)
    draw_dims = ("chain", "draw")
    for name, dims in (
        ("weights", ("component",)),
        ("means", ("component", "feature")),
        ("covariances", ("component", "feature", "feature_bis")),
    ):
        _variable(post, name, draw_dims + dims, _FLOAT_KINDS, "the posterior", path)
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    if chains < 1 or draws < 1:
        raise not_a_fit(path, f"the posterior has {chains} chain(s) x {draws} draw(s)")
    n_obs = _check_data_groups(layout, config, path)
    if "relabel_permutations" in layout:
        group = layout["relabel_permutations"]
        _variable(
            group, "permutation", (*draw_dims, "component"), _INT_KINDS, "the relabeling", path
        )
        _sizes(group, {"chain": chains, "draw": draws, "component": k}, "the relabeling", path)
    if "log_likelihood" in layout:
        group = layout["log_likelihood"]
        _variable(group, "x", (*draw_dims, "obs"), _FLOAT_KINDS, "the log-likelihood", path)
        _sizes(
            group,
            {"chain": chains} | ({} if n_obs is None else {"obs": n_obs}),
            "the log-likelihood",
            path,
        )
        if group.sizes["draw"] > draws:
            raise not_a_fit(path, "the log-likelihood has more draws than the posterior")
    return config


def _check_data_groups(layout: dict[str, Group], config: dict[str, Any], path: str) -> int | None:
    """``observed_data`` and ``constant_data`` against the configuration; N or None."""
    if "observed_data" not in layout:
        if "constant_data" in layout:
            raise not_a_fit(path, "it has weights or labels (constant_data) but no data")
        return None
    group = layout["observed_data"]
    _variable(group, "x", ("obs", "feature"), _FLOAT_KINDS, "the observed data", path)
    n_obs = group.sizes["obs"]
    n_samples = int(config.get("n_samples", 0))
    wanted = {"feature": len(config["feature_names"])} | ({"obs": n_samples} if n_samples else {})
    _sizes(group, wanted, "the observed data", path)
    if n_obs < 1:
        raise not_a_fit(path, "the observed data has no rows")
    if "constant_data" in layout:
        extra = layout["constant_data"]
        _sizes(extra, {"obs": n_obs}, "the weights and labels (constant_data)", path)
        if "sample_weight" in extra.variables:
            _variable(extra, "sample_weight", ("obs",), _FLOAT_KINDS, "constant_data", path)
        if "labels" in extra.variables:
            _variable(extra, "labels", ("obs",), _INT_KINDS, "constant_data", path)
    return n_obs


def check_bayes_values(
    groups: dict[str, Any], config: dict[str, Any], path: str, *, missing_ok: bool
) -> None:
    """The arrays of a Bayesian fit file: finite draws, weights on the simplex, symmetric
    covariances with a positive diagonal, valid permutations, weights and labels."""
    post = groups["posterior"]
    k = int(config["n_components"])
    for name in post.data_vars:
        values = np.asarray(post[name].values)
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise not_a_fit(path, f"the posterior's {name!r} holds NaN or infinite values")
    weights = np.asarray(post["weights"].values)
    if np.any(weights < 0) or np.any(np.abs(weights.sum(axis=-1) - 1.0) > 1e-6):
        raise not_a_fit(path, "the posterior's weights are not probabilities summing to 1")
    cov = np.asarray(post["covariances"].values)
    diagonal = np.diagonal(cov, axis1=-2, axis2=-1)
    asymmetry = np.abs(cov - np.swapaxes(cov, -1, -2)).max(initial=0.0)
    if np.any(diagonal <= 0) or asymmetry > 1e-8 * np.abs(diagonal).max(initial=1.0):
        raise not_a_fit(path, "the posterior's covariances are not symmetric with variances > 0")
    if (
        "feature" in post.coords
        and [str(v) for v in post["feature"].values] != config["feature_names"]
    ):
        raise not_a_fit(path, "the posterior's feature names differ from its configuration's")
    if "observed_data" in groups:
        x = np.asarray(groups["observed_data"]["x"].values)
        if np.any(np.isinf(x)) or (not missing_ok and np.any(np.isnan(x))):
            raise not_a_fit(
                path,
                "the observed data holds infinite values, or NaN in a fit "
                "without missing='marginalize'",
            )
    _check_observations(groups.get("constant_data"), k, path)
    if "relabel_permutations" in groups:
        perms = np.asarray(groups["relabel_permutations"]["permutation"].values)
        if not np.array_equal(np.sort(perms, axis=-1), np.broadcast_to(np.arange(k), perms.shape)):
            raise not_a_fit(
                path, f"the relabeling holds rows that are not permutations of 0..{k - 1}"
            )
    if "log_likelihood" in groups:
        loglik = np.asarray(groups["log_likelihood"]["x"].values)
        if np.any(np.isnan(loglik)) or np.any(loglik == np.inf):
            raise not_a_fit(path, "the pointwise log-likelihood holds NaN or +inf")


def _check_observations(data: Any, k: int, path: str) -> None:
    if data is None:
        return
    if "sample_weight" in data:
        weights = np.asarray(data["sample_weight"].values)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise not_a_fit(path, "the stored sample weights are not finite and >= 0")
    if "labels" in data:
        labels = np.asarray(data["labels"].values)
        if np.any(labels < -1) or np.any(labels >= k):
            raise not_a_fit(path, f"the stored labels are not -1 (unknown) or 0..{k - 1}")


# -- the estimator's parameters --------------------------------------------------------------


def stored_missing(raw: Any, path: str) -> str:
    """The ``missing`` option stored with an estimator's parameters (``"raise"`` if none)."""
    from bayesgmm._utils.validation import MISSING_OPTIONS

    params = _json_dict(raw, f"the estimator's parameters ({ESTIMATOR_ATTR})", path).get("params")
    missing = params.get("missing", "raise") if isinstance(params, dict) else "raise"
    if missing not in MISSING_OPTIONS:
        raise not_a_fit(path, f"the estimator's missing={missing!r} is unknown")
    return missing


def check_estimator_meta(raw: Any, cls: type, config: dict[str, Any], path: str) -> dict[str, Any]:
    """The estimator attribute (``save_fit``'s JSON) checked against ``cls`` and the config.

    Returns ``{"params", "n_features_in", "feature_names_in"}``; ``params`` builds ``cls``.
    """
    from bayesgmm._utils.validation import MISSING_OPTIONS

    meta = _json_dict(raw, f"the estimator's parameters ({ESTIMATOR_ATTR})", path)
    params = meta.get("params")
    if not isinstance(params, dict):
        raise not_a_fit(path, "the estimator's parameters are not a JSON object")
    known = set(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - known)
    if unknown:
        raise not_a_fit(path, f"unknown {cls.__name__} parameter(s) {unknown}")
    names = config["feature_names"]
    if meta.get("n_features_in") != len(names) or not _is_int(meta.get("n_features_in")):
        raise not_a_fit(path, f"n_features_in is not the {len(names)} features of the model")
    stored_names = meta.get("feature_names_in")
    if stored_names is not None and (
        not isinstance(stored_names, list)
        or len(stored_names) != len(names)
        or not all(isinstance(n, str) for n in stored_names)
    ):
        raise not_a_fit(path, f"feature_names_in is not a list of {len(names)} names")
    for key in ("n_components", "covariance_type", "ordered"):
        if key in params and params[key] != config.get(key):
            raise not_a_fit(path, f"the estimator's {key}={params[key]!r} differs from the model's")
    for key, value in params.items():
        if key != "priors" and not (value is None or isinstance(value, bool | int | float | str)):
            raise not_a_fit(path, f"the estimator's {key} is not a number, text or null")
    for key in ("max_draws", "max_predict_draws"):  # the second: files from before the rename
        if key in params:
            _count(params[key], key, path)
    if params.get("missing", "raise") not in MISSING_OPTIONS:
        raise not_a_fit(path, f"the estimator's missing={params['missing']!r} is unknown")
    priors = params.get("priors")
    if priors is not None and not (
        isinstance(priors, dict) and isinstance(priors.get("__priors__"), dict)
    ):
        raise not_a_fit(path, "the estimator's priors are not stored priors")
    return {"params": params, "n_features_in": len(names), "feature_names_in": stored_names}


# -- EM fit files ----------------------------------------------------------------------------


def check_em_layout(layout: dict[str, Group], path: str) -> tuple[int, str]:
    """An EM fit file's variables, dims and attributes; returns ``(K, covariance_type)``."""
    root = layout["/"]
    cov_type = root.attrs.get("covariance_type")
    try:
        cov_dims = get_structure(cov_type).dims
    except ValueError:
        raise not_a_fit(path, f"the EM fit's covariance_type {cov_type!r} is unknown") from None
    k = _count(root.attrs.get("n_components"), "the EM fit's n_components", path)
    _variable(root, "weights", ("component",), _FLOAT_KINDS, "the EM fit", path)
    _variable(root, "means", ("component", "feature"), _FLOAT_KINDS, "the EM fit", path)
    _variable(root, "covariances", cov_dims, _FLOAT_KINDS, "the EM fit", path)
    d = root.sizes["feature"]
    _sizes(root, {"component": k, "feature_bis": d}, "the EM fit", path)
    if d < 1:
        raise not_a_fit(path, "the EM fit has no features")
    if "x" in root.variables:
        _variable(root, "x", ("obs", "feature"), _FLOAT_KINDS, "the EM fit", path)
    if "em_summary" in root.attrs:
        summary = _json_dict(root.attrs["em_summary"], "the EM fit's em_summary", path)
        for key, types in _SUMMARY_TYPES.items():
            value = summary.get(key)
            if not isinstance(value, types) or (types != (bool,) and isinstance(value, bool)):
                raise not_a_fit(
                    path,
                    f"the EM fit's em_summary[{key!r}] is missing or not a {types[0].__name__}",
                )
    return k, cov_type


def check_em_values(ds: xr.Dataset, cov_type: str, path: str) -> Any:
    """An EM fit file's arrays; returns its :class:`bayesgmm.em.GMMParams`."""
    from bayesgmm.io.em_file import em_params_from_dataset

    for name in ds.data_vars:
        values = np.asarray(ds[name].values)
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise not_a_fit(path, f"the EM fit's {name!r} holds NaN or infinite values")
    weights = np.asarray(ds["weights"].values)
    if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-6:
        raise not_a_fit(path, "the EM fit's weights are not probabilities summing to 1")
    try:
        return em_params_from_dataset(ds)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise not_a_fit(
            path, f"the EM fit's covariances are not positive definite ({exc})"
        ) from None
