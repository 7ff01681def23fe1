"""What a covariance structure declares: the interface every registry entry implements.

A structure owns everything that depends on the shape of its covariances, so that the rest
of the package asks the structure instead of branching on its name:

* storage: the array shape, the parameter count, the conversion to full (K, D, D)
  matrices, the precision Cholesky factors and their log-determinant, the Mahalanobis
  distances (the numpy density);
* EM: the second moments of the E-step, the M-step (maximum likelihood and MAP-EM under
  the conjugate prior) and the prior's log density, the collapse checks;
* the Bayesian model (optional): a :class:`BayesianLayout`, the standard deviations and
  correlation Cholesky factors the PyMC graph, the compiled kernel, the starts, the
  draws and the prior simulator build it from, and the kernel's type code.

A structure with ``bayesian = None`` is fitted by EM only; the Bayesian fits refuse it
(:func:`bayesgmm.mixture.structures.bayesian_structure`).
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np

__all__ = ["COLLAPSE_HINT", "BayesianLayout", "CovarianceStructure", "collapse_message"]

COLLAPSE_HINT = (
    "increase reg_covar (now {reg_covar:g}), use the MAP prior (prior='default'), "
    "or reduce n_components"
)


def collapse_message(component: int | None, reg_covar: float) -> str:
    """The error of a covariance that is not positive definite (``None``: shared)."""
    who = "a component" if component is None else f"component {component}"
    return (
        f"the covariance of {who} is singular or not positive definite: it collapsed onto "
        "a point or a lower-dimensional subspace, where the likelihood is unbounded. "
        + COLLAPSE_HINT.format(reg_covar=reg_covar)
        + "."
    )


class BayesianLayout(NamedTuple):
    """How the Bayesian model parametrises a structure: ``Sigma_k = S_k R_k S_k``.

    ``std_axes`` names the axes the standard deviations ``S`` vary along (a subset of
    ``("component", "feature")``, in that order); ``corr_axes`` those of the correlation
    Cholesky factors (``("component",)`` one per component, ``()`` one shared, ``None``
    no correlations: ``R = I``). Everything the model, the kernel, the draws and the
    prior simulator do per structure follows from these fields.

    ``volume_axes`` (``None``: the sds are the free parameters) splits the volume from the
    shape, ``Sigma_k = lambda_k C_k`` with ``det C_k = 1`` (Celeux & Govaert 1995):
    ``C_k = S~_k R_k S~_k / det(R_k)^(1/D)`` with ``sum_d log s~_kd = 0``. Then the free
    parameters are ``volume_sd = sqrt(lambda)`` (one per component, ``("component",)``,
    or one shared, ``()``), ``log_shape = log s~`` along ``std_axes`` (zero-sum over the
    features; none when D = 1) and the correlations; the likelihood reads the sds they
    give, ``s_kd = sqrt(lambda_k) s~_kd det(R_k)^(-1/(2D))``, one per component and
    feature (:attr:`sd_layout`, :meth:`volume_stds`).

    ``oriented`` (with ``volume_axes``): mclust's EEV / VEV, ``Sigma_k = lambda_k R_k A
    R_k^T`` with one shared sorted shape ``A`` (its ``D - 1`` gaps, ``shape_gaps``) and a
    rotation ``R_k`` per component from unit vectors (``orient_free``, and
    ``orient_right`` when D = 4; :mod:`bayesgmm.mixture.structures.orientation`), for
    2 <= D <= 4. The likelihood reads the sds and correlation factors of ``Sigma_k``
    (:attr:`sd_layout`: those of ``full``).
    """

    std_axes: tuple[str, ...]
    corr_axes: tuple[str, ...] | None
    volume_axes: tuple[str, ...] | None = None
    oriented: bool = False

    @property
    def has_volume(self) -> bool:
        """The volume-shape parametrisation (``volume_axes`` set)."""
        return self.volume_axes is not None

    @property
    def sd_layout(self) -> BayesianLayout:
        """The layout of the sds the likelihood reads: the free ones, or for a
        volume-shape layout one per component and feature with its correlations."""
        if not self.has_volume:
            return self
        return BayesianLayout(("component", "feature"), self.corr_axes)

    def volume_shape(self, n_components: int) -> tuple[int, ...]:
        """Shape of the ``volume_sd`` variable."""
        return (n_components,) if "component" in (self.volume_axes or ()) else ()

    def volume_stds(self, volume_sd: Any, log_shape: Any, corr_chol: Any, xp: Any = np) -> Any:
        """The sds (..., K or 1, D) of a volume-shape layout, numpy or PyTensor.

        ``volume_sd`` (..., *volume_shape), ``log_shape`` (..., *std_shape) or ``None``
        (D = 1), ``corr_chol`` (..., [K,] D, D) or ``None`` (no correlations):
        ``s_kd = volume_sd_k exp(log_shape_kd - sum_i log L_k,ii / D)``.
        """
        per_component = "component" in (self.volume_axes or ())
        log_sd = (
            xp.log(volume_sd)[..., None] if per_component else xp.log(volume_sd)[..., None, None]
        )
        if log_shape is not None:
            log_sd = log_sd + (log_shape if self.per_component_shape else log_shape[..., None, :])
        if corr_chol is not None:
            n_features = corr_chol.shape[-1]
            diagonal = xp.diagonal(corr_chol, axis1=-2, axis2=-1)
            log_det = xp.sum(xp.log(diagonal), axis=-1) / n_features  # log det(R) / (2D)
            log_sd = log_sd - (
                log_det[..., None] if self.per_component_corr else log_det[..., None, None]
            )
        return xp.exp(log_sd)

    def volume_point(self, covariances: np.ndarray) -> dict[str, np.ndarray]:
        """``volume_sd`` and ``log_shape`` (D > 1) of covariances (K, D, D) that have the
        structure (the shared parts are taken from component 0)."""
        n_features = covariances.shape[-1]
        log_det = np.linalg.slogdet(covariances)[1]
        sd = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
        corr_log_det = log_det - 2.0 * np.sum(np.log(sd), axis=-1)  # log det R_k
        volume_sd = np.exp(log_det / (2.0 * n_features))
        # log s~_kd = log s_kd - log sqrt(lambda_k) + log det(R_k) / (2D), zero-sum over d
        log_shape = (
            np.log(sd) - np.log(volume_sd)[:, None] + corr_log_det[:, None] / (2 * n_features)
        )
        log_shape -= log_shape.mean(axis=-1, keepdims=True)
        point = {"volume_sd": volume_sd if "component" in self.volume_axes else volume_sd[0]}
        if n_features > 1:
            point["log_shape"] = log_shape if self.per_component_shape else log_shape[0]
        return point

    def orientation_point(self, covariances: np.ndarray) -> dict[str, np.ndarray]:
        """``volume_sd``, ``shape_gaps``, ``orient_free`` (and ``orient_right``) of
        covariances (K, D, D) that have an oriented structure (its starts)."""
        from bayesgmm.mixture.structures.orientation import orientation_point

        per_component = "component" in (self.volume_axes or ())
        return orientation_point(covariances, per_component, min_gap=1e-6)

    def oriented_stds(self, params: dict[str, Any], n_components: int) -> dict[str, np.ndarray]:
        """The sds (..., K, D) and ``partial_corr_unit`` (..., K, D(D-1)/2) of an oriented
        layout's ``Sigma_k`` from its parameters (``volume_sd``, ``shape_gaps``,
        ``orient_free``, ``orient_right``; any leading draw axes)."""
        from bayesgmm.mixture.parametrization import cpc_from_cholesky
        from bayesgmm.mixture.structures import orientation

        gaps = np.asarray(params["shape_gaps"], dtype=np.float64)
        lam = np.asarray(params["volume_sd"], dtype=np.float64) ** 2
        if "component" not in (self.volume_axes or ()):
            lam = np.repeat(lam[..., None], n_components, axis=-1)
        right = params.get("orient_right")
        d = gaps.shape[-1] + 1
        entries = orientation.covariance_entries(
            lam,
            gaps,
            np.asarray(params["orient_free"], dtype=np.float64),
            None if right is None else np.asarray(right, dtype=np.float64),
            d,
        )
        stds, corr_chol = orientation.stds_and_corr_chol(entries)
        return {"stds": stds, "partial_corr_unit": 0.5 * (1.0 + cpc_from_cholesky(corr_chol))}

    def aligned(self, params: dict[str, Any], n_features: int) -> dict[str, Any]:
        """Draws (S, ...) with an oriented layout's vectors moved to one exact copy
        (:func:`~bayesgmm.mixture.structures.orientation.align_orientations`); others
        unchanged."""
        if not self.oriented or "orient_free" not in params:
            return params
        from bayesgmm.mixture.structures.orientation import align_orientations

        free, right = align_orientations(
            np.asarray(params["orient_free"]), params.get("orient_right"), n_features
        )
        out = {**params, "orient_free": free}
        if right is not None:
            out["orient_right"] = right
        return out

    @property
    def per_component_shape(self) -> bool:
        return "component" in self.std_axes

    def _sizes(self, n_components: int, n_features: int) -> dict[str, int]:
        return {"component": n_components, "feature": n_features}

    def std_shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of the ``stds`` variable."""
        sizes = self._sizes(n_components, n_features)
        return tuple(sizes[axis] for axis in self.std_axes)

    def std_shape_2d(self, n_components: int, n_features: int) -> tuple[int, int]:
        """``std_shape`` with length-1 axes where the sds are shared: broadcasts to (K, D)."""
        return (
            n_components if "component" in self.std_axes else 1,
            n_features if "feature" in self.std_axes else 1,
        )

    @property
    def pooled(self) -> bool:
        """One sd for every feature: the prior's per-feature scales are pooled."""
        return "feature" not in self.std_axes

    @property
    def per_component_stds(self) -> bool:
        """The sds differ between components (a volume-shape layout: its volume or its
        shape does)."""
        return (
            self.oriented or "component" in self.std_axes or "component" in (self.volume_axes or ())
        )

    @property
    def correlated(self) -> bool:
        return self.corr_axes is not None

    @property
    def per_component_corr(self) -> bool:
        return self.corr_axes is not None and "component" in self.corr_axes

    @property
    def shared(self) -> bool:
        """One covariance for every component: only weights and means are per component."""
        return not self.per_component_stds and not self.per_component_corr

    def corr_shape(self, n_components: int, n_pairs: int) -> tuple[int, ...]:
        """Shape of ``partial_corr_unit`` (one value per correlation pair)."""
        return (n_components, n_pairs) if self.per_component_corr else (n_pairs,)

    def corr_dims(self) -> tuple[str, ...]:
        return ("component", "corr_pair") if self.per_component_corr else ("corr_pair",)

    def std_matrix(self, stds: Any) -> Any:
        """sds (..., *std_shape) as an array broadcasting to (..., K, D), numpy or PyTensor."""
        if not self.per_component_stds:  # shared: one sd (..., 1, 1) or one per feature
            return stds[..., None, None] if self.pooled else stds[..., None, :]
        if self.pooled:
            return stds[..., None]
        return stds

    def stds_from_matrix(self, stds: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`std_matrix` on (K, D) sds whose shared axes hold equal values
        (their first is taken)."""
        return np.asarray(
            stds[
                slice(None) if self.per_component_stds else 0,
                0 if self.pooled else slice(None),
            ]
        )

    def corr_stack(self, corr_chol: Any) -> Any:
        """Correlation Cholesky factors as (K, D, D), or (1, D, D) when shared."""
        return corr_chol if self.per_component_corr else corr_chol[None]

    def broadcast_std_parameter(self, value: np.ndarray, n_components: int) -> np.ndarray:
        """A prior parameter per feature (D,) (or (1,) pooled), flattened in the sds' order."""
        value = np.asarray(value, dtype=np.float64)
        if not self.per_component_stds:
            return value.copy()
        return np.repeat(value, n_components) if self.pooled else np.tile(value, n_components)


class CovarianceStructure:
    """One covariance structure (see the module docstring). Subclasses fill in the maths.

    Attributes
    ----------
    name : str
        The canonical ``covariance_type`` (scikit-learn's name where it has one).
    aliases : tuple of str
        Other accepted names (mclust's three letters: volume, shape, orientation).
    description : str
        One line for tables and reports.
    dims : tuple of str
        The covariance array's named dims (``component``, ``feature``, ``feature_bis``):
        files and xarray objects.
    shared : bool
        One covariance for all components (its count checks do not apply per component).
    diagonal : bool
        Covariances are diagonal: stored as variances, conditionals need no regression.
    pair_features : bool
        Stored as (K, D, D) matrices: the density and the E-step statistics use the
        quadratic features of :func:`bayesgmm.mixture.covariance.pair_features`.
    kernel_code : int or None
        The compiled kernel's ``cov_type`` (its C ``switch``); ``None``: no kernel path.
    bayesian : BayesianLayout or None
        The Bayesian model's parametrisation; ``None``: EM only.
    mclust_name : str or None
        mclust's three letters (volume, shape, orientation: ``"VEV"``); the structures
        that have one are mclust's family (:func:`bayesgmm.mixture.structures.mclust_family`).
    one_d_alias : str or None
        mclust's name of the structure for 1-D data (``"E"`` equal, ``"V"`` variable
        variance), accepted only when the data have one feature.
    takes_prior : bool
        MAP-EM under the conjugate prior is available.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    dims: ClassVar[tuple[str, ...]]
    shared: ClassVar[bool] = False
    diagonal: ClassVar[bool] = False
    pair_features: ClassVar[bool] = False
    kernel_code: ClassVar[int | None] = None
    bayesian: ClassVar[BayesianLayout | None] = None
    mclust_name: ClassVar[str | None] = None
    one_d_alias: ClassVar[str | None] = None
    takes_prior: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"<covariance structure {self.name!r}>"

    # -- storage ------------------------------------------------------------------------
    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of the covariance array."""
        raise NotImplementedError

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free covariance parameters."""
        raise NotImplementedError

    def as_full(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """Full matrices (K, D, D), a fresh array."""
        raise NotImplementedError

    def precisions_cholesky(self, covariances: np.ndarray, reg_covar: float) -> np.ndarray:
        """``U`` with ``inv(Sigma) = U U^T`` (CollapseError naming the component)."""
        raise NotImplementedError

    def covariances_from_precisions_cholesky(self, prec_chol: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        """The precision matrices (or precisions) from their Cholesky factors."""
        raise NotImplementedError

    def precision_factors(
        self, prec_chol: np.ndarray, n_components: int, n_features: int
    ) -> np.ndarray:
        """The precision Cholesky factors as (K, D, D) matrices, whatever the storage."""
        raise NotImplementedError

    def log_det_precisions_cholesky(self, prec_chol: np.ndarray, n_features: int) -> Any:
        """``log det U`` per component (one number when shared)."""
        raise NotImplementedError

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances (K, N) of the rows of ``X`` (N, D)."""
        raise NotImplementedError

    def variances(self, covariances: np.ndarray, n_components: int, n_features: int):
        """Per-feature variances (K, D) (diagonal structures)."""
        return np.diagonal(self.as_full(covariances, n_components, n_features), axis1=1, axis2=2)

    def rescale(self, covariances: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Covariances of ``x * scale`` (scale (D,), per feature)."""
        raise NotImplementedError

    # -- EM -----------------------------------------------------------------------------
    def block_second_moment(
        self, block: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        """The E-step's second moment of a block of rows; ``resp`` (K, n) is weighted."""
        raise NotImplementedError

    def second_moment(
        self, X: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        """The second moment of starting responsibilities ``resp`` (N, K), weighted."""
        raise NotImplementedError

    def expected_second_moment(
        self,
        resp: np.ndarray,
        completed: np.ndarray,
        missing: np.ndarray,
        conditional_covariances: np.ndarray,
    ) -> np.ndarray:
        """EM for incomplete data: the second moment of completed rows (K, n, D) plus the
        conditional covariances of the ``missing`` coordinates."""
        raise NotImplementedError

    def zero_second_moment(self, n_components: int, n_features: int) -> np.ndarray:
        raise NotImplementedError

    def ml_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        means: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Maximum-likelihood M-step (``stats``: SufficientStats, ``nk`` guarded counts).

        ``previous``: the last iteration's covariances of this structure (or ``None``),
        where an iterative M-step starts so that EM stays monotone; closed forms ignore it.
        """
        raise NotImplementedError

    def map_covariances(
        self,
        stats: Any,
        nk: np.ndarray,
        x_bar: np.ndarray,
        prior: Any,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """MAP-EM M-step under the conjugate prior (Fraley & Raftery 2007); ``previous`` as
        in :meth:`ml_covariances`."""
        raise NotImplementedError

    def prior_scale(self, data_cov: np.ndarray, factor: float) -> np.ndarray:
        """The default prior's ``scale`` from the data covariance and the volume factor."""
        raise NotImplementedError

    def prior_scale_shape(self, n_features: int) -> tuple[int, ...]:
        raise NotImplementedError

    def min_prior_dof(self, n_features: int) -> int:
        """The conjugate prior needs ``dof`` above this to be proper."""
        return 0

    def check_prior_scale(self, scale: np.ndarray) -> None:
        """Raise ValueError unless ``scale`` is a valid prior scale."""
        raise NotImplementedError

    def log_prior(self, covariances: np.ndarray, means: np.ndarray, prior: Any) -> float:
        """Log density of the conjugate prior's covariance and mean terms."""
        raise NotImplementedError

    def min_component_count(self, n_features: int) -> int:
        """Fewest points that determine a non-singular covariance of this structure."""
        return 2

    def smallest_variance_ratio(
        self, covariances: np.ndarray, reg_covar: float, data_covariance: np.ndarray
    ) -> np.ndarray:
        """Per component (one value when shared), the smallest variance of the covariance
        without its floor relative to the data's: the collapse check."""
        raise NotImplementedError
