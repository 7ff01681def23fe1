"""The EM fit file: an xarray Dataset in netCDF, and the JSON summary of an EM fit.

``bayesgmm fit --method em`` writes it and ``bayesgmm report`` reads it; ``xarray.load_dataset``
reads it too. The layout is documented in :func:`em_dataset`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr
    from numpy.typing import ArrayLike

    from bayesgmm.em.results import EMResult

#: ``attrs["bayesgmm_kind"]`` of the netCDF file that ``bayesgmm fit --method em`` writes.
EM_FILE_KIND = "em"


def em_summary(fit: EMResult) -> dict[str, Any]:
    """Log-likelihood, log prior, parameter count, BIC, AIC, ICL and convergence of an EM fit.

    Parameters
    ----------
    fit : bayesgmm.em.EMResult

    Returns
    -------
    dict
        Plain Python numbers (JSON-ready): ``log_likelihood``, ``log_prior``,
        ``n_parameters``, ``bic``, ``aic``, ``icl``, ``converged``, ``n_iter`` and
        ``degenerate_components``.
    """
    from bayesgmm import em

    return {
        "log_likelihood": float(fit.log_likelihood),
        "log_prior": float(fit.log_prior),
        "n_parameters": int(em.n_free_parameters(fit)),
        "bic": float(em.bic(fit)),
        "aic": float(em.aic(fit)),
        "icl": float(em.icl(fit)),
        "converged": bool(fit.converged),
        "n_iter": int(fit.n_iter),
        "degenerate_components": [int(k) for k in fit.degenerate_components],
    }


def em_fit_json(fit: EMResult, feature_names: Sequence[str]) -> dict[str, Any]:
    """An EM fit's parameters and :func:`em_summary` as one JSON-ready dict.

    Parameters
    ----------
    fit : bayesgmm.em.EMResult
    feature_names : sequence of str

    Returns
    -------
    dict
        ``n_components``, ``covariance_type``, ``features``, ``weights``, ``means`` and
        ``covariances`` (nested lists, in the covariance type's layout), then the summary.
    """
    return {
        "n_components": int(fit.means.shape[0]),
        "covariance_type": fit.covariance_type,
        "features": [str(n) for n in feature_names],
        "weights": fit.weights.tolist(),
        "means": fit.means.tolist(),
        "covariances": fit.covariances.tolist(),
        **em_summary(fit),
    }


def em_dataset(fit: EMResult, X: ArrayLike, feature_names: Sequence[str], **attrs: Any) -> Any:
    """The netCDF layout of an EM fit written by ``bayesgmm fit --method em``.

    Parameters
    ----------
    fit : bayesgmm.em.EMResult
    X : array-like of shape (N, D)
        The data the fit was made on (stored so that ``bayesgmm report`` can plot).
    feature_names : sequence of str
    **attrs
        Extra attributes (numbers or strings).

    Returns
    -------
    xarray.Dataset
        ``weights`` (component), ``means`` (component, feature), ``covariances`` in the
        layout of the covariance type (full: component, feature, feature_bis; tied:
        feature, feature_bis; diag: component, feature; spherical: component), ``x`` (obs,
        feature); attrs ``bayesgmm_kind = "em"``, ``bayesgmm_version``, ``covariance_type``,
        ``n_components``, ``em_summary`` (JSON: log-likelihood, BIC, AIC, ICL, convergence)
        and ``attrs``.
    """
    import xarray as xr

    import bayesgmm
    from bayesgmm.mixture.structures import get_structure

    names = [str(n) for n in feature_names]
    covariance_dims = get_structure(fit.covariance_type).dims
    values = np.asarray(X, dtype=np.float64)
    n_components = int(fit.means.shape[0])
    return xr.Dataset(
        {
            "weights": (("component",), np.asarray(fit.weights)),
            "means": (("component", "feature"), np.asarray(fit.means)),
            "covariances": (covariance_dims, np.asarray(fit.covariances)),
            "x": (("obs", "feature"), values),
        },
        coords={
            "component": np.arange(n_components),
            "feature": names,
            "feature_bis": names,
            "obs": np.arange(values.shape[0]),
        },
        attrs={
            "bayesgmm_kind": EM_FILE_KIND,
            "bayesgmm_version": bayesgmm.__version__,
            "covariance_type": fit.covariance_type,
            "n_components": n_components,
            "em_summary": json.dumps(em_summary(fit)),
            **attrs,
        },
    )


def em_params_from_dataset(ds: xr.Dataset) -> Any:
    """The :class:`bayesgmm.em.GMMParams` stored in an EM fit file (see :func:`em_dataset`).

    Parameters
    ----------
    ds : xarray.Dataset
        An EM fit file, as read by ``xarray.load_dataset``.

    Returns
    -------
    bayesgmm.em.GMMParams
        Weights, means and covariances in the file's covariance type, and their precision
        Cholesky factors.
    """
    from bayesgmm.em import GMMParams
    from bayesgmm.mixture.covariance import precisions_cholesky

    cov_type = str(ds.attrs["covariance_type"])
    covariances = np.asarray(ds["covariances"].values, dtype=np.float64)
    return GMMParams(
        np.asarray(ds["weights"].values, dtype=np.float64),
        np.asarray(ds["means"].values, dtype=np.float64),
        covariances,
        precisions_cholesky(covariances, cov_type),
        cov_type,
    )
