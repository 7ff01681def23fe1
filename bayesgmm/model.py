"""The Bayesian Gaussian mixture as an explicit PyMC model.

Variables (all with a leading ``component`` dim unless the covariance is tied):

==========================  ===========================  =====================================
name                        dims                         meaning
==========================  ===========================  =====================================
``weights``                 (component,)                 mixing weights, Dirichlet(alpha)
``means``                   (component, feature)         component means
``stds``                    (component, feature) full,   component standard deviations
                            diag; (component,)
                            spherical; (feature,) tied
``partial_corr_unit``       (component, corr_pair) full; canonical partial correlations
                            (corr_pair,) tied            mapped to (0, 1): ``(1 + r) / 2``
``x``                       (obs, feature)               the observed data (``X`` container)
==========================  ===========================  =====================================

Correlation matrices are built from canonical partial correlations (CPCs); see
:mod:`bayesgmm.parametrization`. The prior on them is exactly ``LKJ(eta)``.

The assignment ``z_n`` is never sampled: the likelihood is
``log sum_k exp(log pi_k + log N(x_n | mu_k, Sigma_k))``, evaluated for all components with
one batched matrix product.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesgmm._validation import (
    check_covariance_type,
    check_data,
    check_n_components,
    constant_features,
    describe_features,
)
from bayesgmm.parametrization import cholesky_from_cpc, corr_pairs, cpc_beta_parameters
from bayesgmm.priors import GMMPriors
from bayesgmm.standardize import (
    Standardization,
    fit_standardization,
    priors_to_internal,
    warn_if_quantised,
)

__all__ = [
    "build_model",
    "config_standardization",
    "default_start",
    "internal_priors",
    "model_config",
]

LOG_2PI = float(np.log(2.0 * np.pi))


def _forward_substitution(corr_chol: Any, centred: Any, n_features: int) -> Any:
    """Solve ``L z = c`` for lower-triangular ``L`` (..., D, D) and ``c`` (..., D, N).

    Written as an unrolled loop over the (static, small) feature count with every step
    vectorised over components and rows: it compiles to a handful of element-wise ops in
    every backend, where a batched ``solve_triangular`` would loop over components.
    """
    solved = []
    for i in range(n_features):
        acc = centred[..., i, :]
        for j in range(i):
            acc = acc - corr_chol[..., i, j, None] * solved[j]
        solved.append(acc / corr_chol[..., i, i, None])
    return solved


def _mixture_logp_factory(covariance_type: str, n_features: int) -> Any:
    """Per-row log density ``log sum_k pi_k N(x | mu_k, Sigma_k)`` for one covariance type.

    Distribution parameters: weights (K,), means (K, D), standard deviations (K, D) for
    full and diag, (K,) for spherical, (D,) for tied; plus, for full and tied, the
    Cholesky factor of the correlation matrix ((K, D, D) or (D, D)).
    """
    std_core = {"full": 2, "tied": 1, "diag": 2, "spherical": 1}[covariance_type]

    def logp(value: Any, weights: Any, means: Any, stds: Any, *corr: Any) -> Any:
        # CustomDist prepends broadcast (length-1) batch dims to the parameters; the
        # parameters are shared by every row, so drop them.
        weights = weights.reshape(weights.shape[-1:], ndim=1)
        means = means.reshape(means.shape[-2:], ndim=2)
        stds = stds.reshape(stds.shape[-std_core:], ndim=std_core)
        if covariance_type == "spherical":
            stds = stds[:, None]
        elif covariance_type == "tied":
            stds = stds[None, :]
        # Standardise per feature, then whiten the correlation: z = L_R^-1 diag(1/s)(x - mu).
        scaled = (value.T[None, :, :] - means[:, :, None]) / stds[:, :, None]  # (K, D, N)
        log_det = pt.sum(pt.log(stds), axis=-1)
        if covariance_type == "spherical":
            log_det = n_features * pt.log(stds[:, 0])
        if corr and n_features > 1:
            corr_chol = corr[0]
            core = 3 if covariance_type == "full" else 2
            corr_chol = corr_chol.reshape(corr_chol.shape[-core:], ndim=core)
            if covariance_type == "tied":
                corr_chol = corr_chol[None]
            solved = _forward_substitution(corr_chol, scaled, n_features)
            maha = sum(z**2 for z in solved)
            log_det = log_det + pt.sum(pt.log(pt.diagonal(corr_chol, axis1=-2, axis2=-1)), axis=-1)
        else:
            maha = pt.sum(scaled**2, axis=1)
        log_prob = -0.5 * maha - (log_det + 0.5 * n_features * LOG_2PI)[:, None]
        log_prob = log_prob + pt.log(weights)[:, None]  # (K, N)
        return pt.logsumexp(log_prob, axis=0)

    return logp


def _mixture_random_factory(covariance_type: str, n_features: int) -> Any:
    std_core = {"full": 2, "tied": 1, "diag": 2, "spherical": 1}[covariance_type]
    corr_core = 3 if covariance_type == "full" else 2

    def core(value: Any, ndim: int) -> np.ndarray:
        # Parameters arrive with broadcast (length-1) batch dims in front: drop them.
        value = np.asarray(value, dtype=np.float64)
        return value.reshape(value.shape[value.ndim - ndim :])

    def random(weights, means, stds, *corr, rng=None, size=None):
        rng = np.random.default_rng() if rng is None else rng
        size = () if size is None else tuple(np.atleast_1d(size))
        n = int(np.prod(size)) if size else 1
        weights, means, stds = core(weights, 1), core(means, 2), core(stds, std_core)
        n_components = len(weights)
        labels = rng.choice(n_components, size=n, p=weights / weights.sum())
        noise = rng.standard_normal((n, n_features))
        if covariance_type == "spherical":
            stds = np.repeat(stds[:, None], n_features, axis=1)
        elif covariance_type == "tied":
            stds = np.broadcast_to(stds, (n_components, n_features))
        if corr and n_features > 1:
            corr_chol = core(corr[0], corr_core)
            if covariance_type == "tied":
                corr_chol = np.broadcast_to(corr_chol, (n_components, n_features, n_features))
            noise = np.einsum("nde,ne->nd", corr_chol[labels], noise)
        draws = means[labels] + stds[labels] * noise
        return draws.reshape((*size, n_features))

    return random


def _std_prior(name: str, priors: GMMPriors, dims: Any, pooled: bool = False) -> Any:
    params = priors.std_parameters(pooled=pooled)
    if pooled:  # spherical: one sd per component, the same prior for each
        params = {k: np.float64(v[0]) for k, v in params.items()}
    family = priors.std_family
    if family == "lognormal":
        return pm.LogNormal(name, mu=params["mu"], sigma=params["sigma"], dims=dims)
    if family == "gamma":
        return pm.Gamma(name, alpha=params["alpha"], beta=params["beta"], dims=dims)
    if family == "inversegamma":
        return pm.InverseGamma(name, alpha=params["alpha"], beta=params["beta"], dims=dims)
    return pm.HalfNormal(name, sigma=params["sigma"], dims=dims)


def _means(
    priors: GMMPriors, n_components: int, feature_names: list[str], ordered: Any, X: np.ndarray
) -> Any:
    loc = np.asarray(priors.mean_loc)
    scale = np.asarray(priors.mean_scale)
    if ordered is None:
        return pm.Normal(
            "means",
            mu=np.broadcast_to(loc, (n_components, len(loc))),
            sigma=np.broadcast_to(scale, (n_components, len(loc))),
            dims=("component", "feature"),
        )
    if isinstance(ordered, str):
        if ordered not in feature_names:
            raise ValueError(f"ordered={ordered!r} is not a feature; features: {feature_names}.")
        f = feature_names.index(ordered)
    else:
        f = int(ordered)
        if not 0 <= f < len(feature_names):
            raise ValueError(
                f"ordered={ordered!r} is out of range for {len(feature_names)} features."
            )
    # Start the ordered coordinate at spread-out data quantiles: a valid (increasing) point.
    start = np.quantile(X[:, f], (np.arange(n_components) + 0.5) / n_components)
    start = start + np.arange(n_components) * 1e-6 * (np.ptp(X[:, f]) + 1.0)
    first = pm.Normal(
        "means_ordered",
        mu=loc[f],
        sigma=scale[f],
        dims="component",
        transform=pm.distributions.transforms.ordered,
    )
    # No initval in the model (nutpie refuses models that carry one); the runners start
    # the ordered coordinate here instead.
    pm.modelcontext(None).bayesgmm_ordered_start = start
    others = [d for d in range(len(loc)) if d != f]
    if not others:
        return pm.Deterministic("means", first[:, None], dims=("component", "feature"))
    rest = pm.Normal(
        "means_other",
        mu=np.broadcast_to(loc[others], (n_components, len(others))),
        sigma=np.broadcast_to(scale[others], (n_components, len(others))),
        shape=(n_components, len(others)),
    )
    columns = []
    for d in range(len(loc)):
        columns.append(first if d == f else rest[:, others.index(d)])
    return pm.Deterministic("means", pt.stack(columns, axis=1), dims=("component", "feature"))


def _refuse_constant_features(X: np.ndarray, names: list[str], covariance_type: str) -> None:
    """A constant feature has no spread for a per-feature sd to describe.

    With N points on one value, the likelihood grows like sd^-N as the sd shrinks and no
    prior of fixed scale holds it back: the posterior piles up at sd ~ exp(-N) and the
    chains cannot mix. EM has a covariance floor for this; the posterior has none, so
    refuse with the fix rather than return that. A spherical sd is shared with the other
    features, which keep it away from 0.
    """
    constant = constant_features(X)
    if constant.size == 0 or (covariance_type == "spherical" and constant.size < X.shape[1]):
        return
    raise ValueError(
        f"feature(s) {describe_features(constant, names)} are constant: their standard "
        "deviation has no spread to describe, and its posterior collapses towards 0. Drop them"
        + (", or use covariance_type='spherical'." if constant.size < X.shape[1] else ".")
    )


def build_model(
    X: Any,
    n_components: int,
    covariance_type: str = "full",
    priors: GMMPriors | None = None,
    ordered: str | int | None = None,
    *,
    feature_names: list[str] | None = None,
    minibatch_size: int | None = None,
) -> pm.Model:
    """Build the PyMC model of a K-component Gaussian mixture.

    Parameters
    ----------
    X : array-like of shape (N, D)
        Data; a DataFrame's column names become the ``feature`` coordinate.
    n_components : int
    covariance_type : {"full", "diag", "spherical", "tied"}
    priors : GMMPriors, optional
        Hyperparameters; ``None`` fields are scaled to ``X``.
    ordered : str or int, optional
        Feature whose means are constrained increasing (an identifiability constraint;
        prefer relabeling when components overlap in that feature).
    feature_names : list of str, optional
        Overrides the DataFrame column names.
    minibatch_size : int, optional
        Use ``pm.Minibatch`` with ``total_size=N`` (for minibatch ADVI only; the batches
        are drawn from the random stream seeded by the ADVI run).

    Returns
    -------
    pymc.Model
        With coords ``component``, ``feature``, ``obs`` (and ``corr_pair``), a ``pm.Data``
        container ``X`` and the observed variable ``x``. ``model.bayesgmm_config`` holds the
        configuration (see :func:`model_config`).

    Notes
    -----
    The model is written in internal units, ``z = (x - center) / scale`` per feature
    (:mod:`bayesgmm.standardize`): the container ``X`` holds ``z``, and the free variables
    are the weights, means and sds of the mixture of ``z``, under the same priors moved
    exactly to those units. The runners of :mod:`bayesgmm.inference` report everything
    in data units; ``model.bayesgmm_data`` keeps the data as given.
    """
    data = check_data(X, min_samples=2)
    values = data.X
    n_samples, n_features = values.shape
    n_components = check_n_components(n_components, n_samples)
    check_covariance_type(covariance_type)
    priors = (priors or GMMPriors()).resolve(values, n_components)
    names = list(feature_names or data.feature_names or [f"x{i}" for i in range(n_features)])
    if len(names) != n_features:
        raise ValueError(f"feature_names has {len(names)} names for {n_features} features.")
    _refuse_constant_features(values, names, covariance_type)
    warn_if_quantised(values, names)
    # The model lives in internal units (centred, scaled): see bayesgmm.standardize.
    standard = fit_standardization(values, covariance_type)
    internal = standard.to_internal(values)
    model_priors = priors_to_internal(priors, standard)
    pairs = corr_pairs(n_features)
    coords: dict[str, Any] = {
        "component": np.arange(n_components),
        "feature": names,
        "obs": np.arange(n_samples),
    }
    if covariance_type in ("full", "tied") and pairs:
        coords["corr_pair"] = [f"{names[i]}|{names[j]}" for i, j in pairs]

    with pm.Model(coords=coords) as model:
        x_data = pm.Data("X", internal, dims=("obs", "feature"))
        weights = pm.Dirichlet(
            "weights", a=np.full(n_components, float(priors.alpha)), dims="component"
        )
        means = _means(model_priors, n_components, names, ordered, internal)
        if covariance_type in ("full", "diag"):
            stds = _std_prior("stds", model_priors, ("component", "feature"))
        elif covariance_type == "spherical":
            stds = _std_prior("stds", model_priors, "component", pooled=True)
        else:
            stds = _std_prior("stds", model_priors, "feature")

        dist_params = [weights, means, stds]
        if covariance_type in ("full", "tied") and pairs:
            beta = cpc_beta_parameters(n_features, float(priors.eta))
            cpc_dims = ("component", "corr_pair") if covariance_type == "full" else "corr_pair"
            if covariance_type == "full":
                beta = np.broadcast_to(beta, (n_components, len(pairs)))
            unit = pm.Beta("partial_corr_unit", alpha=beta, beta=beta, dims=cpc_dims)
            dist_params.append(cholesky_from_cpc(2.0 * unit - 1.0, n_features, xp=pt))

        observed = x_data
        total_size = None
        if minibatch_size is not None:
            if not 1 <= int(minibatch_size) <= n_samples:
                raise ValueError(
                    f"minibatch_size must be in [1, {n_samples}]; got {minibatch_size}."
                )
            observed = pm.Minibatch(x_data, batch_size=int(minibatch_size))
            total_size = n_samples
        signature = {
            "full": "(k),(k,d),(k,d),(k,d,d)->(d)",
            "tied": "(k),(k,d),(d),(d,d)->(d)",
            "diag": "(k),(k,d),(k,d)->(d)",
            "spherical": "(k),(k,d),(k)->(d)",
        }[covariance_type]
        if len(dist_params) == 3 and covariance_type in ("full", "tied"):  # D = 1
            signature = signature.replace(",(k,d,d)", "").replace(",(d,d)", "")
        pm.CustomDist(
            "x",
            *dist_params,
            logp=_mixture_logp_factory(covariance_type, n_features),
            random=_mixture_random_factory(covariance_type, n_features),
            signature=signature,
            observed=observed,
            total_size=total_size,
            dims=None if minibatch_size is not None else ("obs", "feature"),
        )
    model.bayesgmm_config = model_config(
        n_components, covariance_type, priors, ordered, names, n_samples, standard
    )
    model.bayesgmm_data = values  # the data in data units (the container holds internal)
    return model


def default_start(model: pm.Model) -> dict[str, np.ndarray]:
    """A valid starting point for the variables without a usable default.

    Only the ordered means need one: their prior's support point puts every component at
    the same place, where the ordered transform is undefined.
    """
    start = getattr(model, "bayesgmm_ordered_start", None)
    return {} if start is None else {"means_ordered": np.asarray(start)}


def model_config(
    n_components: int,
    covariance_type: str,
    priors: GMMPriors,
    ordered: Any,
    feature_names: list[str],
    n_samples: int,
    standardization: Standardization | None = None,
) -> dict[str, Any]:
    """The JSON-able configuration that rebuilds a model (stored in ``idata.attrs``).

    ``priors`` are in data units; ``standardization`` gives the internal units the model
    itself is written in (see :func:`config_standardization`, :func:`internal_priors`).
    """
    return {
        "n_components": int(n_components),
        "covariance_type": covariance_type,
        "priors": priors.to_dict(),
        "ordered": ordered,
        "feature_names": list(feature_names),
        "n_samples": int(n_samples),
        "standardization": None if standardization is None else standardization.to_dict(),
    }


def config_standardization(config: dict[str, Any]) -> Standardization:
    """The internal units of a stored configuration (identity for fits saved before)."""
    return Standardization.from_dict(config.get("standardization"), len(config["feature_names"]))


def internal_priors(config: dict[str, Any]) -> GMMPriors:
    """The priors of a stored configuration in the model's internal units."""
    return priors_to_internal(GMMPriors.from_dict(config["priors"]), config_standardization(config))
