"""Plot files of the commands: pyplot on the Agg backend, one file per plot, skip on error."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bayesgmm.cli._common import (
    PLOT_INSTALL_HINT,
)
from bayesgmm.cli._outputs import write_output

if TYPE_CHECKING:
    from types import ModuleType

    from numpy.typing import ArrayLike

    from bayesgmm.analysis.comparison import ComparisonTable
    from bayesgmm.posterior.mixture import Fit, PosteriorFit


class _Writer:
    """Writes files into a folder (or nowhere) and remembers them.

    ``names`` are the files the command declared (and checked against existing files and
    inputs before it began); each is written whole (:func:`write_output`).
    """

    def __init__(self, out_dir: Path | None, names: Sequence[str]) -> None:
        self.out_dir = out_dir
        self.names = tuple(names)
        self.files: list[Path] = []

    def __call__(self, name: str, writer: Callable[[Path], None]) -> None:
        if self.out_dir is None:
            return
        if name not in self.names:  # would escape the --force check: a bug
            raise RuntimeError(f"{name} is not among the declared outputs {self.names}.")
        self.files.append(write_output(self.out_dir / name, writer))


def _import_pyplot(stream: TextIO) -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or None (with the install hint printed)."""
    try:
        import matplotlib
    except ImportError:
        print(
            f"matplotlib is not installed; skipping the plots ({PLOT_INSTALL_HINT}).", file=stream
        )
        return None
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # files only: no window, works without a display
    import matplotlib.pyplot as plt

    return plt


def _draw_plots(
    plt: ModuleType,
    specs: Sequence[tuple[str, Callable[[], Any]]],
    write: Callable[[str, Callable[[Path], None]], None],
    stream: TextIO,
) -> None:
    """Draw every ``(file name, draw)`` spec and save it through ``write``.

    ``draw()`` returns the Axes (or an array of them); their figure is saved and closed. A
    plot that cannot be drawn for these data (a ``ValueError`` or ``TypeError`` from
    :mod:`bayesgmm.plotting`) is reported and skipped, so that one plot does not lose the
    others.
    """
    import numpy as np

    for name, draw in specs:

        def save(path: Path, draw: Callable[[], Any] = draw) -> None:
            axes = draw()
            figure = np.ravel(np.asarray(axes, dtype=object))[0].figure
            try:
                figure.savefig(path, dpi=110)
            finally:
                plt.close(figure)

        try:
            write(name, save)
        except (ValueError, TypeError) as exc:
            plt.close("all")
            print(f"skipped {name}: {exc}", file=stream)


def _density_pair(
    plt: ModuleType,
    data: ArrayLike,
    em_fit: Fit,
    bayes: PosteriorFit,
    features: Sequence[int | str] = (0, 1),
) -> Any:
    """EM density (left) and posterior predictive density (right), on one figure."""
    from bayesgmm.plotting import plot_density

    _, axes = plt.subplots(1, 2, figsize=(11.0, 4.5), layout="constrained", sharey=True)
    plot_density(data, em_fit, features=features, ax=axes[0])
    axes[0].set_title("EM (maximum likelihood) density")
    plot_density(data, bayes, features=features, ax=axes[1])
    axes[1].set_title("Posterior predictive density")
    return axes


def _plot_comparison(table: ComparisonTable) -> Any:
    from bayesgmm.plotting import plot_comparison

    return plot_comparison(table)
