"""A compiled log density and gradient of the Bayesian GMM, for nutpie.

PyTensor evaluates the model graph op by op: about 200 ops, so 100-250 microseconds per
gradient on Old Faithful whatever the backend. NUTS needs ~50,000 gradients for
2 chains x 2000 iterations, and that overhead, not the arithmetic, dominated the run time.
This module evaluates the *same* density (the same transforms, priors and parameter order
as :func:`bayesgmm.model.build_model`, checked against PyMC's own ``compile_logp`` /
``compile_dlogp`` in the tests) in one numba function with a hand-written reverse pass.

Unconstrained vector layout (PyMC's ``model.value_vars`` order):
``weights_simplex__`` (K-1), ``means`` (K*D), ``stds_log__`` (n_std),
``partial_corr_unit_logodds__`` (n_cpc: K*P full, P tied, 0 otherwise).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numba
import numpy as np

from bayesgmm.parametrization import corr_pairs, cpc_beta_parameters
from bayesgmm.priors import STD_FAMILIES, GMMPriors

__all__ = ["KernelSpec", "kernel_spec", "logp_and_grad", "pack", "unpack"]

COV_CODES = {"full": 0, "tied": 1, "diag": 2, "spherical": 3}
LOG_2PI = math.log(2.0 * math.pi)


class KernelSpec(NamedTuple):
    """Everything the compiled kernel needs besides the data and the position."""

    cov_code: int
    n_components: int
    n_features: int
    alpha: float
    mean_loc: np.ndarray
    mean_scale: np.ndarray
    std_family: int
    std_p1: np.ndarray  # per free sd: mu (lognormal), alpha (gamma, invgamma), sigma (halfnormal)
    std_p2: np.ndarray  # per free sd: sigma (lognormal), beta (gamma, invgamma), unused
    cpc_beta: np.ndarray  # per free CPC
    n_std: int
    n_cpc: int

    @property
    def ndim(self) -> int:
        """Length of the unconstrained vector."""
        k, d = self.n_components, self.n_features
        return (k - 1) + k * d + self.n_std + self.n_cpc


def kernel_spec(
    priors: GMMPriors, n_components: int, n_features: int, covariance_type: str
) -> KernelSpec:
    """Flatten resolved priors into the kernel's arrays (mirrors ``model._std_prior``)."""
    if not priors.is_resolved:
        raise ValueError("priors must be resolved (GMMPriors.resolve) first.")
    k, d = n_components, n_features
    params = priors.std_parameters(pooled=covariance_type == "spherical")
    n_std = {"full": k * d, "diag": k * d, "spherical": k, "tied": d}[covariance_type]
    family = priors.std_family
    first, second = {
        "lognormal": ("mu", "sigma"),
        "gamma": ("alpha", "beta"),
        "inversegamma": ("alpha", "beta"),
        "halfnormal": ("sigma", "sigma"),
    }[family]
    per_feature_1 = np.asarray(params[first], dtype=np.float64)
    per_feature_2 = np.asarray(params[second], dtype=np.float64)
    if covariance_type in ("full", "diag"):
        p1, p2 = np.tile(per_feature_1, k), np.tile(per_feature_2, k)
    elif covariance_type == "spherical":
        p1, p2 = np.repeat(per_feature_1, k), np.repeat(per_feature_2, k)
    else:
        p1, p2 = per_feature_1.copy(), per_feature_2.copy()
    n_pairs = len(corr_pairs(d))
    n_cpc = {"full": k * n_pairs, "tied": n_pairs}.get(covariance_type, 0)
    beta = cpc_beta_parameters(d, float(priors.eta))
    cpc_beta = np.tile(beta, k) if covariance_type == "full" else beta.copy()
    return KernelSpec(
        COV_CODES[covariance_type],
        k,
        d,
        float(priors.alpha),
        np.asarray(priors.mean_loc, dtype=np.float64),
        np.asarray(priors.mean_scale, dtype=np.float64),
        STD_FAMILIES.index(family),
        p1,
        p2,
        cpc_beta[:n_cpc] if n_cpc else np.zeros(0),
        n_std,
        n_cpc,
    )


# ---------------------------------------------------------------------------------------
# The compiled kernel
# ---------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _std_index(cov_code: int, k: int, d: int, n_features: int) -> int:
    if cov_code == 3:  # spherical
        return k
    if cov_code == 1:  # tied
        return d
    return k * n_features + d


@numba.njit(cache=True)
def _build_corr_chol(cpc: np.ndarray, n_features: int, out: np.ndarray, rem: np.ndarray) -> None:
    """C-vine CPCs (in (-1, 1), row-major lower pairs) -> Cholesky factor ``out`` (D, D)."""
    p = 0
    out[:, :] = 0.0
    out[0, 0] = 1.0
    for i in range(1, n_features):
        r = 1.0
        for j in range(i):
            rem[i, j] = r
            value = cpc[p] * math.sqrt(r)
            out[i, j] = value
            r -= value * value
            p += 1
        rem[i, i] = r
        out[i, i] = math.sqrt(r)


@numba.njit(cache=True)
def _corr_chol_backward(
    cpc: np.ndarray,
    chol: np.ndarray,
    rem: np.ndarray,
    grad_chol: np.ndarray,
    n_features: int,
    grad_cpc: np.ndarray,
) -> None:
    """Reverse pass of :func:`_build_corr_chol`: d/d cpc from d/d chol (lower part)."""
    p_row = 0
    for i in range(1, n_features):
        g_rem = grad_chol[i, i] * 0.5 / chol[i, i]
        for j in range(i - 1, -1, -1):
            r = rem[i, j]
            sq = math.sqrt(r)
            value = chol[i, j]
            g_value = grad_chol[i, j] - 2.0 * value * g_rem
            grad_cpc[p_row + j] += g_value * sq
            if j > 0:  # rem before the first pair is the constant 1
                g_rem = g_rem + g_value * cpc[p_row + j] * 0.5 / sq
        p_row += i


@numba.njit(cache=True, error_model="numpy")
def _logp_grad(
    theta: np.ndarray,
    X: np.ndarray,
    cov_code: int,
    n_components: int,
    alpha: float,
    mean_loc: np.ndarray,
    mean_scale: np.ndarray,
    std_family: int,
    std_p1: np.ndarray,
    std_p2: np.ndarray,
    cpc_beta: np.ndarray,
    n_std: int,
    n_cpc: int,
    grad: np.ndarray,
    pointwise: np.ndarray,
) -> float:
    n_samples, n_features = X.shape
    K = n_components
    D = n_features
    grad[:] = 0.0
    # ---- unpack -------------------------------------------------------------------------
    off_means = K - 1
    off_std = off_means + K * D
    off_cpc = off_std + n_std
    # weights: PyMC's simplex transform, zeta = [theta, -sum(theta)], w = softmax(zeta)
    zeta = np.empty(K)
    total = 0.0
    for k in range(K - 1):
        zeta[k] = theta[k]
        total += theta[k]
    zeta[K - 1] = -total
    zmax = zeta.max()
    weights = np.exp(zeta - zmax)
    norm = weights.sum()
    weights /= norm
    log_weights = zeta - zmax - math.log(norm)
    means = theta[off_means:off_std].reshape((K, D))
    stds_free = np.exp(theta[off_std:off_cpc])
    n_pairs = D * (D - 1) // 2
    n_chol = K if cov_code == 0 else 1
    chol = np.zeros((n_chol, D, D))
    rem = np.zeros((n_chol, D, D))
    unit = np.empty(n_cpc)
    for c in range(n_cpc):
        unit[c] = 1.0 / (1.0 + math.exp(-theta[off_cpc + c]))
    # Far in the tails the transforms round to the boundary (u = 0 or 1, s = 0 or inf, a
    # weight of 0), where the density is undefined: report -inf so the sampler treats the
    # step as divergent instead of dividing by zero.
    for c in range(n_cpc):
        if not (0.0 < unit[c] < 1.0):
            return -math.inf
    for i in range(n_std):
        if not (0.0 < stds_free[i] < math.inf):
            return -math.inf
    for k in range(K):
        if not weights[k] > 0.0:
            return -math.inf
    has_corr = n_cpc > 0
    if has_corr:
        for m in range(n_chol):
            cpc = 2.0 * unit[m * n_pairs : (m + 1) * n_pairs] - 1.0
            _build_corr_chol(cpc, D, chol[m], rem[m])
    else:
        for m in range(n_chol):
            for d in range(D):
                chol[m, d, d] = 1.0
    stds = np.empty((K, D))
    log_det = np.zeros(K)
    for k in range(K):
        m = k if cov_code == 0 else 0
        for d in range(D):
            s = stds_free[_std_index(cov_code, k, d, D)]
            stds[k, d] = s
            log_det[k] += math.log(s) + math.log(chol[m, d, d])
    # ---- likelihood and its reverse pass -------------------------------------------------
    resp_sum = np.zeros(K)
    g_means = np.zeros((K, D))
    g_stds = np.zeros((K, D))
    g_chol = np.zeros((n_chol, D, D))
    a = np.empty(K)
    c = np.empty((K, D))
    z = np.empty((K, D))
    v = np.empty(D)
    const = 0.5 * D * LOG_2PI
    loglik = 0.0
    for n in range(n_samples):
        for k in range(K):
            m = k if cov_code == 0 else 0
            quad = 0.0
            for i in range(D):
                c[k, i] = (X[n, i] - means[k, i]) / stds[k, i]
                acc = c[k, i]
                for j in range(i):
                    acc -= chol[m, i, j] * z[k, j]
                z[k, i] = acc / chol[m, i, i]
                quad += z[k, i] * z[k, i]
            a[k] = log_weights[k] - log_det[k] - 0.5 * quad - const
        amax = a.max()
        s = 0.0
        for k in range(K):
            s += math.exp(a[k] - amax)
        lse = amax + math.log(s)
        pointwise[n] = lse
        loglik += lse
        for k in range(K):
            r = math.exp(a[k] - lse)
            if r < 1e-300:
                continue
            resp_sum[k] += r
            m = k if cov_code == 0 else 0
            # v = L^-T z by back substitution
            for i in range(D - 1, -1, -1):
                acc = z[k, i]
                for j in range(i + 1, D):
                    acc -= chol[m, j, i] * v[j]
                v[i] = acc / chol[m, i, i]
            for i in range(D):
                g_means[k, i] += r * v[i] / stds[k, i]
                g_stds[k, i] += r * v[i] * c[k, i] / stds[k, i]
                for j in range(i + 1):
                    g_chol[m, i, j] += r * v[i] * z[k, j]
    # log-determinant terms, once per component with the summed responsibilities
    for k in range(K):
        m = k if cov_code == 0 else 0
        for d in range(D):
            g_stds[k, d] -= resp_sum[k] / stds[k, d]
            g_chol[m, d, d] -= resp_sum[k] / chol[m, d, d]
    logp = loglik
    # ---- weights: Dirichlet prior + simplex Jacobian (log K + sum log w) -----------------
    logp += math.lgamma(K * alpha) - K * math.lgamma(alpha) + (alpha - 1.0) * log_weights.sum()
    logp += math.log(K) + log_weights.sum()
    # d/d log w_k of (likelihood + prior + jacobian) = R_k + alpha; through the softmax:
    g_zeta = np.empty(K)
    total_mass = resp_sum.sum() + K * alpha
    for k in range(K):
        g_zeta[k] = resp_sum[k] + alpha - weights[k] * total_mass
    for k in range(K - 1):
        grad[k] = g_zeta[k] - g_zeta[K - 1]
    # ---- means: Normal prior --------------------------------------------------------------
    for k in range(K):
        for d in range(D):
            dev = (means[k, d] - mean_loc[d]) / mean_scale[d]
            logp += -0.5 * dev * dev - math.log(mean_scale[d]) - 0.5 * LOG_2PI
            grad[off_means + k * D + d] = g_means[k, d] - dev / mean_scale[d]
    # ---- standard deviations: prior on s, log transform (Jacobian s) ----------------------
    g_free = np.zeros(n_std)
    for k in range(K):
        for d in range(D):
            g_free[_std_index(cov_code, k, d, D)] += g_stds[k, d]
    for i in range(n_std):
        s = stds_free[i]
        log_s = theta[off_std + i]
        p1 = std_p1[i]
        p2 = std_p2[i]
        if std_family == 0:  # lognormal(mu=p1, sigma=p2)
            dev = (log_s - p1) / p2
            logp += -log_s - math.log(p2) - 0.5 * LOG_2PI - 0.5 * dev * dev
            g_s = -1.0 / s - dev / (p2 * s)
        elif std_family == 1:  # gamma(alpha=p1, beta=p2)
            logp += p1 * math.log(p2) - math.lgamma(p1) + (p1 - 1.0) * log_s - p2 * s
            g_s = (p1 - 1.0) / s - p2
        elif std_family == 2:  # inverse gamma(alpha=p1, beta=p2)
            logp += p1 * math.log(p2) - math.lgamma(p1) - (p1 + 1.0) * log_s - p2 / s
            g_s = -(p1 + 1.0) / s + p2 / (s * s)
        else:  # half-normal(sigma=p1)
            logp += 0.5 * math.log(2.0 / math.pi) - math.log(p1) - 0.5 * (s / p1) ** 2
            g_s = -s / (p1 * p1)
        logp += log_s  # Jacobian of s = exp(theta)
        grad[off_std + i] = (g_free[i] + g_s) * s + 1.0
    # ---- correlations: Beta(b, b) prior on u, logodds transform ---------------------------
    if has_corr:
        g_cpc = np.zeros(n_cpc)
        for m in range(n_chol):
            cpc = 2.0 * unit[m * n_pairs : (m + 1) * n_pairs] - 1.0
            _corr_chol_backward(cpc, chol[m], rem[m], g_chol[m], D, g_cpc[m * n_pairs :])
        for i in range(n_cpc):
            u = unit[i]
            b = cpc_beta[i]
            log_u = math.log(u)
            log_1mu = math.log1p(-u)
            logp += (b - 1.0) * (log_u + log_1mu) - (2.0 * math.lgamma(b) - math.lgamma(2.0 * b))
            logp += log_u + log_1mu  # Jacobian of the logodds transform
            g_u = 2.0 * g_cpc[i] + (b - 1.0) * (1.0 / u - 1.0 / (1.0 - u))
            grad[off_cpc + i] = g_u * u * (1.0 - u) + (1.0 - 2.0 * u)
    return logp


def logp_and_grad(
    theta: np.ndarray, X: np.ndarray, spec: KernelSpec, pointwise: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Log density (with Jacobians) and gradient at an unconstrained position."""
    grad = np.empty(spec.ndim)
    if pointwise is None:
        pointwise = np.empty(X.shape[0])
    value = _logp_grad(
        np.ascontiguousarray(theta, dtype=np.float64),
        X,
        spec.cov_code,
        spec.n_components,
        spec.alpha,
        spec.mean_loc,
        spec.mean_scale,
        spec.std_family,
        spec.std_p1,
        spec.std_p2,
        spec.cpc_beta,
        spec.n_std,
        spec.n_cpc,
        grad,
        pointwise,
    )
    return value, grad


# ---------------------------------------------------------------------------------------
# Packing between constrained parameters and the unconstrained vector
# ---------------------------------------------------------------------------------------


def unpack(theta: np.ndarray, spec: KernelSpec) -> dict[str, np.ndarray]:
    """Constrained parameters (the model's variable names) from an unconstrained vector."""
    k, d = spec.n_components, spec.n_features
    theta = np.asarray(theta, dtype=np.float64)
    zeta = np.append(theta[: k - 1], -theta[: k - 1].sum())
    weights = np.exp(zeta - zeta.max())
    weights /= weights.sum()
    off = k - 1
    means = theta[off : off + k * d].reshape(k, d)
    off += k * d
    stds = np.exp(theta[off : off + spec.n_std])
    off += spec.n_std
    stds = stds.reshape({0: (k, d), 1: (d,), 2: (k, d), 3: (k,)}[spec.cov_code])
    out = {"weights": weights, "means": means.copy(), "stds": stds}
    if spec.n_cpc:
        unit = 1.0 / (1.0 + np.exp(-theta[off : off + spec.n_cpc]))
        out["partial_corr_unit"] = unit.reshape(k, -1) if spec.cov_code == 0 else unit
    return out


def pack(params: dict[str, Any], spec: KernelSpec) -> np.ndarray:
    """Inverse of :func:`unpack`."""
    weights = np.asarray(params["weights"], dtype=np.float64)
    log_w = np.log(weights)
    parts = [log_w[:-1] - log_w.mean(), np.asarray(params["means"], dtype=np.float64).ravel()]
    parts.append(np.log(np.asarray(params["stds"], dtype=np.float64)).ravel())
    if spec.n_cpc:
        unit = np.asarray(params["partial_corr_unit"], dtype=np.float64).ravel()
        parts.append(np.log(unit) - np.log1p(-unit))
    return np.concatenate(parts)
