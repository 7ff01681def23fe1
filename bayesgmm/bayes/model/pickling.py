"""How a :class:`~bayesgmm.bayes.model.graph.GMMModel` comes back from a pickle.

PyMC's graphs hold closures and ``functools.partial`` objects that plain pickle refuses.
An unedited model is a function of its spec, data and observations, so it is stored as
those and built again; an edited one keeps its ``pm.Model``, serialised by cloudpickle
(PyMC's own dependency), and counts as edited after loading.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np

from bayesgmm.bayes.model.graph import GMMModel, model_from_spec
from bayesgmm.bayes.model.spec import MixtureSpec
from bayesgmm.mixture.observations import Observations

__all__ = ["rebuilt_model", "restored_edited_model"]


def rebuilt_model(
    spec: MixtureSpec,
    values: np.ndarray,
    minibatch_size: int | None,
    observations: Observations,
) -> GMMModel:
    """An unpickled unedited model: built again (its data warnings were given at build)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model_from_spec(spec, values, minibatch_size, observations)


def restored_edited_model(
    model_bytes: bytes,
    spec: MixtureSpec,
    values: np.ndarray,
    minibatch_size: int | None,
    observations: Observations,
    internal: np.ndarray,
    ordered_start: np.ndarray | None,
    has_missing: bool,
) -> GMMModel:
    """An unpickled edited model, its ``pm.Model`` restored by (cloud)pickle."""
    return GMMModel(
        pickle.loads(model_bytes),
        spec,
        values,
        internal,
        ordered_start,
        minibatch_size,
        observations.sample_weight,
        observations.labels,
        has_missing,
        None,  # the build is unknown: counts as edited
    )
