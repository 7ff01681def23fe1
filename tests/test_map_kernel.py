"""MAP on the compiled kernel: the same mode as ``pm.find_MAP`` (the log density of the
constrained parameters, ``jacobian=False``), weights equal to repeated rows, and a clear
warning where the mode does not exist."""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest
from conftest import mcar, model_point, two_clusters
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayesgmm.bayes.inference import map as map_module
from bayesgmm.bayes.inference.map import MapTolerance, fit_map, kernel_map
from bayesgmm.bayes.inference.starts import em_initial_point
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.bayes.model.priors import GMMPriors
from bayesgmm.bayes.model.transforms import layout, log_jacobian
from bayesgmm.estimators.bayesian import BayesianGMM
from bayesgmm.exceptions import DegenerateComponentWarning

# Every transform the kernel's models use: log (alpha, stds, volumes), simplex (weights),
# identity (means, orientation vectors), logodds (partial correlations), zerosum (the
# volume structures' shapes); and the ordered means.
LAYOUTS = {
    "full, sparse": layout("full", 3, 3, sparse=True),
    "tied": layout("tied", 2, 4),
    "spherical": layout("spherical", 4, 2),
    "ordered": layout("diag", 3, 2, ordered=0),
    "EVV (zerosum shapes)": layout("EVV", 3, 3),
    "EEV D=4 (gaps, orientation vectors)": layout("EEV", 2, 4),
    "VEV": layout("VEV", 3, 3, sparse=True),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(LAYOUTS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_log_jacobian_gradient_is_its_derivative(name: str, data) -> None:
    blocks = LAYOUTS[name]
    ndim = sum(block.size for block in blocks)
    theta = data.draw(arrays(np.float64, ndim, elements=st.floats(-4.0, 4.0)))
    value, grad = log_jacobian(theta, blocks)
    step = 1e-5
    numeric = np.array(
        [
            (log_jacobian(theta + step * e, blocks)[0] - log_jacobian(theta - step * e, blocks)[0])
            / (2 * step)
            for e in np.eye(ndim)
        ]
    )
    # Central differences: error ~ step^2 |f'''| (exp(4) ~ 55 in the simplex terms) plus
    # round-off ~ 1e-16 |f| / step.
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)
    assert np.isfinite(value)


@pytest.mark.timeout(300)
def test_log_jacobian_is_pymcs(faithful) -> None:
    """PyMC's logp with the Jacobian minus without it, at random points: the term the
    kernel's MAP takes out of its density (an independent reference)."""
    gmm = build_model(faithful, 2, "full", priors=GMMPriors(alpha_prior="sparse"))
    with_jacobian = gmm.model.compile_logp(jacobian=True)
    without = gmm.model.compile_logp(jacobian=False)
    rng = np.random.default_rng(0)
    for _ in range(5):
        theta = rng.normal(scale=1.5, size=gmm.spec.ndim)
        point = model_point(gmm.model, theta)
        expected = with_jacobian(point) - without(point)
        assert log_jacobian(theta, gmm.spec.blocks)[0] == pytest.approx(expected, rel=1e-10)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("covariance_type", "missing"),
    [
        ("full", False),
        ("diag", False),
        ("tied", True),
        ("VEE", False),
        ("EVI", True),
        ("VEV", False),
        pytest.param("EEV", True, marks=pytest.mark.slow),  # 60 s: CI's 15 minutes
    ],
)
def test_kernel_map_is_find_maps_mode(faithful, covariance_type: str, missing: bool) -> None:
    X = mcar(faithful, 0.15, seed=1) if missing else faithful  # the kernel's pattern path
    gmm = build_model(
        X,
        2,
        covariance_type,
        priors=GMMPriors(alpha_prior="sparse"),  # a free alpha: every transform
        missing="marginalize" if missing else "raise",
    )
    assert gmm.has_missing == missing
    start = em_initial_point(gmm, random_seed=0)
    ours = kernel_map(gmm, gmm.spec.pack(start))
    assert ours.converged, ours.message
    with gmm.model:
        theirs = pm.find_MAP(start=start, progressbar=False, include_transformed=False)
    log_posterior = gmm.model.compile_logp(jacobian=False)
    at_ours = log_posterior(model_point(gmm.model, ours.theta))
    at_theirs = log_posterior(model_point(gmm.model, gmm.spec.pack(theirs)))
    assert at_ours == pytest.approx(ours.log_posterior, rel=1e-12)  # the same objective
    # find_MAP stops at scipy's default tolerances (gtol 1e-5), ours at gtol 1e-7: ours
    # is at least as high, and the two points agree to find_MAP's precision.
    assert at_ours >= at_theirs - 1e-9
    point = gmm.spec.unpack(ours.theta)
    # find_MAP's precision is ~1e-4 of the internal units' spread: 1 per feature, but up
    # to 3.5 for Old Faithful's waiting time in EEV / VEV's one common scale; their shape
    # gaps (5.7 here, log-transformed) it locates relatively.
    atol = 1e-4 * max(1.0, float(np.nanmax(np.nanstd(gmm.internal, axis=0))))
    for name, value in point.items():
        rtol = 1e-4 if name == "shape_gaps" else 1e-7
        np.testing.assert_allclose(value, theirs[name], rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.timeout(120)
def test_unedited_map_never_compiles_pymc(faithful, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("pm.find_MAP ran on a model the kernel evaluates")

    monkeypatch.setattr(map_module.pm, "find_MAP", refuse)
    gmm = build_model(faithful, 2)
    point = fit_map(gmm, random_seed=0)
    assert point["means"].shape == (2, 2)
    # Old Faithful's two clusters: short eruptions near 2 min, long ones near 4.3 min.
    np.testing.assert_allclose(np.sort(point["means"][:, 0]), [2.04, 4.29], atol=0.05)


def _by_first_mean(est: BayesianGMM) -> tuple[np.ndarray, ...]:
    order = np.argsort(est.means_[:, 0])
    return est.weights_[order], est.means_[order], est.covariances_[order]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied", "EVV"])
def test_map_weights_equal_repeated_rows(covariance_type: str) -> None:
    """Integer weights are rows repeated (a power likelihood): the same data scale, the
    same data-scaled priors, the same objective, so the same mode. The two MAP-EM starts
    differ (random seeds over other rows) but end in the same mode of these two
    well-separated clusters, and L-BFGS-B's tolerance (gtol 1e-7 on a curvature of order
    N) puts both within ~1e-8 of it."""
    X = two_clusters(150, seed=3).X
    weights = np.random.default_rng(4).integers(0, 4, size=X.shape[0])
    settings_ = {"method": "map", "progressbar": False, "random_seed": 0}
    settings_["covariance_type"] = covariance_type
    weighted = BayesianGMM(2, **settings_).fit(X, sample_weight=weights)
    repeated = BayesianGMM(2, **settings_).fit(np.repeat(X, weights, axis=0))
    for ours, theirs in zip(_by_first_mean(weighted), _by_first_mean(repeated), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        np.sort(weighted.predict_proba(X), axis=1),
        np.sort(repeated.predict_proba(X), axis=1),
        atol=1e-6,
    )


@pytest.mark.timeout(240)
def test_map_without_a_mode_says_so() -> None:
    """15 rows in 30 features (scikit-learn's weight-equivalence data): a full covariance
    can collapse onto the rows' span, where the likelihood gains n/2 per factor of the
    vanishing eigenvalue and the LKJ(2) prior loses about 1: the log posterior is
    unbounded and there is no mode. The fit says so; a diagonal covariance (no
    correlations to collapse, lognormal sds) has a mode and converges silently."""
    X = np.random.default_rng(42).random((15, 30))
    est = BayesianGMM(1, method="map", progressbar=False, random_seed=0)
    with pytest.warns(DegenerateComponentWarning, match="mode does not exist"):
        est.fit(X)
    eigenvalues = np.linalg.eigvalsh(est.covariances_[0])
    assert eigenvalues.min() < 1e-6 * eigenvalues.max()  # where it stopped: collapsing
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        warnings.filterwarnings("error", category=map_module.ConvergenceWarning)
        diag = BayesianGMM(1, covariance_type="diag", method="map", progressbar=False)
        diag.fit(X)
    assert np.all(np.isfinite(diag.covariances_))


@pytest.mark.timeout(120)
def test_map_stopped_short_warns(faithful) -> None:
    """Two iterations cannot reach the mode from the MAP-EM start (its prior is another
    one): a ConvergenceWarning, not the no-mode warning, since nothing collapses."""
    gmm = build_model(faithful, 2)
    start = gmm.spec.pack(em_initial_point(gmm, random_seed=0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimum = kernel_map(gmm, start, MapTolerance(max_iterations=2))
    kinds = [w.category for w in caught]
    assert map_module.ConvergenceWarning in kinds and DegenerateComponentWarning not in kinds
    assert not optimum.converged and optimum.n_iterations <= 2
    assert "may not be the mode" in str(caught[kinds.index(map_module.ConvergenceWarning)].message)
    full = kernel_map(gmm, start)
    assert full.converged and full.log_posterior > optimum.log_posterior
