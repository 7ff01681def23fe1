"""Reading what the posterior functions need out of an InferenceData.

The data (``observed_data``), the total log-likelihood per draw, and the per-draw
membership probabilities in blocks of draws whose temporaries stay within a budget.
"""

from __future__ import annotations

from collections.abc import Callable

import arviz as az
import numpy as np

from bayesgmm._utils.validation import check_random_state
from bayesgmm.bayes.inference.idata import PosteriorDraws
from bayesgmm.mixture import draws as draw_math

# Block size (in float64 values) of the streamed computations.
BLOCK_BUDGET = 2**22
# Rows of observed_data that Stephens and ECR use at most (see relabel_points).
RELABEL_POINTS = 2000


def observed(idata: az.InferenceData, what: str) -> np.ndarray:
    """The observed data matrix (N, D); ``what`` names the caller for the error message."""
    if "observed_data" not in idata.groups():
        raise ValueError(
            f"{what} needs the data: the InferenceData has no observed_data group "
            "(sample_nuts and fit_advi store it as observed_data.x)."
        )
    obs = idata.observed_data
    name = "x" if "x" in obs else next(iter(obs.data_vars), None)
    if name is None:
        raise ValueError(f"{what} needs the data, but observed_data holds no variable.")
    da = obs[name]
    values = np.asarray(da.values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    elif values.ndim == 2 and da.dims[0] == "feature":
        values = values.T
    if values.ndim != 2:
        raise ValueError(f"observed_data.{name} must be 2-D (obs, feature); got {da.dims}.")
    return values


def fitted_labels(idata: az.InferenceData) -> np.ndarray | None:
    """The partial labels the fit was made with (``constant_data.labels``, -1 unknown)."""
    if "constant_data" not in idata.groups() or "labels" not in idata.constant_data:
        return None
    return np.asarray(idata.constant_data["labels"].values, dtype=np.int64)


def fitted_weights(idata: az.InferenceData) -> np.ndarray | None:
    """The observation weights the fit was made with (``constant_data.sample_weight``)."""
    if "constant_data" not in idata.groups() or "sample_weight" not in idata.constant_data:
        return None
    return np.asarray(idata.constant_data["sample_weight"].values, dtype=np.float64)


def total_log_likelihood(
    idata: az.InferenceData,
    draws: PosteriorDraws,
    X: np.ndarray | None,
    index: np.ndarray | None = None,
) -> np.ndarray:
    """Sum over observations of the pointwise log-likelihood, per draw: shape (S,).

    The stored log-likelihood when it covers every draw; else computed on ``X`` (default
    all of ``observed_data``). ``index`` keeps only those (flattened) draws.
    """
    ll = idata.log_likelihood if "log_likelihood" in idata.groups() else None
    # A log-likelihood thinned for memory (bayesgmm.bayes.inference) does not cover every draw.
    if ll is not None and len(ll.data_vars) and ll.sizes.get("draw") == draws.n_draws_per_chain:
        da = ll["x"] if "x" in ll else ll[next(iter(ll.data_vars))]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        total = da.sum(dim=other).transpose("chain", "draw").values
        total = np.asarray(total, dtype=np.float64).reshape(-1)
        return total if index is None else total[index]
    if X is None:
        X = observed(idata, "the total log-likelihood")
    keep = slice(None) if index is None else index
    return draw_math.pointwise_log_likelihood(
        X, draws.weights[keep], draws.means[keep], draws.covariances[keep]
    ).sum(axis=1)


def draw_blocks(draws: PosteriorDraws, n_obs: int) -> list[slice]:
    n_comp = draws.weights.shape[1]
    return list(draw_math.chunked_draws(draws.weights.shape[0], n_obs, n_comp, BLOCK_BUDGET))


def probability_fn(
    X: np.ndarray, draws: PosteriorDraws, labels: np.ndarray | None = None
) -> Callable[[slice], np.ndarray]:
    """Membership probabilities of ``X`` for a block of draws (labelled rows one-hot)."""

    def block(part: slice) -> np.ndarray:
        return draw_math.responsibilities(
            X, draws.weights[part], draws.means[part], draws.covariances[part], labels
        )

    return block


def relabel_points(idata: az.InferenceData, what: str) -> np.ndarray:
    """The observed rows relabeling works on: at most ``RELABEL_POINTS`` of them.

    Stephens' cost and ECR's allocations cost S x N x K per pass; a fixed random subsample
    (seed 0, so the labels are reproducible) identifies the labels as well as all N do.
    """
    X = observed(idata, what)
    return draw_math.subsample_rows(X, RELABEL_POINTS, check_random_state(0))
