"""Relabel an InferenceData: one permutation per draw, applied to every component variable.

The permutations come from :mod:`bayesgmm.posterior.relabel` (pure numpy); this module picks the
reference, feeds the algorithms the data they need, and writes the result back with the
permutations stored, so that relabeling can be undone or composed.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, TypedDict

import arviz as az
import numpy as np
import xarray as xr

from bayesgmm._utils.validation import check_random_state
from bayesgmm.bayes.inference.idata import PosteriorDraws, check_idata, posterior_draws
from bayesgmm.exceptions import ConvergenceWarning
from bayesgmm.mixture import draws as draw_math
from bayesgmm.mixture.allocations import sample_allocations
from bayesgmm.posterior import relabel
from bayesgmm.posterior._data import (
    draw_blocks,
    probability_fn,
    relabel_points,
    total_log_likelihood,
)
from bayesgmm.posterior.mixture import Mixture, point_mixture

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike
    from bayesgmm.posterior.mixture import Fit

__all__ = [
    "PERMUTATION_GROUP",
    "RELABEL_METHODS",
    "RelabelOptions",
    "relabel_idata",
    "stored_permutations",
    "unrelabel_idata",
]

RELABEL_METHODS = ("stephens", "ecr", "pivot", "ordering")


class RelabelOptions(TypedDict, total=False):
    """The keyword arguments of :func:`relabel_idata` that the diagnostics pass on to it."""

    reference: Fit | None
    feature: str | int | None
    max_iter: int
    random_seed: SeedLike


#: Name of the InferenceData group holding the permutations applied by :func:`relabel_idata`.
PERMUTATION_GROUP = "relabel_permutations"

# Largest (S, N, K) membership-probability array (in float64 values, 256 MB) held in memory
# for Stephens' algorithm; above it the algorithm streams over blocks of draws instead.
PROBABILITY_BUDGET = 2**25


def _feature_index(feature: str | int | None, names: list[str]) -> int:
    if feature is None:
        return 0
    if isinstance(feature, str):
        if feature not in names:
            raise ValueError(f"feature {feature!r} is not one of the features {names}.")
        return names.index(feature)
    if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
        raise ValueError(f"feature must be a feature name or an integer index; got {feature!r}.")
    if not -len(names) <= int(feature) < len(names):
        raise ValueError(f"feature index {feature} is out of range for D={len(names)}.")
    return int(feature) % len(names)


def _map_classification(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    prob = draw_math.responsibilities(X, weights[None], means[None], cov[None])[0]
    return prob.argmax(axis=1)


def _canonical(perms: np.ndarray) -> np.ndarray:
    """Compose with one global permutation so that the most frequent row is the identity."""
    rows, counts = np.unique(perms, axis=0, return_counts=True)
    modal = rows[np.argmax(counts)]
    return relabel.compose_permutations(perms, relabel.invert_permutations(modal[None])[0])


def _reference(reference: Fit | None, n_comp: int, n_features: int) -> Mixture | None:
    """The user's reference fit as a one-draw mixture, or None."""
    if reference is None:
        return None
    return point_mixture(reference, shape=(n_comp, n_features), what="reference")


def _pivot(
    idata: az.InferenceData, draws: PosteriorDraws, ref: Mixture | None, info: dict[str, Any]
) -> np.ndarray:
    """Pivot permutations onto the user's reference or the best draw."""
    if ref is None:
        # It only ranks the draws to pick a pivot: the relabeling rows do.
        total = total_log_likelihood(idata, draws, relabel_points(idata, "relabeling"))
        best = int(np.argmax(total))
        ref_means, ref_cov = draws.means[best], draws.covariances[best]
        info["reference"] = f"draw {best} (largest total log-likelihood)"
    else:
        ref_means, ref_cov = ref.means[0], ref.covariances[0]
        info["reference"] = "user"
    return relabel.pivot(
        draws.means,
        draws.covariances,
        draws.weights,
        reference_means=ref_means,
        reference_covariances=ref_cov,
    )


def _stephens(
    idata: az.InferenceData, draws: PosteriorDraws, perms: np.ndarray, max_iter: int
) -> relabel.RelabelResult:
    """Stephens warm-started from ``perms``, in memory or streamed over blocks of draws."""
    X = relabel_points(idata, "relabeling with 'stephens'")
    n_samples, n_comp = draws.weights.shape
    if n_samples * X.shape[0] * n_comp <= PROBABILITY_BUDGET:
        prob = draw_math.responsibilities(X, draws.weights, draws.means, draws.covariances)
        return relabel.stephens(prob, max_iter=max_iter, init_perms=perms)
    return relabel.stephens_blocks(
        probability_fn(X, draws), draw_blocks(draws, X.shape[0]), max_iter, init_perms=perms
    )


def _ecr(
    idata: az.InferenceData,
    draws: PosteriorDraws,
    ref: Mixture | None,
    max_iter: int,
    random_seed: SeedLike,
    info: dict[str, Any],
) -> np.ndarray:
    """ECR on allocations (argmax, or sampled when a seed is given) of the relabeling rows."""
    X = relabel_points(idata, "relabeling with 'ecr'")
    n_comp = draws.weights.shape[1]
    rng = None if random_seed is None else check_random_state(random_seed)
    alloc = sample_allocations(X, draws.weights, draws.means, draws.covariances, rng)
    if ref is not None:
        if ref.weights is None:
            raise ValueError("ECR with a reference needs the reference's 'weights'.")
        pivot_alloc = _map_classification(X, ref.weights[0], ref.means[0], ref.covariances[0])
        info["reference"] = "user"
        return relabel.ecr(alloc, pivot_alloc, n_comp)
    best = int(np.argmax(total_log_likelihood(idata, draws, X)))
    info["reference"] = f"ecr_iterative from draw {best} (largest total log-likelihood)"
    result = relabel.ecr_iterative(alloc, n_comp, max_iter=max_iter, pivot_allocation=alloc[best])
    info.update(n_iter=result.n_iter, converged=result.converged)
    return result.perms


def _compute_permutations(
    idata: az.InferenceData,
    draws: PosteriorDraws,
    method: str,
    reference: Fit | None,
    feature: str | int | None,
    max_iter: int,
    random_seed: SeedLike,
) -> tuple[np.ndarray, dict[str, Any]]:
    info: dict[str, Any] = {"n_iter": 1, "converged": True}
    if method == "ordering":
        idx = _feature_index(feature, draws.feature_names)
        info["feature"] = draws.feature_names[idx]
        info["reference"] = "none"
        return relabel.order_by_feature(draws.means, idx), info
    if feature is not None:
        raise ValueError(f"feature is only used by method='ordering', not {method!r}.")
    ref = _reference(reference, *draws.means.shape[1:])
    if method == "ecr":
        return _ecr(idata, draws, ref, max_iter, random_seed, info), info
    perms = _pivot(idata, draws, ref, info)
    if method == "pivot":
        return perms, info
    result = _stephens(idata, draws, perms, max_iter)
    info.update(n_iter=result.n_iter, converged=result.converged)
    return result.perms, info


def _permute_dataset(ds: xr.Dataset, perms: np.ndarray) -> xr.Dataset:
    """Apply per-draw permutations (S, K) to every variable with a ``component`` dim."""
    out = ds.copy(deep=True)
    for name, da in ds.data_vars.items():
        if "component" not in da.dims or not {"chain", "draw"} <= set(da.dims):
            continue
        order = ("chain", "draw", *(d for d in da.dims if d not in ("chain", "draw")))
        ordered = da.transpose(*order)
        values = np.asarray(ordered.values)
        flat = values.reshape(-1, *values.shape[2:])
        permuted = relabel.apply_permutations(flat, perms, axis=order.index("component") - 1)
        out[name] = ordered.copy(data=permuted.reshape(values.shape)).transpose(*da.dims)
    return out


def stored_permutations(idata: az.InferenceData) -> np.ndarray | None:
    """Permutations (S, K) from raw draws to ``idata``'s labels, if it was relabeled."""
    if PERMUTATION_GROUP not in idata.groups():
        return None
    da = idata[PERMUTATION_GROUP]["permutation"].transpose("chain", "draw", "component")
    values = np.asarray(da.values, dtype=np.intp)
    return values.reshape(-1, values.shape[-1])


def unrelabel_idata(idata: az.InferenceData) -> az.InferenceData | None:
    """The draws as sampled, rebuilt from the output of :func:`relabel_idata`.

    Applies the inverse of the stored permutations to every posterior variable with a
    ``component`` dim and drops the relabeling attrs. Returns ``None`` when ``idata`` holds
    no permutations (it was never relabeled).
    """
    perms = stored_permutations(idata)
    if perms is None:
        return None
    raw = _permute_dataset(idata.posterior, relabel.invert_permutations(perms))
    raw.attrs = {k: v for k, v in raw.attrs.items() if not str(k).startswith("relabel_")}
    groups = {
        group: raw if group == "posterior" else idata[group]
        for group in idata.groups()
        if group != PERMUTATION_GROUP
    }
    attrs = {
        k: v
        for k, v in (getattr(idata, "attrs", None) or {}).items()
        if not str(k).startswith("relabel_")
    }
    return az.InferenceData(attrs=attrs, warn_on_custom_groups=False, **groups)


def _check_arguments(method: str, max_iter: int) -> None:
    if method not in RELABEL_METHODS:
        raise ValueError(f"method must be one of {RELABEL_METHODS}; got {method!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}.")


def _permutation_group(post: xr.Dataset, total: np.ndarray, draws: PosteriorDraws) -> xr.Dataset:
    """The ``relabel_permutations`` group: permutations from the raw draws, (chain, draw, K)."""
    n_comp = total.shape[1]
    return xr.Dataset(
        {
            "permutation": xr.DataArray(
                total.reshape(draws.n_chains, draws.n_draws_per_chain, n_comp).astype(np.int64),
                dims=("chain", "draw", "component"),
                coords={
                    "chain": post["chain"].values,
                    "draw": post["draw"].values,
                    "component": post["component"].values
                    if "component" in post.coords
                    else np.arange(n_comp),
                },
            )
        },
        attrs={
            "description": (
                "permutation[c, t, k] = j: relabeled component k is component j of the raw "
                "draw (c, t)"
            )
        },
    )


def _relabel_attrs(method: str, perms: np.ndarray, info: dict[str, Any]) -> dict[str, Any]:
    n_samples, n_comp = perms.shape
    n_permuted = int(np.any(perms != np.arange(n_comp), axis=1).sum())
    attrs: dict[str, Any] = {
        "relabel_method": method,
        "relabel_reference": str(info.get("reference", "none")),
        "relabel_n_permuted": n_permuted,
        "relabel_fraction_permuted": float(n_permuted / n_samples),
        "relabel_n_iter": int(info["n_iter"]),
        "relabel_converged": int(bool(info["converged"])),
    }
    if "feature" in info:
        attrs["relabel_feature"] = str(info["feature"])
    return attrs


def relabel_idata(
    idata: az.InferenceData,
    method: str = "stephens",
    reference: Fit | None = None,
    *,
    feature: str | int | None = None,
    max_iter: int = 100,
    random_seed: SeedLike = None,
) -> az.InferenceData:
    """Relabel the components of every posterior draw, across all chains.

    Chains x draws are flattened to ``S`` draws, one permutation per draw is computed with
    :mod:`bayesgmm.posterior.relabel`, and it is applied consistently to every posterior
    variable that
    has a ``component`` dim (``weights``, ``means``, ``stds`` unless tied,
    ``partial_corr_unit`` for full, ``covariances``, ``correlations``, ...). Because all
    chains are relabeled together, chains that sat in different label modes become
    comparable.

    Parameters
    ----------
    idata : arviz.InferenceData
        Output of :func:`bayesgmm.bayes.inference.sample_nuts` (or ``fit_advi``).
    method : {"stephens", "ecr", "pivot", "ordering"}
        * ``"stephens"``: Stephens' (2000) KL algorithm on the per-draw membership
          probabilities of ``observed_data.x``, warm-started from ``"pivot"``. The most
          robust; the default.
        * ``"ecr"``: ECR on allocation vectors (the argmax of the membership probabilities,
          or sampled from them when ``random_seed`` is given). The pivot allocation is the
          MAP classification under ``reference`` if given; otherwise ECR-ITERATIVE-1 started
          from the allocation of the draw with the largest total log-likelihood.
        * ``"pivot"``: Hungarian matching of every draw's components to a reference by the
          symmetrised KL divergence between Gaussians (costs weighted by the draw's weights).
        * ``"ordering"``: sort components by their mean of ``feature``; fails when
          components overlap in that feature (see
          :func:`bayesgmm.posterior.relabel.order_by_feature`).
    reference : EMResult, GMMParams or dict, optional
        Reference fit for ``"pivot"`` (and the warm start of ``"stephens"``, the pivot
        allocation of ``"ecr"``): anything with ``means``, ``covariances`` (any scikit-learn
        layout; a dict may give ``covariance_type``) and, for ECR, ``weights``. The output's
        labels then follow the reference's labels. When ``None``, the reference is the draw
        with the largest total log-likelihood, a proxy for the maximum-a-posteriori draw
        (the log prior is not stored with the draws), and the labels are then renamed so
        that the most frequent permutation is the identity (as few draws as possible are
        changed).
    feature : str or int, optional
        Feature name or index for ``"ordering"`` (default 0); an error for other methods.
    max_iter : int
        Iteration limit of Stephens / ECR-ITERATIVE; a ``ConvergenceWarning`` is issued when
        it is reached.
    random_seed : int or numpy Generator, optional
        ECR only: sample allocations with this seed instead of taking the argmax.

    Returns
    -------
    arviz.InferenceData
        A new object (the input is not modified). Its posterior holds the relabeled
        variables (the ``component`` coordinate keeps the values 0..K-1, now meaning the new
        labels). Group ``relabel_permutations`` holds ``permutation`` (chain, draw,
        component): ``permutation[c, t, k] = j`` means that new component ``k`` is
        component ``j`` of the raw draw, so the raw draws are
        ``bayesgmm.posterior.relabel.apply_permutations(x, invert_permutations(perm))``;
        relabeling an
        already relabeled object composes the permutations, so they always refer to the raw
        sampler output. ``attrs`` (of the object and of the posterior) gain
        ``relabel_method``, ``relabel_reference``, ``relabel_n_permuted`` (draws whose
        permutation by this call is not the identity), ``relabel_fraction_permuted``,
        ``relabel_n_iter``, ``relabel_converged`` (0/1) and, for ordering,
        ``relabel_feature``. ``log_likelihood``, ``sample_stats``, ``observed_data`` and the
        other groups are label-invariant and copied unchanged.

    Notes
    -----
    Stephens and ECR use at most ``RELABEL_POINTS`` (2000) rows of ``observed_data``, a
    fixed random subsample beyond that, so that their cost does not grow with N.

    Memory: Stephens needs the (S, N, K) membership probabilities. Up to 2**25 values
    (256 MB) they are held in memory; above that they are recomputed block by block in each
    iteration (slower, bounded memory). ECR streams the probabilities in blocks to build
    the (S, N) allocations.
    """
    idata = check_idata(idata)
    _check_arguments(method, max_iter)
    draws = posterior_draws(idata)
    n_samples, n_comp = draws.weights.shape
    if n_comp == 1:
        perms = np.zeros((n_samples, 1), dtype=np.intp)
        info: dict[str, Any] = {"n_iter": 0, "converged": True, "reference": "none"}
    else:
        perms, info = _compute_permutations(
            idata, draws, method, reference, feature, int(max_iter), random_seed
        )
        if reference is None and method != "ordering":
            perms = _canonical(perms)
    if not info["converged"]:
        warnings.warn(
            f"relabeling with {method!r} stopped at max_iter={max_iter} before the "
            "permutations stopped changing; increase max_iter or try another method.",
            ConvergenceWarning,
            stacklevel=2,
        )
    previous = stored_permutations(idata)
    total = perms if previous is None else relabel.compose_permutations(previous, perms)
    attrs = _relabel_attrs(method, perms, info)
    new_post = _permute_dataset(idata.posterior, perms)
    new_post.attrs.update(attrs)
    groups = {
        group: new_post if group == "posterior" else idata[group].copy(deep=True)
        for group in idata.groups()
        if group != PERMUTATION_GROUP
    }
    groups[PERMUTATION_GROUP] = _permutation_group(idata.posterior, total, draws)
    out_attrs = {**(getattr(idata, "attrs", None) or {}), **attrs}
    return az.InferenceData(attrs=out_attrs, warn_on_custom_groups=False, **groups)
