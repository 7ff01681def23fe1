"""The posterior mode of a :class:`~bayesgmm.bayes.model.graph.GMMModel`, from its MAP-EM start.

The mode is ``pm.find_MAP``'s: the maximum of the log density of the constrained
parameters (``jacobian=False``), found by L-BFGS-B in the unconstrained space. An unedited
model runs it on the compiled kernel (value and gradient in one C pass, the transforms'
log Jacobian taken out in numpy, :func:`~bayesgmm.bayes.model.transforms.log_jacobian`):
``pm.find_MAP`` compiles PyMC's logp and dlogp for every fit, 10-60 s at D = 10 and
minutes at D = 30, where the optimisation itself takes milliseconds. An edited,
ordered or kernel-less model runs ``pm.find_MAP`` on its PyMC graph.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

import arviz as az
import numpy as np
import pymc as pm
from scipy import optimize
from threadpoolctl import threadpool_limits

from bayesgmm.bayes.inference.complete import complete_idata
from bayesgmm.bayes.inference.edits import edited_model_note
from bayesgmm.bayes.inference.starts import em_initial_point
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import GMMModel
from bayesgmm.bayes.model.transforms import FREE_VARIABLES, log_jacobian
from bayesgmm.em import EMResult
from bayesgmm.exceptions import ConvergenceWarning, DegenerateComponentWarning
from bayesgmm.mixture import draws as draw_math

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike

__all__ = ["MAP_TOLERANCE", "MapOptimum", "MapTolerance", "fit_map", "kernel_map", "map_idata"]


class MapTolerance(NamedTuple):
    """L-BFGS-B's stopping rule on the compiled kernel.

    Tighter than scipy's defaults (``ftol`` 2.2e-9, ``gtol`` 1e-5, which ``pm.find_MAP``
    uses): an evaluation costs microseconds here, and a fit with integer weights must
    land on the fit of the rows repeated to well below the scale of its posterior, not
    just somewhere on the flat top of the same objective.
    """

    ftol: float = 1e-13  # relative decrease of the objective
    gtol: float = 1e-7  # largest projected gradient entry
    max_iterations: int = 5_000  # pm.find_MAP's maxeval


MAP_TOLERANCE = MapTolerance()


class MapOptimum(NamedTuple):
    """Where L-BFGS-B stopped: the free vector, the log posterior (``jacobian=False``),
    its largest gradient entry there, the iterations, and scipy's verdict."""

    theta: np.ndarray
    log_posterior: float
    max_gradient: float
    n_iterations: int
    converged: bool
    message: str


def fit_map(
    gmm: GMMModel,
    random_seed: SeedLike = None,
    *,
    progressbar: bool = False,
    start: EMResult | None = None,
) -> dict[str, np.ndarray]:
    """``pm.find_MAP``'s posterior mode (of the constrained parameters' density, found in
    the unconstrained space) from the EM start: on the compiled kernel for a model as
    built (:func:`kernel_map`), by ``pm.find_MAP`` on the PyMC graph otherwise.

    Parameters
    ----------
    gmm : GMMModel
    random_seed : int or Generator, optional
    progressbar : bool
    start : EMResult, optional
        The MAP-EM fit to start from (internal units, :func:`.starts.em_start`).

    Returns
    -------
    dict
        ``weights``, ``means``, ``stds`` (and ``partial_corr_unit``, and ``alpha`` in a
        sparse finite mixture), plus ``covariances``, in data units.
    """
    spec = gmm.spec
    edits = edited_model_note(gmm, "MAP")  # an edited model runs on its PyMC graph
    point = em_initial_point(gmm, random_seed=random_seed, start=start)
    if gmm.kernel_supported and kernel.available() and not edits:
        point = spec.unpack(kernel_map(gmm, spec.pack(point)).theta)
    else:
        with gmm.model:
            point = pm.find_MAP(start=point, progressbar=progressbar, include_transformed=False)
    keep = spec.with_stds(
        {name: np.asarray(point[name]) for name in FREE_VARIABLES if name in point}
    )
    keep = spec.standardization.params_to_data(keep, spec.covariance_type)
    # An edited model's own variables, as the user wrote them (internal units).
    keep.update({name: np.asarray(point[name]) for name in _user_variables(gmm, point)})
    cov, _ = draw_math.covariances_from_draws(
        keep["stds"][None],
        keep["partial_corr_unit"][None] if "partial_corr_unit" in keep else None,
        spec.covariance_type,
        spec.n_components,
        spec.n_features,
    )
    keep["covariances"] = cov[0]
    return keep


def kernel_map(
    gmm: GMMModel, theta: np.ndarray, tolerance: MapTolerance = MAP_TOLERANCE
) -> MapOptimum:
    """``pm.find_MAP``'s mode of an unedited model, by L-BFGS-B on the compiled kernel.

    Parameters
    ----------
    gmm : GMMModel
        Unedited, with a kernel (``gmm.kernel_supported``).
    theta : ndarray of shape (spec.ndim,)
        The start, unconstrained (``spec.pack``).
    tolerance : MapTolerance

    Returns
    -------
    MapOptimum
        A :class:`~bayesgmm.exceptions.ConvergenceWarning` says when the optimiser
        stopped with a gradient still far from zero.
    """
    buffer, blocks = gmm.kernel_buffer(), gmm.spec.blocks

    def negative_log_posterior(free: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = kernel.logp_and_grad(free, buffer)
        if not np.isfinite(value):  # a transform at its boundary: step back
            return np.inf, np.zeros_like(free)
        jacobian, jacobian_grad = log_jacobian(free, blocks)
        return -(value - jacobian), -(grad - jacobian_grad)

    # L-BFGS-B calls BLAS on vectors of the model's size, where OpenBLAS's threads only
    # wait on each other: on a busy 2-core machine an iteration at ndim = 50 took 15 ms
    # with them and 0.08 ms without.
    with threadpool_limits(limits=1, user_api="blas"):
        result = optimize.minimize(
            negative_log_posterior,
            np.asarray(theta, dtype=np.float64),
            jac=True,
            method="L-BFGS-B",
            options={
                "ftol": tolerance.ftol,
                "gtol": tolerance.gtol,
                "maxiter": tolerance.max_iterations,
                "maxfun": 2 * tolerance.max_iterations,
            },
        )
    value, grad = negative_log_posterior(result.x)
    optimum = MapOptimum(
        result.x,
        -float(value),
        float(np.max(np.abs(grad))),
        int(result.nit),
        bool(result.success),
        str(result.message),
    )
    _warn_if_not_converged(optimum, gmm)
    return optimum


def _warn_if_not_converged(optimum: MapOptimum, gmm: GMMModel) -> None:
    """Warn when the optimiser stopped short, saying whether the mode does not exist.

    A line search that cannot improve in the last bits of float64 (scipy: ABNORMAL) has
    converged when the gradient is round-off small for an objective that sums N terms.
    A component whose covariance is singular at the stop means the log posterior grows
    without bound there: a full covariance collapses onto the span of too few rows (15
    rows in 30 features), the likelihood gains ``n_k / 2`` per factor of the vanishing
    eigenvalue and the LKJ prior loses only ``eta - 1``-ish, so there is no mode to find.
    """
    round_off = 1e-6 * max(1.0, float(gmm.internal.shape[0]))
    if optimum.converged or optimum.max_gradient <= round_off:
        return
    smallest = _smallest_eigenvalue(gmm, optimum.theta)
    where = (
        f"the MAP optimiser stopped after {optimum.n_iterations} iterations "
        f"({optimum.message}) with a gradient entry of {optimum.max_gradient:.3g}"
    )
    if smallest < _SINGULAR:
        warnings.warn(
            f"{where}, at a component covariance whose correlation matrix is singular "
            f"(smallest eigenvalue {smallest:.2g}, internal units): the posterior density "
            f"is unbounded as the covariance collapses onto its {gmm.internal.shape[0]} "
            f"rows in {gmm.spec.n_features} features, so the posterior mode does not "
            "exist and the point returned is where the optimiser stopped. The posterior "
            "itself is proper: use method='nuts', a covariance_type without correlations "
            "('diag'), more rows, or a stronger LKJ prior (GMMPriors(eta=...)).",
            DegenerateComponentWarning,
            stacklevel=4,
        )
        return
    warnings.warn(
        f"{where}: the point may not be the mode. Use method='nuts', or a stronger prior "
        "(GMMPriors).",
        ConvergenceWarning,
        stacklevel=4,
    )


#: A correlation eigenvalue below this (float64 keeps ~1e-16 relative) is a collapse.
_SINGULAR = 1e-6


def _smallest_eigenvalue(gmm: GMMModel, theta: np.ndarray) -> float:
    """The smallest eigenvalue of the components' correlation matrices (sds relative to
    1, the internal units' scale, for a structure without correlations)."""
    spec = gmm.spec
    point = spec.with_stds(spec.unpack(theta))  # the sds of a volume-shape layout
    unit = point.get("partial_corr_unit")
    _, corr = draw_math.covariances_from_draws(
        point["stds"][None],
        None if unit is None else unit[None],
        spec.covariance_type,
        spec.n_components,
        spec.n_features,
    )
    smallest = float(np.min(np.linalg.eigvalsh(corr[0])))
    return min(smallest, float(np.min(point["stds"])) ** 2)


def map_idata(gmm: GMMModel, point: dict[str, np.ndarray]) -> az.InferenceData:
    """A one-draw InferenceData of a MAP point (data units, as :func:`fit_map` returns
    it), so downstream code treats all fits alike."""
    spec = gmm.spec
    free = {name: np.asarray(value) for name, value in point.items() if name in FREE_VARIABLES}
    free = spec.standardization.params_to_internal(free, spec.covariance_type)
    free.update({name: np.asarray(point[name]) for name in _user_variables(gmm, point)})
    raw = az.from_dict(posterior={name: value[None, None] for name, value in free.items()})
    edits = "; ".join(gmm.edits)
    return complete_idata(raw, gmm, sampler="map", extra_attrs={"model_edits": edits})


def _user_variables(gmm: GMMModel, point: dict[str, Any]) -> list[str]:
    """The names in ``point`` of variables the spec does not build (an edited model's)."""
    own = {*FREE_VARIABLES, "covariances", "means_ordered", "means_other"}
    named = set(gmm.model.named_vars)
    return [name for name in point if name not in own and name in named]
