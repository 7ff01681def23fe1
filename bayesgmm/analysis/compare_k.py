"""How many components? :func:`compare_k` fits every (K, covariance type) and ranks them.

The facade layer: it runs EM and the samplers, and leaves the criteria and the ranking to
:mod:`bayesgmm.analysis.selection`, which only reads fits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayesgmm import em as em_module
from bayesgmm._utils.validation import check_data, check_ks, check_missing, seed_int
from bayesgmm.analysis.selection import criteria_table, em_criteria, loo_waic
from bayesgmm.exceptions import CollapseError
from bayesgmm.mixture.structures import check_covariance_type

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from bayesgmm._utils.types import SeedLike
    from bayesgmm.bayes.model.priors import GMMPriors

__all__ = ["compare_k"]

#: EM restarts per (K, covariance type): as select_k and `bayesgmm report`.
_EM_N_INIT = em_module.SELECTION_N_INIT


def _bayes_methods() -> tuple[str, ...]:
    """The methods that give posterior draws, as the one runner declares them (imported on
    use: the runners load PyMC)."""
    from bayesgmm.bayes.inference.run import POSTERIOR_METHODS

    return POSTERIOR_METHODS


def _check_methods(methods: Sequence[str]) -> list[str]:
    methods = list(methods)
    bayes = _bayes_methods()
    unknown = [m for m in methods if m not in ("em", *bayes)]
    if unknown or not methods:
        raise ValueError(f"methods must be drawn from ('em', {bayes}); got {methods}.")
    return methods


def compare_k(
    X: ArrayLike,
    ks: Sequence[int],
    covariance_types: Sequence[str] | str = ("full",),
    methods: Sequence[str] = ("em", "nuts"),
    *,
    random_seed: SeedLike = 0,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    progressbar: bool = False,
    advi_steps: int = 20000,
    priors: GMMPriors | None = None,
    missing: str = "raise",
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
) -> pd.DataFrame:
    """BIC / ICL (EM) beside PSIS-LOO / WAIC (posterior) for every (K, covariance type).

    Parameters
    ----------
    X : array-like of shape (N, D)
    ks : sequence of int
    covariance_types : sequence of str
    methods : sequence of {"em", "nuts", "advi", "fullrank_advi"}
        "em" adds ``bic``, ``icl`` (``fit_em(..., n_init=5)``, lower is better);
        a Bayesian method adds ``elpd_loo``, ``se_loo``, ``p_loo``, ``n_pareto_k_bad``,
        ``elpd_waic``, ``se_waic``, ``p_waic`` (higher elpd is better) and
        ``elpd_diff`` / ``dse`` (difference to the best row and its standard error, from
        the pointwise LOO values as ``arviz.compare`` computes it). With two Bayesian
        methods the later one's columns get a ``{method}_`` prefix.
    random_seed : int
        Seeds EM restarts and the samplers.
    draws, tune, chains, progressbar
        NUTS settings (``draws`` is also the number of ADVI draws).
    advi_steps : int
        ADVI optimisation steps.
    priors : GMMPriors, optional
        Passed to :func:`bayesgmm.bayes.model.graph.build_model`.
    missing : {"raise", "marginalize"}
        ``"marginalize"`` lets ``X`` hold NaN: every fit, EM and Bayesian, marginalises
        the missing coordinates (missing at random), and the criteria are those of the
        observed data.
    sample_weight : array-like of shape (N,), optional
        Observation weights, for every fit.
    labels : array-like of shape (N,), optional
        Partial labels (a component index, -1 unknown), for every fit; every K must then
        exceed the largest label.

    Returns
    -------
    pandas.DataFrame
        One row per (K, covariance_type), with ``rank_bic`` / ``rank_loo`` (1 = best).
        ``.attrs["best_bic"]`` and ``.attrs["best_loo"]`` are the best (K, covariance_type).
    """
    data = check_data(X, min_samples=2, missing=check_missing(missing))
    observed = {"sample_weight": sample_weight, "labels": labels}
    ks = check_ks(ks, data.X.shape[0])
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    for cov_type in covariance_types:
        check_covariance_type(cov_type)
    methods = _check_methods(methods)
    bayes = [m for m in methods if m != "em"]
    seed = seed_int(random_seed)
    settings = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "progressbar": progressbar,
        "advi_steps": advi_steps,
        "priors": priors,
        "feature_names": data.feature_names,
        **observed,
    }
    rows = []
    pointwise: dict[str, dict[int, np.ndarray]] = {m: {} for m in bayes}
    for cov_type in covariance_types:
        for k in ks:
            row: dict[str, Any] = {"K": k, "covariance_type": cov_type}
            if "em" in methods:
                row.update(_em_row(data.X, k, cov_type, seed, observed))
            for position, method in enumerate(bayes):
                prefix = "" if position == 0 else f"{method}_"
                idata = _bayes_fit(data.X, k, cov_type, method, seed, settings)
                criteria, pointwise[method][len(rows)] = loo_waic(idata)
                row.update({prefix + name: value for name, value in criteria.items()})
            rows.append(row)
    return criteria_table(rows, pointwise)


def _em_row(
    values: np.ndarray, k: int, cov_type: str, seed: int, observed: dict[str, Any]
) -> dict[str, Any]:
    missing = "marginalize" if np.isnan(values).any() else "raise"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = em_module.fit_em(
                values,
                k,
                cov_type,
                n_init=_EM_N_INIT,
                random_seed=seed,
                missing=missing,
                **observed,
            )
        except CollapseError as exc:
            return em_criteria(None, error=str(exc))
    return em_criteria(fit, caught)


def _bayes_fit(
    values: np.ndarray, k: int, cov_type: str, method: str, seed: int, settings: dict[str, Any]
) -> Any:
    from bayesgmm.bayes.inference.run import RunSettings, run_inference
    from bayesgmm.bayes.model.graph import build_model

    model = build_model(
        values,
        k,
        cov_type,
        priors=settings["priors"],
        feature_names=settings["feature_names"],
        sample_weight=settings["sample_weight"],
        labels=settings["labels"],
        missing="marginalize" if np.isnan(values).any() else "raise",
    )
    run = RunSettings(
        method=method,
        draws=settings["draws"],
        tune=settings["tune"],
        chains=settings["chains"],
        advi_steps=settings["advi_steps"],
        progressbar=settings["progressbar"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_inference(model, run, random_seed=seed).idata
