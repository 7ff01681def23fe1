"""How sure is each point's cluster? Membership probabilities with credible intervals,
and the label-invariant co-clustering matrix (:func:`similarity`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesgmm._utils.validation import check_random_state
from bayesgmm.analysis._fits import FlatDraws, as_idata, check_prob, thin_draws
from bayesgmm.exceptions import LabelSwitchingWarning, MultimodalPosteriorWarning
from bayesgmm.mixture import draws as draw_math
from bayesgmm.mixture.allocations import allocation_blocks, block_counts
from bayesgmm.posterior import relabel as relabel_module
from bayesgmm.posterior import relabel_idata, total_log_likelihood
from bayesgmm.posterior._data import fitted_labels
from bayesgmm.posterior.mixture import check_fit_data

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

    from bayesgmm._utils.types import SeedLike
    from bayesgmm.posterior.mixture import PosteriorFit

__all__ = ["Membership", "membership", "similarity"]

# Floats per temporary array in the chunked computations (16 MB in float64); the peak is a
# few such arrays (N = 5,000, K = 3, 1,000 draws: about 90 MB besides the outputs).
_BUDGET = 2**21
# Share of draws that may need a non-identity permutation before membership warns.
_SWITCH_WARN_FRACTION = 0.05


def _entropy(prob: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) along the last axis, with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(prob > 0, prob * np.log(prob), 0.0)
    return -terms.sum(axis=-1)


@dataclass
class Membership:
    """Posterior cluster membership of every point.

    Attributes
    ----------
    probabilities : xarray.Dataset
        ``mean``, ``median``, ``hdi_low``, ``hdi_high`` with dims (obs, component): the
        posterior mean and median of ``r_nk = P(z_n = k | theta, x_n)`` and its HDI over
        the draws. The HDI always contains the median; the mean of a skewed distribution
        (probabilities within 1e-10 of 0 or 1) can lie just outside it. Per-component
        columns are meaningful only if the posterior is relabeled (or free of label
        switching).
    max_probability : numpy.ndarray of shape (N,)
        ``max_k`` of the mean probabilities.
    entropy : numpy.ndarray of shape (N,)
        Entropy (nats) of the mean membership vector; 0 = certain, ``log K`` = uniform.
    uncertainty : numpy.ndarray of shape (N,)
        ``1 - max_probability`` (mclust's classification uncertainty).
    ambiguous : numpy.ndarray of bool, shape (N,)
        ``max_probability < ambiguity_threshold``.
    labels : numpy.ndarray of int, shape (N,)
        Argmax of the mean probabilities.
    n_occupied : pandas.Series
        Posterior probability of each number of occupied clusters (1..K): allocations are
        sampled from every draw's responsibilities and distinct labels counted.
    hdi_prob, ambiguity_threshold : float
    n_draws : int
        Posterior draws used (after thinning).
    """

    probabilities: xr.Dataset
    max_probability: np.ndarray
    entropy: np.ndarray
    uncertainty: np.ndarray
    ambiguous: np.ndarray
    labels: np.ndarray
    n_occupied: pd.Series
    hdi_prob: float = 0.94
    ambiguity_threshold: float = 0.8
    n_draws: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per point: label, max probability, entropy, uncertainty, ambiguous,
        and ``p{k}`` / ``p{k}_low`` / ``p{k}_high`` per component."""
        prob = self.probabilities
        frame = pd.DataFrame(
            {
                "label": self.labels,
                "max_probability": self.max_probability,
                "uncertainty": self.uncertainty,
                "entropy": self.entropy,
                "ambiguous": self.ambiguous,
            },
            index=pd.Index(prob["obs"].values, name="obs"),
        )
        for k in prob["component"].values:
            frame[f"p{k}"] = prob["mean"].sel(component=k).values
            frame[f"p{k}_low"] = prob["hdi_low"].sel(component=k).values
            frame[f"p{k}_high"] = prob["hdi_high"].sel(component=k).values
        return frame

    def __repr__(self) -> str:
        n_obs = len(self.labels)
        occupied = ", ".join(f"{k}: {p:.3f}" for k, p in self.n_occupied.items() if p > 0)
        return (
            f"Membership(N={n_obs}, K={self.probabilities.sizes['component']}, "
            f"ambiguous={int(self.ambiguous.sum())} (max probability < "
            f"{self.ambiguity_threshold:g}), P(n_occupied)={{{occupied}}}, "
            f"draws={self.n_draws})"
        )


def _data_for(
    idata: az.InferenceData, X: ArrayLike | None, n_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The data, its obs coordinate and its partial labels (from ``observed_data`` and
    ``constant_data`` when X is None: the fitted rows keep the labels they were fitted with).
    """
    if X is None:
        if "observed_data" not in idata.groups() or "x" not in idata.observed_data:
            raise ValueError("X is required: the InferenceData has no observed_data 'x'.")
        obs = idata.observed_data["x"]
        values = np.asarray(obs.transpose("obs", ...).values, dtype=np.float64)
        return values, np.asarray(obs["obs"].values), fitted_labels(idata)
    values = check_fit_data(X, idata, n_features=n_features, owner="the posterior").X
    # Only a pandas object's index labels the rows (a list's .index is a method).
    index = X.index if isinstance(X, pd.DataFrame | pd.Series) else None
    return values, np.asarray(index) if index is not None else np.arange(values.shape[0]), None


def _maybe_relabel(idata: az.InferenceData, method: str | None) -> az.InferenceData:
    if method is None or method == "none":
        return idata
    return relabel_idata(idata, method=method)


def _switching_fraction(
    idata: az.InferenceData, draws: FlatDraws, index: np.ndarray, X: np.ndarray
) -> float:
    """Share of the used draws whose components a pivot to the best draw would permute.

    The best draw has the largest total log-likelihood: read from the ``log_likelihood``
    group when stored, else computed on at most 500 evenly spaced rows (enough to pick a
    representative draw).
    """
    _, means, cov = draws.take(index)
    rows = X[thin_draws(X.shape[0], 500)]
    total = total_log_likelihood(idata, draws.posterior, rows, index)
    ref = int(np.argmax(total))
    try:
        perms = relabel_module.pivot(
            means, cov, reference_means=means[ref], reference_covariances=cov[ref]
        )
    except ValueError:  # a near-singular draw; skip the check rather than fail
        return 0.0
    return float(np.mean(np.any(perms != np.arange(draws.n_components), axis=1)))


def _warn_if_switched(
    idata: az.InferenceData, draws: FlatDraws, index: np.ndarray, data: np.ndarray
) -> None:
    switched = _switching_fraction(idata, draws, index, data)
    averaged = idata.attrs.get("mode_weighted") or idata.attrs.get("mode_states")
    if switched > _SWITCH_WARN_FRACTION and averaged:
        # Draws of different modes hold different components: no relabeling makes one
        # column mean one component in every mode. That is not label switching.
        warnings.warn(
            f"The posterior averages over modes ({idata.attrs.get('modes', '')}) whose "
            "components differ, so per-component membership columns mix the modes' "
            "components; n_occupied and similarity() do not depend on them.",
            MultimodalPosteriorWarning,
            stacklevel=3,
        )
    elif switched > _SWITCH_WARN_FRACTION:
        warnings.warn(
            f"{100 * switched:.0f}% of the draws look label-switched relative to the best "
            "draw, so per-component membership columns mix components. "
            + _switching_advice(idata.posterior.attrs.get("relabel_method")),
            LabelSwitchingWarning,
            stacklevel=3,
        )


def _switching_advice(relabel_method: str | None) -> str:
    """What to do about switched draws, given whether the posterior is relabeled already."""
    if relabel_method is None:
        return (
            "Relabel first (relabel='stephens' or bayesgmm.relabel_idata); n_occupied and "
            "similarity() do not need it."
        )
    # Relabeling again would not help: the components are not identifiable from the draws.
    return (
        f"The posterior is already relabeled ({relabel_method}), so some components are not "
        "identifiable (overlapping, or empty in an overfitted mixture): read n_occupied and "
        "similarity(), which need no labels, or refit with a smaller K."
    )


def _summaries(
    data: np.ndarray,
    params: tuple[np.ndarray, np.ndarray, np.ndarray],
    hdi_prob: float,
    rng: np.random.Generator,
    labels: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Mean, median and HDI of every point's memberships over draws, in row blocks, and
    which components each draw's sampled allocation occupies (S, K)."""
    n_used, n_comp = params[0].shape
    n_obs = data.shape[0]
    out = {name: np.empty((n_obs, n_comp)) for name in ("mean", "median", "hdi_low", "hdi_high")}
    sizes = np.zeros((n_used, n_comp))
    single = n_used < 2 or int(np.floor(hdi_prob * n_used)) < 1
    # Rows in blocks over every draw (the median and HDI run across draws); the HDI's
    # temporaries hold about max(2, D) such blocks.
    budget = max(1, _BUDGET // max(2, data.shape[1]))
    for block in allocation_blocks(data, *params, rng, labels=labels, by="rows", budget=budget):
        resp, rows = block.probabilities, block.rows  # (S, n, K)
        out["mean"][rows] = resp.mean(axis=0)
        out["median"][rows] = np.median(resp, axis=0)
        if single:
            out["hdi_low"][rows] = out["hdi_high"][rows] = resp[0]
        else:
            out["hdi_low"][rows], out["hdi_high"][rows] = draw_math.hdi_columns(resp, hdi_prob)
        sizes += block_counts(block, n_comp)
    return out, sizes > 0


def membership(
    fit: PosteriorFit,
    X: ArrayLike | None = None,
    hdi_prob: float = 0.94,
    *,
    ambiguity_threshold: float = 0.8,
    max_draws: int = 1000,
    random_seed: SeedLike = 0,
    relabel: str | None = None,
    warn: bool = True,
) -> Membership:
    """Posterior membership probabilities with credible intervals.

    For every draw ``s`` the responsibilities ``r_snk = pi_sk N(x_n | mu_sk, Sigma_sk) /
    sum_j pi_sj N(x_n | mu_sj, Sigma_sj)`` are computed
    (:func:`bayesgmm.mixture.draws.responsibilities`), in blocks of rows so that memory
    stays bounded, and summarised over draws.

    Parameters
    ----------
    fit : arviz.InferenceData or BayesianGMM
        A posterior (NUTS, ADVI or MAP). Per-component outputs (``probabilities``,
        ``labels``, ``max_probability``, ``entropy``, ``ambiguous``) assume consistent
        labels across draws: pass a relabeled posterior (``bayesgmm.relabel_idata`` or the
        facade's ``idata_``) or set ``relabel``. ``n_occupied`` and :func:`similarity` are
        label-invariant and need no relabeling.
    X : array-like of shape (N, D), optional
        Points to classify; defaults to the fitted data (``observed_data``).
    hdi_prob : float
        Mass of the per-point, per-component HDIs.
    ambiguity_threshold : float
        A point is *ambiguous* when its largest mean membership probability is below this
        (default 0.8, i.e. mclust uncertainty above 0.2: no component claims it with
        4:1 odds).
    max_draws : int
        Use at most this many draws, evenly spaced over the flattened chains.
    random_seed : int or numpy.random.Generator
        Seeds the allocations sampled for ``n_occupied``.
    relabel : {"stephens", "ecr", "pivot", "ordering"}, optional
        Relabel first with :func:`bayesgmm.posterior.relabel_idata`.
    warn : bool
        Warn (:class:`LabelSwitchingWarning`) when more than 5% of the draws still look
        permuted relative to the best draw (pivot by symmetrised KL), since per-component
        columns are then averages over different components.

    Returns
    -------
    Membership
    """
    hdi_prob = check_prob(hdi_prob, "hdi_prob")
    ambiguity_threshold = check_prob(ambiguity_threshold, "ambiguity_threshold")
    idata = _maybe_relabel(as_idata(fit), relabel)
    draws = FlatDraws(idata)
    data, obs, labels = _data_for(idata, X, draws.n_features)
    n_comp = draws.n_components
    index = thin_draws(draws.n_draws, max_draws)
    if warn and n_comp > 1 and len(index) > 1:
        _warn_if_switched(idata, draws, index, data)
    summaries, occupied = _summaries(
        data, draws.take(index), hdi_prob, check_random_state(random_seed), labels
    )
    counts = np.bincount(occupied.sum(axis=1), minlength=n_comp + 1)[1:]
    n_occupied = pd.Series(
        counts / len(index),
        index=pd.Index(np.arange(1, n_comp + 1), name="n_occupied"),
        name="probability",
    )
    mean = summaries["mean"]
    max_prob = mean.max(axis=1)
    coords = {"obs": obs, "component": np.arange(n_comp)}
    probabilities = xr.Dataset(
        {
            name: xr.DataArray(values, dims=("obs", "component"), coords=coords)
            for name, values in summaries.items()
        },
        attrs={"hdi_prob": hdi_prob, "n_draws": len(index)},
    )
    return Membership(
        probabilities=probabilities,
        max_probability=max_prob,
        entropy=_entropy(mean),
        uncertainty=1.0 - max_prob,
        ambiguous=max_prob < ambiguity_threshold,
        labels=mean.argmax(axis=1),
        n_occupied=n_occupied,
        hdi_prob=hdi_prob,
        ambiguity_threshold=ambiguity_threshold,
        n_draws=len(index),
    )


def similarity(
    fit: PosteriorFit,
    X: ArrayLike | None = None,
    *,
    block_rows: int = 1024,
    dtype: DTypeLike = np.float32,
    out: np.ndarray | None = None,
    max_draws: int = 1000,
) -> np.ndarray:
    """Posterior co-clustering matrix ``P(z_i = z_j | X)``.

    ``P_ij = mean_s sum_k r_sik r_sjk`` for ``i != j`` (given the parameters, two points'
    labels are independent) and ``P_ii = 1``. It is label-invariant: no relabeling needed.

    Memory: only the (N, N) result plus one chunk of draws' responsibilities; the product
    is formed in row blocks of the upper triangle and mirrored, so the result is exactly
    symmetric. N = 5,000 takes 100 MB in float32 (the default) or 200 MB in float64.

    Parameters
    ----------
    fit : arviz.InferenceData or BayesianGMM
    X : array-like of shape (N, D), optional
        Defaults to the fitted data (``observed_data``).
    block_rows : int
        Rows of the result computed per matrix product.
    dtype : numpy float dtype
        Of the result and of the products (float32 halves memory and time).
    out : numpy.ndarray, optional
        Preallocated (N, N) result (e.g. a ``numpy.memmap``); overwritten and returned.
    max_draws : int
        Use at most this many draws, evenly spaced.

    Returns
    -------
    numpy.ndarray of shape (N, N)
    """
    if isinstance(block_rows, bool) or int(block_rows) < 1:
        raise ValueError(f"block_rows must be a positive integer; got {block_rows!r}.")
    block_rows = int(block_rows)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating dtype; got {dtype}.")
    idata = as_idata(fit)
    draws = FlatDraws(idata)
    data, _, labels = _data_for(idata, X, draws.n_features)
    n_obs, n_comp = data.shape[0], draws.n_components
    if out is None:
        out = np.zeros((n_obs, n_obs), dtype=dtype)
    else:
        if out.shape != (n_obs, n_obs) or np.dtype(out.dtype).kind != "f":
            raise ValueError(
                f"out must be a float array of shape {(n_obs, n_obs)}; got {out.dtype} {out.shape}."
            )
        out[...] = 0
        dtype = np.dtype(out.dtype)
    index = thin_draws(draws.n_draws, max_draws)
    per_draw = n_obs * n_comp * max(2, draws.n_features)
    draw_step = max(1, _BUDGET // per_draw)
    for start in range(0, len(index), draw_step):
        part = index[start : start + draw_step]
        resp = draw_math.responsibilities(data, *draws.take(part), labels)  # (s, N, K)
        flat = np.ascontiguousarray(resp.transpose(1, 0, 2).reshape(n_obs, -1), dtype=dtype)
        for row in range(0, n_obs, block_rows):
            stop = min(row + block_rows, n_obs)
            product = flat[row:stop] @ flat[row:].T  # upper triangle strip, (b, N - row)
            out[row:stop, row:] += product
            out[stop:, row:stop] += product[:, stop - row :].T
    out /= len(index)
    for row in range(0, n_obs, block_rows):  # the diagonal blocks: exact symmetry
        stop = min(row + block_rows, n_obs)
        diag = out[row:stop, row:stop]
        diag[...] = 0.5 * (diag + diag.T)
    np.fill_diagonal(out, 1.0)
    return out
