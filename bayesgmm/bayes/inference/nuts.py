"""NUTS on a :class:`~bayesgmm.bayes.model.graph.GMMModel`: nutpie on the compiled kernel, PyMC's
sampler, or numpyro.

Sampler choice (``sampler="auto"``), by measurement on Old Faithful (see
``benchmarks/bench_nuts.py``): nutpie driving the compiled density of
:mod:`bayesgmm.bayes.kernel.bindings`, else PyMC's own NUTS. Models the kernel does not cover (an
ordering constraint) go to nutpie's JAX backend when JAX is installed.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import arviz as az
import numpy as np
import pymc as pm

from bayesgmm._utils.validation import seed_int
from bayesgmm.bayes.inference.complete import complete_idata
from bayesgmm.bayes.inference.edits import edited_model_note
from bayesgmm.bayes.inference.starts import em_initial_point, jittered_points
from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.kernel import nutpie_bridge as _nutpie
from bayesgmm.bayes.model.graph import GMMModel, default_start
from bayesgmm.bayes.model.transforms import jitter, pack
from bayesgmm.em import EMResult

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike

__all__ = ["SAMPLERS", "available_samplers", "sample_nuts"]

SAMPLERS = ("auto", "nutpie", "pymc", "numpyro")
MASS_MATRICES = ("auto", "diag", "low_rank")


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


def resolve_sampler(sampler: str) -> str:
    """The backend ``sampler`` names (``"auto"``: nutpie when installed, else PyMC)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
    if sampler == "auto":
        return "nutpie" if _installed("nutpie") else "pymc"
    if sampler == "nutpie" and not _installed("nutpie"):
        raise ImportError('sampler="nutpie" needs nutpie: pip install "bayesgmm[fast]".')
    if sampler == "numpyro" and not (_installed("numpyro") and _installed("jax")):
        raise ImportError('sampler="numpyro" needs numpyro and jax: pip install "bayesgmm[fast]".')
    return sampler


class _Run(NamedTuple):
    """Draws, warm-up and chains of one run, and its integer seed."""

    draws: int
    tune: int
    chains: int
    seed: int
    low_rank: bool = False  # nutpie's low-rank modified mass matrix


def _check_counts(draws: int, tune: int, chains: int, init: str) -> None:
    if init not in ("em", "default"):
        raise ValueError(f"init must be 'em' or 'default'; got {init!r}.")
    for name, value in (("draws", draws), ("chains", chains)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1; got {value}.")
    if int(tune) < 0:
        raise ValueError(f"tune must be >= 0; got {tune}.")


def sample_nuts(
    gmm: GMMModel,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    sampler: str = "auto",
    random_seed: SeedLike = None,
    init: str = "em",
    *,
    start: EMResult | Sequence[EMResult] | None = None,
    progressbar: bool = True,
    target_accept: float | None = None,
    mass_matrix: str = "auto",
    log_likelihood: bool = True,
    cores: int | None = None,
) -> az.InferenceData:
    """Sample the posterior with NUTS.

    Parameters
    ----------
    gmm : GMMModel
        From :func:`bayesgmm.bayes.model.graph.build_model`.
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
    start : EMResult or sequence of EMResult, optional
        The MAP-EM fit to start from (internal units, :func:`.starts.em_start`);
        otherwise ``init="em"`` fits one. Several fits (distinct local maxima,
        :func:`.starts.em_local_maxima`) split the chains between them in contiguous
        groups, the first fit's group the largest, so that chains visit every mode EM
        knows of; on the kernel each group is one nutpie run (seed ``random_seed + g``),
        the runs' chains concatenated. (nutpie on PyMC's graph starts from the first.)
    progressbar : bool
    target_accept : float, optional
    mass_matrix : {"auto", "diag", "low_rank"}
        nutpie's mass-matrix adaptation: ``"diag"`` (nutpie's own default) or
        ``"low_rank"`` (``low_rank_modified_mass_matrix``, which also learns the strongest
        posterior correlations). ``"auto"``: low-rank on nutpie, the diagonal one that
        PyMC's and numpyro's samplers adapt elsewhere (``"low_rank"`` is refused there).
        Low-rank took 7.0 leapfrog steps per draw against 11.9 at N=10,000, D=5, K=4
        (1.6x the ESS per second), and gave a sparse mixture's alpha 4-12x the ESS
        (``benchmarks/README.md``); SBC passes with it on every covariance type.
    log_likelihood : bool
        Store the pointwise marginal log-likelihood (N floats per draw) for LOO / WAIC.
    cores : int, optional
        Parallel chains for PyMC's sampler.

    Returns
    -------
    arviz.InferenceData
    """
    _check_counts(draws, tune, chains, init)
    if mass_matrix not in MASS_MATRICES:
        raise ValueError(f"mass_matrix must be one of {MASS_MATRICES}; got {mass_matrix!r}.")
    backend = resolve_sampler(sampler)
    edits = edited_model_note(gmm, "NUTS")
    if edits and sampler == "auto":
        backend = _edited_backend()
    use_kernel = backend == "nutpie" and gmm.kernel_supported and kernel.available() and not edits
    if use_kernel and not _nutpie.compatible():
        warnings.warn(_nutpie.incompatibility(), UserWarning, stacklevel=2)
        backend, use_kernel = "pymc", False
    if gmm.has_missing and not use_kernel and not edits:
        backend = _missing_backend(backend, chosen=sampler != "auto")
    if mass_matrix == "low_rank" and backend != "nutpie":
        raise ValueError(
            f"mass_matrix='low_rank' is nutpie's adaptation; the {backend!r} sampler adapts "
            "a diagonal mass matrix. Use sampler='nutpie' (or 'auto'), or mass_matrix='diag'."
        )
    low_rank = backend == "nutpie" and mass_matrix != "diag"
    seed = seed_int(random_seed)
    rng = np.random.default_rng(seed)
    # An EMResult is a NamedTuple, itself a sequence: one fit, not several.
    starts = [start] if start is None or isinstance(start, EMResult) else list(start)
    if init == "em":
        bases = [em_initial_point(gmm, random_seed=seed, start=s) for s in starts]
    else:
        bases = [default_start(gmm)]
    groups = chain_groups(int(chains), len(bases))
    base = bases[0]
    began = time.perf_counter()
    run = _Run(int(draws), int(tune), int(chains), seed, low_rank)
    if use_kernel:
        raw = _sample_kernel_groups(gmm, run, bases, groups, progressbar, target_accept)
        used = "nutpie+bayesgmm-kernel"
    else:
        points = None
        if init == "em":
            points = [
                p
                for b, n in zip(bases, groups, strict=True)
                for p in jittered_points(gmm.spec, b, rng, n)
            ]
        elif base:  # only the ordered means have a given start
            points = [dict(base) for _ in range(int(chains))]
        if backend == "nutpie":
            raw = _sample_nutpie_pymc(gmm, run, points, progressbar, target_accept)
            used = "nutpie"
        else:
            raw = _sample_pymc(gmm, run, backend, points, progressbar, target_accept, cores)
            used = backend
    seconds = time.perf_counter() - began
    return complete_idata(
        raw,
        gmm,
        sampler=used,
        log_likelihood=log_likelihood,
        extra_attrs={
            "sampling_seconds": seconds,
            "init": init,
            "random_seed": seed,
            "mass_matrix": "low_rank" if low_rank else "diag",
            "model_edits": edits,
        },
    )


def _edited_backend() -> str:
    """The sampler of an edited model when the user did not choose one: nutpie on the
    user's graph compiled by JAX when JAX is installed, else PyMC's NUTS (nutpie's numba
    compilation took minutes where PyMC's C backend took seconds, docs/missing.md)."""
    return "nutpie" if _installed("nutpie") and _installed("jax") else "pymc"


def _missing_backend(backend: str, chosen: bool) -> str:
    """The sampler for a model with missing values off the compiled kernel (the user
    chose a PyMC backend, or the kernel is not built or not usable here): PyMC's graph,
    sampled by PyMC's NUTS unless the user chose a backend. Only an unchosen fallback
    warns; a chosen backend is what the user asked for."""
    if chosen:
        return backend
    if backend == "nutpie":
        # nutpie would sample PyMC's graph compiled by numba (no jax): 399 s against 85 s
        # for PyMC's NUTS on the C backend, compile included, N=300, D=3, K=3 diag
        # (benchmarks/bench_missing.py, same run; docs/missing.md).
        backend = "pymc"
    warnings.warn(
        "the data have missing values and bayesgmm's compiled kernel is not used here (not "
        f"built, or the model has an ordering constraint): sampling PyMC's own graph with the "
        f"{backend!r} NUTS sampler, 10-100x slower than the kernel (see docs/missing.md).",
        UserWarning,
        stacklevel=3,
    )
    return backend


def chain_groups(chains: int, n_starts: int) -> list[int]:
    """Chains per start: as even as possible, the first starts' groups the larger; starts
    beyond the number of chains get none."""
    n = min(chains, n_starts)
    sizes = [chains // n + (1 if g < chains % n else 0) for g in range(n)]
    return sizes + [0] * (n_starts - n)


def _sample_kernel_groups(
    gmm: GMMModel,
    run: _Run,
    bases: list[dict[str, np.ndarray]],
    groups: list[int],
    progressbar: bool,
    target_accept: float | None,
) -> az.InferenceData:
    """One nutpie run per start with its group of chains, concatenated along chains."""
    raws = [
        _sample_kernel(
            gmm, run._replace(chains=n, seed=run.seed + g), b, progressbar, target_accept
        )
        for g, (b, n) in enumerate(zip(bases, groups, strict=True))
        if n > 0
    ]
    return raws[0] if len(raws) == 1 else az.concat(*raws, dim="chain")


def _sample_kernel(
    gmm: GMMModel,
    run: _Run,
    base_point: dict[str, np.ndarray],
    progressbar: bool,
    target_accept: float | None,
) -> az.InferenceData:
    """nutpie on the compiled kernel (internal units)."""

    spec = gmm.spec
    kernel_spec = spec.kernel
    base = pack(base_point, spec.blocks) if base_point else None

    # nutpie calls this once per chain with that chain's own seed (random 64-bit values,
    # derived from ``seed``). Drawing the jitter from it gives every chain its own start,
    # reproducibly, whatever order the chains' threads start in.
    def initial_point(seed_: int) -> np.ndarray:
        rng = np.random.default_rng(int(seed_))
        if base is None:  # PyMC's "jitter" start: uniform(-1, 1) on the free scale
            return rng.uniform(-1, 1, size=spec.ndim)
        return jitter(base, spec.blocks, rng, 0.05)

    buffer = gmm.kernel_buffer(kernel_spec)
    compiled = _nutpie.kernel_model(buffer, spec.blocks, initial_point)
    with _nutpie.fatal_errors_explained():
        return _run_nutpie(compiled, run, progressbar, target_accept)


def _run_nutpie(
    compiled: Any, run: _Run, progressbar: bool, target_accept: float | None
) -> az.InferenceData:
    import nutpie

    kwargs: dict[str, Any] = {} if target_accept is None else {"target_accept": target_accept}
    if run.low_rank:
        # The posterior correlations a diagonal mass matrix cannot follow: a sparse
        # mixture's alpha with its empty components' log weights (a funnel; alpha's bulk
        # ESS 330-540 of 2000 draws against 29-96, docs/number_of_clusters.md), and a
        # component's weight, mean and sd (7.0 steps per draw against 11.9 at N=10,000).
        kwargs["low_rank_modified_mass_matrix"] = True
    return nutpie.sample(
        compiled,
        draws=run.draws,
        tune=run.tune,
        chains=run.chains,
        seed=run.seed,
        progress_bar=progressbar,
        save_warmup=False,
        **kwargs,
    )


def _sample_nutpie_pymc(
    gmm: GMMModel,
    run: _Run,
    points: list[dict] | None,
    progressbar: bool,
    target_accept: float | None,
) -> az.InferenceData:
    """nutpie on PyMC's graph (models the kernel does not cover: ordered means)."""
    import nutpie

    jax = _installed("jax")
    compiled = nutpie.compile_pymc_model(
        gmm.model,
        backend="jax" if jax else "numba",
        gradient_backend="jax" if jax else "pytensor",
        initial_points=None if points is None else points[0],
    )
    return _run_nutpie(compiled, run, progressbar, target_accept)


def _sample_pymc(
    gmm: GMMModel,
    run: _Run,
    backend: str,
    points: list[dict] | None,
    progressbar: bool,
    target_accept: float | None,
    cores: int | None,
) -> az.InferenceData:
    """``pm.sample``, on PyMC's NUTS or numpyro's."""
    kwargs: dict[str, Any] = {}
    if backend == "numpyro":
        kwargs["nuts_sampler"] = "numpyro"
        kwargs["nuts_sampler_kwargs"] = {"chain_method": "vectorized"}
    else:
        kwargs["cores"] = cores or min(run.chains, 2)
        kwargs["compute_convergence_checks"] = False
    if target_accept is not None:
        kwargs["target_accept"] = target_accept
    with gmm.model:
        return pm.sample(
            draws=run.draws,
            tune=run.tune,
            chains=run.chains,
            random_seed=run.seed,
            initvals=points,
            progressbar=progressbar,
            idata_kwargs={"log_likelihood": False},
            **kwargs,
        )
