"""Hand bayesgmm's compiled kernel to nutpie as a native (GIL-free) model.

nutpie samples PyMC models through two C callbacks, a log density with gradient and an
"expand" from the unconstrained vector to the stored values, plus a ``user_data``
pointer (``nutpie.compile_pymc.CompiledPyMCModel``). ``bayesgmm/_kernel.c`` exports
both callbacks with those exact signatures, so the model is built here from their
addresses and the kernel's data buffer, without PyTensor or numba. Its Rust threads call
the kernel directly, so chains run in parallel. The dataclass is nutpie's own; the
``[fast]`` extra pins the nutpie minor version it was written against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from bayesgmm import kernel

__all__ = ["kernel_model"]


class _Callback(NamedTuple):
    """Stands in for a numba ``CFunc``: nutpie only reads ``address``."""

    address: int


def kernel_model(
    buffer: np.ndarray,
    spec: kernel.KernelSpec,
    initial_point: Callable[[int], np.ndarray],
) -> Any:
    """A ``nutpie`` compiled model that evaluates :mod:`bayesgmm.kernel`.

    Parameters
    ----------
    buffer : ndarray
        From :func:`bayesgmm.kernel.kernel_buffer`; kept alive by the returned model.
    spec : KernelSpec
    initial_point : callable
        ``seed -> unconstrained start`` for each chain.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
    """
    from nutpie.compile_pymc import CompiledPyMCModel

    logp_address, expand_address = kernel.nutpie_callbacks()
    shapes = {name: np.shape(v) for name, v in kernel.unpack(np.zeros(spec.ndim), spec).items()}
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    ends = np.cumsum(sizes)
    slices = [slice(int(end - size), int(end)) for size, end in zip(sizes, ends, strict=True)]
    shape_info = (list(shapes), slices, [tuple(shape) for shape in shapes.values()])
    buffer = np.ascontiguousarray(buffer, dtype=np.float64)
    buffer.flags.writeable = False  # the sampler threads read it concurrently
    return CompiledPyMCModel(
        dims={},
        _n_dim=spec.ndim,
        _coords={},
        _shapes=dict(zip(shape_info[0], shape_info[2], strict=True)),
        compiled_logp_func=_Callback(logp_address),
        compiled_expand_func=_Callback(expand_address),
        initial_point_func=initial_point,
        shared_data={},
        user_data=buffer,
        n_expanded=int(ends[-1]),
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
    )
