"""A compiled log density and gradient of the Bayesian GMM, for nutpie and ADVI.

PyTensor evaluates the model graph op by op: about 200 ops, so 100-250 microseconds per
gradient on Old Faithful whatever the backend. NUTS needs ~50,000 gradients for
2 chains x 2000 iterations, and that overhead, not the arithmetic, dominated the run time.
``bayesgmm/bayes/kernel/_kernel.c`` evaluates the *same* density (the same transforms, priors and
parameter order as :func:`bayesgmm.bayes.model.graph.build_model`, checked against PyMC's own
``compile_logp`` / ``compile_dlogp`` in the tests) in one pass with a hand-written reverse
pass. It is compiled when the package is installed, not at first use (a numba version
spent 3-5 s compiling on a first run), and nutpie calls it through a C function pointer,
so chains run in parallel threads without the GIL. This module holds the Python side:
flattening the priors, packing the data buffer and the ctypes bindings.

Unconstrained vector layout (PyMC's ``model.value_vars`` order):
``alpha_log__`` (1, sparse finite mixtures only), ``weights_simplex__`` (K-1),
``means`` (K*D), ``stds_log__`` (n_std), ``partial_corr_unit_logodds__``
(n_cpc: K*P full, P tied, 0 otherwise). EEV and VEV (codes 10, 11): ``volume_sd_log__``
and ``shape_gaps_log__`` in the sd block (n_std = n_vol + D - 1), ``orient_free`` (and
``orient_right``, D = 4) in the CPC block (n_cpc = K*m [+ K*4]), raw.
"""

from __future__ import annotations

import ctypes
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from bayesgmm.bayes.model import transforms
from bayesgmm.bayes.model.priors import STD_FAMILIES, GMMPriors
from bayesgmm.mixture.parametrization import corr_pairs, cpc_beta_parameters
from bayesgmm.mixture.structures import bayesian_structure, structures
from bayesgmm.mixture.structures.orientation import orientation_size

__all__ = [
    "HEADER",
    "KernelSpec",
    "available",
    "blocks",
    "data_views",
    "digamma",
    "expand",
    "kernel_buffer",
    "kernel_spec",
    "logp_and_grad",
    "nutpie_callbacks",
    "pack",
    "pointwise_log_likelihood",
    "unpack",
]

#: The C kernel's ``cov_type`` code of every structure it implements (its ``switch``).
COV_CODES = {s.name: s.kernel_code for s in structures() if s.kernel_code is not None}


class KernelSpec(NamedTuple):
    """Everything the compiled kernel needs besides the data and the position."""

    cov_code: int
    n_components: int
    n_features: int
    alpha: float
    mean_loc: np.ndarray
    mean_scale: np.ndarray
    std_family: int
    std_p1: np.ndarray  # per free sd: mu (lognormal), alpha (gamma, invgamma), sigma (halfnormal)
    std_p2: np.ndarray  # per free sd: sigma (lognormal), beta (gamma, invgamma), unused
    cpc_beta: np.ndarray  # per free CPC
    n_std: int
    n_cpc: int
    alpha_prior: int = 0  # 0: alpha fixed; 1: alpha ~ Gamma(alpha_a, alpha_b) (shape, rate)
    alpha_a: float = 0.0
    alpha_b: float = 0.0

    @property
    def ndim(self) -> int:
        """Length of the unconstrained vector."""
        k, d = self.n_components, self.n_features
        return int(self.alpha_prior != 0) + (k - 1) + k * d + self.n_std + self.n_cpc


def kernel_spec(
    priors: GMMPriors, n_components: int, n_features: int, covariance_type: str
) -> KernelSpec:
    """Flatten resolved priors into the kernel's arrays (as
    ``bayes.model.variables._std_prior`` reads them)."""
    if not priors.is_resolved:
        raise ValueError("priors must be resolved (GMMPriors.resolve) first.")
    k, d = n_components, n_features
    structure = bayesian_structure(covariance_type)
    if structure.kernel_code is None:
        raise ValueError(
            f"covariance_type={structure.name!r} has no compiled kernel: fit it with "
            "sampler='pymc' (or 'numpyro')."
        )
    layout = structure.bayesian
    family = priors.std_family
    p1, p2 = _std_prior_arrays(priors, layout, k, d)
    n_std = p1.size
    n_pairs = len(corr_pairs(d))
    n_cpc = int(np.prod(layout.corr_shape(k, n_pairs))) if layout.correlated else 0
    beta = cpc_beta_parameters(d, float(priors.eta))
    cpc_beta = np.tile(beta, k) if layout.per_component_corr else beta.copy()
    if layout.oriented:  # the orientation vectors: no beta parameters (zeros)
        n_cpc = k * sum(orientation_size(d))
        cpc_beta = np.zeros(n_cpc)
    hyper = priors.alpha_gamma
    return KernelSpec(
        structure.kernel_code,
        k,
        d,
        float(priors.alpha),
        np.asarray(priors.mean_loc, dtype=np.float64),
        np.asarray(priors.mean_scale, dtype=np.float64),
        STD_FAMILIES.index(family),
        p1,
        p2,
        cpc_beta[:n_cpc] if n_cpc else np.zeros(0),
        n_std,
        n_cpc,
        *((0, 0.0, 0.0) if hyper is None else (1, *hyper)),
    )


def _std_prior_arrays(
    priors: GMMPriors, layout: Any, n_components: int, n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """The sd prior's two parameters per free value of the kernel's sd block.

    Free sds: per feature, repeated as the layout lays them out. A volume-shape layout:
    the pooled sd prior once per volume (``sqrt(lambda)``), then ``sigma = std_spread``
    (and 0) per free value of the zero-sum log shape (D - 1 per shape). An oriented
    layout (EEV, VEV; codes 10, 11): the volumes, then its D - 1 gaps with
    ``std_p1 = [sigma, 0, ...]`` and ``std_p2`` zeros.
    """
    first, second = {
        "lognormal": ("mu", "sigma"),
        "gamma": ("alpha", "beta"),
        "inversegamma": ("alpha", "beta"),
        "halfnormal": ("sigma", "sigma"),
    }[priors.std_family]
    if not layout.has_volume:
        params = priors.std_parameters(pooled=layout.pooled)
        return tuple(
            layout.broadcast_std_parameter(np.asarray(params[name], dtype=np.float64), n_components)
            for name in (first, second)
        )
    params = priors.std_parameters(pooled=True)
    n_volume = int(np.prod(layout.volume_shape(n_components), dtype=int))
    n_shape = int(np.prod(layout.std_shape(n_components, n_features - 1), dtype=int))
    spread = np.full(n_shape, float(priors.std_spread))
    if layout.oriented:  # the D - 1 gaps: sigma once, then zeros (unused)
        spread = np.zeros(n_features - 1)
        spread[0] = float(priors.std_spread)
    return (
        np.concatenate([np.repeat(np.asarray(params[first], dtype=np.float64), n_volume), spread]),
        np.concatenate(
            [np.repeat(np.asarray(params[second], dtype=np.float64), n_volume), 0 * spread]
        ),
    )


# ---------------------------------------------------------------------------------------
# The compiled kernel (bayesgmm/bayes/kernel/_kernel.c, built when the package is installed)
# ---------------------------------------------------------------------------------------

# Layout of the float64 buffer that carries the data and the priors into the kernel (one
# flat array, so that a C callback receives it as a single pointer): header
# [n_samples, n_features, n_components, cov_code, std_family, n_std, n_cpc, alpha,
# buffer length, has_weights, has_labels, alpha_prior, alpha_a, alpha_b, n_patterns,
# n_complete] (alpha_prior 1 for alpha ~ Gamma(alpha_a, alpha_b), shape and rate, else 0
# and alpha fixed), then mean_loc (D), mean_scale (D), std_p1 (n_std), std_p2 (n_std),
# cpc_beta (n_cpc) and X feature-major (D * N), so that the kernel's loops over points
# read contiguous memory and vectorise; then the observation weights (N) if has_weights,
# and the partial labels (N, -1 unknown) if has_labels.
# Missing values (bayes/_kernel_missing.h): without NaN, n_patterns = n_complete = 0 and
# nothing else changes. With NaN, the rows (of X, the weights and the labels) are sorted
# by missingness pattern, the n_complete complete rows first, NaN replaced by 0; then come
# the row order (N: the user's index of each buffer row) and, per incomplete pattern
# (n_patterns of them), [first row, number of rows, observed mask (D, 1.0 / 0.0)].
HEADER = 16
PATTERN_SLOT = 14  # n_patterns, then n_complete

_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The compiled kernel's shared library, or None when it was not built."""
    try:
        from bayesgmm.bayes.kernel import _kernel
    except ImportError:
        return None
    lib = ctypes.CDLL(_kernel.__file__)
    lib.bgmm_logp_grad.restype = ctypes.c_double
    lib.bgmm_logp_grad.argtypes = [_DOUBLE_P, _DOUBLE_P, _DOUBLE_P, _DOUBLE_P]
    lib.bgmm_expand.restype = None
    lib.bgmm_expand.argtypes = [_DOUBLE_P, _DOUBLE_P, _DOUBLE_P]
    lib.bgmm_digamma.restype = ctypes.c_double
    lib.bgmm_digamma.argtypes = [ctypes.c_double]
    return lib


def available() -> bool:
    """Whether the compiled kernel was built (it needs a C compiler at install time)."""
    return _library() is not None


def _require() -> ctypes.CDLL:
    lib = _library()
    if lib is None:
        raise ImportError(
            "bayesgmm's compiled kernel (bayesgmm.bayes.kernel._kernel) is not built: "
            "reinstall bayesgmm where a C compiler is available, "
            "or use sampler='pymc' / engine='pymc'."
        )
    return lib


def nutpie_callbacks() -> tuple[int, int]:
    """Addresses of the C log-density and expand callbacks in nutpie's calling convention.

    Both take the data buffer of :func:`kernel_buffer` as their ``user_data`` pointer.
    """
    lib = _require()
    return (
        ctypes.cast(lib.bgmm_nutpie_logp, ctypes.c_void_p).value,
        ctypes.cast(lib.bgmm_nutpie_expand, ctypes.c_void_p).value,
    )


def kernel_buffer(
    X: np.ndarray,
    spec: KernelSpec,
    sample_weight: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Pack the data and the priors into the kernel's flat float64 buffer.

    ``sample_weight`` (N,) multiplies each point's log-likelihood term (a power
    likelihood); ``labels`` (N,) fixes a point's component (``-1``: unknown). Both are
    checked by :mod:`bayesgmm.mixture.observations`; without them the buffer is the one the
    kernel always read. NaN in ``X`` are missing values, marginalised out of their row's
    term (the rows are grouped by missingness pattern in the buffer; the kernel's
    pointwise output stays in the order of ``X``).
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if d != spec.n_features:
        raise ValueError(f"X has {d} features; the kernel was built for {spec.n_features}.")
    extras = [np.asarray(e, dtype=np.float64) for e in (sample_weight, labels) if e is not None]
    if any(extra.shape != (n,) for extra in extras):
        raise ValueError(f"weights and labels need one entry per row of X ({n}).")
    table, patterns = _pattern_section(X)
    if table.size:  # rows sorted by pattern, NaN to 0 (the kernel masks them)
        order = table[:n].astype(np.int64)
        X = np.nan_to_num(X[order], nan=0.0)
        extras = [extra[order] for extra in extras]
    body = [spec.mean_loc, spec.mean_scale, spec.std_p1, spec.std_p2, spec.cpc_beta, X.T.ravel()]
    body += [*extras, table]
    length = HEADER + sum(part.size for part in body)
    counts = (n, d, spec.n_components, spec.cov_code, spec.std_family, spec.n_std, spec.n_cpc)
    flags = (float(sample_weight is not None), float(labels is not None))
    alpha = (spec.alpha_prior, spec.alpha_a, spec.alpha_b)
    header = np.array([*counts, spec.alpha, length, *flags, *alpha, *patterns], dtype=np.float64)
    return np.ascontiguousarray(np.concatenate([header, *body]))


def _pattern_section(X: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The buffer's missing-value section (row order, then per incomplete pattern its
    first row, its row count and its observed mask) and (n_patterns, n_complete); empty
    and (0, 0) without NaN."""
    nan = np.isnan(X)
    if not nan.any():
        return np.zeros(0), (0, 0)
    # Vectorised (a minibatch packs one buffer per step, with up to one pattern per row),
    # on one integer code per row where D allows (np.unique over rows is 15x slower); the
    # sorted codes put the all-observed mask (code 0), when present, first.
    d = X.shape[1]
    if d <= 62:
        bits = np.left_shift(1, np.arange(d, dtype=np.int64))
        codes, inverse, counts = np.unique(nan @ bits, return_inverse=True, return_counts=True)
        masks = (codes[:, None] & bits) != 0
    else:
        masks, inverse, counts = np.unique(nan, axis=0, return_inverse=True, return_counts=True)
    order = np.argsort(inverse.ravel(), kind="stable")  # rows by pattern, increasing within
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    skip = int(not masks[0].any())  # the complete rows take the ordinary path
    n_complete = int(counts[0]) if skip else 0
    rows = np.column_stack([first, counts, ~masks])[skip:].astype(np.float64)
    table = np.concatenate([order.astype(np.float64), rows.ravel()])
    return table, (rows.shape[0], n_complete)


def data_views(buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Writable views of a buffer's X (D, N; feature-major), weights and labels (N,).

    The minibatch density refills them in place; ``None`` for what the buffer lacks. A
    buffer of data with missing values has its rows sorted by pattern, so that refilling
    them would break its pattern table: it has no such views.
    """
    n, d = int(buffer[0]), int(buffer[1])
    if buffer[PATTERN_SLOT] != 0:
        raise ValueError("a buffer of data with missing values cannot be refilled in place.")
    start = HEADER + 2 * d + 2 * int(buffer[5]) + int(buffer[6])
    X = buffer[start : start + d * n].reshape(d, n)
    rest = start + d * n
    weights = buffer[rest : rest + n] if buffer[9] != 0 else None
    rest += n if weights is not None else 0
    labels = buffer[rest : rest + n] if buffer[10] != 0 else None
    return X, weights, labels


def _ndim(buffer: np.ndarray) -> int:
    k, d = int(buffer[2]), int(buffer[1])
    return int(buffer[11] != 0) + (k - 1) + k * d + int(buffer[5]) + int(buffer[6])


def _checked(array: np.ndarray, size: int, name: str) -> np.ndarray:
    # The C code trusts its pointers: check dtype, layout and length here, once per call.
    if array.dtype != np.float64 or not array.flags.c_contiguous or array.shape != (size,):
        raise ValueError(f"{name} must be a C-contiguous float64 vector of length {size}.")
    return array


def logp_and_grad(
    theta: np.ndarray, buffer: np.ndarray, pointwise: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Log density (with Jacobians) and gradient at an unconstrained position.

    Parameters
    ----------
    theta : ndarray
        Unconstrained position, in the layout described at the top of this module.
    buffer : ndarray
        From :func:`kernel_buffer`.
    pointwise : ndarray, optional
        Receives each point's marginal log-likelihood.

    Returns
    -------
    logp : float
        ``-inf`` where a transform rounds to its boundary (far in the tails).
    grad : ndarray
    """
    lib = _require()
    n_dim = _ndim(buffer)
    theta = _checked(np.ascontiguousarray(theta, dtype=np.float64), n_dim, "theta")
    _checked(buffer, int(buffer[8]), "buffer")
    grad = np.empty(n_dim)
    out = None
    if pointwise is not None:
        out = _checked(pointwise, int(buffer[0]), "pointwise").ctypes.data_as(_DOUBLE_P)
    value = lib.bgmm_logp_grad(
        theta.ctypes.data_as(_DOUBLE_P),
        buffer.ctypes.data_as(_DOUBLE_P),
        grad.ctypes.data_as(_DOUBLE_P),
        out,
    )
    if np.isnan(value):
        raise MemoryError("the compiled kernel could not allocate its scratch memory.")
    return value, grad


def digamma(x: float) -> float:
    """The kernel's digamma (the gradient of the sparse prior in alpha), for the tests."""
    return float(_require().bgmm_digamma(float(x)))


def pointwise_log_likelihood(
    thetas: np.ndarray, buffer: np.ndarray, n_threads: int | None = None
) -> np.ndarray:
    """Marginal log-likelihood of every point under every draw, shape (S, N).

    ``thetas`` (S, ndim) are unconstrained draws (:func:`pack`). Only the forward pass
    runs; draws are split across threads (ctypes releases the GIL while C runs). A draw on
    the boundary of the support, where the kernel reports ``-inf``, gets NaN rows.
    """
    lib = _require()
    n_dim, n_samples = _ndim(buffer), int(buffer[0])
    thetas = np.ascontiguousarray(thetas, dtype=np.float64)
    if thetas.ndim != 2 or thetas.shape[1] != n_dim:
        raise ValueError(f"thetas must have shape (draws, {n_dim}); got {thetas.shape}.")
    _checked(buffer, int(buffer[8]), "buffer")
    out = np.empty((thetas.shape[0], n_samples))
    values = np.empty(thetas.shape[0])
    data = buffer.ctypes.data_as(_DOUBLE_P)

    def run(rows: range) -> None:
        for s in rows:
            values[s] = lib.bgmm_logp_grad(
                thetas[s].ctypes.data_as(_DOUBLE_P), data, None, out[s].ctypes.data_as(_DOUBLE_P)
            )

    n_threads = n_threads or min(os.cpu_count() or 1, 8)
    chunks = [range(i, thetas.shape[0], n_threads) for i in range(n_threads)]
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(run, chunks))
    if np.isnan(values).any():
        raise MemoryError("the compiled kernel could not allocate its scratch memory.")
    out[~np.isfinite(values)] = np.nan
    return out


def expand(theta: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """The flat constrained draw nutpie stores: alpha (sparse only), weights, means, stds,
    partial_corr_unit."""
    lib = _require()
    n_dim = _ndim(buffer)
    theta = _checked(np.ascontiguousarray(theta, dtype=np.float64), n_dim, "theta")
    # The simplex's K - 1 free values expand to K weights, a zero-sum shape's D - 1 to D.
    out = np.empty(sum(int(np.prod(block.shape, dtype=int)) for block in _buffer_blocks(buffer)))
    lib.bgmm_expand(
        theta.ctypes.data_as(_DOUBLE_P),
        _checked(buffer, int(buffer[8]), "buffer").ctypes.data_as(_DOUBLE_P),
        out.ctypes.data_as(_DOUBLE_P),
    )
    return out


# ---------------------------------------------------------------------------------------
# Packing between constrained parameters and the unconstrained vector
# ---------------------------------------------------------------------------------------

COV_NAMES = {code: name for name, code in COV_CODES.items()}


def _buffer_blocks(buffer: np.ndarray) -> tuple[transforms.Block, ...]:
    """The unconstrained layout of a kernel buffer (its header's K, D, code, alpha)."""
    return transforms.layout(
        COV_NAMES[int(buffer[3])], int(buffer[2]), int(buffer[1]), sparse=buffer[11] != 0
    )


def blocks(spec: KernelSpec) -> tuple[transforms.Block, ...]:
    """The kernel's unconstrained layout (:func:`bayesgmm.bayes.model.transforms.layout`)."""
    return transforms.layout(
        COV_NAMES[spec.cov_code],
        spec.n_components,
        spec.n_features,
        sparse=spec.alpha_prior != 0,
    )


def unpack(theta: np.ndarray, spec: KernelSpec) -> dict[str, np.ndarray]:
    """Constrained parameters (the model's variable names) from an unconstrained vector."""
    return transforms.unpack(theta, blocks(spec))


def pack(params: dict[str, Any], spec: KernelSpec) -> np.ndarray:
    """Inverse of :func:`unpack`; leading axes of ``weights`` are batch axes (draws)."""
    return transforms.pack(params, blocks(spec))
