"""Pickle, joblib and save/load of both estimators and of a GMMModel, fitted and unfitted."""

from __future__ import annotations

import json
import pickle

import joblib
import numpy as np
import pymc as pm
import pytest
import xarray as xr

from bayesgmm import compare
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.em import ConjugatePrior
from bayesgmm.estimators.bayesian import BayesianGMM, GaussianMixtureEM


def _round_trips(estimator, tmp_path):
    """The estimator through pickle and through joblib."""
    path = tmp_path / "est.joblib"
    joblib.dump(estimator, path)
    return pickle.loads(pickle.dumps(estimator)), joblib.load(path)


def _same_predictions(a, b, X) -> None:
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


@pytest.fixture(scope="module")
def nuts_fit(faithful) -> BayesianGMM:
    return BayesianGMM(2, draws=100, tune=100, random_seed=0, progressbar=False).fit(faithful)


@pytest.mark.timeout(120)
def test_unfitted_estimators_round_trip(tmp_path) -> None:
    for est in (GaussianMixtureEM(3, covariance_type="diag"), BayesianGMM(2, method="map")):
        for copy in _round_trips(est, tmp_path):
            assert type(copy) is type(est) and copy.get_params() == est.get_params()
            assert not copy.__sklearn_is_fitted__()


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fitted_em_round_trips_and_saves(faithful, tmp_path) -> None:
    prior = ConjugatePrior(np.zeros(2), 0.01, 4.0, np.eye(2), 1.0)
    for kwargs in ({"covariance_type": "full"}, {"covariance_type": "tied", "prior": prior}):
        em = GaussianMixtureEM(2, random_seed=0, **kwargs).fit(faithful)
        for copy in _round_trips(em, tmp_path):
            _same_predictions(em, copy, faithful)
        em.save(tmp_path / "em.nc", faithful)
        loaded = GaussianMixtureEM.load(tmp_path / "em.nc")
        _same_predictions(em, loaded, faithful)
        assert loaded.bic(faithful) == em.bic(faithful)
        assert loaded.n_iter_ == em.n_iter_ and loaded.converged_ == em.converged_
        np.testing.assert_array_equal(loaded.objective_trace_, em.objective_trace_)
        assert repr(loaded) == repr(em)
        # The file is the EM fit file the CLI's report reads, with the data given.
        ds = xr.load_dataset(tmp_path / "em.nc")
        assert ds.attrs["bayesgmm_kind"] == "em" and ds["x"].shape == faithful.shape


@pytest.mark.timeout(120)
def test_em_load_refuses_bad_files_with_a_clear_error(faithful, tmp_path) -> None:
    em = GaussianMixtureEM(2, random_seed=0).fit(faithful)
    em.save(tmp_path / "em.nc")
    ds = xr.load_dataset(tmp_path / "em.nc")
    stored = json.loads(ds.attrs["bayesgmm_em_result"])
    stored["means"] = stored["means"][:1]  # K=1 means beside K=2 weights
    ds.attrs["bayesgmm_em_result"] = json.dumps(stored)
    ds.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(ValueError, match=r"'weights' has shape \(2,\); expected \(1,\)"):
        GaussianMixtureEM.load(tmp_path / "bad.nc")
    (tmp_path / "text.nc").write_text("not netCDF")
    with pytest.raises(ValueError, match="could not be read as netCDF"):
        GaussianMixtureEM.load(tmp_path / "text.nc")
    with pytest.raises(FileNotFoundError):
        GaussianMixtureEM.load(tmp_path / "absent.nc")


@pytest.mark.timeout(600)
def test_fitted_bayesian_round_trips(nuts_fit, faithful, tmp_path) -> None:
    for copy in _round_trips(nuts_fit, tmp_path):
        _same_predictions(nuts_fit, copy, faithful)
        assert copy.model_.edits == []  # rebuilt from its spec: still the kernel's model


@pytest.mark.timeout(600)
def test_a_loaded_bayesian_fit_has_its_reference_and_reports(nuts_fit, faithful, tmp_path):
    nuts_fit.save(tmp_path / "fit.nc")
    loaded = BayesianGMM.load(tmp_path / "fit.nc")
    _same_predictions(nuts_fit, loaded, faithful)
    np.testing.assert_array_equal(loaded.em_.means, nuts_fit.em_.means)
    assert loaded.em_.log_likelihood == nuts_fit.em_.log_likelihood
    assert loaded.label_report_.message == nuts_fit.label_report_.message
    assert loaded.collapse_report_.message == nuts_fit.collapse_report_.message
    table = compare(loaded.em_, loaded)
    assert table.to_frame().equals(compare(nuts_fit.em_, nuts_fit).to_frame())


@pytest.mark.timeout(300)
def test_an_edited_model_pickles_with_its_edits(faithful) -> None:
    gm = build_model(faithful, 2, "diag")
    with gm.model:
        pm.Normal("extra", 0.0, 1.0)
    copy = pickle.loads(pickle.dumps(gm))
    assert "extra" in copy.model.named_vars and copy.edits  # still edited, so not the kernel
    np.testing.assert_array_equal(copy.internal, gm.internal)
    plain = pickle.loads(pickle.dumps(build_model(faithful, 2, "diag")))
    assert plain.edits == [] and "extra" not in plain.model.named_vars
