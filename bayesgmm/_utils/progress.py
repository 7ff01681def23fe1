"""Progress bars for the long steps (fits, draws, post-processing).

``rich`` comes with PyMC, whose own samplers draw their bars with it; imported on use, so
that the numpy layers stay light.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["progress_bar"]


def _console() -> Any:
    """rich's console; in Jupyter without ipywidgets, a plain-text one.

    rich's live display in a notebook is an ipywidgets widget: without ipywidgets it only
    warns and shows nothing. A plain console (no terminal, so no redraws and no colour
    codes) prints the bar's final state as text when it stops, which an executed
    notebook keeps in its output.
    """
    from rich.console import Console

    console = Console()
    if console.is_jupyter and importlib.util.find_spec("ipywidgets") is None:
        return Console(force_jupyter=False, force_terminal=False)
    return console


@contextlib.contextmanager
def progress_bar(
    description: str, total: int, enabled: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """A callable ``done -> None`` that moves a bar to ``done`` of ``total``; None when off."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=False, console=_console()) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)
