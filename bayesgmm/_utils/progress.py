"""Progress bars for the long steps (fits, draws, post-processing).

``rich`` comes with PyMC, whose own samplers draw their bars with it; imported on use, so
that the numpy layers stay light.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["progress_bar"]


@contextlib.contextmanager
def progress_bar(
    description: str, total: int, enabled: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """A callable ``done -> None`` that moves a bar to ``done`` of ``total``; None when off."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)
