"""Collapse (singularity) detection in posterior draws.

A component *collapses* when it sits on too few points or on a near-singular covariance.
The thresholds follow EM's collapse checks (:func:`bayesgmm.em.min_component_count`, the
data covariance of :func:`bayesgmm.em.regularized_data_covariance`); here they are applied
to every draw at once. See ``docs/posterior-diagnostics.md``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm.bayes.inference.idata import check_idata, posterior_draws
from bayesgmm.em import regularized_data_covariance
from bayesgmm.exceptions import DegenerateComponentWarning
from bayesgmm.mixture.missing import nan_covariance
from bayesgmm.mixture.structures import get_structure
from bayesgmm.posterior._data import observed
from bayesgmm.posterior.advice import FitSettings, fit_settings, join_options

__all__ = [
    "CollapseFlags",
    "CollapseReport",
    "collapse_flags",
    "collapse_report",
    "data_covariance",
    "warn_if_collapsed",
]


class CollapseFlags(NamedTuple):
    """Per-draw, per-component collapse criteria (all arrays of shape (S, K)).

    Attributes
    ----------
    few_points : ndarray of bool
        ``N * weights < min_count``.
    singular : ndarray of bool
        ``eigenvalue_ratio < rtol``.
    effective_count : ndarray
        ``N * weights``.
    eigenvalue_ratio : ndarray
        Smallest generalised eigenvalue of the component covariance with respect to the
        data covariance (``min_v v' Sigma_k v / v' S v``).
    """

    few_points: np.ndarray
    singular: np.ndarray
    effective_count: np.ndarray
    eigenvalue_ratio: np.ndarray


def data_covariance(X: np.ndarray) -> np.ndarray:
    """Sample covariance (D, D) of the data, made positive definite as EM's collapse checks
    make it (:func:`bayesgmm.em.regularized_data_covariance`: a zero variance counts as 1,
    collinear features get a tiny ridge)."""
    X = np.asarray(X, dtype=np.float64)
    if np.isnan(X).any():  # data with missing values (missing="marginalize")
        return regularized_data_covariance(nan_covariance(X))
    cov = np.atleast_2d(np.cov(X, rowvar=False)) if X.shape[0] > 1 else np.eye(X.shape[1])
    return regularized_data_covariance(cov)


def collapse_flags(
    weights: np.ndarray,
    covariances: np.ndarray,
    data_cov: np.ndarray,
    n_samples: int,
    *,
    min_count: float,
    rtol: float = 1e-4,
) -> CollapseFlags:
    """Which components of which draws collapsed (pure numpy).

    Parameters
    ----------
    weights : ndarray of shape (S, K)
    covariances : ndarray of shape (S, K, D, D)
    data_cov : ndarray of shape (D, D)
        Sample covariance of the data, positive definite.
    n_samples : int
        ``N``.
    min_count : float
        A component with ``N * weight < min_count`` has too few points.
    rtol : float
        A component whose covariance has a generalised eigenvalue relative to ``data_cov``
        below ``rtol`` is near-singular (for 1e-4: a standard deviation 100 times smaller
        than the data's in some direction).

    Returns
    -------
    CollapseFlags
    """
    weights = np.asarray(weights, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    chol = np.linalg.cholesky(np.asarray(data_cov, dtype=np.float64))
    inv = np.linalg.inv(chol)
    whitened = inv @ cov @ inv.T
    whitened = 0.5 * (whitened + np.swapaxes(whitened, -1, -2))
    ratio = np.linalg.eigvalsh(whitened)[..., 0]
    count = n_samples * weights
    return CollapseFlags(count < min_count, ratio < rtol, count, ratio)


def _default_min_count(cov_type: str, n_features: int) -> int:
    # EM's count (D + 1 for full, 2 otherwise), except that a tied covariance is shared:
    # only an empty component is flagged.
    structure = get_structure(cov_type)
    return 1 if structure.shared else structure.min_component_count(n_features)


@dataclass(frozen=True, eq=False)
class CollapseReport:
    """What :func:`collapse_report` found, with a plain-words ``message``.

    Attributes
    ----------
    n_draws, n_samples, n_features : int
        ``S`` (all chains), ``N`` and ``D``.
    min_count, rtol : float
        The thresholds used.
    table : pandas.DataFrame
        Per component: ``few_points``, ``singular``, ``collapsed`` (fractions of draws),
        ``median_count`` (median of N * weight) and ``median_eigenvalue_ratio``.
    fraction_any : float
        Fraction of draws with at least one collapsed component (label-invariant).
    fraction_any_few_points, fraction_any_singular : float
        The same, by each criterion.
    relabeled : bool
        Whether the posterior had been relabeled (only then does a component index refer to
        the same component in every draw).
    message : str
    """

    n_draws: int
    n_samples: int
    n_features: int
    min_count: float
    rtol: float
    table: pd.DataFrame
    fraction_any: float
    fraction_any_few_points: float
    fraction_any_singular: float
    relabeled: bool
    message: str

    @property
    def collapsed(self) -> bool:
        """Whether any draw has a collapsed component."""
        return self.fraction_any > 0

    def __str__(self) -> str:
        return self.message


def _pct(x: float) -> str:
    if x == 0:
        return "0%"
    if x < 0.001:
        return "<0.1%"
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


def _collapse_message(
    table: pd.DataFrame,
    any_all: float,
    any_few: float,
    any_singular: float,
    min_count: float,
    rtol: float,
    n_draws: int,
    settings: FitSettings,
) -> str:
    criteria = (
        f"criteria: N·π_k < {min_count:g} points, or a smallest generalised eigenvalue of "
        f"Σ_k relative to the data covariance < {rtol:g}"
    )
    if any_all == 0:
        return f"No component collapsed in any of the {n_draws} draws ({criteria})."
    hit = table.index[table["collapsed"] > 0]
    details = "; ".join(
        f"component {k}: {_pct(table.loc[k, 'collapsed'])} of draws "
        f"({_pct(table.loc[k, 'few_points'])} with fewer than {min_count:g} points, "
        f"{_pct(table.loc[k, 'singular'])} near-singular)"
        for k in hit
    )
    text = (
        f"{_pct(any_all)} of the {n_draws} draws have a collapsed component ({details}; "
        f"{criteria}). "
    )
    if any_singular == 0:
        return text + (
            "No covariance is near-singular: these are (nearly) empty components, typical of "
            "an overfitted mixture. They are harmless for the density, but their parameters "
            "are prior draws; use a smaller K, or occupied_components() to see how many "
            "components the data support."
        )
    stronger = "a larger std_scale or smaller std_spread"
    if settings.std_family != "inversegamma":
        stronger += ", or std_family='inversegamma', which vanishes fast at zero"
    options = [f"a stronger covariance prior ({stronger})", "a smaller K"]
    if not settings.sparse:  # a sparse fit already lets extra components empty out
        options.append(
            "a sparse Dirichlet (alpha < 1) so that extra components empty out instead of "
            "collapsing"
        )
    advice = (
        "Components collapsing onto a few points or a lower-dimensional subspace make the "
        "per-component summaries meaningless and signal a posterior that the covariance "
        f"prior barely keeps proper. To fix: use {join_options(options)}."
    )
    if settings.std_family == "halfnormal":
        advice += (
            " The std prior here is halfnormal, which does not vanish at zero and so cannot "
            "keep components from collapsing; prefer 'lognormal' or 'inversegamma'."
        )
    return text + advice


def _collapse_table(flags: CollapseFlags, idata: az.InferenceData) -> pd.DataFrame:
    """Per component: fractions of draws flagged, median count and eigenvalue ratio."""
    collapsed = flags.few_points | flags.singular
    post = idata.posterior
    n_comp = flags.few_points.shape[1]
    labels = post["component"].values if "component" in post.coords else np.arange(n_comp)
    return pd.DataFrame(
        {
            "few_points": flags.few_points.mean(axis=0),
            "singular": flags.singular.mean(axis=0),
            "collapsed": collapsed.mean(axis=0),
            "median_count": np.median(flags.effective_count, axis=0),
            "median_eigenvalue_ratio": np.median(flags.eigenvalue_ratio, axis=0),
        },
        index=pd.Index(labels, name="component"),
    )


def collapse_report(
    idata: az.InferenceData,
    rtol: float = 1e-4,
    *,
    min_count: float | None = None,
) -> CollapseReport:
    """Find posterior draws in which a component collapsed.

    A component ``k`` is *collapsed* in a draw when

    * its effective count ``N * weights[k]`` is below ``min_count`` (default: the fewest
      points that determine its covariance, ``D + 1`` for full covariances, 2 for diag and
      spherical, 1 for tied, whose covariance is shared), or
    * its covariance is near-singular relative to the data: the smallest generalised
      eigenvalue of ``Sigma_k`` with respect to the sample covariance of
      ``observed_data.x`` (the smallest variance ratio over all directions) is below
      ``rtol`` (default 1e-4: a standard deviation 100 times smaller than the data's in
      some direction).

    Parameters
    ----------
    idata : arviz.InferenceData
        Sampler output, raw or relabeled (per-component fractions only refer to one
        component across draws after :func:`relabel_idata`; ``fraction_any`` does not
        depend on labels).
    rtol : float
    min_count : float, optional

    Returns
    -------
    CollapseReport
    """
    idata = check_idata(idata)
    if not (np.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol must be a positive number; got {rtol!r}.")
    draws = posterior_draws(idata)
    X = observed(idata, "collapse_report")
    n_samples, n_features = X.shape
    if min_count is None:
        min_count = _default_min_count(draws.covariance_type, n_features)
    flags = collapse_flags(
        draws.weights,
        draws.covariances,
        data_covariance(X),
        n_samples,
        min_count=float(min_count),
        rtol=float(rtol),
    )
    table = _collapse_table(flags, idata)
    any_all = float((flags.few_points | flags.singular).any(axis=1).mean())
    any_few = float(flags.few_points.any(axis=1).mean())
    any_singular = float(flags.singular.any(axis=1).mean())
    n_draws = int(draws.weights.shape[0])
    message = _collapse_message(
        table,
        any_all,
        any_few,
        any_singular,
        float(min_count),
        float(rtol),
        n_draws,
        fit_settings(idata),
    )
    return CollapseReport(
        n_draws=n_draws,
        n_samples=int(n_samples),
        n_features=int(n_features),
        min_count=float(min_count),
        rtol=float(rtol),
        table=table,
        fraction_any=any_all,
        fraction_any_few_points=any_few,
        fraction_any_singular=any_singular,
        relabeled="relabel_method" in idata.posterior.attrs,
        message=message,
    )


def warn_if_collapsed(report: CollapseReport, threshold: float = 0.01) -> bool:
    """Issue a ``DegenerateComponentWarning`` when collapsed draws exceed ``threshold``.

    Parameters
    ----------
    report : CollapseReport
    threshold : float
        Largest tolerated fraction of draws with a collapsed component (default 1 %).

    Returns
    -------
    bool
        Whether a warning was issued.
    """
    if report.fraction_any > threshold:
        warnings.warn(report.message, DegenerateComponentWarning, stacklevel=2)
        return True
    return False
