"""What the scikit-learn-style facades share: parameters, fitted-state and input checks."""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm._utils.interrupts import interrupts_propagated
from bayesgmm._utils.validation import CheckedData, check_data, check_missing
from bayesgmm.exceptions import NotFittedError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["MixtureFacade", "fit_transaction"]


def fit_transaction(fit: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``fit`` all or nothing: a fit that raises (an error, or Ctrl-C at any point:
    validation, compilation, warm-up, sampling, post-processing) leaves the estimator as
    it was before the call, a previous fit's attributes intact, nothing half-set.

    A Ctrl-C that a sampler swallowed is raised as ``KeyboardInterrupt`` all the same
    (:func:`bayesgmm._utils.interrupts.interrupts_propagated`).
    """

    @functools.wraps(fit)
    def transactional(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = dict(self.__dict__)
        try:
            with interrupts_propagated():
                return fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    return transactional


@functools.cache
def _sklearn_compatible_not_fitted_error(sklearn_error: type) -> type:
    return type("NotFittedError", (NotFittedError, sklearn_error), {"__module__": __name__})


def _not_fitted_error_class() -> type:
    """Our :class:`NotFittedError`, also a scikit-learn ``NotFittedError`` when loaded.

    Code that catches ``sklearn.exceptions.NotFittedError`` (scikit-learn's estimator
    checks, pipelines) must see one; scikit-learn stays optional because it is only used
    when the user has already imported it.
    """
    module = sys.modules.get("sklearn.exceptions")
    sklearn_error = getattr(module, "NotFittedError", None)
    if sklearn_error is None or issubclass(NotFittedError, sklearn_error):
        return NotFittedError
    return _sklearn_compatible_not_fitted_error(sklearn_error)


class MixtureFacade:
    """Base of :class:`GaussianMixtureEM` and :class:`BayesianGMM`.

    Provides ``get_params`` / ``set_params`` (so that ``sklearn.base.clone`` works without
    scikit-learn being a runtime dependency), scikit-learn tags, and the checks that keep
    predict-time data consistent with fit-time data.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, as scikit-learn expects."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> MixtureFacade:
        """Set constructor parameters; they are validated at ``fit``."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {sorted(valid)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = bool(value == default)
            except Exception:  # arrays and the like compare element-wise
                same = value is default
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        # Only called by scikit-learn itself, so importing it here adds no runtime dependency.
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            input_tags=InputTags(),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    def _check_is_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise _not_fitted_error_class()(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _missing(self) -> str:
        """The estimator's ``missing`` option, checked (``"raise"`` when it has none)."""
        return check_missing(getattr(self, "missing", "raise"))

    def _check_fit_data(self, X: ArrayLike, min_samples: int = 2) -> CheckedData:
        data = check_data(X, min_samples=min_samples, missing=self._missing())
        self.n_features_in_ = data.X.shape[1]
        if data.feature_names is not None and all(
            isinstance(c, str) for c in getattr(X, "columns", [])
        ):
            self.feature_names_in_ = np.asarray(data.feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return data

    def _check_predict_data(self, X: ArrayLike) -> np.ndarray:
        self._check_is_fitted()
        data = check_data(
            X, n_features=self.n_features_in_, owner=type(self).__name__, missing=self._missing()
        )
        fitted_names = getattr(self, "feature_names_in_", None)
        has_names = data.feature_names is not None and all(
            isinstance(c, str) for c in getattr(X, "columns", [])
        )
        name = type(self).__name__
        if fitted_names is not None and has_names:
            if list(fitted_names) != list(data.feature_names):
                raise ValueError(
                    "The feature names should match those that were passed during fit. "
                    f"Fitted with {list(fitted_names)}, got {data.feature_names}."
                )
        elif fitted_names is not None:
            warnings.warn(
                f"X does not have valid feature names, but {name} was fitted with feature names",
                UserWarning,
                stacklevel=3,
            )
        elif has_names:
            warnings.warn(
                f"X has feature names, but {name} was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )
        return data.X

    def _impute_data(self, X: ArrayLike) -> np.ndarray:
        """Validated data for ``impute``: NaN allowed whatever ``missing`` says."""
        self._check_is_fitted()
        data = check_data(
            X, n_features=self.n_features_in_, owner=type(self).__name__, missing="marginalize"
        )
        return data.X

    @property
    def feature_names(self) -> list[str]:
        """Feature names seen at fit (``x0, x1, ...`` when the data had none)."""
        self._check_is_fitted()
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return [f"x{i}" for i in range(self.n_features_in_)]
        return [str(n) for n in names]
