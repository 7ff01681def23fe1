"""The mixture's one source of truth: :class:`MixtureSpec`.

A spec fixes K, D, the covariance type, the resolved priors (data units), the internal
units the model is written in (:mod:`bayesgmm.bayes.model.units`), an optional ordering
constraint, and with them the layout of the unconstrained vector
(:func:`bayesgmm.bayes.model.transforms.layout`). The PyMC model
(:func:`bayesgmm.bayes.model.graph.build_model`), the compiled kernel's buffer
(:attr:`MixtureSpec.kernel`), the starting points and the unpacking of ADVI, MAP and
nutpie draws all read it; ``idata.attrs["bayesgmm_config"]``
stores it as JSON (:meth:`MixtureSpec.to_config`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.bayes.kernel.bindings import KernelSpec, kernel_spec
from bayesgmm.bayes.model import transforms
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.bayes.model.units import Standardization, priors_to_internal
from bayesgmm.mixture.parametrization import cholesky_from_cpc
from bayesgmm.mixture.structures import bayesian_structure

if TYPE_CHECKING:
    import pymc as pm

__all__ = ["LayoutError", "MixtureSpec", "ordered_index"]


class LayoutError(RuntimeError):
    """A PyMC model whose free variables differ from its spec's unconstrained layout."""


def ordered_index(ordered: str | int | None, feature_names: list[str] | tuple[str, ...]) -> Any:
    """The index of the ordered feature (None when there is no ordering constraint)."""
    if ordered is None:
        return None
    names = list(feature_names)
    if isinstance(ordered, str):
        if ordered not in names:
            raise ValueError(f"ordered={ordered!r} is not a feature; features: {names}.")
        return names.index(ordered)
    index = int(ordered)
    if not 0 <= index < len(names):
        raise ValueError(f"ordered={ordered!r} is out of range for {len(names)} features.")
    return index


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureSpec:
    """Everything that defines one Bayesian mixture model, bar the data.

    Attributes
    ----------
    n_components, n_features : int
    covariance_type : {"full", "diag", "spherical", "tied"}
    priors : GMMPriors
        Resolved, in data units.
    standardization : Standardization
        The model's internal units ``z = (x - center) / scale``.
    feature_names : tuple of str
    n_samples : int
    ordered : str or int, optional
        Feature whose means are constrained increasing.
    """

    n_components: int
    n_features: int
    covariance_type: str
    priors: GMMPriors
    standardization: Standardization
    feature_names: tuple[str, ...]
    n_samples: int
    ordered: str | int | None = None

    @functools.cached_property
    def ordered_feature(self) -> int | None:
        return ordered_index(self.ordered, self.feature_names)

    @functools.cached_property
    def internal_priors(self) -> GMMPriors:
        """The priors moved exactly to the internal units the model is written in."""
        return priors_to_internal(self.priors, self.standardization)

    @functools.cached_property
    def blocks(self) -> tuple[transforms.Block, ...]:
        """The unconstrained vector's layout (PyMC's ``value_vars`` order)."""
        return transforms.layout(
            self.covariance_type,
            self.n_components,
            self.n_features,
            self.ordered_feature,
            sparse=self.sparse,
        )

    @property
    def sparse(self) -> bool:
        """Whether alpha has a hyperprior (a sparse finite mixture) and so a block."""
        return self.priors.alpha_gamma is not None

    @property
    def ndim(self) -> int:
        return sum(block.size for block in self.blocks)

    @functools.cached_property
    def kernel(self) -> KernelSpec:
        """The compiled kernel's flattened priors (internal units)."""
        if self.ordered is not None:
            raise ValueError("the compiled kernel does not cover ordered models.")
        return kernel_spec(
            self.internal_priors, self.n_components, self.n_features, self.covariance_type
        )

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained internal-unit parameters from unconstrained vectors."""
        return transforms.unpack(theta, self.blocks)

    def pack(self, params: dict[str, Any]) -> np.ndarray:
        """Unconstrained vectors from constrained internal-unit parameters."""
        return transforms.pack(self.split_ordered(params), self.blocks)

    def with_stds(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` (internal units, any leading draw axes) with the sds ``stds`` of
        every component and feature the likelihood reads: the free ``stds`` themselves,
        or, for a volume-shape layout, those of its volume, shape and correlations (an
        oriented layout, EEV / VEV: with the ``partial_corr_unit`` of its ``Sigma_k``)."""
        layout = bayesian_structure(self.covariance_type).bayesian
        if not layout.has_volume or "stds" in params:
            return params
        k, d = self.n_components, self.n_features
        if layout.oriented:
            return {**params, **layout.oriented_stds(params, k)}
        volume = np.asarray(params["volume_sd"], dtype=np.float64)
        unit = params.get("partial_corr_unit")
        chol = None
        if unit is not None:
            chol = cholesky_from_cpc(2.0 * np.asarray(unit, dtype=np.float64) - 1.0, d)
        stds = layout.volume_stds(volume, params.get("log_shape"), chol)
        batch = volume.shape[: volume.ndim - len(layout.volume_shape(k))]
        return {**params, "stds": np.broadcast_to(stds, (*batch, k, d)).copy()}

    def split_ordered(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters named as the model's free variables: with an ordering constraint,
        components sorted by the ordered feature and ``means`` split in two (one point,
        no batch axes: the ordered models run on PyMC's samplers, which take dicts)."""
        f = self.ordered_feature
        if f is None or "means" not in params:
            return params
        order = np.argsort(np.asarray(params["means"])[:, f], kind="stable")
        per_component = {"weights", "means"}
        layout = bayesian_structure(self.covariance_type).bayesian
        if layout.per_component_stds:
            per_component.add("stds")
        if "component" in (layout.volume_axes or ()):
            per_component.add("volume_sd")
        if layout.has_volume and layout.per_component_shape:
            per_component.add("log_shape")
        if layout.per_component_corr:
            per_component.add("partial_corr_unit")
        per_component.update({"orient_free", "orient_right"})
        out = {
            name: np.asarray(value)[order] if name in per_component else np.asarray(value)
            for name, value in params.items()
        }
        means = out.pop("means")
        # The ordered transform needs strictly increasing values.
        out["means_ordered"] = means[:, f] + np.arange(self.n_components) * 1e-9
        others = [d for d in range(self.n_features) if d != f]
        if others:
            out["means_other"] = means[:, others]
        return out

    def join_ordered(self, params: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`split_ordered`: ``means`` from the two ordered blocks."""
        if "means_ordered" not in params:
            return params
        out = dict(params)
        first = np.asarray(out.pop("means_ordered"))
        rest = out.pop("means_other", None)
        columns = []
        others = [d for d in range(self.n_features) if d != self.ordered_feature]
        for d in range(self.n_features):
            columns.append(first if d == self.ordered_feature else rest[..., others.index(d)])
        out["means"] = np.stack(columns, axis=-1)
        return out

    def check_model(self, model: pm.Model) -> None:
        """Raise :class:`LayoutError` unless ``model.value_vars`` follow :attr:`blocks`.

        The compiled kernel and the packing read the unconstrained vector by position; a
        model whose free variables came in another order or shape would be read wrongly
        and silently, so a mismatch stops the build.
        """
        shapes = model.eval_rv_shapes()  # dims-based shapes are symbolic until evaluated
        found = [(v.name, tuple(int(n) for n in shapes[v.name])) for v in model.value_vars]
        wanted = [(b.value_name, b.free_shape) for b in self.blocks]
        if found != wanted:
            raise LayoutError(
                f"the PyMC model's free variables {found} differ from the layout "
                f"{wanted} of its MixtureSpec; the kernel and the packing would read the "
                "wrong values. This is a bug in bayesgmm: please report it."
            )

    def to_config(self) -> dict[str, Any]:
        """The JSON-able configuration stored in ``idata.attrs["bayesgmm_config"]``."""
        return {
            "n_components": int(self.n_components),
            "covariance_type": self.covariance_type,
            "priors": self.priors.to_dict(),
            "ordered": self.ordered,
            "feature_names": list(self.feature_names),
            "n_samples": int(self.n_samples),
            "standardization": self.standardization.to_dict(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MixtureSpec:
        """Inverse of :meth:`to_config` (fits saved before internal units: identity)."""
        names = tuple(config["feature_names"])
        return cls(
            n_components=int(config["n_components"]),
            n_features=len(names),
            covariance_type=config["covariance_type"],
            priors=GMMPriors.from_dict(config["priors"]),
            standardization=Standardization.from_dict(config.get("standardization"), len(names)),
            feature_names=names,
            n_samples=int(config.get("n_samples", 0)),
            ordered=config.get("ordered"),
        )
