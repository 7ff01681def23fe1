"""The model's free variables as PyMC random variables: its priors, in the spec's layout
order (weights, means, sds or volume and shape, correlations). :mod:`graph` builds the
model around them; the transforms are the ones the numpy packing and the kernel use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.logprob.transforms import Transform

from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.bayes.model.spec import MixtureSpec
from bayesgmm.bayes.model.transforms import TRANSFORMS, Block
from bayesgmm.mixture.parametrization import cholesky_from_cpc, cpc_beta_parameters
from bayesgmm.mixture.structures import bayesian_structure, orientation

__all__ = ["free_variables"]


class _SharedTransform(Transform):
    """A transform of :mod:`bayesgmm.bayes.model.transforms` as PyMC's ``Transform``: the PyMC graph
    and the numpy packing (and, checked by the tests, the kernel) run one formula."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._impl = TRANSFORMS[name]
        self.ndim_supp = 1 if self._impl.vector else 0

    def forward(self, value: Any, *inputs: Any) -> Any:
        return self._impl.forward(pt.as_tensor(value), pt)

    def backward(self, value: Any, *inputs: Any) -> Any:
        return self._impl.backward(pt.as_tensor(value), pt)

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        return self._impl.log_jac_det(pt.as_tensor(value), pt)


def _transform(block: Block) -> Any:
    return None if block.transform == "identity" else _SharedTransform(block.transform)


def _std_prior(block: Block, priors: GMMPriors, dims: Any, pooled: bool = False) -> Any:
    params = priors.std_parameters(pooled=pooled)
    if pooled:  # spherical: one sd per component, the same prior for each
        params = {k: np.float64(v[0]) for k, v in params.items()}
    family, kwargs = priors.std_family, {"dims": dims, "default_transform": _transform(block)}
    if family == "lognormal":
        return pm.LogNormal(block.name, mu=params["mu"], sigma=params["sigma"], **kwargs)
    if family == "gamma":
        return pm.Gamma(block.name, alpha=params["alpha"], beta=params["beta"], **kwargs)
    if family == "inversegamma":
        return pm.InverseGamma(block.name, alpha=params["alpha"], beta=params["beta"], **kwargs)
    return pm.HalfNormal(block.name, sigma=params["sigma"], **kwargs)


def _means(spec: MixtureSpec, blocks: dict[str, Block]) -> Any:
    priors, k = spec.internal_priors, spec.n_components
    loc, scale = np.asarray(priors.mean_loc), np.asarray(priors.mean_scale)
    f = spec.ordered_feature
    if f is None:
        return pm.Normal(
            "means",
            mu=np.broadcast_to(loc, (k, len(loc))),
            sigma=np.broadcast_to(scale, (k, len(loc))),
            dims=("component", "feature"),
        )
    first = pm.Normal(
        "means_ordered",
        mu=loc[f],
        sigma=scale[f],
        dims="component",
        default_transform=_transform(blocks["means_ordered"]),
    )
    others = [d for d in range(len(loc)) if d != f]
    if not others:
        return pm.Deterministic("means", first[:, None], dims=("component", "feature"))
    rest = pm.Normal(
        "means_other",
        mu=np.broadcast_to(loc[others], (k, len(others))),
        sigma=np.broadcast_to(scale[others], (k, len(others))),
        shape=(k, len(others)),
    )
    columns = [first if d == f else rest[:, others.index(d)] for d in range(len(loc))]
    return pm.Deterministic("means", pt.stack(columns, axis=1), dims=("component", "feature"))


def free_variables(spec: MixtureSpec, blocks: dict[str, Block]) -> list[Any]:
    """The priors, in the spec's layout order; returns the likelihood's parameters."""
    k, cov_type, priors = spec.n_components, spec.covariance_type, spec.internal_priors
    weights = _weights(spec, blocks)
    means = _means(spec, blocks)
    structure = bayesian_structure(cov_type).bayesian
    if structure.has_volume:
        volume = _std_prior(blocks["volume_sd"], priors, structure.volume_axes, pooled=True)
        if structure.oriented:
            return [weights, means, *_oriented(spec, blocks, volume)]
    else:
        stds = _std_prior(blocks["stds"], priors, structure.std_axes, pooled=structure.pooled)
    log_shape = _log_shape(spec, blocks, structure.std_axes) if "log_shape" in blocks else None
    corr_chol = None
    if "partial_corr_unit" in blocks:
        beta = cpc_beta_parameters(spec.n_features, float(spec.priors.eta))
        dims = structure.corr_dims()
        if structure.per_component_corr:
            beta = np.broadcast_to(beta, (k, len(beta)))
        unit = pm.Beta(
            "partial_corr_unit",
            alpha=beta,
            beta=beta,
            dims=dims,
            default_transform=_transform(blocks["partial_corr_unit"]),
        )
        corr_chol = cholesky_from_cpc(2.0 * unit - 1.0, spec.n_features, xp=pt)
    if structure.has_volume:  # the sds of the volume, shape and correlations, (K, D)
        stds = structure.volume_stds(volume, log_shape, corr_chol, xp=pt)
        stds = pt.broadcast_to(stds, (k, spec.n_features))
    return [weights, means, stds] + ([] if corr_chol is None else [corr_chol])


def _oriented(spec: MixtureSpec, blocks: dict[str, Block], volume: Any) -> tuple[Any, Any]:
    """EEV / VEV: the shape's gaps and the orientation vectors, with their potentials
    (:mod:`bayesgmm.mixture.structures.orientation`); returns the sds (K, D) and the
    correlation Cholesky factors (K, D, D) of ``Sigma_k``."""
    k, d = spec.n_components, spec.n_features
    sigma = float(spec.priors.std_spread)
    # No initval (PyMC's fgraph conversion, which nutpie and the pickles use, refuses
    # one): the runners start from EM; the Flat vectors' default point, 0, is the ring's
    # one singular point.
    gaps = pm.HalfFlat(
        "shape_gaps",
        shape=blocks["shape_gaps"].shape,
        default_transform=_transform(blocks["shape_gaps"]),
    )
    log_shape = orientation.sorted_log_shape(gaps, pt)
    pm.Potential("shape_prior", orientation.shape_log_prior(log_shape, sigma, d, pt))
    vectors = []
    for name in ("orient_free", "orient_right"):
        if name not in blocks:
            vectors.append(None)
            continue
        shape = blocks[name].shape
        x = pm.Flat(name, shape=shape)
        pm.Potential(f"{name}_ring", orientation.ring_log_prior(x, pt))
        vectors.append(x)
    lam = pt.broadcast_to(volume**2, (k,))
    entries = orientation.covariance_entries(lam, gaps, *vectors, d, xp=pt)
    return orientation.stds_and_corr_chol(entries, xp=pt)


def _log_shape(spec: MixtureSpec, blocks: dict[str, Block], axes: tuple[str, ...]) -> Any:
    """The log shape ``log s~``, zero-sum over the features: ZeroSumNormal with the sd
    prior's spread (the internal units make the prior's shape the identity, see
    :mod:`bayesgmm.bayes.model.units`)."""
    block = blocks["log_shape"]
    return pm.ZeroSumNormal(
        block.name,
        sigma=float(spec.priors.std_spread),
        n_zerosum_axes=1,
        # a static shape: ZeroSumNormal's support shape from symbolic dims fails to broadcast
        shape=block.shape,
        dims=axes,
        default_transform=_transform(block),
    )


def _weights(spec: MixtureSpec, blocks: dict[str, Block]) -> Any:
    """pi ~ Dirichlet(alpha 1_K): alpha fixed, or alpha ~ Gamma(a, b) (shape, rate) in a
    sparse finite mixture (Malsiner-Walli, Frühwirth-Schnatter & Grün 2016)."""
    k, hyper = spec.n_components, spec.priors.alpha_gamma
    if hyper is None:
        concentration = np.full(k, float(spec.priors.alpha))
    else:
        # float64 arrays: PyMC would store Python floats as float32 (1/b then rounds).
        shape, rate = (np.asarray(value, dtype=np.float64) for value in hyper)
        alpha = pm.Gamma(
            "alpha", alpha=shape, beta=rate, default_transform=_transform(blocks["alpha"])
        )
        concentration = alpha * pt.ones(k)
    return pm.Dirichlet(
        "weights",
        a=concentration,
        dims="component",
        default_transform=_transform(blocks["weights"]),
    )
