"""The covariance structures: one registry entry per structure, looked up by name.

Every module that depends on a covariance's shape asks its structure
(:class:`~bayesgmm.mixture.structures.base.CovarianceStructure`) instead of branching on
the ``covariance_type`` string; ``tests/test_structures.py`` searches the package for such
branches outside this folder. A new structure is one entry (a subclass, registered
below), its kernel code (if it has a Bayesian layout) and its tests.
"""

from __future__ import annotations

from bayesgmm.mixture.structures.axes import Diag, Spherical
from bayesgmm.mixture.structures.base import BayesianLayout, CovarianceStructure
from bayesgmm.mixture.structures.matrices import Full, Tied

__all__ = [
    "COVARIANCE_TYPES",
    "BayesianLayout",
    "CovarianceStructure",
    "bayesian_structure",
    "check_covariance_type",
    "get_structure",
    "register",
    "structures",
]

_BY_NAME: dict[str, CovarianceStructure] = {}
_CANONICAL: list[str] = []


def register(structure: CovarianceStructure) -> CovarianceStructure:
    """Add a structure under its name and aliases (names are case-sensitive)."""
    for name in (structure.name, *structure.aliases):
        known = _BY_NAME.get(name)
        if known is not None and known is not structure:
            raise ValueError(f"covariance structure name {name!r} is taken by {known!r}.")
        _BY_NAME[name] = structure
    if structure.name not in _CANONICAL:
        _CANONICAL.append(structure.name)
    return structure


def structures() -> tuple[CovarianceStructure, ...]:
    """Every registered structure, once each."""
    return tuple(_BY_NAME[name] for name in _CANONICAL)


def _accepted() -> str:
    parts = []
    for structure in structures():
        alias = f" ({', '.join(structure.aliases)})" if structure.aliases else ""
        parts.append(f"{structure.name!r}{alias}")
    return ", ".join(parts)


def get_structure(covariance_type: str | CovarianceStructure) -> CovarianceStructure:
    """The structure named ``covariance_type`` (a name or an alias)."""
    if isinstance(covariance_type, CovarianceStructure):
        return covariance_type
    structure = _BY_NAME.get(covariance_type) if isinstance(covariance_type, str) else None
    if structure is None:
        raise ValueError(f"covariance_type must be one of {_accepted()}; got {covariance_type!r}.")
    return structure


def check_covariance_type(covariance_type: str) -> str:
    """Validate a covariance type; returns its canonical name (aliases resolved)."""
    return get_structure(covariance_type).name


def bayesian_structure(covariance_type: str | CovarianceStructure) -> CovarianceStructure:
    """The structure, refusing one that has no Bayesian model (EM only)."""
    structure = get_structure(covariance_type)
    if structure.bayesian is None:
        bayesian = [s.name for s in structures() if s.bayesian is not None]
        raise ValueError(
            f"covariance_type={structure.name!r} is fitted by EM only (GaussianMixtureEM, "
            f"fit_em): the Bayesian model has no prior for it yet. Use one of {bayesian} "
            "for a Bayesian fit."
        )
    return structure


# The entries. A new structure: its class (in this folder) and one line here.
for _structure in (Full(), Tied(), Diag(), Spherical()):
    register(_structure)

#: The canonical names of the entries, in registration order (the CLI's choices).
COVARIANCE_TYPES: tuple[str, ...] = tuple(_CANONICAL)
