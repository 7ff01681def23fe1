"""Hand bayesgmm's compiled kernel to nutpie as a native (GIL-free) model.

The contract, in one place. nutpie samples PyMC models through two C callbacks, a log
density with gradient and an "expand" from the unconstrained vector to the stored
values, plus a ``user_data`` pointer, all held by its dataclass
``nutpie.compile_pymc.CompiledPyMCModel``. ``bayesgmm/bayes/kernel/_kernel.c`` exports both
callbacks
with those exact signatures, so the model is built here from their addresses and the
kernel's data buffer, without PyTensor or numba; nutpie's Rust threads call the kernel
directly, so chains run in parallel. That dataclass is not part of nutpie's documented
API, so :func:`compatible` checks nutpie's version and the dataclass's fields before any
use, and the runners fall back to PyMC's sampler with one warning when they differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from bayesgmm.bayes.kernel import bindings as kernel
from bayesgmm.bayes.model.transforms import Block

__all__ = ["compatible", "fatal_errors_explained", "incompatibility", "kernel_model"]

#: The nutpie minor versions this bridge was written and tested against ([fast] pins it).
SUPPORTED = ((0, 16),)
#: The fields of ``CompiledPyMCModel`` the bridge fills in.
FIELDS = frozenset(
    {
        "dims",
        "compiled_logp_func",
        "compiled_expand_func",
        "initial_point_func",
        "shared_data",
        "user_data",
        "n_expanded",
        "shape_info",
        "logp_func",
        "expand_func",
        "_n_dim",
        "_shapes",
        "_coords",
    }
)


class _Callback(NamedTuple):
    """Stands in for a numba ``CFunc``: nutpie only reads ``address``."""

    address: int


@functools.cache
def incompatibility() -> str:
    """Why the bridge cannot drive the installed nutpie ('' when it can)."""
    try:
        import nutpie
        from nutpie.compile_pymc import CompiledPyMCModel
    except ImportError as exc:
        return f"nutpie is not usable here ({exc})."
    version = tuple(int(part) for part in nutpie.__version__.split(".")[:2])
    fields = {field.name for field in dataclasses.fields(CompiledPyMCModel)}
    if version not in SUPPORTED or not FIELDS <= fields:
        return (
            f"nutpie {nutpie.__version__} is not a version bayesgmm's compiled kernel was "
            f"written for (0.16.x; missing fields: {sorted(FIELDS - fields)}): sampling "
            'with PyMC\'s NUTS instead, which is slower. pip install "bayesgmm[fast]" '
            "installs a supported nutpie."
        )
    return ""


def compatible() -> bool:
    """Whether the installed nutpie has the version and dataclass this bridge fills in."""
    return not incompatibility()


def kernel_model(
    buffer: np.ndarray, blocks: tuple[Block, ...], initial_point: Callable[[int], np.ndarray]
) -> Any:
    """A ``nutpie`` compiled model that evaluates :mod:`bayesgmm.bayes.kernel.bindings`.

    Parameters
    ----------
    buffer : ndarray
        From :func:`bayesgmm.bayes.kernel.bindings.kernel_buffer`; kept alive by the returned model.
    blocks : tuple of Block
        The unconstrained layout (:attr:`bayesgmm.bayes.model.spec.MixtureSpec.blocks`); nutpie
        stores each block's constrained values under its name.
    initial_point : callable
        ``seed -> unconstrained start`` for each chain.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
    """
    from nutpie.compile_pymc import CompiledPyMCModel

    logp_address, expand_address = kernel.nutpie_callbacks()
    names = [block.name for block in blocks]
    shapes = [tuple(block.shape) for block in blocks]
    sizes = [int(np.prod(shape, dtype=int)) for shape in shapes]
    ends = np.cumsum(sizes)
    slices = [slice(int(end - size), int(end)) for size, end in zip(sizes, ends, strict=True)]
    buffer = np.ascontiguousarray(buffer, dtype=np.float64)
    buffer.flags.writeable = False  # the sampler threads read it concurrently
    return CompiledPyMCModel(
        dims={},
        _n_dim=sum(block.size for block in blocks),
        _coords={},
        _shapes=dict(zip(names, shapes, strict=True)),
        compiled_logp_func=_Callback(logp_address),
        compiled_expand_func=_Callback(expand_address),
        initial_point_func=initial_point,
        shared_data={},
        user_data=buffer,
        n_expanded=int(ends[-1]),
        shape_info=(names, slices, shapes),
        logp_func=None,
        expand_func=None,
    )


def _is_fatal_kernel_error(exc: BaseException) -> bool:
    """A negative callback code: nutpie raises it at initialisation and panics mid-run
    (the panic's cleanup can panic again, so the code may sit on ``__context__``).

    nutpie exports no exception types: a Rust panic reaches Python as pyo3's
    ``PanicException`` (a BaseException) and an init failure as a RuntimeError whose text
    holds the code, so the class name and the message are all there is to go on.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "PanicException" or "ErrorCode(-" in str(seen):
            return True
        seen = seen.__context__
    return False


@contextlib.contextmanager
def fatal_errors_explained() -> Iterator[None]:
    """Turn the kernel's fatal error codes, as nutpie raises them, into a clear error."""
    try:
        yield
    except BaseException as exc:  # a Rust panic is a BaseException, not an Exception
        if not _is_fatal_kernel_error(exc):
            raise
        # The kernel reports a fatal code only for a wrong dimension or failed allocation;
        # recoverable trouble (non-finite density or gradient) is a divergence instead.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RuntimeError(
            "nutpie stopped on a fatal error: the compiled kernel reports one only for a "
            "dimension mismatch or no memory for its scratch space. This is a bug in "
            "bayesgmm or nutpie, not in your data; please report it. sampler='pymc' "
            f"avoids both. nutpie said: {first}"
        ) from exc
