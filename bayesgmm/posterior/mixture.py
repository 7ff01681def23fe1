"""A fit as a mixture: the one adapter from any fit object to its mixture parameters.

EM results, ``GMMParams``, fitted estimators, ``fit_map``'s dict, a reference dict with
any scikit-learn covariance layout, and posteriors (an ``InferenceData`` or a fitted
``BayesianGMM``) all become one :class:`Mixture`: weights, means and full covariances with
a leading draw axis (``S = 1`` for a point estimate), plus the covariance type. Relabeling,
the EM-versus-posterior comparison and the plots read fits only through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

import numpy as np

from bayesgmm._utils.validation import CheckedData, check_data, nan_hint_for_fit
from bayesgmm.mixture.covariance import as_full
from bayesgmm.mixture.structures import structure_from_shape

if TYPE_CHECKING:
    import arviz as az
    from numpy.typing import ArrayLike

__all__ = [
    "EMEstimator",
    "Fit",
    "Mixture",
    "PointFit",
    "PosteriorEstimator",
    "PosteriorFit",
    "as_mixture",
    "check_fit_data",
    "fit_missing",
    "point_mixture",
]


class PointFit(Protocol):
    """A point estimate: an ``EMResult``, ``GMMParams`` or anything with these fields."""

    @property
    def means(self) -> np.ndarray: ...

    @property
    def covariances(self) -> np.ndarray: ...

    @property
    def covariance_type(self) -> str: ...


class EMEstimator(Protocol):
    """A fitted ``GaussianMixtureEM``: its EM fit in ``result_``."""

    @property
    def result_(self) -> PointFit | None: ...


class PosteriorEstimator(Protocol):
    """A fitted ``BayesianGMM``: its draws in ``idata_`` (and its EM start in ``em_``)."""

    @property
    def idata_(self) -> az.InferenceData | None: ...


# String aliases: importable at run time without ArviZ (this module stays numpy only).
#: A posterior: its InferenceData, or the estimator holding it.
PosteriorFit: TypeAlias = "az.InferenceData | PosteriorEstimator"
#: Any fit the adapter reads: a posterior, a point estimate, a fitted estimator or a
#: dict with ``means``, ``covariances`` (and ``weights``, ``covariance_type``).
Fit: TypeAlias = "PosteriorFit | PointFit | EMEstimator | Mapping[str, Any]"


class Mixture(NamedTuple):
    """Mixture parameters with a leading draw axis (``S = 1`` for a point estimate).

    Attributes
    ----------
    weights : ndarray of shape (S, K), or None
        ``None`` only for a reference given without weights.
    means : ndarray of shape (S, K, D)
    covariances : ndarray of shape (S, K, D, D)
        Full matrices, whatever the covariance type.
    covariance_type : str
    """

    weights: np.ndarray | None
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str

    @property
    def n_draws(self) -> int:
        """``S``."""
        return int(self.means.shape[0])

    @property
    def n_components(self) -> int:
        """``K``."""
        return int(self.means.shape[1])

    @property
    def n_features(self) -> int:
        """``D``."""
        return int(self.means.shape[2])

    def marginal(self, features: Sequence[int]) -> Mixture:
        """The mixture of the chosen features: a mixture of the marginals."""
        idx = np.asarray(features)
        cov = self.covariances[..., idx[:, None], idx[None, :]]
        return self._replace(means=self.means[..., idx], covariances=cov)

    def mean(self) -> Mixture:
        """The parameters averaged over draws, as a one-draw mixture."""
        weights = None if self.weights is None else self.weights.mean(axis=0, keepdims=True)
        return self._replace(
            weights=weights,
            means=self.means.mean(axis=0, keepdims=True),
            covariances=self.covariances.mean(axis=0, keepdims=True),
        )


def _is_idata(obj: object) -> bool:
    return hasattr(obj, "posterior") and hasattr(obj, "groups")


def posterior_of(fit: object) -> az.InferenceData | None:
    """The InferenceData of a posterior fit: ``fit`` itself, or a fitted BayesianGMM's
    ``idata_``; ``None`` for anything else (an EM fit). The one adapter from a fit to its
    posterior draws (the analysis functions and the plots go through it)."""
    if _is_idata(fit):
        return fit
    idata = getattr(fit, "idata_", None)
    return idata if idata is not None and _is_idata(idata) else None


def _type_error(what: str, fit: object) -> TypeError:
    return TypeError(
        f"{what} must be an EM fit (EMResult, GMMParams or a fitted GaussianMixtureEM), a "
        "dict with 'weights', 'means' and 'covariances', or a posterior (InferenceData or "
        f"a fitted BayesianGMM); got {type(fit).__name__}."
    )


def _fields(fit: Fit, what: str) -> tuple[ArrayLike | None, ArrayLike, ArrayLike, str | None]:
    """(weights or None, means, covariances, covariance type or None) of a point fit."""
    if isinstance(fit, Mapping):
        if "means" not in fit or "covariances" not in fit:
            raise ValueError(
                f"{what} as a dict needs 'means' and 'covariances' (and 'weights'); got keys "
                f"{sorted(fit)}."
            )
        return fit.get("weights"), fit["means"], fit["covariances"], fit.get("covariance_type")
    if all(hasattr(fit, a) for a in ("means", "covariances", "covariance_type")):
        return getattr(fit, "weights", None), fit.means, fit.covariances, fit.covariance_type
    raise _type_error(what, fit)


def point_mixture(fit: Fit, *, shape: tuple[int, int] | None = None, what: str = "fit") -> Mixture:
    """A point estimate as a one-draw :class:`Mixture`.

    Parameters
    ----------
    fit : EMResult, GMMParams, GaussianMixtureEM, BayesianGMM, dict or InferenceData
        A fitted estimator gives its EM fit (``result_``, or a ``BayesianGMM``'s ``em_``);
        an InferenceData gives its posterior means; a dict needs ``means`` and
        ``covariances`` in any scikit-learn layout (``covariance_type`` says which when
        the shape does not) and may give ``weights``.
    shape : (K, D), optional
        Expected numbers of components and features; an error names ``what`` otherwise.
    what : str
        The argument's name, for error messages.

    Returns
    -------
    Mixture
    """
    for attribute in ("result_", "em_"):  # GaussianMixtureEM, BayesianGMM
        inner = getattr(fit, attribute, None)
        fit = fit if inner is None else inner
    if _is_idata(fit):
        return as_mixture(fit).mean()
    weights, means, cov, cov_type = _fields(fit, what)
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or (shape is not None and means.shape != tuple(shape)):
        expected = "(K, D)" if shape is None else f"(K, D) = {tuple(shape)}"
        raise ValueError(f"{what} means must have shape {expected}; got {means.shape}.")
    n_comp, n_features = means.shape
    cov = np.asarray(cov, dtype=np.float64)
    cov_type = (
        structure_from_shape(cov.shape, n_comp, n_features).name if cov_type is None else cov_type
    )
    full = as_full(cov, str(cov_type), n_comp, n_features)
    if full.shape != (n_comp, n_features, n_features):
        raise ValueError(
            f"{what} covariances of type {cov_type!r} have shape {cov.shape}, which does not "
            f"match K={n_comp}, D={n_features}."
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (n_comp,):
            raise ValueError(f"{what} weights must have shape ({n_comp},); got {weights.shape}.")
        weights = weights[None]
    return Mixture(weights, means[None], full[None], str(cov_type))


def as_mixture(
    fit: Fit,
    *,
    max_draws: int | None = None,
    rng: np.random.Generator | None = None,
    shape: tuple[int, int] | None = None,
    what: str = "fit",
) -> Mixture:
    """Any fit as a :class:`Mixture`: every posterior draw, or one draw for a point fit.

    Parameters
    ----------
    fit : InferenceData, BayesianGMM or anything :func:`point_mixture` takes
        A posterior (or a fitted ``BayesianGMM``, through its ``idata_``) gives its draws,
        flattened over chains; anything else its point estimate.
    max_draws : int, optional
        At most this many draws: evenly thinned, or a random subset when ``rng`` is given.
    rng : numpy.random.Generator, optional
    shape, what
        As for :func:`point_mixture`.

    Returns
    -------
    Mixture
    """
    idata = fit if _is_idata(fit) else getattr(fit, "idata_", None)
    if idata is None or not _is_idata(idata):
        return point_mixture(fit, shape=shape, what=what)
    from bayesgmm.bayes.inference.idata import posterior_draws, thin_indices

    draws = posterior_draws(idata)
    n_total = draws.weights.shape[0]
    if max_draws is not None and n_total > max_draws and rng is not None:
        keep = np.sort(rng.choice(n_total, size=int(max_draws), replace=False))
    else:
        keep = thin_indices(n_total, max_draws)
    return Mixture(
        draws.weights[keep], draws.means[keep], draws.covariances[keep], draws.covariance_type
    )


def _idata_missing(idata: az.InferenceData) -> str:
    """What a posterior says of NaN: its recorded option, else whether its data had any."""
    recorded = (getattr(idata, "attrs", None) or {}).get("missing")
    if recorded is not None:
        return str(recorded)
    if "observed_data" in idata.groups():
        for values in idata.observed_data.data_vars.values():
            if np.issubdtype(values.dtype, np.floating) and np.isnan(values.values).any():
                return "marginalize"
    return "raise"


def fit_missing(*fits: Fit | None) -> str:
    """The ``missing`` option the fits were made with: ``"marginalize"`` if any has it.

    Functions that read a fit (membership, partition, the plots ...) accept NaN in ``X``
    exactly when the fit did, so that an option given at fit time carries to them. An
    estimator says it through its ``missing`` parameter; a posterior through
    ``idata.attrs["missing"]`` (or NaN in its ``observed_data``). A bare parameter set
    (``EMResult``, ``GMMParams``, a dict) does not record how it was fitted, and its
    density on the observed coordinates is exact, so it accepts NaN.
    """
    for fit in fits:
        if fit is None:
            continue
        option = getattr(fit, "missing", None)
        if isinstance(option, str):
            found = option
        elif _is_idata(fit):
            found = _idata_missing(fit)
        elif _is_idata(getattr(fit, "idata_", None)):
            found = _idata_missing(fit.idata_)
        else:
            found = "marginalize"
        if found == "marginalize":
            return found
    return "raise"


def check_fit_data(
    X: ArrayLike, *fits: Fit | None, n_features: int | None = None, owner: str = "the fit"
) -> CheckedData:
    """``X`` checked for a function that reads ``fits``: NaN allowed as the fits allowed it.

    Parameters
    ----------
    X : array-like of shape (N, D)
    *fits : fits or None
        As :func:`fit_missing` reads them.
    n_features : int, optional
        The number of features the fits have.
    owner : str
        Who expects ``n_features``, for error messages.
    """
    return check_data(
        X,
        n_features=n_features,
        owner=owner,
        missing=fit_missing(*fits),
        nan_hint=nan_hint_for_fit(owner),
    )
