"""ADVI on a :class:`~bayesgmm.bayes.model.graph.GMMModel`: mean-field or full-rank, on the
compiled kernel (:mod:`bayesgmm.bayes.inference.advi`, with minibatches at large N) or PyMC's
own."""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayesgmm._utils.progress import progress_bar
from bayesgmm._utils.validation import seed_int
from bayesgmm.bayes.inference.complete import complete_idata
from bayesgmm.bayes.inference.edits import edited_model_note
from bayesgmm.bayes.inference.starts import START_POINTS, em_initial_point
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import GMMModel, model_from_spec
from bayesgmm.em import EMResult

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike

__all__ = ["fit_advi"]


def fit_advi(
    gmm: GMMModel,
    method: str = "advi",
    n: int = 20000,
    minibatch_size: int | None = None,
    random_seed: SeedLike = None,
    *,
    draws: int = 1000,
    progressbar: bool = True,
    learning_rate: float = 0.01,
    log_likelihood: bool = True,
    engine: str = "auto",
    start: EMResult | None = None,
) -> az.InferenceData:
    """Fit a mean-field (``"advi"``) or full-rank (``"fullrank_advi"``) approximation.

    Parameters
    ----------
    gmm : GMMModel
        From :func:`bayesgmm.bayes.model.graph.build_model`.
    method : {"advi", "fullrank_advi"}
    n : int
        Optimisation steps.
    minibatch_size : int, optional
        Gradients on random minibatches of this many rows, scaled by N / size (the
        kernel engine), or a ``pm.Minibatch`` model (the PyMC engine).
    random_seed : int, optional
    draws : int
        Draws from the fitted approximation stored as the posterior (one chain).
    learning_rate : float
        Adam step size (scaled by the data through the data-scaled priors).
    engine : {"auto", "kernel", "pymc"}
        "kernel" runs ADVI (:mod:`bayesgmm.bayes.inference.advi`) on the compiled density;
        "pymc" uses
        ``pm.ADVI`` / ``pm.FullRankADVI``; "auto" picks the kernel unless minibatches or
        an ordering constraint need PyMC.
    start : EMResult, optional
        The MAP-EM fit to start from (internal units, :func:`.starts.em_start`).

    Returns
    -------
    arviz.InferenceData
        With the ELBO history (``-loss`` per step) in the ``elbo`` group.
    """
    if method not in ("advi", "fullrank_advi"):
        raise ValueError(f"method must be 'advi' or 'fullrank_advi'; got {method!r}.")
    if engine not in ("auto", "kernel", "pymc"):
        raise ValueError(f"engine must be 'auto', 'kernel' or 'pymc'; got {engine!r}.")
    seed = seed_int(random_seed)
    _check_edited_engine(gmm, engine, minibatch_size)
    edits = edited_model_note(gmm, "ADVI")
    use_kernel = engine == "kernel" or (
        engine == "auto" and gmm.kernel_supported and kernel.available() and not edits
    )
    if use_kernel and not gmm.kernel_supported:
        raise ValueError("engine='kernel' does not support ordered models; use engine='pymc'.")
    point = em_initial_point(
        gmm,
        random_seed=seed,
        max_points=None if minibatch_size is None else START_POINTS,
        start=start,
    )
    settings = _Settings(method, int(n), seed, int(draws), learning_rate, progressbar)
    if use_kernel:
        raw, elbo = _advi_kernel(gmm, settings, point, minibatch_size)
        used = f"{method}+bayesgmm-kernel" + ("-minibatch" if minibatch_size else "")
    else:
        raw, elbo = _advi_pymc(gmm, settings, point, minibatch_size)
        used = method
    idata = complete_idata(
        raw,
        gmm,
        sampler=used,
        log_likelihood=log_likelihood,
        extra_attrs={"random_seed": seed, "advi_steps": int(n), "model_edits": edits},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata.add_groups(
            {"elbo": xr.Dataset({"elbo": xr.DataArray(elbo, dims=("step",))})},
        )
    return idata


def _check_edited_engine(gmm: GMMModel, engine: str, minibatch_size: int | None) -> None:
    """An edited model runs on its own PyMC graph, which neither the kernel nor a rebuilt
    ``pm.Minibatch`` model holds: refuse those, saying what to do."""
    edits = gmm.edits
    if not edits:
        return
    if engine == "kernel":
        raise ValueError(
            f"engine='kernel' evaluates only the model build_model writes; this one was "
            f"edited ({'; '.join(edits)}). Use engine='pymc' (or 'auto') to fit the edited "
            "model, or build a fresh model for the kernel."
        )
    if minibatch_size is not None and gmm.minibatch_size is None:
        raise ValueError(
            f"minibatch ADVI rebuilds the model with pm.Minibatch, without your edits "
            f"({'; '.join(edits)}). Fit the edited model without minibatch_size, or build "
            "it with build_model(..., minibatch_size=...) and edit that one."
        )


class _Settings(NamedTuple):
    method: str
    n: int
    seed: int
    draws: int
    learning_rate: float
    progressbar: bool


def _advi_kernel(
    gmm: GMMModel,
    settings: _Settings,
    start: dict[str, np.ndarray],
    minibatch_size: int | None,
) -> tuple[az.InferenceData, np.ndarray]:
    from bayesgmm.bayes.inference.advi import fit_advi_gaussian
    from bayesgmm.bayes.kernel.minibatch import MinibatchDensity

    spec, X = gmm.spec, gmm.internal
    method, n = settings.method, settings.n
    rng = np.random.default_rng(settings.seed)
    if minibatch_size is None:
        density = functools.partial(kernel.logp_and_grad, buffer=gmm.kernel_buffer())
    else:
        obs = gmm.observations
        density = MinibatchDensity(X, spec.kernel, minibatch_size, rng, *obs)
    with progress_bar(f"{method} ({n} steps)", n, settings.progressbar) as progress:
        result = fit_advi_gaussian(
            density,
            spec.pack(start),
            method=method,
            n=n,
            learning_rate=settings.learning_rate,
            # Minibatch gradients are noisy: a Robbins-Monro decay lets the mean settle.
            decay_steps=None if minibatch_size is None else max(1, int(n) // 10),
            average_tail=0.0 if minibatch_size is None else 0.25,
            progress=progress,
            rng=rng,
        )
    samples = spec.unpack(result.sample(settings.draws, rng))
    posterior = {name: value[None] for name, value in samples.items()}
    return az.from_dict(posterior=posterior), result.elbo


def _advi_pymc(
    gmm: GMMModel,
    settings: _Settings,
    start: dict[str, np.ndarray],
    minibatch_size: int | None,
) -> tuple[az.InferenceData, np.ndarray]:
    fit_model = gmm.model
    # The same spec, so the same internal units (a model built with minibatches is used
    # as it is, edits included).
    if minibatch_size is not None and gmm.minibatch_size is None:
        fit_model = model_from_spec(gmm.spec, gmm.data, minibatch_size, gmm.observations).model
    seed = settings.seed
    with fit_model, _quiet_constant_folding():
        approx_cls = pm.ADVI if settings.method == "advi" else pm.FullRankADVI
        inference = approx_cls(random_seed=seed, start=start)
        approx = inference.fit(
            n=settings.n,
            progressbar=settings.progressbar,
            obj_optimizer=pm.adam(learning_rate=settings.learning_rate),
        )
        raw = approx.sample(draws=settings.draws, random_seed=seed, return_inferencedata=True)
    return raw, -np.asarray(approx.hist, dtype=np.float64)


@contextlib.contextmanager
def _quiet_constant_folding() -> Any:
    """Silence PyTensor's constant-folding failure log during a ``pm.Minibatch`` ADVI fit.

    Its graph holds a scalar ``Add`` of one shape per flattened variable (``Add(560, 10,
    10, ...)`` at K = D = 10): more operands than a numpy ufunc's scratchpad takes, so the
    fold fails, PyTensor keeps the node unfolded, which is correct, and logs a traceback
    per attempt that a user takes for a crash. Nothing else is hidden: the level returns
    to what it was when the fit ends.
    """
    logger = logging.getLogger("pytensor.graph.rewriting.basic")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
