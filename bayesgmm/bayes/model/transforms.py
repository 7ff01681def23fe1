"""The unconstrained parametrisation of the mixture, written once for numpy and PyTensor.

Every free parameter of the model lives on the real line in a named block of one flat
vector: the layout NUTS, ADVI and MAP move in, that the compiled kernel
(``bayesgmm/bayes/kernel/_kernel.c``) reads, and that
:func:`bayesgmm.bayes.model.graph.build_model` gives PyMC
(its value variables, checked at build). Each transform takes an array namespace ``xp``
(``numpy`` or ``pytensor.tensor``), as :func:`bayesgmm.mixture.parametrization.cholesky_from_cpc`
does, so the PyMC graph and the numpy packing run the same formulas.

==========  ===============================  ============================================
transform   constrained -> free              inverse, log |Jacobian|
==========  ===============================  ============================================
simplex     log w[:-1] - mean(log w)         softmax of [y, -sum y]  (PyMC's ``simplex``)
identity    x                                x, 0
log         log x                            exp y, y
logodds     log(u / (1 - u))                 sigmoid y, log u + log(1 - u)
ordered     [x0, log(x_i - x_{i-1})]         cumsum of [y0, exp y_i], sum y_i (i > 0)
zerosum     x[:-1] - x[-1] sqrt(D)/(sqrt D   [y, -sum(y)/sqrt(D)] - sum(y)/(sqrt(D) + D), 0
            + D)                             (PyMC's ``ZeroSumTransform``)
==========  ===============================  ============================================
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bayesgmm.mixture.structures import bayesian_structure
from bayesgmm.mixture.structures.orientation import orientation_size

#: Every free variable a mixture model can have, in the layout's order (``alpha`` only in a
#: sparse finite mixture; each structure uses some of them).
FREE_VARIABLES = (
    "alpha",
    "weights",
    "means",
    "stds",
    "volume_sd",
    "log_shape",
    "shape_gaps",
    "orient_free",
    "orient_right",
    "partial_corr_unit",
)

__all__ = [
    "TRANSFORMS",
    "Block",
    "Transform",
    "jitter",
    "layout",
    "log_jacobian",
    "pack",
    "unpack",
]


def _logsumexp(value: Any, xp: Any) -> Any:
    top = xp.max(value, axis=-1, keepdims=True)
    return top + xp.log(xp.sum(xp.exp(value - top), axis=-1, keepdims=True))


def _simplex_forward(value: Any, xp: Any = np) -> Any:
    log_value = xp.log(value)
    return log_value[..., :-1] - xp.mean(log_value, axis=-1, keepdims=True)


def _simplex_backward(free: Any, xp: Any = np) -> Any:
    full = xp.concatenate([free, -xp.sum(free, axis=-1, keepdims=True)], axis=-1)
    shifted = xp.exp(full - xp.max(full, axis=-1, keepdims=True))
    return shifted / xp.sum(shifted, axis=-1, keepdims=True)


def _simplex_log_jac_det(free: Any, xp: Any = np) -> Any:
    # PyMC's formula: log K + K * sum(y) - K * logsumexp([y + sum(y), 0]).
    n = free.shape[-1] + 1
    total = xp.sum(free, axis=-1, keepdims=True)
    expanded = xp.concatenate([free + total, xp.zeros_like(total)], axis=-1)
    out = xp.log(1.0 * n) + n * total - n * _logsumexp(expanded, xp)
    return xp.sum(out, axis=-1)


def _zerosum_forward(value: Any, xp: Any = np) -> Any:
    # PyMC's ZeroSumTransform on the last axis (extend_axis_rev): drop the last entry,
    # after a Householder-type reflection that keeps the map orthonormal.
    n = 1.0 * value.shape[-1]
    root = xp.sqrt(n)
    return value[..., :-1] - value[..., -1:] * root / (root + n)


def _zerosum_backward(free: Any, xp: Any = np) -> Any:
    # PyMC's extend_axis: the D - 1 free values to D values that sum to zero.
    n = 1.0 * (free.shape[-1] + 1)
    root = xp.sqrt(n)
    total = xp.sum(free, axis=-1, keepdims=True)
    norm = total / (root + n)
    return xp.concatenate([free, norm - total / root], axis=-1) - norm


def _zerosum_log_jac_det(free: Any, xp: Any = np) -> Any:
    return xp.sum(0.0 * free, axis=-1)  # an isometry of R^(D-1) onto the zero-sum plane


def _zerosum_log_jac_grad(free: np.ndarray) -> np.ndarray:
    return np.zeros_like(free)  # a constant (zero) log Jacobian


def _sigmoid(free: Any, xp: Any = np) -> Any:
    return 1.0 / (1.0 + xp.exp(-free))


def _logodds_log_jac_det(free: Any, xp: Any = np) -> Any:
    unit = _sigmoid(free, xp)
    return xp.log(unit) + xp.log1p(-unit)  # the kernel's formula (_kernel.c)


def _simplex_log_jac_grad(free: np.ndarray) -> np.ndarray:
    # The log Jacobian is log K + sum_k log w_k (w = softmax([y, -sum y])), so its
    # derivative in y_j is -K (w_j - w_K).
    weights = _simplex_backward(free)
    return -(free.shape[-1] + 1) * (weights[..., :-1] - weights[..., -1:])


def _ordered_log_jac_grad(free: np.ndarray) -> np.ndarray:
    grad = np.ones_like(free)
    grad[..., :1] = 0.0
    return grad


def _ordered_forward(value: Any, xp: Any = np) -> Any:
    return xp.concatenate([value[..., :1], xp.log(value[..., 1:] - value[..., :-1])], axis=-1)


def _ordered_backward(free: Any, xp: Any = np) -> Any:
    steps = xp.concatenate([free[..., :1], xp.exp(free[..., 1:])], axis=-1)
    return xp.cumsum(steps, axis=-1)


def _ordered_log_jac_det(free: Any, xp: Any = np) -> Any:
    return xp.sum(free[..., 1:], axis=-1)


class Transform(NamedTuple):
    """A bijection from a constrained block to the real line, in any namespace ``xp``.

    ``vector`` transforms act on the last axis as a whole and their log Jacobian sums
    over it; the others act element-wise. ``log_jac_grad`` (numpy only) is the gradient
    of the summed log Jacobian in the free values, for an optimiser that must take the
    Jacobian out of the compiled kernel's density (:func:`log_jacobian`).
    """

    name: str
    forward: Any
    backward: Any
    log_jac_det: Any
    vector: bool
    log_jac_grad: Any


TRANSFORMS = {
    "simplex": Transform(
        "simplex",
        _simplex_forward,
        _simplex_backward,
        _simplex_log_jac_det,
        True,
        _simplex_log_jac_grad,
    ),
    "identity": Transform(
        "identity",
        lambda x, xp=np: x,
        lambda y, xp=np: y,
        lambda y, xp=np: 0.0 * y,
        False,
        np.zeros_like,
    ),
    "log": Transform(
        "log",
        lambda x, xp=np: xp.log(x),
        lambda y, xp=np: xp.exp(y),
        lambda y, xp=np: y,
        False,
        np.ones_like,
    ),
    "logodds": Transform(
        "logodds",
        lambda u, xp=np: xp.log(u) - xp.log1p(-u),
        _sigmoid,
        _logodds_log_jac_det,
        False,
        lambda y: 1.0 - 2.0 * _sigmoid(y),  # d/dy [log u + log(1 - u)], u = sigmoid(y)
    ),
    "ordered": Transform(
        "ordered",
        _ordered_forward,
        _ordered_backward,
        _ordered_log_jac_det,
        True,
        _ordered_log_jac_grad,
    ),
    "zerosum": Transform(
        "zerosum",
        _zerosum_forward,
        _zerosum_backward,
        _zerosum_log_jac_det,
        True,
        _zerosum_log_jac_grad,
    ),
}
#: Transforms whose free block has one value fewer on the last axis.
_DROPS_ONE = ("simplex", "zerosum")


class Block(NamedTuple):
    """One model variable's slice of the unconstrained vector.

    ``name`` is the constrained variable, ``shape`` its shape, ``transform`` a key of
    :data:`TRANSFORMS`; PyMC calls the free variable ``value_name``.
    """

    name: str
    shape: tuple[int, ...]
    transform: str

    @property
    def value_name(self) -> str:
        return self.name if self.transform == "identity" else f"{self.name}_{self.transform}__"

    @property
    def size(self) -> int:
        """Length of the free block (a simplex or a zero-sum vector loses one coordinate
        on its last axis)."""
        return int(np.prod(self.free_shape, dtype=int))

    @property
    def free_shape(self) -> tuple[int, ...]:
        if self.transform in _DROPS_ONE:
            return (*self.shape[:-1], self.shape[-1] - 1)
        return self.shape


def layout(
    covariance_type: str,
    n_components: int,
    n_features: int,
    ordered: int | None = None,
    *,
    sparse: bool = False,
) -> tuple[Block, ...]:
    """The blocks of the unconstrained vector, in PyMC's ``model.value_vars`` order.

    ``ordered`` is the index of a feature whose means are constrained increasing.
    ``sparse``: the Dirichlet concentration ``alpha`` is a free (scalar, log-transformed)
    parameter; the model creates it before the weights, so its block comes first.
    """
    k, d = n_components, n_features
    blocks = [Block("alpha", (), "log")] if sparse else []
    blocks.append(Block("weights", (k,), "simplex"))
    if ordered is None:
        blocks.append(Block("means", (k, d), "identity"))
    else:
        blocks.append(Block("means_ordered", (k,), "ordered"))
        if d > 1:
            blocks.append(Block("means_other", (k, d - 1), "identity"))
    structure = bayesian_structure(covariance_type, d).bayesian
    if structure.oriented:  # sqrt(lambda), the shape's gaps, the orientation vectors
        free, right = orientation_size(d)
        blocks.append(Block("volume_sd", structure.volume_shape(k), "log"))
        blocks.append(Block("shape_gaps", (d - 1,), "log"))
        blocks.append(Block("orient_free", (k, free), "identity"))
        if right:
            blocks.append(Block("orient_right", (k, right), "identity"))
        return tuple(blocks)
    if not structure.has_volume:
        blocks.append(Block("stds", structure.std_shape(k, d), "log"))
    else:  # sqrt(lambda) and the log shape, zero-sum over the features
        blocks.append(Block("volume_sd", structure.volume_shape(k), "log"))
        if d > 1:
            blocks.append(Block("log_shape", structure.std_shape(k, d), "zerosum"))
    n_pairs = d * (d - 1) // 2
    if structure.correlated and n_pairs:
        blocks.append(Block("partial_corr_unit", structure.corr_shape(k, n_pairs), "logodds"))
    return tuple(blocks)


def unpack(theta: np.ndarray, blocks: tuple[Block, ...]) -> dict[str, np.ndarray]:
    """Constrained parameters from unconstrained vectors (leading axes are batch axes)."""
    theta = np.asarray(theta, dtype=np.float64)
    batch = theta.shape[:-1]
    out, offset = {}, 0
    for block in blocks:
        free = theta[..., offset : offset + block.size].reshape((*batch, *block.free_shape))
        out[block.name] = np.array(TRANSFORMS[block.transform].backward(free, np))
        offset += block.size
    return out


def pack(params: dict[str, Any], blocks: tuple[Block, ...]) -> np.ndarray:
    """Inverse of :func:`unpack`; leading axes beyond a block's shape are batch axes."""
    parts = []
    for block in blocks:
        value = np.asarray(params[block.name], dtype=np.float64)
        batch = value.shape[: value.ndim - len(block.shape)]
        free = TRANSFORMS[block.transform].forward(value, np)
        parts.append(np.asarray(free).reshape(*batch, block.size))
    return np.concatenate(parts, axis=-1)


def log_jacobian(theta: np.ndarray, blocks: tuple[Block, ...]) -> tuple[float, np.ndarray]:
    """The log |Jacobian| of :func:`unpack` at one free vector, and its gradient.

    PyMC's log density of the free values adds this term (``jacobian=True``, what NUTS
    and the compiled kernel evaluate); ``pm.find_MAP`` leaves it out, so that the mode is
    the constrained parameters' (:mod:`bayesgmm.bayes.inference.map`).
    """
    theta = np.asarray(theta, dtype=np.float64)
    value, grads, offset = 0.0, [], 0
    for block in blocks:
        free = theta[offset : offset + block.size].reshape(block.free_shape)
        transform = TRANSFORMS[block.transform]
        value += float(np.sum(transform.log_jac_det(free, np)))
        grads.append(np.asarray(transform.log_jac_grad(free), dtype=np.float64).ravel())
        offset += block.size
    return value, np.concatenate(grads) if grads else np.zeros(0)


def jitter(
    theta: np.ndarray, blocks: tuple[Block, ...], rng: np.random.Generator, scale: float
) -> np.ndarray:
    """A random start near ``theta``: normal noise on the free scale of every block.

    Location blocks (means) move by a tenth of ``scale``, in the model's internal units
    (sd ~ 1), so that chains do not leave the mode they start in.
    """
    noise = []
    for block in blocks:
        step = 0.1 * scale if block.name.startswith("means") else scale
        noise.append(step * rng.standard_normal(block.size))
    return np.asarray(theta, dtype=np.float64) + np.concatenate(noise)
