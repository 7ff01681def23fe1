"""``save`` and ``load`` of :class:`~bayesgmm.BayesianGMM` (a mixin of the estimator).

The file format (netCDF, the estimator's parameters in the attrs, checked before use) is
:mod:`bayesgmm.io.fit`'s. A fitted estimator also pickles: its class stays
``bayesgmm.estimators.bayesian.BayesianGMM`` and its state is its attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from bayesgmm._utils.types import PathLike

__all__ = ["BayesianPersistenceMixin"]


class BayesianPersistenceMixin:
    """``save`` and ``load`` of a Bayesian estimator."""

    def save(self, path: PathLike) -> None:
        """Write the fit to netCDF; the estimator's parameters go in the attrs."""
        from bayesgmm import io

        self._check_is_fitted()
        io.save_fit(self, path)

    @classmethod
    def load(cls, path: PathLike) -> Self:
        """Read a fit written by :meth:`save`; predictions equal the original's."""
        from bayesgmm import io

        return io.load_fit(cls, path)
