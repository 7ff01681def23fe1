"""One runner and advice that agrees (issue 19, item 6).

Every caller (BayesianGMM, compare_k, run_sbc) fits through ``run_inference``, so a
sparse prior gets the same NUTS step-size target everywhere; and no warning recommends a
setting the fit already has.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from conftest import two_clusters

from bayesgmm import GMMPriors
from bayesgmm.analysis.compare_k import compare_k
from bayesgmm.bayes.calibration.sbc import run_sbc
from bayesgmm.bayes.inference import run as run_module
from bayesgmm.bayes.inference.run import (
    METHODS,
    SPARSE_TARGET_ACCEPT,
    RunSettings,
    run_inference,
    target_accept_for,
)
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.estimators.bayesian import BayesianGMM
from bayesgmm.mixture.covariance import collapse_hint
from bayesgmm.posterior.advice import FitSettings, fit_settings, join_options
from bayesgmm.posterior.collapse import _collapse_message
from bayesgmm.posterior.switching import _switching_message

SPARSE = GMMPriors(alpha_prior="sparse")


@pytest.fixture(scope="module")
def X():
    return two_clusters(120, seed=5).X


# ---------------------------------------------------------------------------------------
# The one runner
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("method", "hmc", r"method must be one of \('nuts', 'advi', 'fullrank_advi', 'map'\)"),
        ("sampler", "stan", r"sampler must be one of"),
        ("init", "kmeans", r"init must be one of \('em', 'default'\)"),
        ("mass_matrix", "dense", r"mass_matrix must be one of"),
        ("draws", 0, r"draws must be an integer >= 1"),
        ("tune", -1, r"tune must be an integer >= 0"),
        ("chains", 1.5, r"chains must be an integer >= 1"),
        ("advi_steps", 0, r"advi_steps must be an integer >= 1"),
        ("target_accept", 1.0, r"target_accept must be in \(0, 1\)"),
    ],
)
@pytest.mark.timeout(60)
def test_run_settings_refuse_bad_options(option, value, message):
    with pytest.raises(ValueError, match=message):
        RunSettings(**{option: value})


@pytest.mark.timeout(120)
def test_the_sparse_prior_raises_target_accept_unless_the_user_set_it(X):
    """On a diagonal mass matrix (nutpie's or PyMC's) the sparse prior's funnel gets 0.95;
    nutpie's low-rank mass matrix (the default there) samples it at nutpie's own 0.8."""
    sparse = build_model(X, 3, "full", priors=SPARSE)
    plain = build_model(X, 3, "full")
    diagonal = (RunSettings(mass_matrix="diag"), RunSettings(sampler="pymc"))
    assert [target_accept_for(s, sparse) for s in diagonal] == [SPARSE_TARGET_ACCEPT] * 2
    assert target_accept_for(RunSettings(sampler="nutpie"), sparse) is None
    assert target_accept_for(RunSettings(sampler="nutpie", mass_matrix="low_rank"), sparse) is None
    assert target_accept_for(RunSettings(), plain) is None  # the sampler's own default
    assert target_accept_for(RunSettings(mass_matrix="diag"), plain) is None
    assert target_accept_for(RunSettings(target_accept=0.9), sparse) == 0.9


class _Called(Exception):
    """Raised by the recording runner: the test needs its arguments, not a posterior."""


@pytest.fixture
def nuts_calls(monkeypatch):
    calls = []

    def record(gmm, **kwargs):
        calls.append({"sparse": gmm.spec.priors.alpha_gamma is not None, **kwargs})
        raise _Called

    monkeypatch.setattr(run_module, "sample_nuts", record)
    return calls


@pytest.mark.timeout(120)
def test_every_caller_samples_a_sparse_prior_with_the_same_target(X, nuts_calls):
    with pytest.raises(_Called):
        BayesianGMM(3, priors=SPARSE, progressbar=False, random_seed=0).fit(X)
    with pytest.raises(_Called):
        compare_k(X, [3], methods=("nuts",), priors=SPARSE)
    fixed = {"mean_loc": [0.0, 0.0], "mean_scale": [4.0, 4.0], "std_scale": [1.0, 1.0]}
    with pytest.raises(RuntimeError, match="SBC simulation 0"):
        run_sbc(
            GMMPriors(**fixed),
            3,
            fit_priors=GMMPriors(**fixed, alpha_prior="sparse"),
            n_sims=2,
            n_draws=9,
            draws=10,
            chains=1,
            random_seed=0,
        )
    assert len(nuts_calls) == 3
    assert all(call["sparse"] for call in nuts_calls)
    # nutpie's low-rank mass matrix by default: its own target, the same for all three.
    expected = target_accept_for(RunSettings(), build_model(X, 3, "full", priors=SPARSE))
    assert [call["target_accept"] for call in nuts_calls] == [expected] * 3
    assert all(call["mass_matrix"] == "auto" for call in nuts_calls)


@pytest.mark.timeout(300)
def test_map_through_the_runner_matches_the_estimator(X):
    gmm = build_model(X, 2, "full")
    outcome = run_inference(gmm, RunSettings(method="map"), random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = BayesianGMM(2, method="map", progressbar=False, random_seed=0).fit(X)
    assert outcome.map_estimate is not None and fit.map_ is not None
    for name in ("weights", "means"):
        np.testing.assert_allclose(outcome.map_estimate[name], fit.map_[name], rtol=1e-6)
    assert set(METHODS) == {"nuts", "advi", "fullrank_advi", "map"}


# ---------------------------------------------------------------------------------------
# Advice checked against the settings
# ---------------------------------------------------------------------------------------


def _switching(settings: FitSettings, *, invariant_ok: bool) -> str:
    return _switching_message(
        "stephens",
        ((0, 1), (1, 0)),
        True,
        (0, 0),
        1.8,
        1.05,
        300.0,
        1.001 if invariant_ok else 1.08,
        1.01,
        ["means[1, x0]"],
        settings,
    )


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.timeout(60)
def test_label_switching_advises_a_sparse_dirichlet_only_to_a_fit_without_one(sparse):
    message = _switching(FitSettings(sparse=sparse), invariant_ok=True)
    assert ("sparse Dirichlet" in message) is not sparse
    assert "a smaller K" in message


@pytest.mark.parametrize("init", [None, "default", "em"])
@pytest.mark.timeout(60)
def test_label_switching_advises_init_em_only_to_chains_that_did_not_start_there(init):
    message = _switching(FitSettings(init=init), invariant_ok=False)
    assert ("init='em'" in message) is (init != "em")
    assert "longer chains" in message


def _collapse(settings: FitSettings) -> str:
    table = pd.DataFrame(
        {"collapsed": [0.3, 0.0], "few_points": [0.1, 0.0], "singular": [0.2, 0.0]},
        index=pd.Index([0, 1], name="component"),
    )
    return _collapse_message(table, 0.3, 0.1, 0.2, 3.0, 1e-4, 400, settings)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.timeout(60)
def test_collapse_advises_a_sparse_dirichlet_only_to_a_fit_without_one(sparse):
    message = _collapse(FitSettings(sparse=sparse, std_family="lognormal"))
    assert ("sparse Dirichlet" in message) is not sparse
    assert "a smaller K" in message


@pytest.mark.parametrize("family", ["lognormal", "inversegamma", "halfnormal"])
@pytest.mark.timeout(60)
def test_collapse_advises_inversegamma_only_to_a_fit_without_it(family):
    message = _collapse(FitSettings(std_family=family))
    assert ("std_family='inversegamma'" in message) is (family != "inversegamma")


@pytest.mark.timeout(60)
def test_em_collapse_hint_tells_a_map_em_fit_to_strengthen_its_prior():
    assert "prior='default'" in collapse_hint(1e-6, has_prior=False)
    with_prior = collapse_hint(1e-6, has_prior=True)
    assert "prior='default'" not in with_prior and "strengthen the MAP prior" in with_prior


@pytest.mark.timeout(60)
def test_membership_does_not_ask_a_relabeled_posterior_to_relabel():
    from bayesgmm.analysis.memberships import _switching_advice

    assert "Relabel first" in _switching_advice(None)
    advice = _switching_advice("stephens")
    assert "Relabel first" not in advice and "already relabeled (stephens)" in advice


@pytest.mark.timeout(300)
def test_fit_settings_read_what_the_fit_recorded(X):
    sparse = run_inference(
        build_model(X, 3, "full", priors=SPARSE), RunSettings(method="map"), random_seed=0
    ).idata
    plain = run_inference(build_model(X, 2, "full"), RunSettings(method="map"), random_seed=0)
    assert fit_settings(sparse).sparse and fit_settings(sparse).std_family == "lognormal"
    assert not fit_settings(plain.idata).sparse
    small_alpha = run_inference(
        build_model(X, 2, "full", priors=GMMPriors(alpha=0.5)),
        RunSettings(method="map"),
        random_seed=0,
    ).idata
    assert fit_settings(small_alpha).sparse
    started = az.from_dict(posterior={"weights": np.full((1, 2, 2), 0.5)}, attrs={"init": "em"})
    assert fit_settings(started).init == "em"
    assert join_options(["a", "b", "c"]) == "a, b or c"
