"""Ctrl-C in a command: remembered, so that it ends the command even when a library swallows it.

nutpie catches the ``KeyboardInterrupt`` of a Ctrl-C during sampling and returns the draws
made so far; the fit may then fail on an empty trace, or even succeed. The handler installed
here records the signal before raising the interrupt as Python's own handler does, so that
:func:`bayesgmm.cli.main` exits 130 and :func:`~bayesgmm.cli._outputs.write_output` writes
nothing once the user has pressed Ctrl-C, whatever happened in between.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: Exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130

_seen = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _seen.set()
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt


@contextlib.contextmanager
def watch_interrupts() -> Iterator[None]:
    """Record Ctrl-C (SIGINT) while the block runs; the previous handler comes back after.

    Outside the main thread (where handlers cannot be set) or when SIGINT is ignored (a
    background job), nothing changes.
    """
    _seen.clear()
    previous = None
    if threading.current_thread() is threading.main_thread():
        current = signal.getsignal(signal.SIGINT)
        if current is not signal.SIG_IGN:
            previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def interrupted() -> bool:
    """Whether Ctrl-C was pressed since :func:`watch_interrupts` began (or a test said so)."""
    return _seen.is_set()


def note_interrupt() -> None:
    """Record an interrupt that arrived as a ``KeyboardInterrupt`` without the signal."""
    _seen.set()
