"""The prior and posterior predictive of a :class:`~bayesgmm.bayes.model.graph.GMMModel`,
in data units.

``pm.sample_prior_predictive`` on the model returns internal units (the model is written
in them, :mod:`bayesgmm.bayes.model.units`): data sets centred near 0 with a spread of a
few units, whatever the data. Here the parameter draws move to data units exactly as the
posterior's do (:func:`.complete.complete_idata`) and the simulated data sets go back
through ``spec.standardization.to_data``, so a predictive check reads in the units of
``X`` (minutes of waiting time for Old Faithful).

A model of data with missing values has no observed variable to draw from (its
likelihood is a potential on the observed coordinates, :mod:`bayesgmm.bayes.model.missing`).
Its replicates are complete rows simulated from the mixture at each draw
(:func:`~bayesgmm.mixture.draws.simulate_from_draws`, data units): the mixture is the
model of ``X``; which entries are missing is the user's pattern, not modelled (missing at
random), so no NaN are put back.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayesgmm._utils.validation import seed_int
from bayesgmm.bayes.calibration.prior import oriented_prior_draws
from bayesgmm.bayes.inference.complete import complete_idata
from bayesgmm.bayes.model.graph import GMMModel
from bayesgmm.bayes.model.transforms import FREE_VARIABLES
from bayesgmm.mixture.draws import simulate_from_draws
from bayesgmm.mixture.structures import bayesian_structure

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike

__all__ = ["sample_posterior_predictive", "sample_prior_predictive"]


def _positive(n_samples: int) -> int:
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or int(n_samples) < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    return int(n_samples)


def sample_prior_predictive(
    gmm: GMMModel, n_samples: int = 500, random_seed: SeedLike = None
) -> az.InferenceData:
    """Draws from the prior and a simulated data set per draw, in the data's units.

    Parameters
    ----------
    gmm : GMMModel
        From :func:`bayesgmm.bayes.model.graph.build_model` (edits included: the draws
        come from the model's own PyMC graph).
    n_samples : int
        Prior draws, each with its simulated data set of N rows (N of the model's data).
    random_seed : int or Generator, optional

    Returns
    -------
    arviz.InferenceData
        ``prior``: ``weights``, ``means``, ``stds``, ``covariances`` (and the other free
        variables) in data units, dims ``chain`` (one), ``draw``, ``component``,
        ``feature``; ``prior_predictive``: ``x`` (chain, draw, obs, feature), data units;
        ``observed_data``: the model's data.
    """
    n_samples = _positive(n_samples)
    seed = seed_int(random_seed)
    if bayesian_structure(gmm.spec.covariance_type).bayesian.oriented:
        if gmm.edits:
            raise NotImplementedError(
                f"the prior predictive of an edited covariance_type="
                f"{gmm.spec.covariance_type!r} model is not available: its orientation is a "
                "pm.Flat vector with a pm.Potential (the ring prior), which PyMC's prior "
                "sampling cannot draw, and numpy draws only the unedited prior."
            )
        return _oriented_prior_predictive(gmm, n_samples, seed)
    with gmm.model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyMC: "x" has no random for missing
        names = [v.name for v in gmm.model.free_RVs + gmm.model.deterministics]
        if not gmm.has_missing:
            names.append("x")
        raw = pm.sample_prior_predictive(draws=n_samples, var_names=names, random_seed=seed)
    params = complete_idata(
        az.InferenceData(posterior=raw.prior),
        gmm,
        sampler="prior",
        log_likelihood=False,
        extra_attrs={"random_seed": seed},
    )
    prior = params.posterior
    if "prior_predictive" in raw.groups():  # the model's own random draws, internal units
        values = gmm.spec.standardization.to_data(raw.prior_predictive["x"].values)
    else:  # missing values: no observed variable, simulate from the data-unit draws
        values = _simulate(prior, gmm.data.shape[0], np.random.default_rng(seed))
    return _prior_predictive_idata(prior, values, params, gmm)


def sample_posterior_predictive(
    gmm: GMMModel,
    posterior: xr.Dataset,
    n_samples: int | None = None,
    random_seed: SeedLike = None,
) -> az.InferenceData:
    """One replicate data set of N rows per posterior draw, in the data's units.

    Parameters
    ----------
    gmm : GMMModel
        The fitted model (edits included: a model of complete data draws ``x`` through
        its own PyMC graph).
    posterior : xarray.Dataset
        The fit's posterior in data units (``complete_idata``'s ``posterior`` group:
        ``weights``, ``means``, ``stds``, ``covariances`` ...; dims ``chain``, ``draw``).
    n_samples : int, optional
        Use the first ``n_samples // chains`` draws of every chain (at least one);
        default: all draws.
    random_seed : int or Generator, optional

    Returns
    -------
    arviz.InferenceData
        ``posterior_predictive``: ``x`` (chain, draw, obs, feature), data units, N rows
        per draw (N of the model's data), complete rows even where the data have NaN;
        ``observed_data``: ``x``, the model's data in data units (NaN where missing).
        ``attrs["random_seed"]`` is the integer seed the draws came from.
    """
    seed = seed_int(random_seed)
    if n_samples is not None:
        per_chain = max(1, _positive(n_samples) // posterior.sizes["chain"])
        posterior = posterior.isel(draw=slice(0, per_chain))
    if gmm.has_missing:
        values = _simulate(posterior, gmm.data.shape[0], np.random.default_rng(seed))
    else:
        values = _pymc_replicates(gmm, posterior, seed)
    observed = xr.Dataset(
        {
            "x": xr.DataArray(
                gmm.data,
                dims=("obs", "feature"),
                coords={
                    "obs": np.arange(gmm.data.shape[0]),
                    "feature": list(gmm.spec.feature_names),
                },
            )
        }
    )
    out = az.InferenceData(
        posterior_predictive=_replicates(values, posterior, gmm), observed_data=observed
    )
    out.attrs = {"random_seed": seed, "missing": "marginalize" if gmm.has_missing else "raise"}
    return out


def _pymc_replicates(gmm: GMMModel, posterior: xr.Dataset, seed: int) -> np.ndarray:
    """``pm.sample_posterior_predictive`` of ``x`` at the data-unit draws, moved to the
    internal units the model is written in and back, shape (chain, draw, N, D)."""
    spec = gmm.spec
    # the model's own free variables (the volume structures also store their stds)
    trace = posterior[[n for n in FREE_VARIABLES if n in posterior and n in gmm.model.named_vars]]
    moved = [n for n in ("means", "stds", "volume_sd", "log_shape") if n in trace]
    internal = spec.standardization.params_to_internal(
        {name: trace[name].values for name in moved}, spec.covariance_type
    )
    trace = trace.assign({name: trace[name].copy(data=v) for name, v in internal.items()})
    if spec.ordered is not None:
        trace = _split_ordered_means(trace, spec.ordered_feature, spec.n_features)
    with gmm.model:
        predictive = pm.sample_posterior_predictive(
            trace, var_names=["x"], random_seed=seed, progressbar=False
        )
    return spec.standardization.to_data(predictive.posterior_predictive["x"].values)


def _split_ordered_means(trace: xr.Dataset, feature: int, n_features: int) -> xr.Dataset:
    """The free variables of an ordered model, ``means_ordered`` (component) and
    ``means_other`` (component, other features), from the ``means`` the posterior keeps:
    without them PyMC would draw the means from their prior."""
    means = trace["means"]
    out = trace.assign(means_ordered=means.isel(feature=feature, drop=True))
    others = [d for d in range(n_features) if d != feature]
    if others:
        other = means.isel(feature=others).values
        out = out.assign(
            means_other=(("chain", "draw", "means_other_dim_0", "means_other_dim_1"), other)
        )
    return out


def _simulate(draws: xr.Dataset, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """``n_rows`` complete rows per draw of the data-unit ``draws``, (chain, draw, N, D)."""
    n_chains, n_draws = draws.sizes["chain"], draws.sizes["draw"]

    def flat(name: str) -> np.ndarray:
        values = draws[name].values
        return values.reshape(n_chains * n_draws, *values.shape[2:])

    values = simulate_from_draws(flat("weights"), flat("means"), flat("covariances"), n_rows, rng)
    return values.reshape(n_chains, n_draws, *values.shape[1:])


def _replicates(values: np.ndarray, draws: xr.Dataset, gmm: GMMModel) -> xr.Dataset:
    """Simulated data sets (chain, draw, obs, feature) as the predictive group's ``x``."""
    return xr.Dataset(
        {
            "x": xr.DataArray(
                values,
                dims=("chain", "draw", "obs", "feature"),
                coords={
                    "chain": draws["chain"].values,
                    "draw": draws["draw"].values,
                    "obs": np.arange(values.shape[2]),
                    "feature": list(gmm.spec.feature_names),
                },
            )
        }
    )


def _oriented_prior_predictive(gmm: GMMModel, n_samples: int, seed: int) -> az.InferenceData:
    """EEV / VEV: the prior's free variables drawn in numpy (PyMC cannot draw their
    ``Flat`` + ``Potential`` orientation), then as :func:`sample_prior_predictive`."""
    rng = np.random.default_rng(seed)
    spec = gmm.spec
    draws = oriented_prior_draws(spec, n_samples, rng)
    raw = az.from_dict(posterior={name: value[None] for name, value in draws.items()})
    params = complete_idata(
        raw, gmm, sampler="prior", log_likelihood=False, extra_attrs={"random_seed": seed}
    )
    prior = params.posterior
    values = _simulate(prior, gmm.data.shape[0], rng)
    return _prior_predictive_idata(prior, values, params, gmm)


def _prior_predictive_idata(
    prior: xr.Dataset, values: np.ndarray, params: az.InferenceData, gmm: GMMModel
) -> az.InferenceData:
    """The prior draws, their replicate data sets (data units) and the observed data."""
    out = az.InferenceData(
        prior=prior,
        prior_predictive=_replicates(values, prior, gmm),
        observed_data=params.observed_data,
    )
    out.attrs = dict(params.attrs)
    return out
