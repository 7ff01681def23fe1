"""The prior predictive of a :class:`~bayesgmm.bayes.model.graph.GMMModel`, in data units.

``pm.sample_prior_predictive`` on the model returns internal units (the model is written
in them, :mod:`bayesgmm.bayes.model.units`): data sets centred near 0 with a spread of a
few units, whatever the data. Here the parameter draws move to data units exactly as the
posterior's do (:func:`.complete.complete_idata`) and the simulated data sets go back
through ``spec.standardization.to_data``, so a prior predictive check reads in the units
of ``X`` (minutes of waiting time for Old Faithful).
"""

from __future__ import annotations

import warnings
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayesgmm._utils.validation import seed_int
from bayesgmm.bayes.inference.complete import complete_idata
from bayesgmm.bayes.model.graph import GMMModel
from bayesgmm.mixture.draws import simulate_from_draws

__all__ = ["sample_prior_predictive"]


def sample_prior_predictive(
    gmm: GMMModel, n_samples: int = 500, random_seed: Any = None
) -> az.InferenceData:
    """Draws from the prior and a simulated data set per draw, in the data's units.

    Parameters
    ----------
    gmm : GMMModel
        From :func:`bayesgmm.bayes.model.graph.build_model` (edits included: the draws
        come from the model's own PyMC graph).
    n_samples : int
        Prior draws, each with its simulated data set of N rows (N of the model's data).
    random_seed : int, optional

    Returns
    -------
    arviz.InferenceData
        ``prior``: ``weights``, ``means``, ``stds``, ``covariances`` (and the other free
        variables) in data units, dims ``chain`` (one), ``draw``, ``component``,
        ``feature``; ``prior_predictive``: ``x`` (chain, draw, obs, feature), data units;
        ``observed_data``: the model's data.
    """
    if isinstance(n_samples, bool) or int(n_samples) < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    seed = seed_int(random_seed)
    with gmm.model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyMC: "x" has no random for missing
        names = [v.name for v in gmm.model.free_RVs + gmm.model.deterministics]
        if not gmm.has_missing:
            names.append("x")
        raw = pm.sample_prior_predictive(draws=int(n_samples), var_names=names, random_seed=seed)
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
        rng = np.random.default_rng(seed)
        values = simulate_from_draws(
            prior["weights"].values[0],
            prior["means"].values[0],
            prior["covariances"].values[0],
            gmm.data.shape[0],
            rng,
        )[None]
    predictive = xr.Dataset(
        {
            "x": xr.DataArray(
                values,
                dims=("chain", "draw", "obs", "feature"),
                coords={
                    "chain": prior["chain"].values,
                    "draw": prior["draw"].values,
                    "obs": np.arange(values.shape[2]),
                    "feature": list(gmm.spec.feature_names),
                },
            )
        }
    )
    out = az.InferenceData(
        prior=prior, prior_predictive=predictive, observed_data=params.observed_data
    )
    out.attrs = dict(params.attrs)
    return out
