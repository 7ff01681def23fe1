"""EEV and VEV in the Bayesian model (issue 21): an orientation per component, D = 2, 3, 4.

The layout against the PyMC model and the spec's names, the refusal of other D, the
covariances through the starts' map and back (exact), the PyMC prior (NUTS on the model
with a vanishing likelihood) against the independent simulator by KS on label- and
sign-free functions of the covariances, and the shape prior's and ring prior's constants
against scipy.
"""

from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from bayesgmm.bayes.calibration.prior import simulate_prior
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.mixture.draws import covariances_from_draws
from bayesgmm.mixture.structures import bayesian_structure, orientation

ORIENTED = ("EEV", "VEV")
CASES = [(name, d) for name in ORIENTED for d in (2, 3, 4)]


def _data(d: int, n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(0.5, 3.0, d) + np.arange(d)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("cov_type", "d"), CASES)
def test_the_layout_is_the_spec(cov_type: str, d: int) -> None:
    """``model.value_vars`` in the spec's order and names, its three potentials, and the
    packing round trip."""
    k = 3
    gmm = build_model(_data(d), k, cov_type, priors=GMMPriors(alpha_prior="sparse"))
    m = 2 if d == 2 else 4
    n_vol = 1 if cov_type == "EEV" else k
    wanted = [
        ("alpha_log__", ()),
        ("weights_simplex__", (k - 1,)),
        ("means", (k, d)),
        ("volume_sd_log__", () if n_vol == 1 else (k,)),
        ("shape_gaps_log__", (d - 1,)),
        ("orient_free", (k, m)),
    ] + ([("orient_right", (k, 4))] if d == 4 else [])
    shapes = gmm.model.eval_rv_shapes()
    found = [(v.name, tuple(int(n) for n in shapes[v.name])) for v in gmm.model.value_vars]
    assert found == wanted
    potentials = {p.name for p in gmm.model.potentials}
    assert potentials == {"shape_prior", "orient_free_ring"} | (
        {"orient_right_ring"} if d == 4 else set()
    )
    assert gmm.spec.ndim == 1 + (k - 1) + k * d + n_vol + (d - 1) + k * m + (4 * k if d == 4 else 0)
    theta = np.random.default_rng(2).normal(size=(5, gmm.spec.ndim))
    np.testing.assert_allclose(gmm.spec.pack(gmm.spec.unpack(theta)), theta, atol=1e-12)
    assert not gmm.edits  # the potentials are the model's own


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cov_type", ORIENTED)
@pytest.mark.parametrize("d", [1, 5])
def test_other_dimensions_are_refused_with_where_to_read(cov_type: str, d: int) -> None:
    with pytest.raises(ValueError, match=rf"covariance_type={cov_type!r} .* D={d}") as refused:
        build_model(_data(d), 2, cov_type)
    assert "docs/mclust.md" in str(refused.value) and "GaussianMixtureEM" in str(refused.value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["EVE", "VVE"])
def test_a_shared_orientation_stays_em_only(name: str) -> None:
    with pytest.raises(ValueError, match=rf"covariance_type={name!r} is fitted by EM only"):
        build_model(_data(2), 2, name)


def _structured(cov_type: str, d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Covariances (K, D, D) with the structure: one shape with distinct eigenvalues, a
    Haar rotation and a volume per component (shared for EEV)."""
    z = np.sort(rng.normal(0.0, 1.0, size=d))[::-1]
    while np.min(-np.diff(z)) < 1e-3:
        z = np.sort(rng.normal(0.0, 1.0, size=d))[::-1]
    rot = stats.special_ortho_group.rvs(d, size=k, random_state=rng).reshape(k, d, d)
    lam = np.exp(rng.normal(0.0, 1.0, size=k if cov_type == "VEV" else 1))
    lam = np.broadcast_to(lam, (k,))
    return lam[:, None, None] * np.einsum("kij,j,klj->kil", rot, np.exp(z - z.mean()), rot)


@pytest.mark.timeout(120)
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.sampled_from([2, 3, 4]),
    k=st.integers(1, 3),
    cov_type=st.sampled_from(ORIENTED),
)
def test_covariances_round_trip_through_the_start(seed: int, d: int, k: int, cov_type: str) -> None:
    """EM covariances -> (volume, gaps, quaternions) -> the model's sds and correlations
    -> covariances, to 1e-10 relative."""
    cov = _structured(cov_type, d, k, np.random.default_rng(seed))
    layout = bayesian_structure(cov_type).bayesian
    point = layout.orientation_point(cov)
    assert np.all(point["shape_gaps"] > 0)
    derived = layout.oriented_stds(point, k)
    back, _ = covariances_from_draws(
        derived["stds"][None], derived["partial_corr_unit"][None], cov_type, k, d
    )
    scale = np.max(np.abs(cov))
    np.testing.assert_allclose(back[0], cov, rtol=0, atol=1e-10 * scale)


@pytest.mark.timeout(60)
def test_the_shape_prior_is_the_zero_sum_normal_on_the_sorted_cone() -> None:
    """The potential against scipy: centred iid normals have, on the zero-sum plane, the
    density of N(0, sigma^2 I_{D-1}) in orthonormal coordinates; sorted, D! times it."""
    rng = np.random.default_rng(0)
    sigma, d = 0.7, 4
    z = np.sort(rng.normal(size=d))[::-1]
    z -= z.mean()
    basis = np.linalg.qr(np.column_stack([np.ones(d), np.eye(d)[:, : d - 1]]))[0][:, 1:]
    coords = basis.T @ z
    reference = stats.multivariate_normal(np.zeros(d - 1), sigma**2).logpdf(coords)
    value = orientation.shape_log_prior(z, sigma, d)
    assert value == pytest.approx(reference + math.log(math.factorial(d)), rel=1e-12)
    gaps = -np.diff(z)
    np.testing.assert_allclose(orientation.sorted_log_shape(gaps), z, atol=1e-14)


# -- the PyMC prior against the simulator --------------------------------------------------

PRIOR = GMMPriors(mean_loc=0.0, mean_scale=1.0, std_scale=1.0, std_spread=0.6)


def _invariants(cov: np.ndarray) -> dict[str, np.ndarray]:
    """Label- and sign-free functions of the first component's covariance (the prior is
    exchangeable), and of both: sorted log eigenvalues, log det, |cos| of the leading
    eigenvector with axis 0, the log-volume ratio."""
    eig, vec = np.linalg.eigh(cov)
    out = {f"log_eig_{i}": np.log(eig[:, 0, i]) for i in range(cov.shape[-1])}
    out["log_det"] = np.linalg.slogdet(cov)[1][:, 0]
    out["abs_cos_lead"] = np.abs(vec[:, 0, 0, -1])
    out["log_det_ratio"] = np.linalg.slogdet(cov)[1][:, 1] - out["log_det"]
    out["cov01"] = cov[:, 0, 0, 1]
    return out


def _model_prior_covariances(cov_type: str, d: int, n: int, seed: int) -> np.ndarray:
    """NUTS (nutpie on the compiled kernel) on the model with observation weights 1e-12:
    the prior, to 1e-12 of the likelihood, in data units (two chains)."""
    from bayesgmm.bayes.inference import sample_nuts

    X = _data(d, n=10, seed=seed)
    gmm = build_model(X, 2, cov_type, priors=PRIOR, sample_weight=np.full(10, 1e-12))
    idata = sample_nuts(
        gmm,
        draws=n,
        tune=1000,
        chains=2,
        random_seed=seed,
        progressbar=False,
        log_likelihood=False,
    )
    assert idata.attrs["sampler"] == "nutpie+bayesgmm-kernel"
    divergences = int(idata.sample_stats["diverging"].values.sum())
    assert divergences <= 0.002 * 2 * n, divergences
    return idata.posterior["covariances"].values.reshape(-1, 2, d, d)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("cov_type", "d"),
    [("VEV", 3)]
    + [pytest.param(c, dd, marks=pytest.mark.slow) for c, dd in CASES if (c, dd) != ("VEV", 3)],
)
def test_the_model_prior_is_the_simulators(cov_type: str, d: int) -> None:
    import arviz as az

    n = 2000
    model_cov = _model_prior_covariances(cov_type, d, n, seed=d)
    rng = np.random.default_rng(10 + d)
    sim_cov = np.stack(
        [simulate_prior(PRIOR, 2, cov_type, 1, rng, n_features=d).covariances for _ in range(4000)]
    )
    ours, reference = _invariants(model_cov), _invariants(sim_cov)
    for name, value in ours.items():
        if np.ptp(value) < 1e-9 and np.ptp(reference[name]) < 1e-9:  # EEV's volume ratio
            assert np.abs(value).max() < 1e-9 and np.abs(reference[name]).max() < 1e-9
            continue
        ess = float(az.ess(value.reshape(2, -1)))
        thinned = value[:: max(1, int(value.size / ess))]
        p = stats.ks_2samp(thinned, reference[name]).pvalue
        assert p > 1e-3, (name, p, thinned.size)


# -- fits ------------------------------------------------------------------------------


def _three_d_truth() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VEV in 3-D: one shape (4, 1, 0.25), two rotations, volumes 1 and 2; well apart."""
    rot = stats.special_ortho_group.rvs(3, size=2, random_state=np.random.default_rng(3))
    shape = np.array([4.0, 1.0, 0.25])
    cov = np.array([1.0, 2.0])[:, None, None] * np.einsum("kij,j,klj->kil", rot, shape, rot)
    return np.array([0.4, 0.6]), np.array([[0.0, 0.0, 0.0], [9.0, -6.0, 7.0]]), cov


@pytest.mark.timeout(600)
def test_a_fit_recovers_a_3d_truth_and_predicts_saves_and_pickles(tmp_path) -> None:
    """NUTS on the kernel, in data units other than the internal ones: the posterior
    covariances have the structure and cover the truth; predict, save / load and pickle
    give the same predictions; the unpickled model is still the kernel's."""
    import pickle

    from bayesgmm import BayesianGMM

    weights, means, cov = _three_d_truth()
    rng = np.random.default_rng(4)
    labels = rng.choice(2, size=600, p=weights)
    X = means[labels] + np.einsum(
        "nij,nj->ni", np.linalg.cholesky(cov)[labels], rng.normal(size=(600, 3))
    )
    X = 5.0 * X + [100.0, -20.0, 3.0]
    cov, means = 25.0 * cov, 5.0 * means + [100.0, -20.0, 3.0]
    fit = BayesianGMM(
        2, covariance_type="VEV", draws=300, tune=300, chains=2, random_seed=2, progressbar=False
    ).fit(X)
    assert fit.idata_.attrs["sampler"] == "nutpie+bayesgmm-kernel"
    post = fit.idata_.posterior
    draws = post["covariances"].values.reshape(-1, 2, 3, 3)
    order = np.argsort(post["means"].values.reshape(-1, 2, 3)[..., 0], axis=1)
    draws = np.take_along_axis(draws, order[:, :, None, None], axis=1)
    # one shape: the eigenvalues of Sigma_k / |Sigma_k|^(1/3) agree across components
    normalised = draws / np.linalg.det(draws)[..., None, None] ** (1 / 3)
    eig = np.linalg.eigvalsh(normalised)
    np.testing.assert_allclose(eig[:, 0], eig[:, 1], rtol=1e-8)
    mean, sd = draws.mean(axis=0), draws.std(axis=0)
    # 600 points: a covariance entry's posterior sd is ~5-10% of the scale; 4 sds + 5%.
    assert np.all(np.abs(mean - cov) <= 4 * sd + 0.05 * np.abs(cov).max()), (mean, cov)
    hard = fit.predict(X)
    assert max(np.mean(hard == labels), np.mean(hard != labels)) > 0.99
    fit.save(tmp_path / "fit.nc")
    loaded = BayesianGMM.load(tmp_path / "fit.nc")
    copy = pickle.loads(pickle.dumps(fit))
    for other in (loaded, copy):
        np.testing.assert_array_equal(other.predict_proba(X), fit.predict_proba(X))
        np.testing.assert_array_equal(other.score_samples(X), fit.score_samples(X))
    assert copy.model_.edits == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cov_type", ORIENTED)
def test_old_faithful_two_components_converge_at_the_defaults(faithful, cov_type: str) -> None:
    """Issue 21's R-hat <= 1.01 on Old Faithful: the label-invariant R-hat of four chains
    of 1000 draws (the defaults; measured 1.003 for both at K = 2, 2 s each). At K = 3 the
    third component has no cluster of its own and the chains disagree (EEV 1.23, VEV 1.15,
    as full's 1.02): a property of K = 3 on these data, reported by the fit's warning."""
    from bayesgmm import BayesianGMM

    fit = BayesianGMM(2, covariance_type=cov_type, random_seed=1, progressbar=False).fit(faithful)
    assert fit.idata_.attrs["sampler"] == "nutpie+bayesgmm-kernel"
    assert fit.label_report_.invariant_rhat <= 1.01, fit.label_report_.message


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("cov_type", "d"), [("EEV", 4), ("VEV", 2)])
def test_the_prior_predictive_is_the_simulators(cov_type: str, d: int) -> None:
    """PyMC cannot draw the Flat + Potential orientation: the prior predictive draws the
    free variables in numpy; its covariances (data units) against the simulator's."""
    from bayesgmm.bayes.inference.predictive import sample_prior_predictive

    X = _data(d, n=30) * np.linspace(1.0, 4.0, d)  # internal units other than data units
    gmm = build_model(X, 2, cov_type, priors=PRIOR)
    out = sample_prior_predictive(gmm, 3000, random_seed=0)
    assert out.prior_predictive["x"].shape == (1, 3000, 30, d)
    ours = out.prior["covariances"].values.reshape(-1, 2, d, d)
    rng = np.random.default_rng(1)
    sims = np.stack(
        [simulate_prior(PRIOR, 2, cov_type, 1, rng, n_features=d).covariances for _ in range(3000)]
    )
    reference = _invariants(sims)
    for name, value in _invariants(ours).items():
        if np.ptp(value) < 1e-9 and np.ptp(reference[name]) < 1e-9:
            continue
        assert stats.ks_2samp(value, reference[name]).pvalue > 1e-3, name
    edited = build_model(X, 2, cov_type, priors=PRIOR)
    with edited.model:
        pm.Potential("extra", 0.0 * edited.model["volume_sd"])
    with pytest.raises(NotImplementedError, match=r"edited covariance_type"):
        sample_prior_predictive(edited, 10, random_seed=0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("d", [3, 4])
def test_alignment_picks_one_exact_copy_per_draw(d: int) -> None:
    """Draws near one orientation, each moved to a random exact copy (q, -q, the column
    sign flips of R): every copy gives the same Sigma, and the alignment brings the draws
    back to one copy (what bridge sampling's Gaussian proposal needs)."""
    rng = np.random.default_rng(d)
    s, k = 200, 2
    free = rng.normal(size=(1, k, 4)) + 0.05 * rng.normal(size=(s, k, 4))
    right = rng.normal(size=(1, k, 4)) + 0.05 * rng.normal(size=(s, k, 4)) if d == 4 else None
    copies = orientation._candidates(free, right)
    pick = rng.integers(len(copies), size=(s, k))
    scrambled = np.take_along_axis(np.stack([c[0] for c in copies]), pick[None, ..., None], 0)[0]
    scrambled_right = None
    if right is not None:
        stacked = np.stack([c[1] for c in copies])
        scrambled_right = np.take_along_axis(stacked, pick[None, ..., None], 0)[0]
    lam, gaps = np.ones((s, k)), np.full((s, d - 1), 0.4)

    def cov(f, r):
        return np.array(orientation.covariance_entries(lam, gaps, f, r, d))

    np.testing.assert_allclose(cov(scrambled, scrambled_right), cov(free, right), atol=1e-12)
    aligned, aligned_right = orientation.align_orientations(scrambled, scrambled_right, d)
    np.testing.assert_allclose(cov(aligned, aligned_right), cov(free, right), atol=1e-12)
    assert np.abs(aligned - aligned[:1]).max() <= np.abs(free - free[:1]).max() + 1e-12
