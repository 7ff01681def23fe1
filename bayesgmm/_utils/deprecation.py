"""Renamed arguments: the old name keeps working for one release and warns once.

The public API speaks one vocabulary (``hdi_prob`` for an interval's mass, ``progressbar``,
``max_draws``); an argument renamed into it keeps its old name as a deprecated alias:

    def impute(self, X, *, hdi_prob=0.94, prob=DEPRECATED):
        hdi_prob = renamed("impute", "prob", prob, "hdi_prob", hdi_prob, 0.94)
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["DEPRECATED", "renamed", "warn_renamed"]


#: The default of a deprecated argument ("not given"): a string, as scikit-learn's, so that
#: estimators keep plain defaults (get_params, clone, JSON in saved fits).
DEPRECATED: Any = "deprecated"
_WARNED: set[tuple[str, str]] = set()


def renamed(
    where: str,
    old: str,
    old_value: Any,
    new: str,
    new_value: Any,
    new_default: Any,
    *,
    stacklevel: int = 4,
) -> Any:
    """The value of the argument ``new``, taking the deprecated ``old`` when it was given.

    Warns (``FutureWarning``, the category users see) the first time ``where`` gets
    ``old``; ``new`` given too (not at its default ``new_default``) is a TypeError.
    ``stacklevel`` points the warning at the user's call (4: the caller of the function
    that calls this one).
    """
    if isinstance(old_value, str) and old_value == DEPRECATED:
        return new_value
    if new_value is not new_default and new_value != new_default:
        raise TypeError(f"{where} got both {old!r} and {new!r}; give {new!r} only.")
    warn_renamed(where, old, new, stacklevel=stacklevel)
    return old_value


def warn_renamed(where: str, old: str, new: str, *, stacklevel: int = 3) -> None:
    """Say once per ``(where, old)`` that ``old`` is now called ``new``."""
    if (where, old) in _WARNED:
        return
    _WARNED.add((where, old))
    warnings.warn(
        f"{where}: {old!r} is renamed {new!r}; {old!r} will be removed in the next release.",
        FutureWarning,
        stacklevel=stacklevel,
    )
