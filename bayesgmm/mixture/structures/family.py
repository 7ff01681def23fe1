"""mclust's family of covariance structures, one entry per structure.

Celeux & Govaert (1995) write a component covariance as
``Sigma_k = lambda_k D_k A_k D_k^T``: the volume ``lambda_k = |Sigma_k|^(1/D)``, the shape
``A_k`` (diagonal, ``det A_k = 1``) and the orientation ``D_k`` (orthogonal). Each of the
three is Equal across components, Variable, or the Identity (shape and orientation only),
and mclust names a structure by the three letters: ``VEV`` has variable volume, equal
shape and variable orientation.

Every structure here stores its covariances as full matrices (K, D, D), so that the
full-covariance E-step, precision Cholesky and densities apply unchanged; a structure is
its M-step, its parameter count and the fewest points a component needs. The EM of the
package uses these entries for the ten structures that are not among its four original
covariance types (``full`` = VVV, ``tied`` = EEE, ``diag`` = VVI, ``spherical`` = VII keep
their own layouts and code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bayesgmm._validation import MCLUST_STRUCTURES
from bayesgmm.mixture.structures import closed_form, iterative

__all__ = [
    "STRUCTURES",
    "Structure",
    "covariance_objective",
    "is_structure",
    "structure",
]

MStep = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]

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


@dataclass(frozen=True)
class Structure:
    """One covariance structure ``lambda_k D_k A_k D_k^T``.

    Attributes
    ----------
    name : str
        mclust's name, volume / shape / orientation letters (``"VEV"``).
    fit : callable
        ``fit(nk, scatter, previous) -> covariances``: the M-step without regularisation
        (see :meth:`m_step`).
    """

    name: str
    fit: MStep

    @property
    def volume(self) -> str:
        return self.name[0]

    @property
    def shape(self) -> str:
        return self.name[1]

    @property
    def orientation(self) -> str:
        return self.name[2]

    def n_covariance_parameters(self, n_components: int, n_features: int) -> int:
        """Free covariance parameters (mclust's ``nVarParams``): one per volume, ``D - 1``
        per shape, ``D (D - 1) / 2`` per orientation."""
        return sum(
            int(_PARAMETERS[(part, letter)](n_components, n_features))
            for part, letter in zip(("volume", "shape", "orientation"), self.name, strict=True)
        )

    def min_component_count(self, n_features: int) -> int:
        """Fewest points under which a component's covariance is singular: ``D + 1`` for a
        component with its own volume, shape and orientation (EVV, VVV), 1 when only its
        orientation is its own or nothing is (EII, EEI, EEE, EEV), 2 otherwise."""
        if self.shape == "V" and self.orientation == "V":
            return n_features + 1
        if self.volume == "E" and self.shape != "V":
            return 1
        return 2

    def m_step(
        self,
        nk: np.ndarray,
        scatter: np.ndarray,
        *,
        reg_covar: float = 0.0,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances (K, D, D) maximising the expected complete-data log-likelihood.

        Parameters
        ----------
        nk : ndarray of shape (K,)
            Summed responsibilities.
        scatter : ndarray of shape (K, D, D)
            Within-component scatter ``W_k = sum_n g_nk (x_n - xbar_k)(x_n - xbar_k)^T``.
        reg_covar : float
            ``n_k reg_covar I`` is added to ``W_k`` first, which for VVV, EEE, VVI, VII
            and EII adds ``reg_covar`` to the diagonal, as the other covariance types do,
            and keeps the result inside the structure for all.
        previous : ndarray of shape (K, D, D), optional
            The covariances of the last iteration: the iterative M-steps start there.
        """
        n_features = scatter.shape[-1]
        scatter = 0.5 * (scatter + np.swapaxes(scatter, -1, -2))
        if reg_covar:
            scatter = scatter + (reg_covar * nk)[:, None, None] * np.eye(n_features)
        covariances = self.fit(nk, scatter, previous)
        return 0.5 * (covariances + np.swapaxes(covariances, -1, -2))


STRUCTURES: dict[str, Structure] = {
    name: Structure(name, getattr(closed_form, f"m_step_{name.lower()}", None)
                    or getattr(iterative, f"m_step_{name.lower()}"))
    for name in MCLUST_STRUCTURES
}  # fmt: skip


def is_structure(covariance_type: str) -> bool:
    """Whether ``covariance_type`` is one of the ten structures stored as full matrices
    (not one of the four original types)."""
    return covariance_type in STRUCTURES and covariance_type not in ("VVV", "EEE", "VVI", "VII")


def structure(covariance_type: str) -> Structure:
    """The entry of an mclust name; the four original types by their mclust names."""
    aliases = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}
    return STRUCTURES[aliases.get(covariance_type, covariance_type)]


def covariance_objective(nk: np.ndarray, scatter: np.ndarray, covariances: np.ndarray) -> float:
    """``-1/2 sum_k [n_k log|Sigma_k| + tr(Sigma_k^-1 W_k)]``: the part of the expected
    complete-data log-likelihood that depends on the covariances (the M-step maximises it)."""
    sign, log_det = np.linalg.slogdet(covariances)
    if np.any(sign <= 0):
        return -np.inf
    traces = np.einsum("kde,ked->k", np.linalg.inv(covariances), scatter)
    return float(-0.5 * np.sum(nk * log_det + traces))
