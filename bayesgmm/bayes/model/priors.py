"""Hyperparameters of the Bayesian GMM, with data-scaled defaults (no PyMC here).

The generative model (see ``docs/theory.md``)::

    alpha         ~ Gamma(a, b)           (only with alpha_prior; else alpha is fixed)
    pi            ~ Dirichlet(alpha * 1_K)
    mu_k          ~ Normal(mean_loc, mean_scale)                      (per feature)
    sigma_kd      ~ LogNormal(log(std_median_d), std_log_sd)  (or Gamma / InverseGamma /
                                                                HalfNormal, see std_family)
    R_k           ~ LKJ(eta)                                        (full, tied)
    Sigma_k       = diag(sigma_k) R_k diag(sigma_k)
    x_n           ~ sum_k pi_k N(mu_k, Sigma_k)

The scale prior must vanish at zero faster than any power of sigma for the posterior to be
proper: near a collapsed component the mixture likelihood grows like sigma^-D. LogNormal and
InverseGamma do; HalfNormal does not and is offered only to demonstrate the problem.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesgmm.mixture.moments import feature_moments

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["SPARSE_SHAPE", "STD_FAMILIES", "GMMPriors"]

STD_FAMILIES = ("lognormal", "gamma", "inversegamma", "halfnormal")

#: Malsiner-Walli, Frühwirth-Schnatter & Grün (2016): alpha ~ Gamma(10, 10 K), so that
#: E[alpha] = 1/K and the prior is tight enough to keep alpha small.
SPARSE_SHAPE = 10.0


def _check_alpha_prior(value: str | tuple[str, float, float] | None) -> Any:
    """``None``, ``"sparse"`` or ``("gamma", a, b)`` with a, b > 0 (as a tuple of floats)."""
    if value is None or (isinstance(value, str) and value == "sparse"):
        return value
    hint = (
        'alpha_prior must be None (fixed alpha), "sparse" (Gamma(10, 10 K), Malsiner-Walli '
        'et al. 2016) or ("gamma", a, b) with shape a > 0 and rate b > 0'
    )
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) != 3:
        raise ValueError(f"{hint}; got {value!r}.")
    family, shape, rate = value
    if family != "gamma":
        raise ValueError(f"{hint}; got family {family!r}.")
    try:
        shape, rate = float(shape), float(rate)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{hint}; got {value!r}.") from exc
    if not (np.isfinite(shape) and np.isfinite(rate) and shape > 0 and rate > 0):
        raise ValueError(f"{hint}; got a = {shape!r}, b = {rate!r}.")
    return ("gamma", shape, rate)


def _as_vector(value: ArrayLike, name: str, n_features: int | None) -> np.ndarray:
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a vector; got shape {array.shape}.")
    if n_features is not None and array.size not in (1, n_features):
        raise ValueError(
            f"{name} must be a scalar or have one entry per feature ({n_features}); "
            f"got {array.size} entries."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {array}.")
    return array


@dataclass(frozen=True)
class GMMPriors:
    """Hyperparameters of the Bayesian Gaussian mixture.

    Leave a field as ``None`` to have it scaled to the data by :meth:`resolve`.

    Parameters
    ----------
    alpha : float
        Dirichlet concentration of the weights. 1 is uniform on the simplex; ``alpha < 1``
        favours sparse weights (an overfitted mixture empties its extra components).
        Ignored when ``alpha_prior`` is set.
    alpha_prior : None, "sparse" or ("gamma", a, b)
        A hyperprior on the concentration, ``alpha ~ Gamma(shape=a, rate=b)``: the sparse
        finite mixture of Malsiner-Walli, Frühwirth-Schnatter & Grün (2016), whose
        default ``"sparse"`` is ``a = 10, b = 10 K`` (filled in by :meth:`resolve`).
        ``alpha`` is then a free parameter, sampled with the rest. ``None`` (default):
        ``alpha`` fixed.
    mean_loc : float or array of shape (D,), optional
        Prior mean of the component means; default the data mean.
    mean_scale : float or array of shape (D,), optional
        Prior sd of the component means; default ``mean_scale_factor`` x data sd.
    mean_scale_factor : float
        Multiple of the data sd used for ``mean_scale`` (default 2: weakly informative).
    std_family : {"lognormal", "gamma", "inversegamma", "halfnormal"}
        Prior family of the component standard deviations.
    std_scale : float or array of shape (D,), optional
        Typical component sd (the median for lognormal, the mean for gamma, the mode for
        inversegamma, the scale for halfnormal); default data sd / K^(1/D) — components
        K times smaller in volume than the data, as in Fraley & Raftery (2007).
    std_spread : float
        Spread of the sd prior: the log-sd for lognormal (default 1); the coefficient of
        variation-like spread for gamma and inversegamma (shape = 2 + 1/spread^2).
    eta : float
        LKJ shape of the correlation matrices (1 uniform; larger favours weak correlation).
    """

    alpha: float = 1.0
    mean_loc: Any = None
    mean_scale: Any = None
    mean_scale_factor: float = 2.0
    std_family: str = "lognormal"
    std_scale: Any = None
    std_spread: float = 1.0
    eta: float = 2.0
    alpha_prior: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha_prior", _check_alpha_prior(self.alpha_prior))
        for name in ("alpha", "mean_scale_factor", "std_spread", "eta"):
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be a number; got {value!r}.") from exc
            if not np.isfinite(number) or number <= 0:
                raise ValueError(f"{name} must be finite and > 0; got {value!r}.")
        if self.std_family not in STD_FAMILIES:
            raise ValueError(f"std_family must be one of {STD_FAMILIES}; got {self.std_family!r}.")
        for name in ("mean_loc", "mean_scale", "std_scale"):
            value = getattr(self, name)
            if value is None:
                continue
            array = _as_vector(value, name, None)
            if name != "mean_loc" and np.any(array <= 0):
                raise ValueError(f"{name} must be > 0; got {array}.")

    # -- data scaling ----------------------------------------------------------------------

    def resolve(
        self, X: np.ndarray, n_components: int, sample_weight: np.ndarray | None = None
    ) -> GMMPriors:
        """Fill the ``None`` fields from the data; check shapes against D.

        With ``sample_weight`` the data moments are weighted (frequency weights: integer
        weights give the moments of the rows repeated).

        Returns
        -------
        GMMPriors
            With ``mean_loc``, ``mean_scale`` and ``std_scale`` as float arrays of shape (D,).
        """
        X = np.asarray(X, dtype=np.float64)
        n_features = X.shape[1]
        data_mean, data_sd = feature_moments(X, sample_weight=sample_weight)
        if X.shape[0] < 2:
            data_sd = np.ones(n_features)
        # A constant column has no spread; fall back to its magnitude (or 1) for scale.
        fallback = np.where(np.abs(X[0]) > 0, np.abs(X[0]), 1.0) * 1e-3
        data_sd = np.where(data_sd > 0, data_sd, fallback)

        def vector(value: ArrayLike | None, name: str, default: np.ndarray) -> np.ndarray:
            if value is None:
                return default
            return np.broadcast_to(_as_vector(value, name, n_features), (n_features,)).copy()

        alpha_prior = self.alpha_prior
        if alpha_prior == "sparse":
            alpha_prior = ("gamma", SPARSE_SHAPE, SPARSE_SHAPE * float(n_components))
        return dataclasses.replace(
            self,
            alpha_prior=alpha_prior,
            mean_loc=vector(self.mean_loc, "mean_loc", data_mean),
            mean_scale=vector(self.mean_scale, "mean_scale", self.mean_scale_factor * data_sd),
            std_scale=vector(
                self.std_scale,
                "std_scale",
                data_sd / float(n_components) ** (1.0 / n_features),
            ),
        )

    @property
    def is_resolved(self) -> bool:
        """Whether every data-scaled field has been filled."""
        fields = (self.mean_loc, self.mean_scale, self.std_scale)
        return all(v is not None for v in fields) and self.alpha_prior != "sparse"

    @property
    def alpha_gamma(self) -> tuple[float, float] | None:
        """``(a, b)`` of the Gamma hyperprior on alpha (shape, rate); ``None`` when alpha
        is fixed. Needs :meth:`resolve` for ``alpha_prior="sparse"`` (b depends on K)."""
        if self.alpha_prior is None:
            return None
        if self.alpha_prior == "sparse":
            raise ValueError('alpha_prior="sparse" needs K: call resolve(X, n_components).')
        return float(self.alpha_prior[1]), float(self.alpha_prior[2])

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dict (arrays become lists) for JSON / netCDF attrs."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = value.tolist() if isinstance(value, np.ndarray) else value
        if isinstance(self.alpha_prior, tuple):
            out["alpha_prior"] = list(self.alpha_prior)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GMMPriors:
        """Inverse of :meth:`to_dict`; unknown keys raise."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown prior field(s) {sorted(unknown)}; valid: {sorted(names)}.")
        values = {
            k: (np.asarray(v, dtype=float) if isinstance(v, list) and k != "alpha_prior" else v)
            for k, v in data.items()
        }
        return cls(**values)

    # -- std prior parameters --------------------------------------------------------------

    def std_parameters(self, pooled: bool = False) -> dict[str, np.ndarray]:
        """Parameters of the sd prior in the family's own terms (needs :meth:`resolve`).

        Parameters
        ----------
        pooled : bool
            One sd shared by all features (spherical covariance): use the geometric mean
            of the per-feature scales; the arrays then have length 1.
        """
        if not self.is_resolved:
            raise ValueError("call resolve(X, n_components) before std_parameters().")
        scale = np.asarray(self.std_scale, dtype=np.float64)
        if pooled:
            scale = np.exp(np.mean(np.log(scale), keepdims=True))
        spread = float(self.std_spread)
        if self.std_family == "lognormal":
            return {"mu": np.log(scale), "sigma": np.full_like(scale, spread)}
        if self.std_family == "gamma":
            # shape > 1 so the density vanishes at 0 (a proper posterior near collapse).
            shape = 2.0 + 1.0 / spread**2
            return {"alpha": np.full_like(scale, shape), "beta": shape / scale}
        if self.std_family == "inversegamma":
            shape = 2.0 + 1.0 / spread**2  # keeps a finite mean and variance
            return {"alpha": np.full_like(scale, shape), "beta": scale * (shape + 1.0)}
        return {"sigma": scale}
