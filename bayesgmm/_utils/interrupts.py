"""Ctrl-C during a fit is an interrupt, whatever the libraries underneath do with it.

nutpie, PyMC's samplers, its ADVI and ``find_MAP`` catch ``KeyboardInterrupt`` and return
what they have so far: a fit then went on with a partial trace and failed later with an
unrelated error ("cannot reshape array of size 0", a CollapseError, "Sampler has no
results to take") or, worse, returned as if it had finished. :func:`interrupts_propagated`
records a SIGINT that arrives while its block runs and raises ``KeyboardInterrupt`` when
the block ends, however the block ended.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["interrupts_propagated"]


@contextlib.contextmanager
def interrupts_propagated() -> Iterator[None]:
    """Raise ``KeyboardInterrupt`` after the block if SIGINT arrived during it.

    The handler behaves as Python's default one (it raises ``KeyboardInterrupt`` where
    the main thread is), and remembers that it did. Only Python's default handler is
    replaced, and only from the main thread (the one signals reach); elsewhere the block
    runs as it is.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    except BaseException as exc:
        if received and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc  # the error came from the partial result
        raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:  # a library swallowed it and returned early
        raise KeyboardInterrupt
