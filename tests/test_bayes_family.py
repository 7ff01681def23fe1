"""The Bayesian model of mclust's family (issue 21, item 4): EII, EEI, VEI, EVI, VEE, EVV,
and EEV, VEV for 2 <= D <= 4 (their own checks: ``test_bayes_orientation.py``).

Each structure's compiled kernel, value and gradient, against PyMC's own ``logp`` /
``dlogp`` of the same model (the positions of ``test_kernel_grid.py``) across K, D and N,
every sd prior family, with observation weights, partial labels, missing values and the
sparse finite mixture; its layout against the PyMC model; its prior simulator against
PyMC's prior draws; a short NUTS fit that recovers simulated covariances; the start; and
a small SBC of each (200 simulations each in ``test_calibration.py``, slow).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats
from test_calibration import ALPHA, SMALL
from test_calibration import PRIORS as SBC_PRIORS
from test_kernel_grid import N_GRID, _compare, _data
from test_kernel_missing import check_weights_labels_and_nan

from bayesgmm import BayesianGMM
from bayesgmm.bayes.calibration.prior import simulate_prior
from bayesgmm.bayes.calibration.sbc import run_sbc
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.mixture.draws import covariances_from_draws
from bayesgmm.mixture.structures import bayesian_structure, get_structure

#: The structures of this module (those of the family that have a Bayesian model).
FAMILY = tuple(
    name
    for name in ("EII", "EEI", "VEI", "EVI", "VEE", "EVV", "EEV", "VEV")
    if get_structure(name).bayesian
)
#: Those with an orientation per component (2 <= D <= 4).
ORIENTED = tuple(name for name in FAMILY if get_structure(name).bayesian.oriented)
FAMILY_PRIORS = dict(alpha=0.8, eta=1.6, std_spread=0.7)


def _grid_case(k: int, d: int, cov_type: str, family: str, alpha_prior: object = None) -> None:
    X = _data(d, seed=10 * k + d)
    priors = GMMPriors(std_family=family, alpha_prior=alpha_prior, **FAMILY_PRIORS)
    gmm = build_model(X, k, cov_type, priors=priors)
    failures = _compare(gmm, N_GRID, seed=k + 7 * d)
    assert not failures, f"K={k} D={d} {cov_type} {family}:\n" + "\n".join(failures)


# Every structure at D = 1 (no shape, no correlations), K = 1 (an empty simplex) and
# K = 4, D = 4 (several blocks of correlations and shapes), one family each in turn.
SLICE = [
    (k, d, cov, family)
    for i, cov in enumerate(FAMILY)
    for (k, d), family in zip(
        # EEV, VEV (no D = 1): K = 1 at D = 2, K = 3 at D = 4, K = 2 at D = 3 (slow)
        [(1, 2), (3, 4), (2, 3)] if cov in ORIENTED else [(1, 1), (2, 2), (4, 4), (3, 3)],
        np.roll(["lognormal", "gamma", "inversegamma", "halfnormal"], i),
        strict=False,
    )
]


# D = 1 (no shape) and K = 4, D = 4 (the most blocks) run by default; K = 2, D = 2 and
# K = 3, D = 3 under -m slow, as test_kernel_grid.py keeps its full grid (CI's 15 minutes).
# EEV and VEV: K = 1 at D = 2 by default (D = 4 runs with NaN, weights and labels below,
# and tests/test_kernel_orient.py checks D = 2, 3, 4 against a numpy reference), the rest
# under -m slow (CI's 15 minutes: a fresh-clone run took 14:12 with them all by default).
SLICE_CASES = [
    pytest.param(case, marks=pytest.mark.slow)
    if (case[2] not in ORIENTED and case[0] in (2, 3)) or (case[2] in ORIENTED and case[1] > 2)
    else case
    for case in SLICE
]

#: The sparse alpha prior by default for one structure of each kind (its terms do not
#: depend on the structure; test_kernel_grid.py has it for the original four), the rest slow.
SPARSE_DEFAULT = ("EVV", "EEV")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", SLICE_CASES, ids=lambda c: f"K{c[0]}-D{c[1]}-{c[2]}-{c[3]}")
def test_kernel_matches_pymc_for_the_family(case: tuple[int, int, str, str]) -> None:
    _grid_case(*case)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "cov_type",
    [n if n in SPARSE_DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in FAMILY],
)
def test_kernel_matches_pymc_with_the_sparse_alpha_prior(cov_type: str) -> None:
    _grid_case(3, 2, cov_type, "lognormal", "sparse")


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "cov_type",
    [pytest.param(n, marks=pytest.mark.slow) if n == "VEV" else n for n in FAMILY],
)
def test_kernel_matches_pymc_with_weights_labels_and_nan(cov_type: str) -> None:
    """Rows with NaN (marginalised), observation weights and partial labels at once, 700
    rows: patterns and labelled rows straddle the kernel's blocks."""
    check_weights_labels_and_nan(cov_type)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", FAMILY)
def test_the_layout_is_the_models(cov_type: str) -> None:
    X = _data(3, seed=4)[:200]
    gmm = build_model(X, 3, cov_type)
    wanted = [block.value_name for block in gmm.spec.blocks]
    assert [var.name for var in gmm.model.value_vars] == wanted
    shapes = gmm.model.eval_rv_shapes()
    assert gmm.spec.ndim == sum(int(np.prod(shapes[name])) for name in wanted)
    theta = np.random.default_rng(2).normal(size=(5, gmm.spec.ndim))
    np.testing.assert_allclose(gmm.spec.pack(gmm.spec.unpack(theta)), theta, atol=1e-12)


def _structure_holds(cov: np.ndarray, cov_type: str) -> None:
    """``cov`` (..., K, D, D) has the structure mclust's letters name."""
    volume, shape, orientation = cov_type
    d = cov.shape[-1]
    sign, log_det = np.linalg.slogdet(cov)
    assert np.all(sign > 0)
    vol = np.exp(log_det / d)  # lambda_k
    normalised = cov / vol[..., None, None]  # C_k = D_k A_k D_k^T, det 1
    if volume == "E":
        np.testing.assert_allclose(vol, np.broadcast_to(vol[..., :1], vol.shape), rtol=1e-9)
    if orientation == "I":
        off = normalised - np.eye(d) * np.diagonal(normalised, axis1=-2, axis2=-1)[..., None, :]
        assert np.all(off == 0)
    if shape == "I":
        np.testing.assert_allclose(normalised, np.broadcast_to(np.eye(d), cov.shape), atol=1e-12)
    if shape == "E" and orientation in "EI":
        first = np.broadcast_to(normalised[..., :1, :, :], normalised.shape)
        np.testing.assert_allclose(normalised, first, rtol=1e-9, atol=1e-12)
    if shape == "E" and orientation == "V":  # one shape: the same eigenvalues of C_k
        eig = np.linalg.eigvalsh(normalised)
        np.testing.assert_allclose(eig, np.broadcast_to(eig[..., :1, :], eig.shape), rtol=1e-9)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", [name for name in FAMILY if name not in ORIENTED])
def test_prior_simulator_matches_the_model_prior(cov_type: str) -> None:
    """The independent simulator against ``pm.draw`` of the PyMC model's prior, in data
    units: every structure's constraint holds, and the log volume, each feature's log sd
    and (with correlations) each correlation agree by two-sample KS. (EEV and VEV have
    potentials, which ``pm.draw`` cannot draw: NUTS on their prior is checked in
    ``test_bayes_orientation.py``.)"""
    priors = GMMPriors(
        mean_loc=[0.0, 1.0, -1.0], mean_scale=1.0, std_scale=[0.5, 2.0, 1.0], std_spread=0.6
    )
    X = np.random.default_rng(0).normal(size=(10, 3)) * [1.0, 3.0, 0.5]
    k, n = 2, 3000
    gmm = build_model(X, k, cov_type, priors=priors)
    names = [block.name for block in gmm.spec.blocks if block.name not in ("weights", "means")]
    draws = pm.draw([gmm.model[name] for name in names], draws=n, random_seed=2)
    internal = gmm.spec.with_stds(dict(zip(names, draws, strict=True)))
    ours = gmm.spec.standardization.params_to_data(internal, cov_type)
    unit = ours.get("partial_corr_unit")
    model_cov, _ = covariances_from_draws(ours["stds"], unit, cov_type, k, 3)
    rng = np.random.default_rng(3)
    sim_cov = np.stack([simulate_prior(priors, k, cov_type, 1, rng).covariances for _ in range(n)])
    _structure_holds(model_cov, cov_type)
    _structure_holds(sim_cov, cov_type)

    def summaries(cov: np.ndarray) -> dict[str, np.ndarray]:
        sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
        out = {"log_volume": np.linalg.slogdet(cov)[1][:, 0] / 3}
        out.update({f"log_sd_{d}": np.log(sd[:, 0, d]) for d in range(3)})
        out.update({f"log_sd_{d}_k1": np.log(sd[:, 1, d]) for d in range(3)})
        corr = cov / (sd[..., :, None] * sd[..., None, :])
        out.update({f"corr_{i}{j}": corr[:, 0, i, j] for i in range(3) for j in range(i)})
        return out

    for name, value in summaries(model_cov).items():
        other = summaries(sim_cov)[name]
        if np.ptp(value) == 0 and np.ptp(other) == 0:
            assert value[0] == pytest.approx(other[0], abs=1e-12), name
            continue
        assert stats.ks_2samp(value, other).pvalue > 1e-3, name


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", FAMILY)
def test_simulated_data_follow_the_structure(cov_type: str) -> None:
    priors = GMMPriors(mean_loc=[0.0, 0.0], mean_scale=2.0, std_scale=1.0, std_spread=0.5)
    draw = simulate_prior(priors, 3, cov_type, 600, np.random.default_rng(8))
    assert draw.X.shape == (600, 2) and draw.covariances.shape == (3, 2, 2)
    _structure_holds(draw.covariances[None], cov_type)


def _truth(cov_type: str) -> np.ndarray:
    """Two well-separated components' covariances (2-D) of the structure: volumes 1 and 3
    (V), shapes (2, 0.5) and (0.5, 2) (V), correlations 0.6 and -0.5 (V)."""
    volume, shape, orientation = cov_type
    volumes = [1.0, 1.0 if volume == "E" else 3.0]
    shapes = [[2.0, 0.5], [2.0, 0.5] if shape != "V" else [0.5, 2.0]]
    if shape == "I":
        shapes = [[1.0, 1.0], [1.0, 1.0]]
    corr = [0.0, 0.0] if orientation == "I" else [0.6, 0.6 if orientation == "E" else -0.5]
    if shape == "E" and orientation == "V":  # EEV, VEV: the shape (2, 0.5) rotated by 30 / -50 deg
        angles = np.radians([30.0, -50.0])
        rot = np.array([[[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]] for a in angles])
        lam = np.asarray(volumes)[:, None, None]
        return lam * np.einsum("kij,j,klj->kil", rot, np.array([2.0, 0.5]), rot)
    cov = np.empty((2, 2, 2))
    for k in range(2):
        sd = np.sqrt(shapes[k])
        c = sd[:, None] * np.array([[1.0, corr[k]], [corr[k], 1.0]]) * sd[None, :]
        cov[k] = volumes[k] * c / np.linalg.det(c) ** 0.5
    return cov


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cov_type", FAMILY)
def test_nuts_recovers_simulated_covariances(cov_type: str) -> None:
    truth = _truth(cov_type)
    rng = np.random.default_rng(5)
    means = np.array([[0.0, 0.0], [8.0, 8.0]])
    X = np.concatenate([rng.multivariate_normal(means[k], truth[k], size=400) for k in range(2)])
    # Data units other than the model's internal ones (one common scale: a per-feature
    # scale would change lambda I into a diagonal matrix).
    X = 3.0 * X + [100.0, -3.0]
    truth = 9.0 * truth
    fit = BayesianGMM(
        n_components=2, covariance_type=cov_type, draws=300, tune=300, chains=2, random_seed=1
    ).fit(X)
    cov = fit.idata_.posterior["covariances"].values.reshape(-1, 2, 2, 2)
    order = np.argsort(fit.idata_.posterior["means"].values.reshape(-1, 2, 2)[..., 0], axis=1)
    cov = np.take_along_axis(cov, order[:, :, None, None], axis=1)
    _structure_holds(cov, cov_type)
    mean, sd = cov.mean(axis=0), cov.std(axis=0)
    # 800 points: the posterior sd of a variance is ~5-10% of it; 4 sds and 5% slack.
    assert np.all(np.abs(mean - truth) <= 4 * sd + 0.05 * np.abs(truth) + 1e-9), (mean, truth)


@pytest.mark.timeout(120)
def test_the_start_takes_mclusts_prior_where_it_moves_exactly() -> None:
    """MAP-EM under mclust's scalar prior scale where it moves to data units (the one
    common scale of EII), maximum likelihood EM where it cannot (EEI's per-feature
    internal units) or where the structure has no MAP-EM."""
    from bayesgmm import em
    from bayesgmm.bayes.inference.starts import em_result_to_data, em_start, start_prior

    assert start_prior("EII") == start_prior("full") == start_prior("spherical") == "default"
    for name in FAMILY[1:]:
        assert start_prior(name) is None
    X = _data(2, seed=6)[:300] * [1e-3, 10.0]
    for name in FAMILY:
        gmm = build_model(X, 2, name)
        moved = em_result_to_data(em_start(gmm.internal, 2, name, 0), gmm.spec.standardization)
        assert (moved.prior is None) == (start_prior(name) is None)
        assert moved.log_likelihood == pytest.approx(em.log_likelihood(X, moved), rel=1e-9)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("cov_type", FAMILY)
def test_sbc_of_nuts_on_the_kernel_is_calibrated(cov_type: str) -> None:
    """A small SBC per structure (50 simulations, 5 bins); 200 each run in the slow
    ``test_calibration.py::test_sbc_nuts_kernel_every_covariance_type``."""
    settings = {**SMALL, "n_sims": 50, "n_bins": 5}
    seed = 41 + FAMILY.index(cov_type)
    result = run_sbc(SBC_PRIORS, 2, cov_type, random_seed=seed, **settings)
    assert result.ranks.shape == (50, len(result.quantities))
    assert result.passed(ALPHA), result.table()
    assert result.overconfident(ALPHA) == (), result.table()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "cov_type",
    [n for n in FAMILY if get_structure(n).bayesian.has_volume and n not in ORIENTED],
)
def test_volume_and_shape_round_trip_the_covariances(cov_type: str) -> None:
    """``volume_point`` of covariances with the structure, back through ``volume_stds``
    and the correlations, gives the covariances again; the log shape sums to zero."""
    from bayesgmm.mixture.parametrization import cholesky_from_cpc, cpc_from_cholesky

    layout = bayesian_structure(cov_type).bayesian
    cov = _truth(cov_type) * 1.7
    point = layout.volume_point(cov)
    np.testing.assert_allclose(point["log_shape"].sum(axis=-1), 0.0, atol=1e-14)
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    chol = None
    if layout.correlated:
        cpc = cpc_from_cholesky(np.linalg.cholesky(corr))
        chol = cholesky_from_cpc(cpc if layout.per_component_corr else cpc[0], 2)
    stds = np.broadcast_to(
        layout.volume_stds(point["volume_sd"], point["log_shape"], chol), sd.shape
    )
    np.testing.assert_allclose(stds, sd, rtol=1e-12)
