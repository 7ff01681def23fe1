"""Convergence tables for a mixture posterior: R-hat and ESS of label-invariant quantities
(:func:`label_invariant_summary`), and of the per-component variables before and after
relabeling (:func:`relabeling_diagnostics`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesgmm.bayes.inference.idata import check_idata, posterior_draws
from bayesgmm.mixture import draws as draw_math
from bayesgmm.posterior._data import observed, total_log_likelihood

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["label_invariant_summary", "relabeling_diagnostics"]

# Data quantiles at which label_invariant_summary evaluates the mixture density by default.
_DEFAULT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _diagnostics(ds: xr.Dataset, kind: str = "diagnostics") -> pd.DataFrame:
    with warnings.catch_warnings():
        # One chain (ADVI) or very short chains make ArviZ warn; the numbers speak for
        # themselves in the table.
        warnings.simplefilter("ignore")
        return az.summary(ds, kind=kind, round_to="none")


def _default_points(X: np.ndarray) -> np.ndarray:
    return np.quantile(X, _DEFAULT_QUANTILES, axis=0)


def label_invariant_summary(
    idata: az.InferenceData, points: ArrayLike | None = None
) -> pd.DataFrame:
    """R-hat and ESS of quantities that do not depend on the component labels.

    Label switching cannot affect these, so they show whether the chains agree on the
    fitted mixture itself, whatever the labels:

    * ``log_likelihood``: the total log-likelihood of the data per draw (the sum over
      observations of ``log_likelihood.x``);
    * ``weights_sorted[i]``: the ``i``-th largest weight of each draw;
    * ``density[j]``: the mixture density at point ``j``.

    Parameters
    ----------
    idata : arviz.InferenceData
    points : array-like of shape (P, D), optional
        Where to evaluate the density. Default: the coordinate-wise 10, 25, 50, 75 and 90 %
        quantiles of ``observed_data.x`` (five points).

    Returns
    -------
    pandas.DataFrame
        Index ``log_likelihood``, ``weights_sorted[i]``, ``density[j]`` (``log_density[j]``
        where a density exceeds float64's range, as for data at tiny scales in several
        dimensions); columns ``mean``,
        ``sd``, ``ess_bulk``, ``ess_tail``, ``r_hat`` (rank-normalised split R-hat and
        bulk / tail ESS from ArviZ). ``attrs["points"]`` holds the points.
    """
    idata = check_idata(idata)
    draws = posterior_draws(idata)
    n_features = draws.means.shape[2]
    X = None
    if points is None or "log_likelihood" not in idata.groups():
        X = observed(idata, "label_invariant_summary")
    pts = _default_points(X) if points is None else np.asarray(points, dtype=np.float64)
    pts = np.atleast_2d(pts)
    if pts.ndim != 2 or pts.shape[1] != n_features:
        raise ValueError(f"points must have shape (P, {n_features}); got {pts.shape}.")
    chains, iters = draws.n_chains, draws.n_draws_per_chain
    total = total_log_likelihood(idata, draws, X)
    sorted_weights = -np.sort(-draws.weights, axis=1)
    log_density = draw_math.pointwise_log_likelihood(
        pts, draws.weights, draws.means, draws.covariances
    )
    # Densities of data at scale 1e-149 reach 1e297 (2-D) or 1e596 (4-D), whose squares
    # (the sd) or values pass float64's range: the log density (with the same R-hat and
    # ESS, both rank-based) takes their place.
    if np.max(log_density, initial=-np.inf) > 300.0:
        name, density = "log_density", log_density
    else:
        name, density = "density", np.exp(log_density)
    ds = xr.Dataset(
        {
            "log_likelihood": (("chain", "draw"), total.reshape(chains, iters)),
            "weights_sorted": (
                ("chain", "draw", "rank"),
                sorted_weights.reshape(chains, iters, -1),
            ),
            name: (("chain", "draw", "point"), density.reshape(chains, iters, -1)),
        }
    )
    table = _diagnostics(ds, kind="all")[["mean", "sd", "ess_bulk", "ess_tail", "r_hat"]]
    table.attrs["points"] = pts
    return table


def relabeling_diagnostics(
    idata: az.InferenceData,
    relabeled: az.InferenceData,
    var_names: Iterable[str] = ("weights", "means"),
) -> pd.DataFrame:
    """R-hat and ESS of per-component variables before and after relabeling.

    Parameters
    ----------
    idata : arviz.InferenceData
        Raw sampler output.
    relabeled : arviz.InferenceData
        :func:`relabel_idata` of ``idata``.
    var_names : iterable of str
        Posterior variables to diagnose.

    Returns
    -------
    pandas.DataFrame
        One row per scalar (e.g. ``means[1, waiting]``); columns ``r_hat_before``,
        ``ess_bulk_before``, ``ess_tail_before``, ``r_hat_after``, ``ess_bulk_after``,
        ``ess_tail_after``.
    """
    names = [v for v in var_names if v in idata.posterior]
    cols = ["r_hat", "ess_bulk", "ess_tail"]
    before = _diagnostics(idata.posterior[names])[cols]
    after = _diagnostics(relabeled.posterior[names])[cols]
    return before.add_suffix("_before").join(after.add_suffix("_after"))
