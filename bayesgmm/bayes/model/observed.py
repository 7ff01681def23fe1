"""The PyMC side of observation weights and partial labels (:mod:`bayesgmm.mixture.observations`).

The model's likelihood reads two optional ``pm.Data`` containers beside ``X``:
``sample_weight`` (a row's term is multiplied by it: a power likelihood) and ``labels``
(a row labelled ``k >= 0`` counts for component ``k`` only). The compiled kernel does the
same in C (``bayesgmm/bayes/kernel/_kernel.c``); the tests compare the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesgmm.mixture.observations import Observations

__all__ = ["observation_data", "observed_log_density"]


def observation_data(obs: Observations) -> dict[str, Any]:
    """``pm.Data`` containers (dim ``obs``) of the weights and labels that are given.

    Call inside the model's context; labels are stored as float64 (``-1`` unknown), as
    the kernel's buffer holds them.
    """
    out = {}
    if obs.sample_weight is not None:
        out["sample_weight"] = pm.Data("sample_weight", obs.sample_weight, dims="obs")
    if obs.labels is not None:
        out["labels"] = pm.Data("labels", obs.labels.astype(np.float64), dims="obs")
    return out


def observed_log_density(log_prob: Any, point_weight: Any = None, point_label: Any = None) -> Any:
    """Per-row log density (N,) from the terms ``log pi_k + log N(x_n | k)`` (K, N).

    A row labelled ``k`` keeps only its own term (the others are ``-inf`` before the
    log-sum-exp, so the gradient flows to component ``k`` alone); then each row's value
    is multiplied by its weight, and a row of weight 0 gives 0 (even at ``-inf``).
    Without weights and labels it is the plain log-sum-exp.
    """
    if point_label is not None:
        component = pt.arange(log_prob.shape[0])[:, None]
        own = pt.eq(component, point_label[None, :]) | pt.lt(point_label, 0)[None, :]
        log_prob = pt.switch(own, log_prob, -np.inf)
    point_logp = pt.logsumexp(log_prob, axis=0)
    if point_weight is not None:
        point_logp = pt.switch(pt.gt(point_weight, 0), point_weight * point_logp, 0.0)
    return point_logp
