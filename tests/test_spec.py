"""The one model spec: transforms equal PyMC's, the layout check fires, and a fit runs its
MAP-EM and its validation of X once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytensor.tensor as pt
import pytest
from pymc.distributions import transforms as pm_transforms
from pymc.logprob import transforms as logprob_transforms

from bayesgmm import BayesianGMM
from bayesgmm.bayes.model import transforms
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.bayes.model.spec import LayoutError, MixtureSpec

PYMC_TRANSFORMS = {
    "simplex": pm_transforms.simplex,
    "log": logprob_transforms.LogTransform(),
    "logodds": logprob_transforms.LogOddsTransform(),
    "ordered": pm_transforms.ordered,
    "zerosum": pm_transforms.ZeroSumTransform(zerosum_axes=(-1,)),
}


def _eval(value) -> np.ndarray:
    return np.asarray(pt.as_tensor(value).eval())


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(4, 0.5, (40, 3))])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(PYMC_TRANSFORMS))
def test_each_transform_equals_pymcs_own(name: str) -> None:
    """Forward, backward and log |J| against PyMC's built-in transform of the same name,
    in numpy and in PyTensor: the shared formulas are PyMC's, so the kernel (tested
    against PyMC) and the packing agree with the model."""
    ours, theirs = transforms.TRANSFORMS[name], PYMC_TRANSFORMS[name]
    rng = np.random.default_rng(1)
    free = rng.normal(scale=1.5, size=(4, 5))
    value = _eval(theirs.backward(pt.as_tensor(free)))
    np.testing.assert_allclose(ours.backward(free), value, rtol=1e-13)
    np.testing.assert_allclose(
        ours.forward(value), _eval(theirs.forward(pt.as_tensor(value))), atol=1e-12
    )
    jac = _eval(theirs.log_jac_det(pt.as_tensor(free)))
    np.testing.assert_allclose(np.asarray(ours.log_jac_det(free)), jac, rtol=1e-12, atol=1e-12)
    symbolic = ours.log_jac_det(pt.as_tensor(free), pt).eval()
    np.testing.assert_allclose(symbolic, jac, rtol=1e-12, atol=1e-12)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical", "tied"])
def test_spec_layout_is_the_models(data: np.ndarray, cov_type: str) -> None:
    gmm = build_model(data, 3, cov_type)
    wanted = [b.value_name for b in gmm.spec.blocks]
    assert [v.name for v in gmm.model.value_vars] == wanted
    shapes = gmm.model.eval_rv_shapes()
    assert gmm.spec.ndim == sum(int(np.prod(shapes[name])) for name in wanted)
    theta = np.random.default_rng(2).normal(size=(6, gmm.spec.ndim))
    np.testing.assert_allclose(gmm.spec.pack(gmm.spec.unpack(theta)), theta, atol=1e-12)


@pytest.mark.timeout(120)
def test_the_layout_check_fires_on_a_mismatch(data: np.ndarray) -> None:
    """A spec whose layout is not the model's (here: one component more) stops the build
    instead of letting the kernel read the wrong positions."""
    gmm = build_model(data, 2, "diag")
    wrong = dataclasses.replace(gmm.spec, n_components=3)
    with pytest.raises(LayoutError, match="differ from the layout"):
        wrong.check_model(gmm.model)
    other = build_model(data, 2, "full")
    with pytest.raises(LayoutError, match="partial_corr_unit_logodds__"):
        gmm.spec.check_model(other.model)
    gmm.spec.check_model(gmm.model)  # and passes on its own model


@pytest.mark.timeout(60)
def test_spec_round_trips_through_its_config(data: np.ndarray) -> None:
    spec = build_model(data, 2, "tied", ordered=1).spec
    back = MixtureSpec.from_config(spec.to_config())
    assert back.to_config() == spec.to_config()
    assert back.blocks == spec.blocks
    assert [b.name for b in spec.blocks] == [
        "weights",
        "means_ordered",
        "means_other",
        "stds",
        "partial_corr_unit",
    ]


@pytest.mark.timeout(60)
def test_ordered_split_and_join_are_inverse(data: np.ndarray) -> None:
    spec = build_model(data, 3, "tied", ordered=2).spec
    rng = np.random.default_rng(4)
    params = {
        "weights": np.array([0.2, 0.5, 0.3]),
        "means": rng.normal(size=(3, 3)),
        "stds": np.array([1.0, 2.0, 3.0]),
        "partial_corr_unit": np.array([0.2, 0.4, 0.6]),
    }
    split = spec.split_ordered(params)
    order = np.argsort(params["means"][:, 2])
    np.testing.assert_allclose(split["weights"], params["weights"][order])
    np.testing.assert_allclose(split["partial_corr_unit"], params["partial_corr_unit"])  # tied
    joined = spec.join_ordered(split)
    np.testing.assert_allclose(joined["means"], params["means"][order], atol=1e-8)
    assert np.all(np.diff(split["means_ordered"]) > 0)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("method", ["nuts", "map"])
def test_a_fit_runs_map_em_once_and_validates_x_once(data, monkeypatch, method) -> None:
    from bayesgmm._utils import validation as _validation
    from bayesgmm.bayes.inference import starts
    from bayesgmm.bayes.model import graph as model
    from bayesgmm.em import fit as em_fit

    fits, checks = [], []
    real_fit, real_check = starts.fit_em, _validation.check_data

    def counting_fit(*args, **kwargs):
        fits.append(1)
        return real_fit(*args, **kwargs)

    def counting_check(*args, **kwargs):
        checks.append(1)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(starts, "fit_em", counting_fit)
    for module in (_validation, model, em_fit):
        monkeypatch.setattr(module, "check_data", counting_check)
    from bayesgmm.estimators import base as _facade

    monkeypatch.setattr(_facade, "check_data", counting_check)
    BayesianGMM(
        2,
        covariance_type="diag",
        method=method,
        draws=20,
        tune=20,
        n_starts=1,  # n_starts > 1 searches other MAP-EM maxima on purpose (modes_)
        progressbar=False,
        random_seed=0,
    ).fit(data)
    assert len(fits) == 1, f"MAP-EM ran {len(fits)} times in one fit"
    assert len(checks) == 1, f"X was validated {len(checks)} times in one fit"


@pytest.mark.timeout(300)
def test_an_unsupported_nutpie_falls_back_to_pymc_with_one_warning(data, monkeypatch) -> None:
    from bayesgmm.bayes.inference import sample_nuts
    from bayesgmm.bayes.kernel import nutpie_bridge as _nutpie

    gmm = build_model(data, 2, "diag")
    monkeypatch.setattr(_nutpie, "incompatibility", lambda: "nutpie 9.9 is not a version")
    with pytest.warns(UserWarning, match="nutpie 9.9") as record:
        idata = sample_nuts(gmm, draws=20, tune=20, chains=1, random_seed=0, progressbar=False)
    assert idata.attrs["sampler"] == "pymc"
    assert sum("nutpie 9.9" in str(w.message) for w in record) == 1


@pytest.mark.timeout(60)
def test_the_installed_nutpie_is_one_the_bridge_fills_in() -> None:
    """The [fast] extra pins a nutpie whose dataclass has every field the bridge sets."""
    from nutpie.compile_pymc import CompiledPyMCModel

    from bayesgmm.bayes.kernel import nutpie_bridge as _nutpie

    assert _nutpie.FIELDS <= {f.name for f in dataclasses.fields(CompiledPyMCModel)}
    assert _nutpie.compatible(), _nutpie.incompatibility()


@pytest.mark.timeout(120)
def test_gaussian_mixture_em_validates_x_once(data, monkeypatch) -> None:
    from bayesgmm._utils import validation as _validation
    from bayesgmm.em import fit as em_fit
    from bayesgmm.estimators import base as _facade
    from bayesgmm.estimators.bayesian import GaussianMixtureEM

    checks = []
    real_check = _validation.check_data

    def counting_check(*args, **kwargs):
        checks.append(1)
        return real_check(*args, **kwargs)

    for module in (_validation, em_fit, _facade):
        monkeypatch.setattr(module, "check_data", counting_check)
    GaussianMixtureEM(2, random_seed=0).fit(data)
    assert len(checks) == 1, f"X was validated {len(checks)} times in one fit"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical", "tied", "EII"])
def test_the_internal_map_em_moves_exactly_to_data_units(data, cov_type) -> None:
    """BayesianGMM's em_ is the internal-unit MAP-EM moved to data units: its stored
    log-likelihood, prior and log prior are those of the data-unit parameters, recomputed
    here by EM's own functions on the data, and it is the data-scaled MAP-EM optimum."""
    from bayesgmm import em
    from bayesgmm.bayes.inference.starts import em_result_to_data, em_start

    X = data * np.array([1e-3, 10.0, 1.0]) + np.array([5.0, -300.0, 1e4])
    gmm = build_model(X, 2, cov_type)
    moved = em_result_to_data(em_start(gmm.internal, 2, cov_type, 0), gmm.spec.standardization)
    # EM's density in data units (offset 1e4, sd 1e-3) rounds to ~1e-9 per point.
    assert moved.log_likelihood == pytest.approx(em.log_likelihood(X, moved), rel=1e-7)
    assert moved.log_prior == pytest.approx(em.log_prior(moved.params, moved.prior), rel=1e-10)
    assert moved.objective_trace[-1] == pytest.approx(moved.log_likelihood + moved.log_prior)
    # The data-scaled prior of the data themselves, but for default_prior's absolute
    # floors, which bite only on the feature of sd ~1e-3 (relative 3e-5 there).
    direct_prior = em.default_prior(X, 2, cov_type)
    np.testing.assert_allclose(moved.prior.mean, direct_prior.mean, rtol=1e-10)
    np.testing.assert_allclose(moved.prior.scale, direct_prior.scale, rtol=1e-4)
    # EM on the raw data needs a floor relative to the smallest variance (1e-6), as the
    # internal units' 1e-6 is: an absolute 1e-6 would double it.
    floor = 1e-6 * float(np.min(np.var(X, axis=0)))
    direct = em.fit_em(X, 2, cov_type, n_init=3, prior="default", reg_covar=floor, random_seed=0)
    order = np.argsort(moved.means[:, 0])
    np.testing.assert_allclose(
        moved.means[order], direct.means[np.argsort(direct.means[:, 0])], rtol=1e-4, atol=1e-6
    )
    assert moved.objective == pytest.approx(direct.objective, rel=1e-5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("ordered", "match"), [("nope", "is not a feature"), (5, "out of range for 2 features")]
)
def test_a_bad_ordered_feature_fails_before_any_model_is_built(ordered, match) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match=match):
        build_model(X, 2, "diag", ordered=ordered)
