"""Whether a PyMC model is still exactly the one its spec built.

The compiled kernel evaluates the density that :func:`bayesgmm.bayes.model.graph.build_model`
writes, and nothing else. A user may extend the model (a ``pm.Potential``, a hierarchical
prior, an extra variable, new data in a container); the runners then sample the user's
PyMC graph instead. The check is a fingerprint taken at build and compared before every
dispatch: the identity of the model and of every named variable by its role, the
transforms, and a digest of every data container's values. Adding, replacing or re-valuing
anything changes it; nothing else does, and it costs one pass over the data containers
(a hash, ~20 ms for 10^6 values).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pymc as pm

__all__ = ["ModelFingerprint", "describe_edits", "model_fingerprint"]

#: The roles of a PyMC model's named variables, as its own lists name them.
_ROLES = ("free_RVs", "observed_RVs", "potentials", "deterministics", "data_vars")
_ROLE_WORDS = {
    "free_RVs": "free variable",
    "observed_RVs": "observed variable",
    "potentials": "potential",
    "deterministics": "deterministic",
    "data_vars": "data container",
}


class ModelFingerprint(NamedTuple):
    """What identifies a PyMC model's graph in this process (never stored in a file).

    Attributes
    ----------
    model_id : int
        ``id`` of the ``pm.Model``.
    variables : tuple of (role, name, id)
        Every variable of the model's role lists, with the identity of its graph node.
    transforms : tuple of (name, transform class name)
        The value-variable transforms of the free variables.
    data : tuple of (name, digest)
        A digest of every data container's current values.
    """

    model_id: int
    variables: tuple[tuple[str, str, int], ...]
    transforms: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


def _digest(value: Any) -> str:
    array = np.ascontiguousarray(value)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.view(np.uint8).reshape(-1) if array.size else b"")
    return h.hexdigest()


def model_fingerprint(model: pm.Model) -> ModelFingerprint:
    """The fingerprint of ``model`` (a ``pm.Model``) as it is now."""
    variables = tuple(
        (role, str(var.name), id(var)) for role in _ROLES for var in getattr(model, role)
    )
    transforms = tuple(
        (str(rv.name), type(model.rvs_to_transforms.get(rv)).__name__) for rv in model.free_RVs
    )
    data = tuple(
        (str(var.name), _digest(var.get_value(borrow=True)))
        for var in model.data_vars
        if hasattr(var, "get_value")
    )
    return ModelFingerprint(id(model), variables, transforms, data)


def describe_edits(built: ModelFingerprint | None, now: ModelFingerprint) -> list[str]:
    """What differs between the built model and ``now``, in words (empty: unedited).

    ``built`` is ``None`` for a model whose build is unknown (restored from a pickle of an
    edited model): it counts as edited.
    """
    if built is None:
        return ["the model was edited before it was pickled"]
    if built == now:
        return []
    out = []
    if built.model_id != now.model_id:
        out.append("the pm.Model is another one than build_model made")
    before = {(role, name): ident for role, name, ident in built.variables}
    after = {(role, name): ident for role, name, ident in now.variables}
    for role, name in after.keys() - before.keys():
        out.append(f"new {_ROLE_WORDS[role]} {name!r}")
    for role, name in before.keys() - after.keys():
        out.append(f"no {_ROLE_WORDS[role]} {name!r} any more")
    for key in before.keys() & after.keys():
        if before[key] != after[key]:
            out.append(f"{_ROLE_WORDS[key[0]]} {key[1]!r} replaced")
    old_transforms, new_transforms = dict(built.transforms), dict(now.transforms)
    for name in old_transforms.keys() & new_transforms.keys():
        if old_transforms[name] != new_transforms[name]:
            out.append(f"the transform of {name!r} changed")
    old_data = dict(built.data)
    for name, digest in now.data:
        if name in old_data and old_data[name] != digest:
            out.append(f"data container {name!r} holds other values")
    return sorted(out) or ["the model's graph changed"]
