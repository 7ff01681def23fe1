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
from bayesgmm.mixture.structures.family import MCLUST_ENTRIES, MclustStructure, mclust_order
from bayesgmm.mixture.structures.matrices import Full, Tied
from bayesgmm.mixture.structures.orientation import MAX_FEATURES

__all__ = [
    "BAYESIAN_COVARIANCE_TYPES",
    "COVARIANCE_NAMES",
    "COVARIANCE_TYPES",
    "BayesianLayout",
    "CovarianceStructure",
    "bayesian_structure",
    "check_covariance_type",
    "get_structure",
    "mclust_family",
    "register",
    "structure_from_model_dims",
    "structure_from_shape",
    "structures",
]

_BY_NAME: dict[str, CovarianceStructure] = {}
_CANONICAL: list[str] = []
_ONE_D: set[str] = set()  # mclust's 1-D names (E, V): accepted for 1-D data only


def register(structure: CovarianceStructure) -> CovarianceStructure:
    """Add a structure under its name, its aliases and its 1-D alias (names are
    case-sensitive)."""
    one_d = (structure.one_d_alias,) if structure.one_d_alias else ()
    _ONE_D.update(one_d)
    for name in (structure.name, *structure.aliases, *one_d):
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
        alias = f" (or {', '.join(map(repr, structure.aliases))})" if structure.aliases else ""
        parts.append(f"{structure.name!r}{alias}")
    one_d = f"; for 1-D data also {', '.join(map(repr, sorted(_ONE_D)))}" if _ONE_D else ""
    return ", ".join(parts) + one_d


def get_structure(covariance_type: str | CovarianceStructure) -> CovarianceStructure:
    """The structure named ``covariance_type`` (a name or an alias)."""
    if isinstance(covariance_type, CovarianceStructure):
        return covariance_type
    structure = _BY_NAME.get(covariance_type) if isinstance(covariance_type, str) else None
    if structure is None:
        raise ValueError(f"covariance_type must be one of {_accepted()}; got {covariance_type!r}.")
    return structure


def check_covariance_type(covariance_type: str, n_features: int | None = None) -> str:
    """Validate a covariance type; returns its canonical name (aliases resolved).

    mclust's 1-D names (``"E"``, ``"V"``) are refused when ``n_features`` is given and is
    not 1.
    """
    structure = get_structure(covariance_type)
    if n_features not in (None, 1) and covariance_type in _ONE_D:
        raise ValueError(
            f"covariance_type={covariance_type!r} is mclust's name for 1-D data, and X has "
            f"{n_features} features: use {covariance_type}II, {covariance_type}EE ... or "
            "full, tied, diag, spherical."
        )
    return structure.name


def mclust_family(n_samples: int | None = None, n_features: int | None = None) -> tuple[str, ...]:
    """mclust's names of the registered structures, in mclust's order (``EII`` ... ``VVV``).

    With the data's size, mclust's default models (its ``mclustBIC`` choice): the
    structures without correlations (orientation ``I``) when ``N <= D``, and the 1-D
    names (``E``, ``V``) for 1-D data.
    """
    if n_features == 1:
        return tuple(sorted(_ONE_D))
    names = sorted((s.mclust_name for s in structures() if s.mclust_name), key=mclust_order)
    if n_samples is not None and n_features is not None and n_samples <= n_features:
        names = [name for name in names if name.endswith("I")]
    return tuple(names)


def bayesian_structure(
    covariance_type: str | CovarianceStructure, n_features: int | None = None
) -> CovarianceStructure:
    """The structure, refusing one that has no Bayesian model (EM only), or none for
    ``n_features`` features (an orientation: 2 <= D <= 4)."""
    structure = get_structure(covariance_type)
    if structure.bayesian is None:
        bayesian = [s.name for s in structures() if s.bayesian is not None]
        raise ValueError(
            f"covariance_type={structure.name!r} is fitted by EM only (GaussianMixtureEM, "
            f"fit_em): {_why_em_only(structure)} Use one of {bayesian} for a Bayesian fit."
        )
    if structure.bayesian.oriented and n_features is not None:
        _check_orientation_features(structure, int(n_features))
    return structure


def _check_orientation_features(structure: CovarianceStructure, n_features: int) -> None:
    if 2 <= n_features <= MAX_FEATURES:
        return
    why = (
        "1-D data have no orientation (mclust's 1-D models are 'E' and 'V')"
        if n_features < 2
        else "its orientation is parametrised by unit quaternions, which cover the "
        f"rotations of at most {MAX_FEATURES} dimensions"
    )
    raise ValueError(
        f"covariance_type={structure.name!r} has a Bayesian model for 2 <= D <= "
        f"{MAX_FEATURES} features only, and X has D={n_features}: {why}. Fit it with EM "
        "(GaussianMixtureEM, fit_em), or use another structure (docs/mclust.md, section "
        "'The Bayesian model')."
    )


def _why_em_only(structure: CovarianceStructure) -> str:
    """The reason a structure has no Bayesian model, for the refusal's message."""
    if isinstance(structure, MclustStructure) and structure.own_orientation:
        return (
            "its orientation (the eigenvectors) is an orthogonal matrix of its own, shared "
            "by components whose shapes differ, and the Bayesian model has no "
            "parametrisation of it that NUTS samples reliably yet (EEV and VEV, one "
            "orientation per component, have one); the evidence is in docs/mclust.md, "
            "section 'The Bayesian model'."
        )
    return "the Bayesian model has no prior for it yet."


def structure_from_shape(
    shape: tuple[int, ...], n_components: int, n_features: int
) -> CovarianceStructure:
    """The structure of a covariance array from its shape alone.

    Structures stored alike (every (K, D, D) one) are one storage; the first registered
    is returned. Raises ValueError when the shape fits none, or fits two storages (a
    (D, D) shared matrix and (K, D) variances when K == D).
    """
    shape = tuple(shape)
    storages: dict[tuple[str, ...], CovarianceStructure] = {}
    for structure in structures():
        if structure.shape(n_components, n_features) == shape:
            storages.setdefault(structure.dims, structure)
    if len(storages) > 1:
        found = " or ".join(f"{s.name!r} {tuple(s.dims)}" for s in storages.values())
        raise ValueError(
            f"covariances of shape {shape} could be {found} because K == D; add "
            "'covariance_type' to the dict."
        )
    if not storages:
        expected = ", ".join(sorted({str(s.shape(n_components, n_features)) for s in structures()}))
        raise ValueError(
            f"covariances have shape {shape}; expected one of {expected} with "
            f"K={n_components}, D={n_features}."
        )
    return next(iter(storages.values()))


def structure_from_model_dims(
    std_dims: set[str], corr_per_component: bool
) -> CovarianceStructure | None:
    """The Bayesian structure whose ``stds`` have ``std_dims`` and whose correlations are
    per component or not (``None`` if none has)."""
    candidates = [
        s for s in structures() if s.bayesian is not None and set(s.bayesian.std_axes) == std_dims
    ]
    for structure in candidates:
        if structure.bayesian.per_component_corr == corr_per_component:
            return structure
    return candidates[0] if candidates else None


# The entries. A new structure: its class (in this folder) and one line here; mclust's ten
# others are rows of family.py's table.
for _structure in (Full(), Tied(), Diag(), Spherical(), *MCLUST_ENTRIES):
    register(_structure)

#: The canonical names of the entries, in registration order (the CLI's choices).
COVARIANCE_TYPES: tuple[str, ...] = tuple(_CANONICAL)
#: Every accepted name: canonical names, aliases and the 1-D names (the EM CLI's choices).
COVARIANCE_NAMES: tuple[str, ...] = tuple(_BY_NAME)
#: Those the Bayesian model has a prior for.
BAYESIAN_COVARIANCE_TYPES: tuple[str, ...] = tuple(
    s.name for s in structures() if s.bayesian is not None
)
