"""The posterior mode of a :class:`~bayesgmm.bayes.model.graph.GMMModel`, from its MAP-EM start."""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import pymc as pm

from bayesgmm.bayes.inference.complete import complete_idata
from bayesgmm.bayes.inference.edits import edited_model_note
from bayesgmm.bayes.inference.starts import em_initial_point
from bayesgmm.bayes.model.graph import GMMModel
from bayesgmm.em import EMResult
from bayesgmm.mixture import draws as draw_math

__all__ = ["fit_map", "map_idata"]

#: The model's free variables (``alpha`` only in a sparse finite mixture).
FREE = ("alpha", "weights", "means", "stds", "volume_sd", "log_shape", "partial_corr_unit")


def fit_map(
    gmm: GMMModel,
    random_seed: Any = None,
    *,
    progressbar: bool = False,
    start: EMResult | None = None,
) -> dict[str, np.ndarray]:
    """Posterior mode (in the unconstrained space, as ``pm.find_MAP``) from the EM start.

    Parameters
    ----------
    gmm : GMMModel
    random_seed : int, optional
    progressbar : bool
    start : EMResult, optional
        The MAP-EM fit to start from (internal units, :func:`.starts.em_start`).

    Returns
    -------
    dict
        ``weights``, ``means``, ``stds`` (and ``partial_corr_unit``, and ``alpha`` in a
        sparse finite mixture), plus ``covariances``, in data units.
    """
    spec = gmm.spec
    edited_model_note(gmm, "MAP")  # pm.find_MAP runs on the PyMC graph, edits included
    point = em_initial_point(gmm, random_seed=random_seed, start=start)
    with gmm.model:
        point = pm.find_MAP(start=point, progressbar=progressbar, include_transformed=False)
    keep = spec.with_stds({name: np.asarray(point[name]) for name in FREE if name in point})
    keep = spec.standardization.params_to_data(keep, spec.covariance_type)
    # An edited model's own variables, as the user wrote them (internal units).
    keep.update({name: np.asarray(point[name]) for name in _user_variables(gmm, point)})
    cov, _ = draw_math.covariances_from_draws(
        keep["stds"][None],
        keep["partial_corr_unit"][None] if "partial_corr_unit" in keep else None,
        spec.covariance_type,
        spec.n_components,
        spec.n_features,
    )
    keep["covariances"] = cov[0]
    return keep


def map_idata(gmm: GMMModel, point: dict[str, np.ndarray]) -> az.InferenceData:
    """A one-draw InferenceData of a MAP point (data units, as :func:`fit_map` returns
    it), so downstream code treats all fits alike."""
    spec = gmm.spec
    free = {name: np.asarray(value) for name, value in point.items() if name in FREE}
    free = spec.standardization.params_to_internal(free, spec.covariance_type)
    free.update({name: np.asarray(point[name]) for name in _user_variables(gmm, point)})
    raw = az.from_dict(posterior={name: value[None, None] for name, value in free.items()})
    edits = "; ".join(gmm.edits)
    return complete_idata(raw, gmm, sampler="map", extra_attrs={"model_edits": edits})


def _user_variables(gmm: GMMModel, point: dict[str, Any]) -> list[str]:
    """The names in ``point`` of variables the spec does not build (an edited model's)."""
    own = {*FREE, "covariances", "means_ordered", "means_other"}
    named = set(gmm.model.named_vars)
    return [name for name in point if name not in own and name in named]
