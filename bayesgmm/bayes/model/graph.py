"""The Bayesian Gaussian mixture as an explicit PyMC model.

Variables (all with a leading ``component`` dim unless the covariance is tied):

==========================  ===========================  =====================================
name                        dims                         meaning
==========================  ===========================  =====================================
``alpha``                   ()                           Dirichlet concentration, Gamma(a, b)
                                                         (only with ``alpha_prior``)
``weights``                 (component,)                 mixing weights, Dirichlet(alpha)
``means``                   (component, feature)         component means
``stds``                    (component, feature) full,   component standard deviations
                            diag; (component,)
                            spherical; (feature,) tied
``partial_corr_unit``       (component, corr_pair) full; canonical partial correlations
                            (corr_pair,) tied            mapped to (0, 1): ``(1 + r) / 2``
``x``                       (obs, feature)               the observed data (``X`` container)
==========================  ===========================  =====================================

The volume-shape structures (mclust's VEI ... EVV) have ``volume_sd`` and ``log_shape``
instead of ``stds``; EEV and VEV (2 <= D <= 4) ``volume_sd``, ``shape_gaps`` (D - 1) and
the orientation vectors ``orient_free`` (component, 2 or 4) and ``orient_right``
(component, 4; D = 4), with the potentials ``shape_prior``, ``orient_free_ring`` and
``orient_right_ring`` (:mod:`bayesgmm.mixture.structures.orientation`).

Correlation matrices are built from canonical partial correlations (CPCs); see
:mod:`bayesgmm.mixture.parametrization`. The prior on them is exactly ``LKJ(eta)``.

The assignment ``z_n`` is never sampled: the likelihood is
``log sum_k exp(log pi_k + log N(x_n | mu_k, Sigma_k))``, evaluated for all components with
one batched matrix product.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm

from bayesgmm._utils.validation import (
    CheckedData,
    check_data,
    check_n_components,
    constant_features,
    describe_features,
)
from bayesgmm.bayes.model.fingerprint import ModelFingerprint, describe_edits, model_fingerprint
from bayesgmm.bayes.model.likelihood import mixture_logp_factory, mixture_random_factory, signature
from bayesgmm.bayes.model.missing import add_missing_likelihood
from bayesgmm.bayes.model.observed import observation_data as _observation_data
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.bayes.model.spec import MixtureSpec, ordered_index
from bayesgmm.bayes.model.units import fit_standardization
from bayesgmm.bayes.model.variables import free_variables
from bayesgmm.mixture.moments import check_feature_scales, warn_if_quantised
from bayesgmm.mixture.observations import Observations, check_observations
from bayesgmm.mixture.parametrization import corr_pairs
from bayesgmm.mixture.structures import bayesian_structure

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "GMMModel",
    "build_model",
    "default_start",
    "make_spec",
    "model_from_spec",
]


def _ordered_start(spec: MixtureSpec, internal: np.ndarray) -> np.ndarray | None:
    """The ordered coordinate's start at spread-out data quantiles: a valid (increasing)
    point, where the prior's support point puts every component at one place."""
    f = spec.ordered_feature
    if f is None:
        return None
    k = spec.n_components
    column = internal[:, f]
    if np.isnan(column).any():  # missing values: the quantiles of the observed ones
        column = column[~np.isnan(column)]
    start = np.quantile(column, (np.arange(k) + 0.5) / k)
    return start + np.arange(k) * 1e-6 * (np.ptp(column) + 1.0)


def _refuse_constant_features(X: np.ndarray, names: list[str], covariance_type: str) -> None:
    """A constant feature has no spread for a per-feature sd to describe.

    With N points on one value, the likelihood grows like sd^-N as the sd shrinks and no
    prior of fixed scale holds it back: the posterior piles up at sd ~ exp(-N) and the
    chains cannot mix. EM has a covariance floor for this; the posterior has none, so
    refuse with the fix rather than return that. A spherical sd is shared with the other
    features, which keep it away from 0.
    """
    constant = constant_features(X)
    pooled = bayesian_structure(covariance_type).bayesian.pooled
    if constant.size == 0 or (pooled and constant.size < X.shape[1]):
        return
    raise ValueError(
        f"feature(s) {describe_features(constant, names)} are constant: their standard "
        "deviation has no spread to describe, and its posterior collapses towards 0. Drop them"
        + (", or use covariance_type='spherical'." if constant.size < X.shape[1] else ".")
    )


@dataclasses.dataclass(frozen=True, eq=False)
class GMMModel:
    """A built mixture: the PyMC model, its spec and its data.

    Attributes
    ----------
    model : pymc.Model
        Written in internal units: its ``X`` container holds :attr:`internal`.
    spec : MixtureSpec
    data : ndarray of shape (N, D)
        The validated data, in data units.
    internal : ndarray of shape (N, D)
        The same in internal units, ``spec.standardization.to_internal(data)``.
    ordered_start : ndarray, optional
        A valid start of the ordered means (ordered models only), internal units.
    minibatch_size : int, optional
        Set when the model's likelihood is a ``pm.Minibatch``.
    sample_weight, labels : ndarray of shape (N,), optional
        The observation weights and partial labels (``-1`` unknown) the likelihood uses
        (:mod:`bayesgmm.mixture.observations`); ``None`` when not given.
    has_missing : bool
        The data hold NaN: the likelihood is that of each row's observed coordinates
        (:mod:`bayesgmm.bayes.model.missing`), a potential on the ``X_observed`` container;
        there is no ``X`` container or ``x`` variable.
    fingerprint : ModelFingerprint, optional
        The model as :func:`model_from_spec` built it (:mod:`.fingerprint`): a model whose
        fingerprint differs now was edited, and runs on its PyMC graph, not the kernel.
        ``None`` for a model restored from a pickle taken after an edit.

    Notes
    -----
    A GMMModel pickles (and goes through joblib): an unedited one as its spec, data and
    observations, rebuilt on load; an edited one with its ``pm.Model`` by cloudpickle.
    """

    model: pm.Model
    spec: MixtureSpec
    data: np.ndarray
    internal: np.ndarray
    ordered_start: np.ndarray | None = None
    minibatch_size: int | None = None
    sample_weight: np.ndarray | None = None
    labels: np.ndarray | None = None

    has_missing: bool = False
    fingerprint: ModelFingerprint | None = dataclasses.field(default=None, repr=False)

    @property
    def edits(self) -> list[str]:
        """How the model differs from the one its spec builds, in words (empty when it
        is exactly that model, the only one the compiled kernel evaluates)."""
        return describe_edits(self.fingerprint, model_fingerprint(self.model))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        from bayesgmm.bayes.model.pickling import rebuilt_model, restored_edited_model

        rest = (self.spec, self.data, self.minibatch_size, self.observations)
        if not self.edits:  # the model is a function of the rest: rebuild it on load
            return (rebuilt_model, rest)
        import cloudpickle  # PyMC's own dependency; plain pickle cannot hold its graphs

        fields = (self.internal, self.ordered_start, self.has_missing)
        return (restored_edited_model, (cloudpickle.dumps(self.model), *rest, *fields))

    @property
    def observations(self) -> Observations:
        """The weights and labels, as :class:`~bayesgmm.mixture.observations.Observations`."""
        return Observations(self.sample_weight, self.labels)

    def kernel_buffer(self, spec: Any = None) -> np.ndarray:
        """The kernel's buffer of the internal data, weights and labels (``spec.kernel``)."""
        from bayesgmm.bayes.kernel.bindings import kernel_buffer

        return kernel_buffer(self.internal, spec or self.spec.kernel, *self.observations)

    @property
    def kernel_supported(self) -> bool:
        """Whether the compiled kernel covers this model (no ordering, no minibatches;
        missing values it marginalises as the PyMC model does)."""
        return self.spec.ordered is None and self.minibatch_size is None


def make_spec(
    data: CheckedData,
    n_components: int,
    covariance_type: str = "full",
    priors: GMMPriors | None = None,
    ordered: str | int | None = None,
    feature_names: list[str] | None = None,
    sample_weight: np.ndarray | None = None,
) -> MixtureSpec:
    """The spec of a mixture on validated data: priors resolved, internal units fitted
    (with the weighted moments when ``sample_weight`` is given: integer weights give the
    spec of the rows repeated)."""
    values = data.X
    n_samples, n_features = values.shape
    n_components = check_n_components(n_components, n_samples)
    covariance_type = bayesian_structure(covariance_type, n_features).name
    names = list(feature_names or data.feature_names or [f"x{i}" for i in range(n_features)])
    if len(names) != n_features:
        raise ValueError(f"feature_names has {len(names)} names for {n_features} features.")
    ordered_index(ordered, names)  # a bad `ordered` fails here, before any PyMC work
    resolved = (priors or GMMPriors()).resolve(values, n_components, sample_weight=sample_weight)
    standardization = fit_standardization(
        values, covariance_type, sample_weight=sample_weight, std_scale=resolved.std_scale
    )
    spec = MixtureSpec(
        n_components=n_components,
        n_features=n_features,
        covariance_type=covariance_type,
        priors=resolved,
        standardization=standardization,
        feature_names=tuple(names),
        n_samples=n_samples,
        ordered=ordered,
    )
    return spec


def build_model(
    X: ArrayLike,
    n_components: int,
    covariance_type: str = "full",
    priors: GMMPriors | None = None,
    ordered: str | int | None = None,
    *,
    feature_names: list[str] | None = None,
    minibatch_size: int | None = None,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    missing: str = "raise",
) -> GMMModel:
    """Build the PyMC model of a K-component Gaussian mixture.

    Parameters
    ----------
    X : array-like of shape (N, D), or CheckedData
        Data; a DataFrame's column names become the ``feature`` coordinate. Data already
        checked by :func:`bayesgmm._utils.validation.check_data` are not checked again.
    n_components : int
    covariance_type : {"full", "diag", "spherical", "tied"}
        Or their mclust names ("VVV", "VVI", "VII", "EEE"). Structures that EM alone fits
        are refused with a message.
    priors : GMMPriors, optional
        Hyperparameters; ``None`` fields are scaled to ``X``.
    ordered : str or int, optional
        Feature whose means are constrained increasing (an identifiability constraint;
        prefer relabeling when components overlap in that feature).
    feature_names : list of str, optional
        Overrides the DataFrame column names.
    minibatch_size : int, optional
        Use ``pm.Minibatch`` with ``total_size=N`` (for PyMC's minibatch ADVI only; the
        batches are drawn from the random stream seeded by the ADVI run).
    sample_weight, labels : array-like of shape (N,), optional
        Observation weights (each row's term times ``w_n``: a power likelihood) and
        partial labels (``0..K-1``, ``-1`` unknown); see ``docs/weights_and_labels.md``.
    missing : {"raise", "marginalize"}
        ``"marginalize"`` accepts NaN entries and marginalises them out of the likelihood
        (missing at random; :mod:`bayesgmm.bayes.model.missing`). Ignored for CheckedData.

    Returns
    -------
    GMMModel
        ``.model`` has coords ``component``, ``feature``, ``obs`` (and ``corr_pair``), a
        ``pm.Data`` container ``X`` and the observed variable ``x``; ``.spec`` is its
        :class:`~bayesgmm.bayes.model.spec.MixtureSpec`, whose layout the model's free variables are
        checked against.

    Notes
    -----
    The model is written in internal units, ``z = (x - center) / scale`` per feature
    (:mod:`bayesgmm.bayes.model.units`): the container ``X`` holds ``z``, and the free variables
    are the weights, means and sds of the mixture of ``z``, under the same priors moved
    exactly to those units. The runners of :mod:`bayesgmm.bayes.inference` report everything
    in data units.
    """
    data = X if isinstance(X, CheckedData) else check_data(X, min_samples=2, missing=missing)
    if data.X.shape[0] < 2:
        raise ValueError(f"X needs at least 2 samples; got {data.X.shape[0]}.")
    obs = check_observations(sample_weight, labels, data.X.shape[0], int(n_components))
    check_feature_scales(data.X, feature_names or data.feature_names)
    spec = make_spec(
        data, n_components, covariance_type, priors, ordered, feature_names, obs.sample_weight
    )
    return model_from_spec(spec, data.X, minibatch_size, obs)


def model_from_spec(
    spec: MixtureSpec,
    values: np.ndarray,
    minibatch_size: int | None = None,
    observations: Observations | None = None,
) -> GMMModel:
    """The PyMC model of ``spec`` on validated data ``values`` (data units), with the
    checked weights and labels of ``observations``."""
    obs = observations or Observations()
    names = list(spec.feature_names)
    _refuse_constant_features(values, names, spec.covariance_type)
    warn_if_quantised(values, names)
    # The model lives in internal units (centred, scaled): see bayesgmm.bayes.model.units.
    internal = spec.standardization.to_internal(values)
    n_samples, n_features = values.shape
    blocks = {block.name: block for block in spec.blocks}
    pairs = corr_pairs(n_features)
    coords: dict[str, Any] = {
        "component": np.arange(spec.n_components),
        "feature": names,
        "obs": np.arange(n_samples),
    }
    if "partial_corr_unit" in blocks:
        coords["corr_pair"] = [f"{names[i]}|{names[j]}" for i, j in pairs]
    if minibatch_size is not None and not 1 <= int(minibatch_size) <= n_samples:
        raise ValueError(f"minibatch_size must be in [1, {n_samples}]; got {minibatch_size}.")

    has_missing = bool(np.isnan(values).any())
    if has_missing and minibatch_size is not None:
        raise ValueError(
            "PyMC's minibatch model (pm.Minibatch) does not support missing values (NaN): "
            "use the compiled kernel's minibatch ADVI (fit_advi(..., engine='kernel'), the "
            "default), fit without minibatches, or drop the incomplete rows."
        )

    with pm.Model(coords=coords) as model:
        if has_missing:  # the observed-coordinate likelihood: bayes/missing_model
            dist_params = free_variables(spec, blocks)
            add_missing_likelihood(spec, internal, dist_params, obs)
            return _finish(model, spec, values, internal, None, obs, has_missing=True)
        x_data = pm.Data("X", internal, dims=("obs", "feature"))
        extras = _observation_data(obs)
        dist_params = free_variables(spec, blocks)
        observed, total_size = x_data, None
        if minibatch_size is not None:
            batch = pm.Minibatch(x_data, *extras.values(), batch_size=int(minibatch_size))
            batch = batch if extras else [batch]
            observed, extras = batch[0], dict(zip(extras, batch[1:], strict=True))
            total_size = n_samples
        pm.CustomDist(
            "x",
            *dist_params,
            logp=mixture_logp_factory(
                spec.covariance_type,
                n_features,
                extras.get("sample_weight"),
                extras.get("labels"),
            ),
            random=mixture_random_factory(spec.covariance_type, n_features),
            signature=signature(spec.covariance_type, len(dist_params)),
            observed=observed,
            total_size=total_size,
            dims=None if minibatch_size is not None else ("obs", "feature"),
        )
    return _finish(model, spec, values, internal, minibatch_size, obs)


def _finish(
    model: pm.Model,
    spec: MixtureSpec,
    values: np.ndarray,
    internal: np.ndarray,
    minibatch_size: int | None,
    obs: Observations,
    *,
    has_missing: bool = False,
) -> GMMModel:
    spec.check_model(model)
    return GMMModel(
        model,
        spec,
        values,
        internal,
        _ordered_start(spec, internal),
        None if minibatch_size is None else int(minibatch_size),
        obs.sample_weight,
        obs.labels,
        has_missing,
        model_fingerprint(model),
    )


def default_start(gmm: GMMModel) -> dict[str, np.ndarray]:
    """A valid starting point for the variables without a usable default.

    Only the ordered means need one: their prior's support point puts every component at
    the same place, where the ordered transform is undefined.
    """
    return {} if gmm.ordered_start is None else {"means_ordered": gmm.ordered_start}
