"""Type aliases the package's signatures share.

``ArrayLike`` is numpy's (anything ``numpy.asarray`` takes: arrays, lists, pandas
objects); a seed is anything :func:`bayesgmm._utils.validation.check_random_state` takes.
"""

from __future__ import annotations

import os
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ArrayLike", "PathLike", "SeedLike"]

#: A seed: an int, a SeedSequence, a Generator (used as it is), a legacy RandomState or
#: None (fresh entropy).
SeedLike: TypeAlias = (
    int | np.integer | np.random.SeedSequence | np.random.Generator | np.random.RandomState | None
)

#: A file path.
PathLike: TypeAlias = str | os.PathLike[str]
