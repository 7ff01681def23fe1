"""Advice that agrees with the fit: what a warning recommends, checked against what was set.

A warning that recommends a setting the fit already has (a sparse Dirichlet to a sparse
fit, ``init='em'`` to chains that started there) sends the user in a circle. The
messages of :mod:`.switching` and :mod:`.collapse` build their advice here, from the
settings the posterior records (its model configuration and the sampler's attrs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from bayesgmm.bayes.inference.idata import idata_config

if TYPE_CHECKING:
    import arviz as az

__all__ = ["FitSettings", "fit_settings", "join_options"]


class FitSettings(NamedTuple):
    """The settings of a fit that its warnings' advice depends on.

    Attributes
    ----------
    sparse : bool
        The weights' prior is already sparse: a Dirichlet ``alpha < 1``, or a
        hyperprior on ``alpha`` (``alpha_prior``, a sparse finite mixture).
    init : str or None
        Where the NUTS chains started (``"em"`` or ``"default"``), when recorded.
    std_family : str or None
        The prior family of the standard deviations.
    """

    sparse: bool = False
    init: str | None = None
    std_family: str | None = None


def fit_settings(idata: az.InferenceData) -> FitSettings:
    """The :class:`FitSettings` an InferenceData records (defaults where it records none)."""
    priors = (idata_config(idata) or {}).get("priors") or {}
    alpha = priors.get("alpha")
    sparse = priors.get("alpha_prior") is not None or (alpha is not None and float(alpha) < 1)
    attrs = {**dict(getattr(idata.posterior, "attrs", {})), **dict(idata.attrs or {})}
    init = attrs.get("init")
    return FitSettings(
        sparse=bool(sparse),
        init=None if init is None else str(init),
        std_family=priors.get("std_family"),
    )


def join_options(options: Sequence[str]) -> str:
    """``"a"``, ``"a or b"``, ``"a, b or c"``."""
    options = [o for o in options if o]
    if len(options) <= 1:
        return "".join(options)
    return ", ".join(options[:-1]) + " or " + options[-1]
