"""mclust's family of covariance structures: one registry entry per structure, built from
a table.

Celeux & Govaert (1995) write a component covariance as
``Sigma_k = lambda_k D_k A_k D_k^T``: the volume ``lambda_k = |Sigma_k|^(1/D)``, the shape
``A_k`` (diagonal, ``det A_k = 1``) and the orientation ``D_k`` (orthogonal). Each of the
three is Equal across components, Variable, or the Identity (shape and orientation only),
and mclust names a structure by the three letters: ``VEV`` has variable volume, equal
shape and variable orientation.

Four of the fourteen are the registry's own classes (``full`` = VVV, ``tied`` = EEE,
``diag`` = VVI, ``spherical`` = VII). The ten others are :class:`MclustStructure` entries
(:data:`MCLUST_ENTRIES`): stored as full matrices (K, D, D), so that the full-covariance
E-step, precision Cholesky and densities apply unchanged; an entry is its M-step (the
maths of :mod:`.closed_form` and :mod:`.iterative`; MAP-EM from :mod:`.conjugate` for
the six to which mclust gives its prior: EII, EEI, VEI, EVI, EEV, VEV), its parameter
count and the fewest points a component needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bayesgmm.mixture.structures import closed_form, conjugate, iterative
from bayesgmm.mixture.structures.axes import Spherical
from bayesgmm.mixture.structures.base import BayesianLayout
from bayesgmm.mixture.structures.scatter import ScatterStructure

__all__ = [
    "MCLUST_ENTRIES",
    "MclustStructure",
    "covariance_objective",
    "mclust_order",
]

MStep = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]

_PARTS = ("volume", "shape", "orientation")
_PARAMETERS = {  # free parameters of each letter, as functions of (K, D)
    ("volume", "E"): lambda k, d: 1,
    ("volume", "V"): lambda k, d: k,
    ("shape", "I"): lambda k, d: 0,
    ("shape", "E"): lambda k, d: d - 1,
    ("shape", "V"): lambda k, d: k * (d - 1),
    ("orientation", "I"): lambda k, d: 0,
    ("orientation", "E"): lambda k, d: d * (d - 1) // 2,
    ("orientation", "V"): lambda k, d: k * d * (d - 1) // 2,
}
_WORDS = {"E": "equal", "V": "variable", "I": "identity"}
# The Bayesian model of an entry: its layout and the compiled kernel's code (its case of
# the C switch). EII is one sd for every component and feature (sigma^2 I); EEI one sd
# per feature shared by the components (a shared diagonal). The others split the volume
# from the shape (BayesianLayout's volume_axes): their volume per component (V) or shared
# (E), their shape's axes, their correlations (none, shared, per component).
_PER_COMPONENT, _SHARED = ("component",), ()
_BAYESIAN: dict[str, tuple[BayesianLayout, int]] = {
    "EII": (BayesianLayout((), None), 4),
    "EEI": (BayesianLayout(("feature",), None), 5),
    "VEI": (BayesianLayout(("feature",), None, _PER_COMPONENT), 6),
    "EVI": (BayesianLayout(("component", "feature"), None, _SHARED), 7),
    "VEE": (BayesianLayout(("feature",), _SHARED, _PER_COMPONENT), 8),
    "EVV": (BayesianLayout(("component", "feature"), _PER_COMPONENT, _SHARED), 9),
    # One shared sorted shape, a rotation per component (orientation.py; 2 <= D <= 4).
    "EEV": (BayesianLayout(("feature",), _PER_COMPONENT, _SHARED, oriented=True), 10),
    "VEV": (BayesianLayout(("feature",), _PER_COMPONENT, _PER_COMPONENT, oriented=True), 11),
}
# The scalar prior scale of mclust's defaultPrior: the spherical entry's, one number.
_SCALAR_PRIOR = Spherical()


def mclust_order(letters: str) -> tuple[int, int, int]:
    """mclust's order of its names (``EII, VII, EEI, ..., EVV, VVV``): by orientation,
    then shape, then volume, each ``I < E < V``."""
    rank = {"I": 0, "E": 1, "V": 2}
    volume, shape, orientation = letters
    return rank[orientation], rank[shape], rank[volume]


class MclustStructure(ScatterStructure):
    """One of mclust's structures stored as full matrices (a row of the family's table).

    Parameters
    ----------
    letters : str
        mclust's name: volume, shape, orientation (``"VEV"``); also the canonical name.
    fit : callable
        ``fit(nk, scatter, previous) -> covariances``: the M-step without regularisation.
    map_fit : callable, optional
        ``map_fit(nk, scatter, between, scale, dof, reg_covar, previous)``: the posterior
        mode under mclust's conjugate prior (scalar scale), regularised by ``reg_covar``
        its own way (inside the structure); ``None``: the entry refuses a prior.
    log_prior_fn : callable, optional
        That prior's log density, ``(covariances, means, mean, shrinkage, scale, dof)``.
    """

    def __init__(
        self,
        letters: str,
        fit: MStep,
        map_fit: Callable[..., np.ndarray] | None = None,
        log_prior_fn: Callable[..., float] | None = None,
    ) -> None:
        self.name = letters
        self.mclust_name = letters
        self.description = (
            ", ".join(
                f"{_WORDS[letter]} {part}" for part, letter in zip(_PARTS, letters, strict=True)
            )
            + " (stored as full matrices)"
        )
        self.fit = fit
        self.map_fit = map_fit
        self.log_prior_fn = log_prior_fn
        self.takes_prior = map_fit is not None
        self.bayesian, self.kernel_code = _BAYESIAN.get(letters, (None, None))

    @property
    def own_orientation(self) -> bool:
        """The orientation is an orthogonal matrix not tied to the shape (EVE, VVE, EEV,
        VEV). EEV and VEV (one per component) have a Bayesian model for D <= 4 (the ring
        parametrisation, :mod:`.orientation`); EVE and VVE (one shared by components of
        different shapes) none that NUTS samples reliably (docs/mclust.md, "The Bayesian
        model")."""
        _, shape, orientation = self.name
        return orientation != "I" and orientation != shape

    def n_covariance_parameters(self, n_components: int, n_features: int) -> int:
        """Free covariance parameters (mclust's ``nVarParams``): one per volume, ``D - 1``
        per shape, ``D (D - 1) / 2`` per orientation."""
        return sum(
            int(_PARAMETERS[(part, letter)](n_components, n_features))
            for part, letter in zip(_PARTS, self.name, strict=True)
        )

    def min_component_count(self, n_features: int) -> int:
        """Fewest points under which a component's covariance is singular: ``D + 1`` when
        it has its own volume, shape and orientation (EVV), 1 when only its orientation
        is its own or nothing is (EII, EEI, EEV), 2 otherwise."""
        volume, shape, orientation = self.name
        if shape == "V" and orientation == "V":
            return n_features + 1
        if volume == "E" and shape != "V":
            return 1
        return 2

    def m_step(
        self,
        nk: np.ndarray,
        means: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        prior: Any,
        previous: np.ndarray | None,
    ) -> np.ndarray:
        """Covariances (K, D, D) maximising the expected complete-data log-likelihood (or
        the log posterior, with ``prior``).

        ``n_k reg_covar I`` is added to ``W_k`` first (maximum likelihood), which for the
        structures with a closed form in the variances adds ``reg_covar`` to the diagonal,
        as the other covariance types do, and keeps the result inside the structure for
        all. ``previous``: the iterative M-steps start there.
        """
        n_features = scatter.shape[-1]
        scatter = 0.5 * (scatter + np.swapaxes(scatter, -1, -2))
        if prior is not None:
            return self._map_step(nk, means, scatter, reg_covar, prior, previous)
        if reg_covar:
            scatter = scatter + (reg_covar * nk)[:, None, None] * np.eye(n_features)
        covariances = self.fit(nk, scatter, previous)
        return 0.5 * (covariances + np.swapaxes(covariances, -1, -2))

    def _map_step(self, nk, x_bar, scatter, reg_covar, prior, previous) -> np.ndarray:
        if self.map_fit is None:
            raise ValueError(self.prior_refusal())
        offset = x_bar - prior.mean
        shrink = prior.shrinkage * nk / (prior.shrinkage + nk)
        between = shrink[:, None, None] * np.einsum("kd,ke->kde", offset, offset)
        scale = float(prior.scale)
        cov = self.map_fit(nk, scatter, between, scale, prior.dof, reg_covar, previous)
        return 0.5 * (cov + np.swapaxes(cov, -1, -2))

    def prior_refusal(self) -> str:
        """Why this entry takes no prior, and which do."""
        with_prior = [name for name, entry in _ENTRY_TABLE.items() if entry[1] is not None]
        return (
            f"MAP-EM (a prior) is not available for covariance_type={self.name!r} yet; it is "
            f"for {', '.join(with_prior)} and VVV, EEE, VVI, VII (full, tied, diag, "
            "spherical); mclust has no prior for EVE, VEE, VVE and EVV either. Fit it "
            "without a prior (prior=None)."
        )

    def rescale(self, covariances: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Covariances (K, D, D) of ``x * scale``, or the prior's scalar scale (one
        common ``scale`` only: a scalar has no image under per-feature scales)."""
        if np.ndim(covariances) > 0:
            return super().rescale(covariances, scale)
        scale = np.asarray(scale, dtype=np.float64)
        if np.any(scale != scale.flat[0]):
            raise ValueError(
                f"the scalar prior scale of covariance_type={self.name!r} moves only with "
                "one common scale for every feature."
            )
        return np.asarray(covariances * scale.flat[0] ** 2)

    # mclust's defaultPrior for these structures: one scale, an inverse-gamma per variance.
    def prior_scale(self, data_cov: np.ndarray, factor: float) -> np.ndarray:
        return _SCALAR_PRIOR.prior_scale(data_cov, factor)

    def prior_scale_shape(self, n_features: int) -> tuple[int, ...]:
        return _SCALAR_PRIOR.prior_scale_shape(n_features)

    def min_prior_dof(self, n_features: int) -> int:
        return _SCALAR_PRIOR.min_prior_dof(n_features)

    def check_prior_scale(self, scale: np.ndarray) -> None:
        _SCALAR_PRIOR.check_prior_scale(scale)

    def log_prior(self, covariances: np.ndarray, means: np.ndarray, prior: Any) -> list[float]:
        if self.log_prior_fn is None:
            raise ValueError(self.prior_refusal())
        scale = float(prior.scale)
        return [
            self.log_prior_fn(covariances, means, prior.mean, prior.shrinkage, scale, prior.dof)
        ]


def _fit_of(letters: str) -> MStep:
    """The M-step function of an mclust name: its closed form, else its iteration."""
    function = f"m_step_{letters.lower()}"
    return getattr(closed_form, function, None) or getattr(iterative, function)


# The table: mclust's name -> (ML M-step, MAP M-step or None, log prior or None).
_ENTRY_TABLE: dict[str, tuple[MStep, Any, Any]] = {
    letters: (_fit_of(letters), *conjugate.CONJUGATE.get(letters, (None, None)))
    for letters in ("EII", "EEI", "VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV")
}

#: The ten entries, registered by :mod:`bayesgmm.mixture.structures`.
MCLUST_ENTRIES: tuple[MclustStructure, ...] = tuple(
    MclustStructure(letters, *row) for letters, row in _ENTRY_TABLE.items()
)


def covariance_objective(nk: np.ndarray, scatter: np.ndarray, covariances: np.ndarray) -> float:
    """``-1/2 sum_k [n_k log|Sigma_k| + tr(Sigma_k^-1 W_k)]``: the part of the expected
    complete-data log-likelihood that depends on the covariances (the M-step maximises it)."""
    sign, log_det = np.linalg.slogdet(covariances)
    if np.any(sign <= 0):
        return -np.inf
    traces = np.einsum("kde,ked->k", np.linalg.inv(covariances), scatter)
    return float(-0.5 * np.sum(nk * log_det + traces))
