"""Can NUTS sample mclust's structures with an orthogonal orientation? (issue 21, item 4)

The four structures whose orientation ``D`` (eigenvectors) is an orthogonal matrix not
shared with the shape: EVE (lambda D A_k D^T), VVE (lambda_k D A_k D^T), EEV
(lambda D_k A D_k^T) and VEV (lambda_k D_k A D_k^T). This script is a self-contained PyMC
model of them (priors on volume, shape with det A = 1, and a Haar prior on orientation),
an independent numpy simulator of the same prior (scipy's ``special_ortho_group`` for the
orientations), a check of the PyMC prior against the simulator, and simulation-based
calibration (SBC) of NUTS (nutpie's PyMC compilation) on label- and sign-invariant
quantities. VVI (no orientation) runs through the same code as the control.

The parametrisation (``Sigma_k = lambda_k R_k diag(exp z_k) R_k^T``):

* volume ``log lambda ~ N(VOLUME_LOC, VOLUME_SD)`` (one, or one per component);
* log-shape ``z`` (D entries summing to zero: det A = 1) from D i.i.d.
  ``N(0, SHAPE_SD)`` centred (exchangeable). The eigenvector order symmetry is removed by
  an ordering: a shared shape (EEV, VEV) is sorted, parametrised by its D - 1 positive
  gaps (log transform) with the centred-Gaussian density as a potential; per-component
  shapes with a shared orientation (EVE, VVE) cannot each be sorted (one permutation of
  D's columns permutes every A_k), so their mean over the components is sorted (gaps) and
  the deviations from it are a free double-centred (K-1) x (D-1) block;
* orientation, Haar, two parametrisations (``--orientation``):

  - ``gs`` (any D): Gram-Schmidt of D - 1 unconstrained vectors ``x_j ~ N(0, I_D)`` (the
    Stiefel "polar expansion" of Jauch, Hoff & Dunson 2021): ``r_1 = x_1/|x_1|``, ``r_j``
    the normalised part of ``x_j`` orthogonal to ``r_1 .. r_{j-1}``; Gaussian vectors give
    a Haar frame, so no Jacobian is needed. Singular where ``x_j`` falls in the span of
    the previous vectors (codimension 2);
  - ``ring`` (D <= 4, the default): unit vectors ``x/|x|`` of unconstrained ``x`` whose
    norm has the prior ``exp(-(|x| - 1)^2 / (2 RING_SD^2))`` (radial, so the direction is
    uniform; the origin, the one singular point, is out of reach): for D = 2 a unit
    complex number at twice the eigenvector's angle (``r r^T = (I + reflection)/2``:
    the sign symmetry removed exactly), for D = 3 a unit quaternion (uniform quaternion:
    Haar rotation; q and -q the same), for D = 4 two unit quaternions, ``x -> p x q``
    (SU(2) x SU(2) covers SO(4)).

  ``Sigma`` uses only the projectors ``r_j r_j^T`` (``r_D r_D^T = I - sum_j<D``), which
  no sign flip changes; what is left of the sign symmetry (D = 3, 4) are exact copies
  (the same Sigma), so a chain needs to visit only one.

Runs (nice'd, one core: ``OMP_NUM_THREADS=1``; about 20-70 s per simulation on a loaded
2-core machine, after 1-2 minutes of numba compilation)::

    nice python benchmarks/orientation_study.py prior --structure EEV --dim 3
    nice python benchmarks/orientation_study.py sbc --structure EEV --dim 3 --n-sims 40 --seed 1
    nice python benchmarks/orientation_study.py sbc --structure EEV --dim 3 --orientation gs
    nice python benchmarks/orientation_study.py table     # the saved runs as a table

SBC writes ``benchmarks/results/orientation_<param>_<S>_D<d>.npz`` (ranks, divergences,
R-hat, ESS per simulation; saved every 10 simulations). K = 2, N = 60, 2 chains of 500
tuning + 500 draws, ranks among 99 thinned draws, chi-square on 20 bins.

Findings (2026-12-06; the table and its reading are in docs/mclust.md, "The Bayesian
model"; the seeds of the saved runs: EEV D=3 1, VEV D=3 2, EEV D=2 3, EVE D=3 4, VVE
D=3 5, EVE D=2 6, EEV D=4 7, VVI D=3 8, VEV D=2 9, VVE D=2 10, the gs trial 0):

* the PyMC prior equals the simulator's (KS on the nine quantities, 4000 NUTS draws of
  the prior against 4000 simulations): ``ring`` EEV D=3, EEV D=4, EVE D=3, VVE D=2,
  smallest p of nine 0.024-0.097 (Holm >= 0.22), no divergence; ``gs`` EEV D=2 0.092,
  4 divergences;
* ``gs`` diverges: EEV D=3, divergences in all 10 simulations (83);
* ``ring``: EEV and VEV (D = 2, 3, 4 / 2, 3) are calibrated and mix well (no or single
  divergences, largest R-hat 1.07); EVE and VVE, a shared orientation with
  per-component shapes, do not mix (R-hat > 1.05 in 4-7 of 30-40 runs, up to 1.72; ESS
  under 30 in a tenth), and VVE at D = 2 fails SBC (cov01_min: chi-square p < 0.001,
  170 divergences in 8 of 30 runs); the control VVI mixes well.

So the four stay EM only in the package (docs/mclust.md says why).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy import stats

# The study's prior (data of unit scale).
N_COMPONENTS = 2
WEIGHT_ALPHA = 2.0
MEAN_SD = 3.0
VOLUME_LOC, VOLUME_SD = 0.0, 0.5
SHAPE_SD = 0.7
STRUCTURES = ("EVE", "VVE", "EEV", "VEV", "VVI")
OUT = Path(__file__).parent / "results"
N_RANK_DRAWS, N_BINS = 99, 20


class Truth(NamedTuple):
    """One prior draw: weights (K,), means (K, D), covariances (K, D, D)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


# ---------------------------------------------------------------------------------------
# The independent simulator (numpy / scipy)
# ---------------------------------------------------------------------------------------


def _centred_shapes(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Log-shapes (n, D): i.i.d. normals centred to sum zero (det A = 1), unsorted."""
    g = rng.normal(0.0, SHAPE_SD, size=(n, dim))
    return g - g.mean(axis=1, keepdims=True)


def simulate_covariances(structure: str, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Covariances (K, D, D) from the prior, orientation Haar by scipy."""
    volume, shape, orient = structure
    k = N_COMPONENTS
    log_vol = rng.normal(VOLUME_LOC, VOLUME_SD, size=k if volume == "V" else 1)
    z = _centred_shapes(k if shape == "V" else 1, dim, rng)
    if orient == "I":
        rot = np.broadcast_to(np.eye(dim), (1, dim, dim))
    else:
        n_rot = k if orient == "V" else 1
        rot = stats.special_ortho_group.rvs(dim, size=n_rot, random_state=rng).reshape(
            n_rot, dim, dim
        )
    log_vol, z = np.broadcast_to(log_vol, (k,)), np.broadcast_to(z, (k, dim))
    rot = np.broadcast_to(rot, (k, dim, dim))
    return np.exp(log_vol)[:, None, None] * np.einsum("kij,kj,klj->kil", rot, np.exp(z), rot)


def simulate(structure: str, dim: int, n_samples: int, rng: np.random.Generator):
    """A prior draw and a data set (N, D) from it."""
    weights = rng.dirichlet(np.full(N_COMPONENTS, WEIGHT_ALPHA))
    means = rng.normal(0.0, MEAN_SD, size=(N_COMPONENTS, dim))
    cov = simulate_covariances(structure, dim, rng)
    labels = rng.choice(N_COMPONENTS, size=n_samples, p=weights)
    chol = np.linalg.cholesky(cov)
    X = means[labels] + np.einsum("nij,nj->ni", chol[labels], rng.normal(size=(n_samples, dim)))
    return Truth(weights, means, cov), X


# ---------------------------------------------------------------------------------------
# The PyMC model
# ---------------------------------------------------------------------------------------


def _helm(n: int) -> np.ndarray:
    """(n-1, n): Helmert's orthonormal rows, each orthogonal to the ones vector."""
    rows = []
    for i in range(1, n):
        row = np.zeros(n)
        row[:i] = 1.0
        row[i] = -i
        rows.append(row / np.linalg.norm(row))
    return np.array(rows)


def _sorted_centred(gaps, dim: int):
    """Sorted (descending) log-shape summing to zero from its D - 1 positive gaps."""
    import pytensor.tensor as pt

    tops = pt.concatenate([pt.zeros(1), -pt.cumsum(gaps)])
    return tops - tops.mean()


def _shape_potential(z, weight: float):
    """The centred-Gaussian log density of a sorted log-shape (up to a constant)."""
    import pytensor.tensor as pt

    return -weight * pt.sum(z**2) / (2 * SHAPE_SD**2)


def _log_shapes(structure: str, dim: int):
    """The (K, D) log-shapes as a PyTensor expression (inside a model context)."""
    import pymc as pm
    import pytensor.tensor as pt

    k = N_COMPONENTS
    _, shape, orient = structure
    if orient == "I":  # the control: exchangeable, no ordering needed (axes are fixed)
        eta = pm.Normal("shape_free", 0.0, SHAPE_SD, shape=(k, dim - 1))
        return pt.dot(eta, _helm(dim))
    gaps = pm.HalfFlat("shape_gaps", shape=dim - 1)
    top = _sorted_centred(gaps, dim)
    if shape == "E":
        pm.Potential("shape_prior", _shape_potential(top, 1.0))
        return pt.broadcast_to(top, (k, dim))
    # Per-component shapes, shared orientation: the mean shape is sorted.
    pm.Potential("shape_prior", _shape_potential(top, float(k)))
    dev = pm.Normal("shape_dev", 0.0, SHAPE_SD, shape=(k - 1, dim - 1))
    return top[None, :] + pt.dot(pt.dot(_helm(k).T, dev), _helm(dim))


def _projectors(x, dim: int):
    """Gram-Schmidt of the D - 1 columns of x (..., D, D-1): the projectors r_j r_j^T
    (..., D-1, D, D)."""
    import pytensor.tensor as pt

    frame = []
    for j in range(dim - 1):
        v = x[..., :, j]
        for r in frame:
            v = v - pt.sum(v * r, axis=-1, keepdims=True) * r
        frame.append(v / pt.sqrt(pt.sum(v**2, axis=-1, keepdims=True)))
    return pt.stack([r[..., :, None] * r[..., None, :] for r in frame], axis=-3)


#: The orientation's parametrisation: "gs" (Gram-Schmidt of Gaussian vectors, any D) or
#: "ring" (a unit vector of R^2 (D=2, doubled angle) or R^4 (D=3, a unit quaternion) from
#: an unconstrained vector whose norm has a ring prior around 1).
ORIENTATION = {"param": "ring"}
RING_SD = 0.25


def _ring_vector(name: str, n: int, m: int):
    """n unit vectors of R^m, uniform on the sphere: x / |x| with x's norm near 1 (the
    ring prior is radial, so the direction is uniform whatever its radial profile)."""
    import pymc as pm
    import pytensor.tensor as pt

    x = pm.Flat(name, shape=(n, m), initval=np.tile(np.eye(m)[0], (n, 1)))
    radius = pt.sqrt(pt.sum(x**2, axis=-1))
    # density of x ~ exp(-(r-1)^2 / 2s^2): the radius sees it times r^(m-1); harmless.
    pm.Potential(name + "_ring", -pt.sum((radius - 1.0) ** 2) / (2 * RING_SD**2))
    return x / radius[:, None]


def _quaternion_rotation(q):
    """(n, 3, 3) rotations of unit quaternions q (n, 4) (q and -q: the same rotation)."""
    import pytensor.tensor as pt

    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return pt.stack([pt.stack(row, axis=-1) for row in rows], axis=-2)


def _quaternion_product_matrix(q, left: bool):
    """(n, 4, 4): the matrices of x -> q x (``left``) or x -> x q on quaternions x."""
    import pytensor.tensor as pt

    a, b, c, d = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    s = 1.0 if left else -1.0  # the two products differ in the sign of the cross part
    rows = [
        [a, -b, -c, -d],
        [b, a, -s * d, s * c],
        [c, s * d, a, -s * b],
        [d, -s * c, s * b, a],
    ]
    return pt.stack([pt.stack(row, axis=-1) for row in rows], axis=-2)


def _orientation(n_rot: int, dim: int):
    """Projectors (n_rot, D-1, D, D) of the first D-1 eigenvectors, Haar-distributed."""
    import pymc as pm
    import pytensor.tensor as pt

    if ORIENTATION["param"] == "gs":
        x = pm.Normal("orient_free", 0.0, 1.0, shape=(n_rot, dim, dim - 1))
        return _projectors(x, dim)
    if dim == 2:  # r r^T = (I + [[c, s], [s, -c]]) / 2 with (c, s) at twice r's angle
        u = _ring_vector("orient_free", n_rot, 2)
        c, s = u[:, 0], u[:, 1]
        refl = pt.stack([pt.stack([c, s], -1), pt.stack([s, -c], -1)], -2)
        return ((pt.eye(2)[None] + refl) / 2)[:, None]
    if dim == 3:
        rot = _quaternion_rotation(_ring_vector("orient_free", n_rot, 4))
    else:  # D = 4: x -> p x q for two unit quaternions (SU(2) x SU(2) covers SO(4))
        left = _quaternion_product_matrix(_ring_vector("orient_free", n_rot, 4), left=True)
        right = _quaternion_product_matrix(_ring_vector("orient_right", n_rot, 4), left=False)
        rot = pt.matmul(left, right)
    cols = [rot[:, :, j] for j in range(dim - 1)]
    return pt.stack([c[:, :, None] * c[:, None, :] for c in cols], axis=1)


def _covariances(structure: str, dim: int):
    import pymc as pm
    import pytensor.tensor as pt

    k = N_COMPONENTS
    volume, _, orient = structure
    log_vol = pm.Normal("log_volume", VOLUME_LOC, VOLUME_SD, shape=k if volume == "V" else 1)
    z = _log_shapes(structure, dim)
    a = pt.exp(z)  # (K, D)
    eye = pt.eye(dim)
    if orient == "I":
        shape_mat = a[:, :, None] * eye[None]
    else:
        n_rot = k if orient == "V" else 1
        proj = pt.broadcast_to(_orientation(n_rot, dim), (k, dim - 1, dim, dim))
        last = a[:, -1]
        shape_mat = last[:, None, None] * eye[None] + pt.sum(
            (a[:, :-1] - last[:, None])[:, :, None, None] * proj, axis=1
        )
    cov = pt.broadcast_to(pt.exp(log_vol), (k,))[:, None, None] * shape_mat
    return pm.Deterministic("cov", cov)


def build_model(structure: str, X: np.ndarray):
    """The mixture's PyMC model; ``lik_weight`` (Data) 0 leaves the prior alone."""
    import pymc as pm
    import pytensor.tensor as pt

    dim = X.shape[1]
    k = N_COMPONENTS
    with pm.Model() as model:
        data = pm.Data("X", X)
        lik_weight = pm.Data("lik_weight", 1.0)
        w = pm.Dirichlet("weights", np.full(k, WEIGHT_ALPHA))
        mu = pm.Normal("means", 0.0, MEAN_SD, shape=(k, dim))
        cov = _covariances(structure, dim)
        chol = pt.linalg.cholesky(cov)
        comp = []
        for j in range(k):
            diff = (data - mu[j]).T
            sol = pt.linalg.solve_triangular(chol[j], diff, lower=True)
            logdet = pt.sum(pt.log(pt.diagonal(chol[j])))
            comp.append(
                pt.log(w[j]) - 0.5 * pt.sum(sol**2, axis=0) - logdet - 0.5 * dim * np.log(2 * np.pi)
            )
        loglik = pt.logsumexp(pt.stack(comp, axis=0), axis=0)
        pm.Potential("loglik", lik_weight * pt.sum(loglik))
    return model


def compile_model(structure: str, X: np.ndarray):
    import nutpie

    model = build_model(structure, X)
    dim = X.shape[1]
    init = {"means": "prior", "weights": "prior"}
    if structure[2] != "I":
        init["shape_gaps"] = np.full(dim - 1, SHAPE_SD)
    return nutpie.compile_pymc_model(model, freeze_model=False, initial_points=init)


def sample(compiled, seed: int, draws: int, tune: int, chains: int = 2):
    import nutpie

    return nutpie.sample(
        compiled, draws=draws, tune=tune, chains=chains, cores=1, seed=seed, progress_bar=False
    )


# ---------------------------------------------------------------------------------------
# Label- and sign-invariant quantities
# ---------------------------------------------------------------------------------------

QUANTITIES = (
    "max_weight",
    "logdet_min",
    "logdet_max",
    "log_eig_min",
    "log_eig_max",
    "cov01_min",
    "cov01_max",
    "abs_cos_lead_x0",
    "loglik",
)


def quantities(weights, means, cov, X) -> np.ndarray:
    """(S, Q) quantities of S draws: functions of the Sigma_k (so sign- and order-free)
    sorted or summed over the components (label-free)."""
    logdet = np.linalg.slogdet(cov)[1]
    eig, vec = np.linalg.eigh(cov)
    lead = np.abs(vec[..., 0, -1])  # |cos| of the leading eigenvector with axis 0
    k_max = np.argmax(weights, axis=1)
    rows = np.arange(len(weights))
    diff = X[None, None] - means[:, :, None, :]
    chol = np.linalg.cholesky(cov)
    sol = np.linalg.solve(chol[:, :, None], diff[..., None])[..., 0]
    logdens = (
        np.log(weights)[:, :, None]
        - 0.5 * (sol**2).sum(-1)
        - 0.5 * logdet[:, :, None]
        - 0.5 * X.shape[1] * np.log(2 * np.pi)
    )
    loglik = np.logaddexp.reduce(logdens, axis=1).sum(axis=1)
    return np.column_stack(
        [
            weights.max(axis=1),
            logdet.min(axis=1),
            logdet.max(axis=1),
            np.log(eig[..., 0]).min(axis=1),
            np.log(eig[..., -1]).max(axis=1),
            cov[:, :, 0, 1].min(axis=1),
            cov[:, :, 0, 1].max(axis=1),
            lead[rows, k_max],
            loglik,
        ]
    )


def _posterior_arrays(idata):
    post = idata.posterior
    flat = lambda v: post[v].values.reshape(-1, *post[v].shape[2:])  # noqa: E731
    return flat("weights"), flat("means"), flat("cov")


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------


def check_prior(structure: str, dim: int, n_draws: int = 4000, seed: int = 0) -> dict:
    """The PyMC model's prior (NUTS on the model without the likelihood) against the
    simulator: KS p-value per quantity (MCMC draws thinned to about independent)."""
    import arviz as az

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, dim))
    compiled = compile_model(structure, X).with_data(lik_weight=0.0)
    idata = sample(compiled, seed, draws=n_draws, tune=1000, chains=2)
    w, mu, cov = _posterior_arrays(idata)
    ess = float(np.min([az.ess(q) for q in _by_chain(quantities(w, mu, cov, X), 2)]))
    thin = max(1, int(len(w) / max(ess, 1)))
    ours = quantities(w, mu, cov, X)[::thin]
    sims = [simulate(structure, dim, 1, rng)[0] for _ in range(4000)]
    ref = quantities(
        np.array([s.weights for s in sims]),
        np.array([s.means for s in sims]),
        np.array([s.covariances for s in sims]),
        X,
    )
    p = {q: stats.ks_2samp(ours[:, i], ref[:, i]).pvalue for i, q in enumerate(QUANTITIES)}
    div = int(idata.sample_stats["diverging"].values.sum())
    return {"p_values": p, "divergences": div, "min_ess": ess, "kept": len(ours)}


def _by_chain(values: np.ndarray, chains: int):
    per = values.reshape(chains, -1, values.shape[1])
    return [per[..., q] for q in range(values.shape[1])]


def run_sbc(
    structure: str, dim: int, n_sims: int, n_samples: int, seed: int, draws: int, tune: int
) -> dict:
    """SBC: ranks of the truth's quantities among L=99 thinned draws, with per-simulation
    divergences, the largest R-hat and the smallest bulk ESS of the quantities."""
    import arviz as az

    rng = np.random.default_rng(seed)
    compiled = None
    ranks = np.empty((n_sims, len(QUANTITIES)), dtype=np.int64)
    divs, rhat, ess = np.zeros(n_sims, int), np.zeros(n_sims), np.zeros(n_sims)
    start = time.perf_counter()
    for i in range(n_sims):
        truth, X = simulate(structure, dim, n_samples, rng)
        if compiled is None:
            base = compile_model(structure, X)
        compiled = base.with_data(X=X)
        idata = sample(compiled, int(rng.integers(2**31)), draws=draws, tune=tune)
        w, mu, cov = _posterior_arrays(idata)
        values = quantities(w, mu, cov, X)
        true = quantities(truth.weights[None], truth.means[None], truth.covariances[None], X)[0]
        keep = np.linspace(0, len(values) - 1, N_RANK_DRAWS).round().astype(int)
        below = (values[keep] < true).sum(axis=0)
        ranks[i] = below
        divs[i] = int(idata.sample_stats["diverging"].values.sum())
        per_chain = _by_chain(values, 2)
        rhat[i] = float(np.nanmax([az.rhat(q) for q in per_chain]))
        ess[i] = float(np.nanmin([az.ess(q) for q in per_chain]))
        if (i + 1) % 10 == 0 or i + 1 == n_sims:  # saved as it goes: a cut run keeps its part
            print(f"{structure} D={dim}: {i + 1}/{n_sims} ({time.perf_counter() - start:.0f} s)")
            done = slice(0, i + 1)
            path = _save(
                f"{structure}_D{dim}",
                ranks=ranks[done],
                divergences=divs[done],
                rhat=rhat[done],
                ess=ess[done],
                n_samples=n_samples,
                draws=draws,
                tune=tune,
                seconds=time.perf_counter() - start,
            )
    return summarise(path)


def _save(name: str, **arrays) -> Path:
    """Write ``benchmarks/results/orientation_<param>_<name>.npz``."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"orientation_{ORIENTATION['param']}_{name}.npz"
    np.savez(path, **arrays)
    return path


#: Quantities that are constant or two-valued without an orientation (the control VVI:
#: zero covariances, eigenvectors on the axes): their ranks are ties, left out.
NO_ORIENTATION_TIES = ("cov01_min", "cov01_max", "abs_cos_lead_x0")


def summarise(path: Path) -> dict:
    """Uniformity p-values of a saved run's ranks, its divergences, R-hat and ESS."""
    data = np.load(path)
    structure = path.stem.split("_")[2]
    used = [
        q
        for q, name in enumerate(QUANTITIES)
        if not (structure[2] == "I" and name in NO_ORIENTATION_TIES)
    ]
    ranks = data["ranks"][:, used]
    width = (N_RANK_DRAWS + 1) // N_BINS
    chi2 = [
        stats.chisquare(np.bincount(ranks[:, q] // width, minlength=N_BINS)).pvalue
        for q in range(ranks.shape[1])
    ]
    ks = [
        stats.kstest((ranks[:, q] + 0.5) / (N_RANK_DRAWS + 1), "uniform").pvalue
        for q in range(ranks.shape[1])
    ]
    divs, rhat, ess = data["divergences"], data["rhat"], data["ess"]
    return {
        "n_sims": len(ranks),
        "min_chi2_p": float(np.min(chi2)),
        # Holm's smallest adjusted p-value (m times the smallest): below 0.01 rejects.
        "holm_chi2_p": float(min(1.0, len(chi2) * np.min(chi2))),
        "min_ks_p": float(np.min(ks)),
        "chi2_p": dict(zip([QUANTITIES[q] for q in used], np.round(chi2, 3), strict=True)),
        "sims_with_divergences": int((divs > 0).sum()),
        "divergences_total": int(divs.sum()),
        "rhat_gt_1.01": int((rhat > 1.01).sum()),
        "rhat_gt_1.05": int((rhat > 1.05).sum()),
        "rhat_max": float(np.nanmax(rhat)),
        "ess_min_p10": float(np.percentile(ess, 10)),
        "ess_min_median": float(np.median(ess)),
        "seconds": float(data["seconds"]),
    }


def markdown_table() -> str:
    """The saved SBC runs as the table of docs/mclust.md."""
    lines = [
        "| structure | D | orientation | sims | smallest p (Holm) | sims with divergences "
        "(total) | R-hat > 1.01 / > 1.05 (largest) | ESS 10 % / median | s per sim |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(OUT.glob("orientation_*.npz")):
        _, param, structure, dim = path.stem.split("_")
        r = summarise(path)
        lines.append(
            f"| {structure} | {dim[1:]} | {param} | {r['n_sims']} | {r['holm_chi2_p']:.2f} | "
            f"{r['sims_with_divergences']} ({r['divergences_total']}) | "
            f"{r['rhat_gt_1.01']} / {r['rhat_gt_1.05']} ({r['rhat_max']:.3f}) | "
            f"{r['ess_min_p10']:.0f} / {r['ess_min_median']:.0f} | "
            f"{r['seconds'] / r['n_sims']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("prior", "sbc", "table"))
    parser.add_argument("--structure", choices=STRUCTURES, default="EEV")
    parser.add_argument("--dim", type=int, choices=(2, 3, 4), default=2)
    parser.add_argument("--n-sims", type=int, default=100)
    parser.add_argument("--n-samples", type=int, default=60)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--orientation", choices=("ring", "gs"), default="ring")
    args = parser.parse_args()
    ORIENTATION["param"] = args.orientation
    if args.what == "prior":
        print(check_prior(args.structure, args.dim, seed=args.seed))
    elif args.what == "sbc":
        print(
            run_sbc(
                args.structure,
                args.dim,
                args.n_sims,
                args.n_samples,
                args.seed,
                args.draws,
                args.tune,
            )
        )
    else:
        print(markdown_table())


if __name__ == "__main__":
    main()
