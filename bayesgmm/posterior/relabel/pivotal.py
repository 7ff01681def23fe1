"""Pivotal reordering: match every draw's components to a reference (Marin et al. 2005)."""

from __future__ import annotations

import numpy as np

from bayesgmm.posterior.relabel._checks import (
    SUM_ATOL,
    float_array,
    precision,
)
from bayesgmm.posterior.relabel.permutations import solve_assignments

__all__ = ["pivot"]


def _symmetrised_kl(
    means: np.ndarray,
    prec: np.ndarray,
    cov: np.ndarray,
    ref_means: np.ndarray,
    ref_prec: np.ndarray,
    ref_cov: np.ndarray,
) -> np.ndarray:
    """Symmetrised KL ``KL(p||q) + KL(q||p)`` for all (draw, new k, old j) pairs.

    For Gaussians the log-determinants cancel::

        2 * J = tr(Pq Sp) + tr(Pp Sq) + dm^T (Pp + Pq) dm - 2 D

    Returns an array of shape ``(S, K, K)`` indexed ``[s, k (reference), j (draw)]``.
    """
    n_dim = means.shape[-1]
    # Traces of products of symmetric matrices are sums of elementwise products.
    tr_ref_prec_cov = np.einsum("kab,sjab->skj", ref_prec, cov, optimize=True)
    tr_prec_ref_cov = np.einsum("sjab,kab->skj", prec, ref_cov, optimize=True)
    diff = means[:, None, :, :] - ref_means[None, :, None, :]  # (S, K_ref, K_draw, D)
    maha_ref = np.einsum("skjd,kde,skje->skj", diff, ref_prec, diff, optimize=True)
    maha_draw = np.einsum("skjd,sjde,skje->skj", diff, prec, diff, optimize=True)
    return 0.5 * (tr_ref_prec_cov + tr_prec_ref_cov + maha_ref + maha_draw - 2 * n_dim)


def pivot(
    means: np.ndarray,
    covariances: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    *,
    reference_means: np.ndarray,
    reference_covariances: np.ndarray | None = None,
) -> np.ndarray:
    """Pivotal reordering: match every draw's components to a reference labeling.

    Each draw is relabeled by the Hungarian algorithm so that new label ``k`` is the draw
    component closest to reference component ``k`` (Marin, Mengersen & Robert, 2005). A
    natural reference is a high-posterior draw (e.g. the MAP draw) or a point estimate.

    Parameters
    ----------
    means : numpy.ndarray
        Component means of the draws, shape ``(S, K, D)``.
    covariances : numpy.ndarray, optional
        Component covariances of the draws, shape ``(S, K, D, D)``. Requires
        ``reference_covariances``.
    weights : numpy.ndarray, optional
        Mixture weights of the draws, shape ``(S, K)``, non-negative, rows summing to 1.
        If given, the cost of matching draw component ``j`` is multiplied by
        ``weights[s, j]`` so that heavy components are matched first and nearly empty
        components (whose parameters mostly reflect the prior) cannot displace them.
    reference_means : numpy.ndarray
        Reference means, shape ``(K, D)``. Keyword-only, required.
    reference_covariances : numpy.ndarray, optional
        Reference covariances, shape ``(K, D, D)``.

    Returns
    -------
    numpy.ndarray
        Permutations, shape ``(S, K)``.

    Notes
    -----
    The matching cost between draw component ``j`` and reference component ``k`` is

    * with ``covariances`` and ``reference_covariances``: the symmetrised Kullback-Leibler
      divergence between ``N(mu_j, Sigma_j)`` and ``N(ref_mu_k, ref_Sigma_k)``, which
      separates components that differ in shape/scale but share a location;
    * with only ``reference_covariances``: the squared Mahalanobis distance between the
      means under the pooled (averaged) reference covariance;
    * otherwise: the squared Euclidean distance between the means.
    """
    means_arr = float_array(means, "means", 3)
    n_draws, n_comp, n_dim = means_arr.shape
    ref_means = float_array(reference_means, "reference_means", 2)
    if ref_means.shape != (n_comp, n_dim):
        raise ValueError(
            f"reference_means must have shape (K, D) = {(n_comp, n_dim)}, got {ref_means.shape}."
        )
    ref_cov = None
    if reference_covariances is not None:
        ref_cov = float_array(reference_covariances, "reference_covariances", 3)
        if ref_cov.shape != (n_comp, n_dim, n_dim):
            raise ValueError(
                f"reference_covariances must have shape (K, D, D) = {(n_comp, n_dim, n_dim)}, "
                f"got {ref_cov.shape}."
            )

    if covariances is not None:
        if ref_cov is None:
            raise ValueError("covariances were given but reference_covariances is missing.")
        cov = float_array(covariances, "covariances", 4)
        if cov.shape != (n_draws, n_comp, n_dim, n_dim):
            raise ValueError(
                f"covariances must have shape (S, K, D, D) = "
                f"{(n_draws, n_comp, n_dim, n_dim)}, got {cov.shape}."
            )
        cost = _symmetrised_kl(
            means_arr,
            precision(cov, "covariances"),
            cov,
            ref_means,
            precision(ref_cov, "reference_covariances"),
            ref_cov,
        )
    else:
        diff = means_arr[:, None, :, :] - ref_means[None, :, None, :]  # (S, K_ref, K_draw, D)
        if ref_cov is not None:
            pooled_prec = precision(ref_cov.mean(axis=0), "pooled reference covariance")
            cost = np.einsum("skjd,de,skje->skj", diff, pooled_prec, diff, optimize=True)
        else:
            cost = np.einsum("skjd,skjd->skj", diff, diff)

    if weights is not None:
        w = float_array(weights, "weights", 2)
        if w.shape != (n_draws, n_comp):
            raise ValueError(
                f"weights must have shape (S, K) = {(n_draws, n_comp)}, got {w.shape}."
            )
        if np.any(w < 0) or np.any(np.abs(w.sum(axis=1) - 1.0) > SUM_ATOL):
            raise ValueError("weights must be non-negative and each row must sum to 1.")
        cost = cost * w[:, None, :]
    return solve_assignments(cost)
