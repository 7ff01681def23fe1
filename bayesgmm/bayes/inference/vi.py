"""ADVI on a :class:`~bayesgmm.bayes.model.graph.GMMModel`: mean-field or full-rank, on the
compiled kernel (:mod:`bayesgmm.bayes.inference.advi`, with minibatches at large N) or PyMC's
own."""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from typing import Any, NamedTuple

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayesgmm._utils.progress import progress_bar
from bayesgmm._utils.validation import seed_int
from bayesgmm.bayes.inference.complete import complete_idata
from bayesgmm.bayes.inference.starts import START_POINTS, em_initial_point
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.graph import GMMModel, model_from_spec
from bayesgmm.em import EMResult

__all__ = ["fit_advi"]


def fit_advi(
    gmm: GMMModel,
    method: str = "advi",
    n: int = 20000,
    minibatch_size: int | None = None,
    random_seed: Any = None,
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
    use_kernel = engine == "kernel" or (
        engine == "auto" and gmm.kernel_supported and kernel.available()
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
        extra_attrs={"random_seed": seed, "advi_steps": int(n)},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata.add_groups(
            {"elbo": xr.Dataset({"elbo": xr.DataArray(elbo, dims=("step",))})},
        )
    return idata


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
    if minibatch_size is not None:  # the same spec, so the same internal units
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
