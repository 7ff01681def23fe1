"""Exceptions and warnings raised by bayesgmm."""

from __future__ import annotations

__all__ = [
    "BayesGMMError",
    "CollapseError",
    "ConvergenceWarning",
    "DataFileError",
    "DataPrecisionWarning",
    "DegenerateComponentWarning",
    "EditedModelWarning",
    "FitFileError",
    "FitFileNotFoundError",
    "LabelSwitchingWarning",
    "MultimodalPosteriorWarning",
    "NotFittedError",
]


class BayesGMMError(Exception):
    """Base class of the package's own errors."""


class CollapseError(BayesGMMError, ValueError):
    """A component collapsed so far that no finite fit exists (singular covariance)."""


class NotFittedError(BayesGMMError, ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``."""


class FitFileError(BayesGMMError, ValueError):
    """A fit file that is not one bayesgmm wrote, or that was damaged or altered since."""


class FitFileNotFoundError(FitFileError, FileNotFoundError):
    """The fit file to read does not exist (a FileNotFoundError too, as for ``open``)."""


class DataFileError(BayesGMMError, ValueError):
    """A data file (CSV) that cannot be read as the numeric table the user meant."""


class DegenerateComponentWarning(UserWarning):
    """A component collapsed onto a few points or onto a lower-dimensional subspace."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at its iteration limit before meeting its tolerance."""


class LabelSwitchingWarning(UserWarning):
    """Posterior draws still switch labels between or within chains."""


class MultimodalPosteriorWarning(UserWarning):
    """The chains found different solutions (label-invariant disagreement): modes of the
    posterior that no relabeling joins. Not label switching."""


class DataPrecisionWarning(UserWarning):
    """float64 cannot resolve a feature's variation (values far from the origin)."""


class EditedModelWarning(UserWarning):
    """The PyMC model differs from the one ``build_model`` wrote (a potential, a prior,
    a variable added): it is fitted on its PyMC graph, not on the compiled kernel."""
