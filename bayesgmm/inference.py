"""Run NUTS, ADVI or MAP on a model from :func:`bayesgmm.model.build_model`.

Every runner returns an ``arviz.InferenceData`` with the free parameters in ``posterior``
plus derived ``covariances`` and ``correlations`` (computed in numpy after sampling, so
the sampler never carries them), ``observed_data``, the pointwise marginal
``log_likelihood`` (for LOO / WAIC) and ``attrs`` holding the bayesgmm version, the model
configuration (JSON) and the sampler.

Sampler choice (``sampler="auto"``), by measurement on Old Faithful (see
``benchmarks/bench_nuts.py``): nutpie driving the compiled density of
:mod:`bayesgmm.kernel`, else PyMC's own NUTS. Models the kernel does not cover (an
ordering constraint, minibatches) go to nutpie's JAX backend when JAX is installed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import time
import warnings
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayesgmm import draws as draw_math
from bayesgmm import kernel
from bayesgmm.covariance import as_full
from bayesgmm.em import fit_em
from bayesgmm.idata import thin_indices
from bayesgmm.model import config_standardization, default_start, internal_priors
from bayesgmm.parametrization import cpc_from_cholesky
from bayesgmm.priors import GMMPriors
from bayesgmm.progress import progress_bar
from bayesgmm.standardize import Standardization

__all__ = [
    "available_samplers",
    "em_initial_point",
    "fit_advi",
    "fit_map",
    "sample_nuts",
]

SAMPLERS = ("auto", "nutpie", "pymc", "numpyro")
# Rows of the MAP-EM start of a minibatch fit: a start, not an estimate, and EM over all
# of N = 1e6 rows would cost more than the whole stochastic fit.
START_POINTS = 20_000
# Bytes of pointwise log-likelihood stored with a fit before the draws are thinned for it.
LOG_LIKELIHOOD_BUDGET = 200_000_000


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def available_samplers() -> list[str]:
    """NUTS backends usable here, fastest first."""
    out = []
    if _installed("nutpie"):
        out.append("nutpie")
    out.append("pymc")
    if _installed("numpyro") and _installed("jax"):
        out.append("numpyro")
    return out


def _config(model: pm.Model) -> dict[str, Any]:
    config = getattr(model, "bayesgmm_config", None)
    if config is None:
        raise ValueError("model was not built by bayesgmm.model.build_model.")
    return config


def _data(model: pm.Model) -> np.ndarray:
    """The data in the model's internal units (see :mod:`bayesgmm.standardize`)."""
    return np.asarray(model["X"].get_value(), dtype=np.float64)


def _data_units(model: pm.Model) -> np.ndarray:
    """The data as the user gave them."""
    return np.asarray(model.bayesgmm_data, dtype=np.float64)


def _kernel_supported(model: pm.Model) -> bool:
    """Whether the compiled kernel covers this model (no ordering, no minibatches)."""
    config = _config(model)
    return config.get("ordered") is None and not config.get("minibatch_size")


# ---------------------------------------------------------------------------------------
# Initial points
# ---------------------------------------------------------------------------------------


def em_initial_point(
    model: pm.Model, random_seed: Any = None, max_points: int | None = None
) -> dict[str, np.ndarray]:
    """Constrained starting values from a MAP-EM fit of the same mixture.

    Chains started here begin in one labelling of the K! symmetric modes and skip the
    long transient from a symmetric start. The MAP prior keeps components from collapsing.
    ``max_points`` fits the start on a random subsample of that many rows (minibatch fits,
    whose whole point is not to pass over all N at every step).
    """
    config = _config(model)
    X = _data(model)
    if max_points is not None and X.shape[0] > max_points:
        rng = np.random.default_rng(_seed_int(random_seed))
        X = draw_math.subsample_rows(X, max_points, rng)
    k, cov_type = config["n_components"], config["covariance_type"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_em(X, k, cov_type, n_init=3, prior="default", random_seed=random_seed)
    n_features = X.shape[1]
    cov = as_full(fit.covariances, cov_type, k, n_features)
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    weights = np.clip(fit.weights, 1e-6, None)
    point: dict[str, np.ndarray] = {"weights": weights / weights.sum(), "means": fit.means}
    if cov_type in ("full", "diag"):
        point["stds"] = sd
    elif cov_type == "spherical":
        point["stds"] = np.sqrt(fit.covariances)
    else:
        point["stds"] = sd[0]
    if cov_type in ("full", "tied") and n_features > 1:
        corr = cov / (sd[:, :, None] * sd[:, None, :])
        cpc = cpc_from_cholesky(np.linalg.cholesky(corr))
        unit = np.clip((1.0 + cpc) / 2.0, 1e-3, 1 - 1e-3)
        point["partial_corr_unit"] = unit if cov_type == "full" else unit[0]
    if config.get("ordered") is not None:
        point = _ordered_point(point, config, n_features)
    return point


def _ordered_point(
    point: dict[str, np.ndarray], config: dict[str, Any], n_features: int
) -> dict[str, np.ndarray]:
    """Sort components by the ordered feature and split the means as the model does."""
    ordered = config["ordered"]
    f = config["feature_names"].index(ordered) if isinstance(ordered, str) else int(ordered)
    order = np.argsort(point["means"][:, f], kind="stable")
    per_component = {"weights", "means", "partial_corr_unit"}
    if config["covariance_type"] != "tied":
        per_component.add("stds")
    out = {
        name: (value[order] if name in per_component else value) for name, value in point.items()
    }
    means = out.pop("means")
    # The ordered transform needs strictly increasing values.
    out["means_ordered"] = means[:, f] + np.arange(len(order)) * 1e-9
    others = [d for d in range(n_features) if d != f]
    if others:
        out["means_other"] = means[:, others]
    return out


def _jitter(point: dict[str, np.ndarray], rng: np.random.Generator, scale: float) -> dict:
    out = {}
    for name, value in point.items():
        value = np.asarray(value, dtype=np.float64)
        if name == "weights":
            w = value * np.exp(scale * rng.standard_normal(value.shape))
            out[name] = w / w.sum()
        elif name in ("stds",):
            out[name] = value * np.exp(scale * rng.standard_normal(value.shape))
        elif name == "partial_corr_unit":
            logit = np.log(value) - np.log1p(-value) + scale * rng.standard_normal(value.shape)
            out[name] = 1.0 / (1.0 + np.exp(-logit))
        elif name == "means_ordered":
            out[name] = np.sort(value + scale * 0.1 * rng.standard_normal(value.shape))
        else:
            out[name] = value + scale * 0.1 * rng.standard_normal(value.shape)
    return out


# ---------------------------------------------------------------------------------------
# Post-processing shared by every backend
# ---------------------------------------------------------------------------------------


def _stack(posterior: xr.Dataset, name: str) -> np.ndarray:
    values = posterior[name].values
    return values.reshape(-1, *values.shape[2:])


def _pointwise_log_likelihood(
    post: xr.Dataset, X: np.ndarray, cov: np.ndarray, config: dict[str, Any]
) -> np.ndarray:
    """(S, N) marginal log-likelihood of the stored draws: the compiled kernel's forward
    pass where it is built (N=10,000, 2000 draws: ~2 s instead of ~20 s), else numpy."""
    weights, means = _stack(post, "weights"), _stack(post, "means")
    if not kernel.available():
        return draw_math.pointwise_log_likelihood(X, weights, means, cov)
    k, d = weights.shape[1], X.shape[1]
    spec = kernel.kernel_spec(internal_priors(config), k, d, config["covariance_type"])
    params = {name: _stack(post, name) for name in ("weights", "means", "stds")}
    if spec.n_cpc:
        params["partial_corr_unit"] = _stack(post, "partial_corr_unit")
    with np.errstate(divide="ignore", invalid="ignore"):  # a weight of 0 packs to -inf, NaN
        thetas = kernel.pack(params, spec)
    loglik = kernel.pointwise_log_likelihood(thetas, kernel.kernel_buffer(X, spec))
    # Draws the kernel cannot represent (a weight, sd or correlation at its boundary):
    # numpy, which needs no unconstrained form.
    bad = np.isnan(loglik).any(axis=1)
    if bad.any():
        loglik[bad] = draw_math.pointwise_log_likelihood(X, weights[bad], means[bad], cov[bad])
    return loglik


def _log_likelihood_draws(n_chains: int, n_draws: int, n_obs: int) -> np.ndarray:
    """Draw indices (per chain) whose pointwise log-likelihood fits the memory budget."""
    per_chain = max(1, LOG_LIKELIHOOD_BUDGET // (8 * n_chains * max(1, n_obs)))
    return thin_indices(n_draws, per_chain)


def _log_likelihood_group(
    post: xr.Dataset, model: pm.Model, config: dict[str, Any], standard: Standardization
) -> xr.Dataset:
    """The pointwise log-likelihood of the (internal-unit) draws of ``post``, in data units.

    Computed in internal units, where the kernel runs and no offset costs precision; the
    Jacobian of z = (x - center) / scale makes it the density of x.
    """
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    unit = _stack(post, "partial_corr_unit") if "partial_corr_unit" in post else None
    Z = _data(model)
    cov, _ = draw_math.covariances_from_draws(
        _stack(post, "stds"), unit, config["covariance_type"], config["n_components"], Z.shape[1]
    )
    loglik = _pointwise_log_likelihood(post, Z, cov, config) + standard.log_jacobian
    return xr.Dataset(
        {
            "x": xr.DataArray(
                loglik.reshape(n_chains, n_draws, -1),
                dims=("chain", "draw", "obs"),
                coords={
                    "chain": post["chain"].values,
                    "draw": post["draw"].values,
                    "obs": np.arange(Z.shape[0]),
                },
            )
        }
    )


def complete_idata(
    idata: az.InferenceData,
    model: pm.Model,
    *,
    sampler: str,
    log_likelihood: bool = True,
    extra_attrs: dict[str, Any] | None = None,
) -> az.InferenceData:
    """Move the draws to data units; add covariances, observed data, the pointwise
    log-likelihood and attrs.

    ``idata`` holds the backend's draws, in the model's internal units.
    """
    import bayesgmm

    config = _config(model)
    X = _data_units(model)
    k, cov_type = config["n_components"], config["covariance_type"]
    n_features = X.shape[1]
    standard = config_standardization(config)
    post = idata.posterior
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    keep = [v for v in ("weights", "means", "stds", "partial_corr_unit") if v in post]
    post = _with_model_dims(post[keep], config)
    unit = _stack(post, "partial_corr_unit") if "partial_corr_unit" in post else None
    groups: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    if log_likelihood:
        stored = _log_likelihood_draws(n_chains, n_draws, X.shape[0])
        if stored.size < n_draws:
            attrs["log_likelihood_draws"] = int(stored.size)
            warnings.warn(
                f"the pointwise log-likelihood of all {n_chains * n_draws} draws x "
                f"{X.shape[0]} points would take {8 * n_chains * n_draws * X.shape[0] / 1e6:.0f} "
                f"MB: stored for {stored.size} evenly thinned draws per chain (the "
                f"{LOG_LIKELIHOOD_BUDGET / 1e6:.0f} MB budget), so LOO / WAIC rest on "
                "those. Pass log_likelihood=False to skip it.",
                UserWarning,
                stacklevel=3,
            )
        groups["log_likelihood"] = _log_likelihood_group(
            post.isel(draw=stored), model, config, standard
        )
    data_units = standard.params_to_data({n: post[n].values for n in ("means", "stds")}, cov_type)
    post = post.assign({n: post[n].copy(data=v) for n, v in data_units.items()})
    cov, corr = draw_math.covariances_from_draws(
        _stack(post, "stds"), unit, cov_type, k, n_features
    )
    names = config["feature_names"]
    coords = {
        "chain": post["chain"].values,
        "draw": post["draw"].values,
        "component": np.arange(k),
        "feature": names,
        "feature_bis": names,
    }
    shape = (n_chains, n_draws, k, n_features, n_features)
    dims = ("chain", "draw", "component", "feature", "feature_bis")
    groups["posterior"] = post.assign(
        covariances=xr.DataArray(cov.reshape(shape), dims=dims, coords=coords),
        correlations=xr.DataArray(corr.reshape(shape), dims=dims, coords=coords),
    )
    groups["observed_data"] = xr.Dataset(
        {
            "x": xr.DataArray(
                X, dims=("obs", "feature"), coords={"obs": np.arange(X.shape[0]), "feature": names}
            )
        }
    )
    out = az.InferenceData(posterior=groups.pop("posterior"), **groups)
    for group in ("sample_stats", "prior", "prior_predictive", "posterior_predictive"):
        if group in idata.groups():
            out.add_groups({group: idata[group]}, warn_on_custom_groups=False)
    for group in idata.groups():
        if group not in out.groups() and group not in ("log_likelihood", "observed_data"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.add_groups({group: idata[group]})
    attrs.update(
        bayesgmm_version=bayesgmm.__version__,
        bayesgmm_config=json.dumps(config),
        sampler=sampler,
    )
    attrs.update(extra_attrs or {})
    for group in out.groups():
        out[group].attrs.update(attrs)
    out.attrs = dict(attrs)
    return out


def _with_model_dims(post: xr.Dataset, config: dict[str, Any]) -> xr.Dataset:
    """Rename backend dims (``weights_dim_0`` ...) to the model's dims."""
    names = config["feature_names"]
    cov_type = config["covariance_type"]
    wanted = {
        "weights": ("component",),
        "means": ("component", "feature"),
        "stds": {
            "full": ("component", "feature"),
            "diag": ("component", "feature"),
            "spherical": ("component",),
            "tied": ("feature",),
        }[cov_type],
        "partial_corr_unit": ("component", "corr_pair") if cov_type == "full" else ("corr_pair",),
    }
    pairs = [f"{names[i]}|{names[j]}" for i in range(len(names)) for j in range(i)]
    coord_values = {
        "component": np.arange(config["n_components"]),
        "feature": names,
        "corr_pair": pairs,
    }
    out = {}
    for name, da in post.data_vars.items():
        if name in wanted:
            dims = ("chain", "draw", *wanted[name])
            da = xr.DataArray(
                da.values,
                dims=dims,
                coords={
                    "chain": post["chain"].values,
                    "draw": post["draw"].values,
                    **{d: coord_values[d] for d in wanted[name]},
                },
            )
        out[name] = da
    return xr.Dataset(out)


# ---------------------------------------------------------------------------------------
# NUTS
# ---------------------------------------------------------------------------------------


def _resolve_sampler(sampler: str, model: pm.Model) -> str:
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
    if sampler == "auto":
        return "nutpie" if _installed("nutpie") else "pymc"
    if sampler == "nutpie" and not _installed("nutpie"):
        raise ImportError('sampler="nutpie" needs nutpie: pip install "bayesgmm[fast]".')
    if sampler == "numpyro" and not (_installed("numpyro") and _installed("jax")):
        raise ImportError('sampler="numpyro" needs numpyro and jax: pip install "bayesgmm[fast]".')
    return sampler


def _seed_int(random_seed: Any) -> int:
    if random_seed is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_seed, np.random.Generator):
        return int(random_seed.integers(2**31 - 1))
    return int(random_seed)


def _sample_kernel(
    model: pm.Model,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    base_point: dict[str, np.ndarray],
    progressbar: bool,
    target_accept: float | None,
) -> az.InferenceData:
    import nutpie

    from bayesgmm._nutpie import kernel_model

    config = _config(model)
    X = _data(model)
    spec = kernel.kernel_spec(
        internal_priors(config), config["n_components"], X.shape[1], config["covariance_type"]
    )

    # nutpie calls this once per chain with that chain's own seed (random 64-bit values,
    # derived from ``seed``). Drawing the jitter from it gives every chain its own start,
    # reproducibly, whatever order the chains' threads start in.
    def initial_point(seed_: int) -> np.ndarray:
        rng = np.random.default_rng(int(seed_))
        if not base_point:  # PyMC's "jitter" start: uniform(-1, 1) on the free scale
            return rng.uniform(-1, 1, size=spec.ndim)
        return kernel.pack(_jitter(base_point, rng, 0.05), spec)

    compiled = kernel_model(kernel.kernel_buffer(X, spec), spec, initial_point)
    kwargs = {}
    if target_accept is not None:
        kwargs["target_accept"] = target_accept
    try:
        return nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progress_bar=progressbar,
            save_warmup=False,
            **kwargs,
        )
    except BaseException as exc:  # a Rust panic is a BaseException, not an Exception
        if not _is_fatal_kernel_error(exc):
            raise
        # The kernel reports a fatal code only for a wrong dimension or failed allocation;
        # recoverable trouble (non-finite density or gradient) is a divergence instead.
        raise RuntimeError(
            "nutpie stopped on a fatal error: the compiled kernel reports one only for a "
            "dimension mismatch or no memory for its scratch space. This is a bug in "
            "bayesgmm or nutpie, not in your data; please report it. sampler='pymc' "
            "avoids both. "
            f"nutpie said: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc


def _is_fatal_kernel_error(exc: BaseException) -> bool:
    """A negative callback code: nutpie raises it at initialisation and panics mid-run
    (the panic's cleanup can panic again, so the code may sit on ``__context__``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "PanicException" or "ErrorCode(-" in str(seen):
            return True
        seen = seen.__context__
    return False


def sample_nuts(
    model: pm.Model,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    sampler: str = "auto",
    random_seed: Any = None,
    init: str = "em",
    *,
    progressbar: bool = True,
    target_accept: float | None = None,
    log_likelihood: bool = True,
    cores: int | None = None,
) -> az.InferenceData:
    """Sample the posterior with NUTS.

    Parameters
    ----------
    model : pymc.Model
        From :func:`bayesgmm.model.build_model`.
    draws, tune, chains : int
        Kept draws and warm-up iterations per chain, and the number of chains.
    sampler : {"auto", "nutpie", "pymc", "numpyro"}
        "auto" uses nutpie with bayesgmm's compiled density when nutpie is installed
        (the fastest, by measurement), else PyMC's sampler.
    random_seed : int, optional
        Makes the run reproducible (for a given backend).
    init : {"em", "default"}
        "em" starts every chain at a jittered MAP-EM estimate (each chain is still an
        ordinary MCMC chain; only its starting point is chosen); "default" uses the
        backend's own initialisation.
    progressbar : bool
    target_accept : float, optional
    log_likelihood : bool
        Store the pointwise marginal log-likelihood (N floats per draw) for LOO / WAIC.
    cores : int, optional
        Parallel chains for PyMC's sampler.

    Returns
    -------
    arviz.InferenceData
    """
    if init not in ("em", "default"):
        raise ValueError(f"init must be 'em' or 'default'; got {init!r}.")
    for name, value in (("draws", draws), ("chains", chains)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1; got {value}.")
    if int(tune) < 0:
        raise ValueError(f"tune must be >= 0; got {tune}.")
    backend = _resolve_sampler(sampler, model)
    seed = _seed_int(random_seed)
    rng = np.random.default_rng(seed)
    base = em_initial_point(model, random_seed=seed) if init == "em" else default_start(model)
    init_points = [_jitter(base, rng, 0.05) for _ in range(int(chains))] if base else None
    start = time.perf_counter()
    if backend == "nutpie" and _kernel_supported(model) and kernel.available():
        raw = _sample_kernel(
            model, int(draws), int(tune), int(chains), seed, base, progressbar, target_accept
        )
        used = "nutpie+bayesgmm-kernel"
    elif backend == "nutpie":
        import nutpie

        gradient = "jax" if _installed("jax") else "pytensor"
        compiled = nutpie.compile_pymc_model(
            model,
            backend="jax" if _installed("jax") else "numba",
            gradient_backend=gradient,
            initial_points=None if init_points is None else init_points[0],
        )
        raw = nutpie.sample(
            compiled,
            draws=int(draws),
            tune=int(tune),
            chains=int(chains),
            seed=seed,
            progress_bar=progressbar,
            save_warmup=False,
        )
        used = "nutpie"
    else:
        kwargs: dict[str, Any] = {}
        if backend == "numpyro":
            kwargs["nuts_sampler"] = "numpyro"
            kwargs["nuts_sampler_kwargs"] = {"chain_method": "vectorized"}
        else:
            kwargs["cores"] = cores or min(int(chains), 2)
            kwargs["compute_convergence_checks"] = False
        if target_accept is not None:
            kwargs["target_accept"] = target_accept
        with model:
            raw = pm.sample(
                draws=int(draws),
                tune=int(tune),
                chains=int(chains),
                random_seed=seed,
                initvals=init_points,
                progressbar=progressbar,
                idata_kwargs={"log_likelihood": False},
                **kwargs,
            )
        used = backend
    seconds = time.perf_counter() - start
    return complete_idata(
        raw,
        model,
        sampler=used,
        log_likelihood=log_likelihood,
        extra_attrs={"sampling_seconds": seconds, "init": init, "random_seed": seed},
    )


# ---------------------------------------------------------------------------------------
# ADVI and MAP
# ---------------------------------------------------------------------------------------


def fit_advi(
    model: pm.Model,
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
) -> az.InferenceData:
    """Fit a mean-field (``"advi"``) or full-rank (``"fullrank_advi"``) approximation.

    Parameters
    ----------
    model : pymc.Model
    method : {"advi", "fullrank_advi"}
    n : int
        Optimisation steps.
    minibatch_size : int, optional
        Rebuild the model with ``pm.Minibatch`` of this size and ``total_size=N``.
    random_seed : int, optional
    draws : int
        Draws from the fitted approximation stored as the posterior (one chain).
    learning_rate : float
        Adam step size (scaled by the data through the data-scaled priors).
    engine : {"auto", "kernel", "pymc"}
        "kernel" runs ADVI (:mod:`bayesgmm.advi`) on the compiled density; "pymc" uses
        ``pm.ADVI`` / ``pm.FullRankADVI``; "auto" picks the kernel unless minibatches or
        an ordering constraint need PyMC.

    Returns
    -------
    arviz.InferenceData
        With the ELBO history (``-loss`` per step) in the ``elbo`` group.
    """
    if method not in ("advi", "fullrank_advi"):
        raise ValueError(f"method must be 'advi' or 'fullrank_advi'; got {method!r}.")
    if engine not in ("auto", "kernel", "pymc"):
        raise ValueError(f"engine must be 'auto', 'kernel' or 'pymc'; got {engine!r}.")
    seed = _seed_int(random_seed)
    use_kernel = engine == "kernel" or (
        engine == "auto" and _kernel_supported(model) and kernel.available()
    )
    if use_kernel and not _kernel_supported(model):
        raise ValueError("engine='kernel' does not support ordered models; use engine='pymc'.")
    start = em_initial_point(
        model, random_seed=seed, max_points=None if minibatch_size is None else START_POINTS
    )
    if use_kernel:
        raw, elbo = _advi_kernel(
            model, method, n, start, seed, draws, learning_rate, minibatch_size, progressbar
        )
        used = f"{method}+bayesgmm-kernel" + ("-minibatch" if minibatch_size else "")
    else:
        raw, elbo = _advi_pymc(
            model, method, n, minibatch_size, start, seed, draws, progressbar, learning_rate
        )
        used = method
    idata = complete_idata(
        raw,
        model,
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


def _advi_kernel(
    model: pm.Model,
    method: str,
    n: int,
    start: dict[str, np.ndarray],
    seed: int,
    draws: int,
    learning_rate: float,
    minibatch_size: int | None,
    progressbar: bool,
) -> tuple[az.InferenceData, np.ndarray]:
    from bayesgmm.advi import fit_advi_gaussian
    from bayesgmm.minibatch import MinibatchDensity

    config = _config(model)
    X = _data(model)
    spec = kernel.kernel_spec(
        internal_priors(config),
        config["n_components"],
        X.shape[1],
        config["covariance_type"],
    )
    rng = np.random.default_rng(seed)
    if minibatch_size is None:
        buffer = kernel.kernel_buffer(X, spec)
        density = functools.partial(kernel.logp_and_grad, buffer=buffer)
    else:
        density = MinibatchDensity(X, spec, minibatch_size, rng)
    with progress_bar(f"{method} ({n} steps)", int(n), progressbar) as progress:
        result = fit_advi_gaussian(
            density,
            kernel.pack(start, spec),
            method=method,
            n=n,
            learning_rate=learning_rate,
            # Minibatch gradients are noisy: a Robbins-Monro decay lets the mean settle.
            decay_steps=None if minibatch_size is None else max(1, int(n) // 10),
            average_tail=0.0 if minibatch_size is None else 0.25,
            progress=progress,
            rng=rng,
        )
    samples = [kernel.unpack(theta, spec) for theta in result.sample(draws, rng)]
    posterior = {name: np.stack([s[name] for s in samples])[None] for name in samples[0]}
    return az.from_dict(posterior=posterior), result.elbo


def _advi_pymc(
    model: pm.Model,
    method: str,
    n: int,
    minibatch_size: int | None,
    start: dict[str, np.ndarray],
    seed: int,
    draws: int,
    progressbar: bool,
    learning_rate: float,
) -> tuple[az.InferenceData, np.ndarray]:
    fit_model = model
    if minibatch_size is not None:
        from bayesgmm.model import build_model

        config = _config(model)
        # The same data and priors give the same internal units as ``model``.
        fit_model = build_model(
            _data_units(model),
            config["n_components"],
            config["covariance_type"],
            priors=GMMPriors.from_dict(config["priors"]),
            ordered=config["ordered"],
            feature_names=config["feature_names"],
            minibatch_size=minibatch_size,
        )
    with fit_model, _quiet_constant_folding():
        approx_cls = pm.ADVI if method == "advi" else pm.FullRankADVI
        inference = approx_cls(random_seed=seed, start=start)
        approx = inference.fit(
            n=int(n),
            progressbar=progressbar,
            obj_optimizer=pm.adam(learning_rate=learning_rate),
        )
        raw = approx.sample(draws=int(draws), random_seed=seed, return_inferencedata=True)
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


def fit_map(
    model: pm.Model, random_seed: Any = None, *, progressbar: bool = False
) -> dict[str, np.ndarray]:
    """Posterior mode (in the unconstrained space, as ``pm.find_MAP``) from the EM start.

    Returns
    -------
    dict
        ``weights``, ``means``, ``stds`` (and ``partial_corr_unit``), plus ``covariances``,
        in data units.
    """
    config = _config(model)
    start = em_initial_point(model, random_seed=random_seed)
    with model:
        point = pm.find_MAP(start=start, progressbar=progressbar, include_transformed=False)
    keep = {
        name: np.asarray(point[name])
        for name in ("weights", "means", "stds", "partial_corr_unit")
        if name in point
    }
    keep = config_standardization(config).params_to_data(keep, config["covariance_type"])
    cov, _ = draw_math.covariances_from_draws(
        keep["stds"][None],
        keep["partial_corr_unit"][None] if "partial_corr_unit" in keep else None,
        config["covariance_type"],
        config["n_components"],
        len(config["feature_names"]),
    )
    keep["covariances"] = cov[0]
    return keep


def map_idata(model: pm.Model, point: dict[str, np.ndarray]) -> az.InferenceData:
    """A one-draw InferenceData of a MAP point (data units, as :func:`fit_map` returns
    it), so downstream code treats all fits alike."""
    config = _config(model)
    free = {
        name: np.asarray(value)
        for name, value in point.items()
        if name in ("weights", "means", "stds", "partial_corr_unit")
    }
    free = config_standardization(config).params_to_internal(free, config["covariance_type"])
    raw = az.from_dict(posterior={name: value[None, None] for name, value in free.items()})
    return complete_idata(raw, model, sampler="map")
