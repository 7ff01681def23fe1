"""Every runner's draws made into one InferenceData, in data units.

The backends return the free parameters in the model's internal units. Here they move to
data units and gain the derived ``covariances`` and ``correlations`` (computed in numpy
after sampling, so the sampler never carries them), ``observed_data``, the pointwise
marginal ``log_likelihood`` (for LOO / WAIC; thinned to a memory budget) and ``attrs``
holding the bayesgmm version, the spec (JSON) and the sampler.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from bayesgmm.bayes.inference.idata import thin_indices
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model import transforms
from bayesgmm.bayes.model.graph import GMMModel
from bayesgmm.bayes.model.spec import MixtureSpec
from bayesgmm.mixture import draws as draw_math
from bayesgmm.mixture.observations import Observations
from bayesgmm.mixture.structures import bayesian_structure

__all__ = ["LOG_LIKELIHOOD_BUDGET", "complete_idata"]

_PLAIN = Observations()
#: The free variables of an ordered model whose ``means`` the posterior keeps instead.
_ORDERED_PARTS = ("means_ordered", "means_other")
# Bytes of pointwise log-likelihood stored with a fit before the draws are thinned for it.
LOG_LIKELIHOOD_BUDGET = 200_000_000


def _stack(posterior: xr.Dataset, name: str) -> np.ndarray:
    values = posterior[name].values
    return values.reshape(-1, *values.shape[2:])


def _pointwise_log_likelihood(
    post: xr.Dataset,
    X: np.ndarray,
    cov: np.ndarray,
    spec: MixtureSpec,
    obs: Observations = _PLAIN,
) -> np.ndarray:
    """(S, N) marginal log-likelihood of the stored draws: the compiled kernel's forward
    pass where it is built (N=10,000, 2000 draws: ~2 s instead of ~20 s), else numpy.

    Each term is the model's: a labelled row's own component, times the row's weight
    (the power likelihood the posterior conditions on; a row of weight 0 scores 0), for
    the weights and labels ``obs`` of the rows of ``X``.
    """
    weights, means = _stack(post, "weights"), _stack(post, "means")
    # With NaN, both give each point's log-likelihood on its observed coordinates (the
    # LOO / WAIC unit is still the point), the kernel's in the order of X.
    if not kernel.available():
        return _times_weights(
            draw_math.pointwise_log_likelihood(X, weights, means, cov, obs.labels), obs
        )
    params = {name: _stack(post, name) for name in transforms.FREE_VARIABLES if name in post}
    # The kernel's layout has no ordering constraint: pack the (already ordered) means.
    blocks = transforms.layout(
        spec.covariance_type, spec.n_components, spec.n_features, sparse=spec.sparse
    )
    with np.errstate(divide="ignore", invalid="ignore"):  # a weight of 0 packs to -inf, NaN
        thetas = transforms.pack(params, blocks)
    kernel_spec = kernel.kernel_spec(
        spec.internal_priors, spec.n_components, spec.n_features, spec.covariance_type
    )
    buffer = kernel.kernel_buffer(X, kernel_spec, *obs)
    loglik = kernel.pointwise_log_likelihood(thetas, buffer)
    # Draws the kernel cannot represent (a weight, sd or correlation at its boundary):
    # numpy, which needs no unconstrained form.
    bad = np.isnan(loglik).any(axis=1)
    if bad.any():
        loglik[bad] = _times_weights(
            draw_math.pointwise_log_likelihood(X, weights[bad], means[bad], cov[bad], obs.labels),
            obs,
        )
    return loglik


def _times_weights(loglik: np.ndarray, obs: Any) -> np.ndarray:
    """``w_n * loglik`` per row (0 at weight 0); unchanged without weights."""
    if obs.sample_weight is None:
        return loglik
    w = obs.sample_weight
    return np.where(w > 0, w * loglik, 0.0)


def _log_likelihood_draws(n_chains: int, n_draws: int, n_obs: int) -> np.ndarray:
    """Draw indices (per chain) whose pointwise log-likelihood fits the memory budget."""
    per_chain = max(1, LOG_LIKELIHOOD_BUDGET // (8 * n_chains * max(1, n_obs)))
    return thin_indices(n_draws, per_chain)


def _log_likelihood_group(post: xr.Dataset, gmm: GMMModel) -> xr.Dataset:
    """The pointwise log-likelihood of the (internal-unit) draws of ``post``, in data units.

    Computed in internal units, where the kernel runs and no offset costs precision; the
    Jacobian of z = (x - center) / scale makes it the density of x.
    """
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    unit = _stack(post, "partial_corr_unit") if "partial_corr_unit" in post else None
    spec, Z = gmm.spec, gmm.internal
    cov, _ = draw_math.covariances_from_draws(
        _stack(post, "stds"), unit, spec.covariance_type, spec.n_components, Z.shape[1]
    )
    loglik = _pointwise_log_likelihood(post, Z, cov, spec, gmm.observations)
    jacobian = spec.standardization.log_jacobian
    # In place: the (draws, N) array is the largest a fit holds (160 MB at 2000 x 10,000),
    # and a copy of it cost more than the addition.
    if gmm.sample_weight is None:
        loglik += jacobian
    else:  # the weighted terms: the Jacobian of each row counts w_n times too
        loglik += np.where(gmm.sample_weight > 0, gmm.sample_weight * jacobian, 0.0)
    return xr.Dataset(
        {
            "x": xr.DataArray(
                loglik.reshape(n_chains, n_draws, -1),
                dims=("chain", "draw", "obs"),
                coords={
                    "chain": post["chain"].values,
                    "draw": post["draw"].values,
                    "obs": np.arange(Z.shape[0]),
                },
            )
        }
    )


def complete_idata(
    idata: az.InferenceData,
    gmm: GMMModel,
    *,
    sampler: str,
    log_likelihood: bool = True,
    extra_attrs: dict[str, Any] | None = None,
) -> az.InferenceData:
    """Move the draws to data units; add covariances, observed data, the pointwise
    log-likelihood and attrs.

    ``idata`` holds the backend's draws, in the model's internal units.
    """
    import bayesgmm

    spec, X = gmm.spec, gmm.data
    k, cov_type, n_features = spec.n_components, spec.covariance_type, spec.n_features
    post = idata.posterior
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    keep = [v for v in transforms.FREE_VARIABLES if v in post]
    # An edited model's own variables (an extra parameter, a hierarchical mean), as the
    # user wrote them: in the model's internal units, with the backend's dims.
    # (Named variables only: nutpie also stores the transformed values, ``stds_log__``.)
    named = gmm.model.named_vars
    extras = [v for v in post.data_vars if v in named and v not in keep and v not in _ORDERED_PARTS]
    user_vars = post[extras]
    post = _with_stds(_with_model_dims(post[keep], spec), spec)
    unit = _stack(post, "partial_corr_unit") if "partial_corr_unit" in post else None
    groups: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    if log_likelihood:
        stored = _log_likelihood_draws(n_chains, n_draws, X.shape[0])
        if stored.size < n_draws:
            attrs["log_likelihood_draws"] = int(stored.size)
            warnings.warn(
                f"the pointwise log-likelihood of all {n_chains * n_draws} draws x "
                f"{X.shape[0]} points would take {8 * n_chains * n_draws * X.shape[0] / 1e6:.0f} "
                f"MB: stored for {stored.size} evenly thinned draws per chain (the "
                f"{LOG_LIKELIHOOD_BUDGET / 1e6:.0f} MB budget), so LOO / WAIC rest on "
                "those. Pass log_likelihood=False to skip it.",
                UserWarning,
                stacklevel=3,
            )
        groups["log_likelihood"] = _log_likelihood_group(post.isel(draw=stored), gmm)
    moved = [name for name in ("means", "stds", "volume_sd", "log_shape") if name in post]
    data_units = spec.standardization.params_to_data({n: post[n].values for n in moved}, cov_type)
    post = post.assign({n: post[n].copy(data=v) for n, v in data_units.items()})
    cov, corr = draw_math.covariances_from_draws(
        _stack(post, "stds"), unit, cov_type, k, n_features
    )
    names = list(spec.feature_names)
    coords = {
        "chain": post["chain"].values,
        "draw": post["draw"].values,
        "component": np.arange(k),
        "feature": names,
        "feature_bis": names,
    }
    shape = (n_chains, n_draws, k, n_features, n_features)
    dims = ("chain", "draw", "component", "feature", "feature_bis")
    groups["posterior"] = post.assign(
        covariances=xr.DataArray(cov.reshape(shape), dims=dims, coords=coords),
        correlations=xr.DataArray(corr.reshape(shape), dims=dims, coords=coords),
        **{name: user_vars[name] for name in extras},
    )
    groups["observed_data"] = xr.Dataset(
        {
            "x": xr.DataArray(
                X, dims=("obs", "feature"), coords={"obs": np.arange(X.shape[0]), "feature": names}
            )
        }
    )
    groups.update(_observation_group(gmm))
    out = az.InferenceData(posterior=groups.pop("posterior"), **groups)
    for group in ("sample_stats", "prior", "prior_predictive", "posterior_predictive"):
        if group in idata.groups():
            out.add_groups({group: idata[group]}, warn_on_custom_groups=False)
    for group in idata.groups():
        if group not in out.groups() and group not in ("log_likelihood", "observed_data"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.add_groups({group: idata[group]})
    attrs.update(
        bayesgmm_version=bayesgmm.__version__,
        bayesgmm_config=json.dumps(spec.to_config()),
        sampler=sampler,
    )
    attrs.update(extra_attrs or {})
    for group in out.groups():
        out[group].attrs.update(attrs)
    out.attrs = dict(attrs)
    return out


def _observation_group(gmm: GMMModel) -> dict[str, xr.Dataset]:
    """``constant_data`` with the fit's ``sample_weight`` and ``labels`` (dim ``obs``)."""
    values = {"sample_weight": gmm.sample_weight, "labels": gmm.labels}
    present = {name: v for name, v in values.items() if v is not None}
    if not present:
        return {}
    n_obs = gmm.data.shape[0]
    data = {name: xr.DataArray(v, dims=("obs",)) for name, v in present.items()}
    return {"constant_data": xr.Dataset(data, coords={"obs": np.arange(n_obs)})}


def _with_stds(post: xr.Dataset, spec: MixtureSpec) -> xr.Dataset:
    """A volume-shape structure's draws with the sds of every component and feature
    (``stds``, :meth:`MixtureSpec.with_stds`), which the likelihood and the covariances
    read; unchanged when the draws have their ``stds``."""
    if "stds" in post or "volume_sd" not in post:
        return post
    names = ("volume_sd", "log_shape", "shape_gaps", "orient_free", "orient_right")
    names = [name for name in (*names, "partial_corr_unit") if name in post]
    derived = spec.with_stds({name: post[name].values for name in names})
    out = post.assign(stds=(("chain", "draw", "component", "feature"), derived["stds"]))
    if "partial_corr_unit" not in post and "partial_corr_unit" in derived:  # EEV, VEV
        dims = ("chain", "draw", "component", "corr_pair")
        out = out.assign(partial_corr_unit=(dims, derived["partial_corr_unit"]))
    return out


def _with_model_dims(post: xr.Dataset, spec: MixtureSpec) -> xr.Dataset:
    """Rename backend dims (``weights_dim_0`` ...) to the model's dims."""
    names = list(spec.feature_names)
    layout = bayesian_structure(spec.covariance_type).bayesian
    wanted = {
        "alpha": (),
        "weights": ("component",),
        "means": ("component", "feature"),
        "stds": layout.sd_layout.std_axes,
        "volume_sd": layout.volume_axes or (),
        "log_shape": layout.std_axes,
        "partial_corr_unit": layout.corr_dims(),
        "shape_gaps": ("shape_gap",),
        "orient_free": ("component", "orient_free_dim"),
        "orient_right": ("component", "orient_right_dim"),
    }
    pairs = [f"{names[i]}|{names[j]}" for i in range(len(names)) for j in range(i)]
    coord_values = {
        "component": np.arange(spec.n_components),
        "feature": names,
        "corr_pair": pairs,
        "shape_gap": np.arange(max(spec.n_features - 1, 0)),
        "orient_free_dim": np.arange(2 if spec.n_features == 2 else 4),
        "orient_right_dim": np.arange(4),
    }
    out = {}
    for name, da in post.data_vars.items():
        if name in wanted:
            dims = ("chain", "draw", *wanted[name])
            da = xr.DataArray(
                da.values,
                dims=dims,
                coords={
                    "chain": post["chain"].values,
                    "draw": post["draw"].values,
                    **{d: coord_values[d] for d in wanted[name]},
                },
            )
        out[name] = da
    return xr.Dataset(out)
