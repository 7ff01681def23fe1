"""Deprecated alias of :mod:`bayesgmm.analysis` (and :func:`bayesgmm.compare_k`).

Kept so that ``from bayesgmm.comparison import compare, membership`` keeps working while
the CLI and the plots move to the new paths; new code imports from ``bayesgmm.analysis``.
"""

from bayesgmm.analysis import *  # noqa: F403
from bayesgmm.analysis import __all__ as _analysis_all
from bayesgmm.draws import hdi_columns as hdi
from bayesgmm.selection import compare_k

__all__ = [*_analysis_all, "compare_k", "hdi"]
