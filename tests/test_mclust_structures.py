"""mclust's 14 covariance structures in EM: parameter counts, M-steps, monotone EM."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import linalg, optimize

from bayesgmm.em import fit_em, m_step
from bayesgmm.em.results import SufficientStats
from bayesgmm.em.starts import _stats_from_resp
from bayesgmm.mixture.covariance import as_full, n_covariance_parameters, n_parameters
from bayesgmm.mixture.structures import closed_form, get_structure, mclust_family
from bayesgmm.mixture.structures.family import covariance_objective

MCLUST_STRUCTURES = mclust_family()


def stats_scatter(stats, x_bar, nk):
    """Within-component scatter ``W_k = sum_n g_nk (x_n - xbar_k)(x_n - xbar_k)^T``."""
    return stats.second_moment - np.einsum("kd,ke->kde", x_bar, x_bar) * nk[:, None, None]


def registry_m_step(name, nk, scatter, *, reg_covar=0.0, previous=None):
    """The registry entry's maximum-likelihood covariances (K, D, D) from the scatter: the
    statistics of data centred on zero means whose second moments are ``scatter``, in the
    structure's own storage."""
    structure = get_structure(name)
    n_components, n_features, _ = scatter.shape
    if structure.zero_second_moment(n_components, n_features).ndim == 3:
        second = scatter
    elif structure.shared:
        second = scatter.sum(axis=0)
    else:
        second = np.diagonal(scatter, axis1=1, axis2=2).copy()
    zeros = np.zeros((n_components, n_features))
    stats = SufficientStats(nk, zeros, second, np.nan, float(nk.sum()), np.nan)
    cov = structure.ml_covariances(stats, nk, zeros, reg_covar, previous=previous)
    return as_full(cov, name, n_components, n_features)


# mclust's nVarParams(modelName, d, G = 3), evaluated by hand from its formulas
# (EII 1, VII G, EEI d, VEI G + d - 1, EVI 1 + G (d - 1), VVI G d, EEE d (d + 1) / 2,
# VEE G + (d - 1) + d (d - 1) / 2, EVE 1 + G (d - 1) + d (d - 1) / 2,
# VVE G + G (d - 1) + d (d - 1) / 2, EEV 1 + (d - 1) + G d (d - 1) / 2,
# VEV G + (d - 1) + G d (d - 1) / 2, EVV 1 - G + G d (d + 1) / 2, VVV G d (d + 1) / 2).
MCLUST_COUNTS_G3 = {
    1: dict(
        EII=1,
        VII=3,
        EEI=1,
        VEI=3,
        EVI=1,
        VVI=3,
        EEE=1,
        VEE=3,
        EVE=1,
        VVE=3,
        EEV=1,
        VEV=3,
        EVV=1,
        VVV=3,
    ),
    2: dict(
        EII=1,
        VII=3,
        EEI=2,
        VEI=4,
        EVI=4,
        VVI=6,
        EEE=3,
        VEE=5,
        EVE=5,
        VVE=7,
        EEV=5,
        VEV=7,
        EVV=7,
        VVV=9,
    ),
    5: dict(
        EII=1,
        VII=3,
        EEI=5,
        VEI=7,
        EVI=13,
        VVI=15,
        EEE=15,
        VEE=17,
        EVE=23,
        VVE=25,
        EEV=35,
        VEV=37,
        EVV=43,
        VVV=45,
    ),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("n_features", [1, 2, 5])
@pytest.mark.parametrize("name", MCLUST_STRUCTURES)
def test_parameter_counts_are_mclusts(name, n_features):
    expected = MCLUST_COUNTS_G3[n_features][name]
    assert n_covariance_parameters(name, 3, n_features) == expected
    # weights and means as mclust's nMclustParams: (G - 1) + G d
    assert n_parameters(name, 3, n_features) == expected + 2 + 3 * n_features


@pytest.mark.timeout(30)
def test_one_dimensional_names():
    assert n_covariance_parameters("E", 4, 1) == 1
    assert n_covariance_parameters("V", 4, 1) == 4
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="1-D data"):
        fit_em(X, 2, "E")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bad", ["VVX", "vev", "", None, ["VEV"]])
def test_bad_names_are_refused(bad):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        fit_em(X, 2, bad)


@pytest.mark.timeout(30)
def test_prior_is_refused_for_the_new_structures():
    X = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match=r"MAP-EM .* not available for covariance_type='EVE'"):
        fit_em(X, 2, "EVE", prior="default")


# -- the M-step against a direct numerical maximisation ------------------------------------


def _random_statistics(seed: int, n_components: int = 3, n_features: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, n_features)) @ rng.normal(size=(n_features, n_features))
    resp = rng.dirichlet(np.ones(n_components), size=80)
    nk = resp.sum(axis=0)
    x_bar = resp.T @ X / nk[:, None]
    second = np.einsum("nk,nd,ne->kde", resp, X, X)
    stats = SufficientStats(nk, resp.T @ X, second, np.nan, 80, np.nan)
    return stats, nk, stats_scatter(stats, x_bar, nk)


def _skew(theta: np.ndarray, n_features: int) -> np.ndarray:
    rows, cols = np.triu_indices(n_features, 1)
    out = np.zeros((n_features, n_features))
    out[rows, cols] = theta
    return out - out.T


def _covariances(theta: np.ndarray, name: str, n_components: int, n_features: int) -> np.ndarray:
    """Sigma_k = lambda_k D_k A_k D_k^T from the structure's own free parameters:
    log volumes, log shapes (D - 1 free, their sum 0), rotations exp(skew)."""
    sizes = {"E": 1, "V": n_components, "I": 0}
    pairs = n_features * (n_features - 1) // 2
    n_vol, n_shape, n_orient = (sizes[letter] for letter in name)
    volumes, theta = np.exp(theta[:n_vol]), theta[n_vol:]
    log_shapes = theta[: n_shape * (n_features - 1)].reshape(n_shape, n_features - 1)
    theta = theta[n_shape * (n_features - 1) :]
    log_shapes = np.concatenate([log_shapes, -log_shapes.sum(axis=1, keepdims=True)], axis=1)
    shapes = np.exp(log_shapes) if n_shape else np.ones((1, n_features))
    rotations = [
        linalg.expm(_skew(theta[i * pairs : (i + 1) * pairs], n_features)) for i in range(n_orient)
    ]
    rotations = rotations or [np.eye(n_features)]
    out = np.empty((n_components, n_features, n_features))
    for k in range(n_components):
        rot = rotations[k % len(rotations)]
        out[k] = volumes[k % len(volumes)] * (rot * shapes[k % len(shapes)]) @ rot.T
    return out


@pytest.mark.timeout(240)
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", MCLUST_STRUCTURES)
def test_m_step_maximises_the_expected_log_likelihood(name, seed):
    """No optimiser started anywhere on the structure's own parametrisation finds a
    higher Q than the M-step (and the parametrisation has mclust's parameter count)."""
    n_components, n_features = 2, 3
    _, nk, scatter = _random_statistics(seed, n_components, n_features)
    ours = covariance_objective(nk, scatter, registry_m_step(name, nk, scatter))
    n_free = n_covariance_parameters(name, n_components, n_features)

    def negative_q(theta):
        return -covariance_objective(
            nk, scatter, _covariances(theta, name, n_components, n_features)
        )

    rng = np.random.default_rng(100 + seed)
    best = -np.inf
    for _ in range(3):
        start = rng.normal(scale=0.5, size=n_free)
        found = optimize.minimize(negative_q, start, method="BFGS", options={"gtol": 1e-9})
        best = max(best, -found.fun)
    # Q is about -1/2 N D log(scale): agreement to 1e-7 relative is the optimiser's accuracy.
    assert ours >= best - 1e-7 * abs(best)
    assert best >= ours - 1e-4 * abs(ours), "the numerical search should reach the maximum"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["VVV", "EEE", "VVI", "VII"])
def test_closed_forms_of_the_four_types_equal_their_registry_entries(name):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3)) @ rng.normal(size=(3, 3))
    resp = rng.dirichlet(np.ones(3), size=80)
    layout = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}[name]
    original = m_step(_stats_from_resp(X, resp, layout), layout, reg_covar=1e-3)
    expected = as_full(original.covariances, layout, 3, 3)
    full = _stats_from_resp(X, resp, "full")
    nk = full.resp_sum + 10 * np.finfo(float).eps
    scatter = stats_scatter(full, full.weighted_sum / nk[:, None], nk)
    # closed_form.py's formula, regularised as the family's entries are (n_k reg_covar I
    # added to W_k), against the registry's own class of the type.
    regularised = scatter + (1e-3 * nk)[:, None, None] * np.eye(3)
    new = getattr(closed_form, f"m_step_{name.lower()}")(nk, regularised)
    np.testing.assert_allclose(new, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["VEI", "VEE", "VEV", "EVE", "VVE"])
def test_iterative_m_step_from_previous_never_lowers_q(name):
    """Warm-started from any covariances of the structure, the M-step returns Q at least
    theirs: what makes EM monotone when the inner problem has several maxima."""
    _, nk, scatter = _random_statistics(5)
    for seed in range(5):
        _, nk_other, scatter_other = _random_statistics(50 + seed)
        previous = registry_m_step(name, nk_other, scatter_other)
        new = registry_m_step(name, nk, scatter, previous=previous)
        q_previous = covariance_objective(nk, scatter, previous)
        assert covariance_objective(nk, scatter, new) >= q_previous - 1e-10 * abs(q_previous)


# -- EM ------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(MCLUST_STRUCTURES),
    seed=st.integers(0, 10_000),
    n_components=st.integers(2, 4),
)
def test_em_objective_never_decreases(name, seed, n_components):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_components, 3))
    scales = rng.uniform(0.3, 2.0, size=(n_components, 3, 3))
    X = np.concatenate(
        [c + rng.normal(size=(60, 3)) @ s for c, s in zip(centers, scales, strict=True)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_em(
            X,
            n_components,
            name,
            init="random",
            max_iter=60,
            tol=0,
            reg_covar=0.0,
            random_seed=seed,
        )
    steps = np.diff(fit.objective_trace)
    assert np.all(steps >= -1e-9 * np.abs(fit.objective_trace[1:])), steps.min()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", MCLUST_STRUCTURES)
def test_fit_respects_the_structure(name):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(100, 3)) * [1, 2, 3], rng.normal(size=(100, 3)) + 6])
    fit = fit_em(X, 2, name, random_seed=0)
    cov = as_full(fit.covariances, fit.covariance_type, 2, 3)
    values = np.linalg.eigvalsh(cov)
    volumes = np.exp(np.mean(np.log(values), axis=1))
    shapes = values / volumes[:, None]
    if name[0] == "E":
        np.testing.assert_allclose(volumes[0], volumes[1], rtol=1e-8)
    if name[1] == "E":
        np.testing.assert_allclose(shapes[0], shapes[1], rtol=1e-6)
    if name[2] == "I":
        np.testing.assert_allclose(cov[:, ~np.eye(3, dtype=bool)], 0.0, atol=1e-12)
    if name[2] == "E":  # the two covariances commute: one set of eigenvectors
        np.testing.assert_allclose(
            cov[0] @ cov[1], cov[1] @ cov[0], atol=1e-8 * np.abs(cov).max() ** 2
        )


# -- the structures compose with the rest of EM ------------------------------------------


@pytest.fixture(scope="module")
def two_groups() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.concatenate([rng.normal(size=(80, 3)) * [1, 3, 0.5], rng.normal(size=(80, 3)) + 5])


@pytest.mark.timeout(120)
def test_estimator_predicts_pickles_samples_and_scores(two_groups):
    import pickle

    from bayesgmm.estimators.em import GaussianMixtureEM

    model = GaussianMixtureEM(2, covariance_type="EVE", random_seed=0).fit(two_groups)
    assert model.result_.covariance_type == "EVE" and model.covariances_.shape == (2, 3, 3)
    np.testing.assert_allclose(
        model.precisions_ @ model.covariances_, np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-8
    )
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(two_groups), model.predict(two_groups))
    # EVE: 1 volume, G (D - 1) shapes, D (D - 1) / 2 orientation; G - 1 weights, G D means
    assert model.n_parameters() == n_parameters("EVE", 2, 3) == (1 + 2 * 2 + 3) + 1 + 2 * 3
    assert model.bic(two_groups) == pytest.approx(
        -2 * model.result_.log_likelihood + model.n_parameters() * np.log(160)
    )
    X, labels = model.sample(50, random_seed=1)
    assert X.shape == (50, 3) and labels.shape == (50,)


@pytest.mark.timeout(120)
def test_weights_labels_and_missing_values(two_groups):
    weights = np.ones(len(two_groups))
    weights[:10] = 2.0
    doubled = np.concatenate([two_groups, two_groups[:10]])
    a = fit_em(two_groups, 2, "VEV", sample_weight=weights, random_seed=0, init="kmeans++")
    b = fit_em(doubled, 2, "VEV", random_seed=0, init="kmeans++")
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-6)
    labels = np.full(len(two_groups), -1)
    labels[:5], labels[-5:] = 1, 0
    fit = fit_em(two_groups, 2, "VEV", labels=labels, random_seed=0)
    assert fit.means[1, 0] < fit.means[0, 0]  # component 1 is the one the labels call 1
    holed = two_groups.copy()
    holed[::7, 1] = np.nan
    fit = fit_em(holed, 2, "EEV", missing="marginalize", random_seed=0)
    assert fit.covariance_type == "EEV" and np.isfinite(fit.log_likelihood)


@pytest.mark.timeout(120)
def test_cli_fit_em_takes_mclust_names(two_groups, tmp_path, capsys):
    import pandas as pd

    from bayesgmm.cli import main

    path = tmp_path / "data.csv"
    pd.DataFrame(two_groups, columns=["a", "b", "c"]).to_csv(path, index=False)
    assert main(["fit-em", str(path), "-k", "2", "--covariance-type", "VEV", "--n-init", "1"]) == 0
    out = capsys.readouterr().out
    assert "covariance_type='VEV'" in out and "structure VEV" in out


# -- MAP-EM (mclust's conjugate prior) ------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["EII", "EEI"])
def test_map_m_step_maximises_the_expected_log_posterior(name):
    """The MAP M-step's covariances and means against BFGS on the expected complete-data
    log-likelihood plus the log prior (log variances and means free)."""
    from bayesgmm.em.prior import default_prior, log_prior
    from bayesgmm.em.results import GMMParams

    stats, nk, scatter = _random_statistics(8)
    X = np.random.default_rng(8).normal(size=(80, 3))
    prior = default_prior(X, 3, name)
    assert np.ndim(prior.scale) == 0  # mclust's scalar scale for these structures
    ours = m_step(stats, name, reg_covar=0.0, prior=prior)
    x_bar = stats.weighted_sum / nk[:, None]
    n_var = 1 if name == "EII" else 3

    def negative_posterior(theta):
        variances = np.broadcast_to(np.exp(theta[:n_var]), (3,))
        means = theta[n_var:].reshape(3, 3)
        cov = np.broadcast_to(np.diag(variances), (3, 3, 3))
        spread = scatter + nk[:, None, None] * np.einsum("kd,ke->kde", x_bar - means, x_bar - means)
        params = GMMParams(ours.weights, means, cov, None, name)
        return -(covariance_objective(nk, spread, cov) + log_prior(params, prior))

    theta = np.concatenate([np.log(np.diagonal(ours.covariances[0]))[:n_var], ours.means.ravel()])
    at_ours = -negative_posterior(theta)
    found = optimize.minimize(negative_posterior, theta + 0.3, method="BFGS")
    assert at_ours >= -found.fun - 1e-7 * abs(found.fun)
    assert -found.fun >= at_ours - 1e-5 * abs(at_ours)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["EII", "EEI"])
def test_map_em_objective_never_decreases(name):
    rng = np.random.default_rng(11)
    X = np.concatenate([rng.normal(size=(60, 2)) * [1, 2], rng.normal(size=(60, 2)) + 4])
    fit = fit_em(X, 3, name, prior="default", init="random", tol=0, max_iter=40, random_seed=1)
    assert fit.log_prior != 0.0
    assert np.all(np.diff(fit.objective_trace) >= -1e-9 * np.abs(fit.objective_trace[1:]))
