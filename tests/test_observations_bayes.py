"""Weights and partial labels through BayesianGMM: NUTS on the kernel, MAP, minibatch ADVI."""

from __future__ import annotations

import numpy as np
import pytest

from bayesgmm.datasets import make_gmm_data
from bayesgmm.estimators.bayesian import BayesianGMM


def _separated(n: int = 300, seed: int = 0):
    means = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    cov = np.stack([np.eye(2), [[1.0, 0.5], [0.5, 1.0]], 0.5 * np.eye(2)])
    return make_gmm_data(n, [0.5, 0.3, 0.2], means, cov, random_seed=seed)


RENAME = np.array([1, 2, 0])  # the labels call true component j "RENAME[j]"


@pytest.fixture(scope="module")
def labelled_fit():
    """NUTS on 3 separated components with 10% of the rows labelled (~10 s)."""
    sim = _separated()
    rng = np.random.default_rng(1)
    known = rng.choice(300, size=30, replace=False)
    y = np.full(300, -1)
    y[known] = RENAME[sim.labels[known]]
    assert set(y[known]) == {0, 1, 2}
    fit = BayesianGMM(
        3, method="nuts", draws=500, tune=500, chains=2, progressbar=False, random_seed=0
    ).fit(sim.X, labels=y)
    return sim, y, fit


@pytest.mark.timeout(180)
def test_ten_percent_labels_identify_the_components(labelled_fit):
    sim, y, fit = labelled_fit
    rename = RENAME
    assert fit.labels_identify_components_
    report = fit.label_report_
    assert not report.switching_detected
    assert report.message.startswith("Every component has labelled points")
    assert "label_identification" in fit.idata_.attrs
    assert "label_identification" in fit.summary().attrs
    # Component k is the one the labels call k.
    order = np.argsort(rename)
    np.testing.assert_allclose(fit.means_, sim.means[order], atol=0.5)
    np.testing.assert_array_equal(fit.idata_.constant_data["labels"].values, y)


@pytest.mark.timeout(60)
def test_save_and_load_keep_the_labels(labelled_fit, tmp_path):
    _, y, fit = labelled_fit
    fit.save(tmp_path / "fit.nc")
    loaded = BayesianGMM.load(tmp_path / "fit.nc")
    np.testing.assert_array_equal(loaded.model_.labels, y)
    assert loaded.model_.sample_weight is None
    assert loaded.labels_identify_components_
    np.testing.assert_allclose(loaded.means_, fit.means_)


@pytest.mark.timeout(120)
def test_unlabelled_component_warns_and_relabels():
    sim = _separated(seed=2)
    y = np.full(300, -1)
    y[np.flatnonzero(sim.labels == 0)[:5]] = 0
    with pytest.warns(UserWarning, match=r"component\(s\) \[1, 2\] have no labelled point"):
        fit = BayesianGMM(
            3, method="advi", advi_steps=500, draws=50, progressbar=False, random_seed=0
        ).fit(sim.X, labels=y)
    assert not fit.labels_identify_components_


@pytest.mark.timeout(120)  # ~7 s: the MAP runs on the compiled kernel
def test_map_with_integer_weights_is_the_map_of_repeated_rows():
    sim = _separated(120, seed=3)
    w = np.random.default_rng(4).integers(1, 4, size=120)
    kwargs = {"method": "map", "progressbar": False, "random_seed": 0}
    weighted = BayesianGMM(3, **kwargs).fit(sim.X, sample_weight=w)
    repeated = BayesianGMM(3, **kwargs).fit(np.repeat(sim.X, w, axis=0))
    # Two optimiser runs of the same objective from starts that differ by round-off, each
    # stopped at a gradient of 1e-7 (MapTolerance) on a curvature of order N.
    order = np.argsort(weighted.means_[:, 0])
    order_r = np.argsort(repeated.means_[:, 0])
    np.testing.assert_allclose(weighted.means_[order], repeated.means_[order_r], atol=1e-6)
    np.testing.assert_allclose(weighted.weights_[order], repeated.weights_[order_r], atol=1e-7)


@pytest.mark.timeout(120)
def test_minibatch_advi_with_weights_recovers_the_weighted_mixture():
    """Weights that triple component 0's rows: the weighted posterior's weights follow."""
    sim = _separated(600, seed=5)
    w = np.where(sim.labels == 0, 3.0, 1.0)
    w[:10] = 0.0  # dropped rows: their stored log-likelihood terms are 0
    fit = BayesianGMM(
        3, method="advi", advi_steps=3000, minibatch_size=100, draws=200,
        progressbar=False, random_seed=0,
    ).fit(sim.X, sample_weight=w)  # fmt: skip
    totals = np.bincount(sim.labels, weights=w, minlength=3) / w.sum()
    order = np.argsort(fit.means_[:, 0] + 10 * fit.means_[:, 1])
    truth = np.argsort(sim.means[:, 0] + 10 * sim.means[:, 1])
    np.testing.assert_allclose(fit.weights_[order], totals[truth], atol=0.05)
    loglik = fit.idata_.log_likelihood["x"].values
    assert np.all(loglik[..., :10] == 0.0) and np.all(loglik[..., 10:] != 0.0)
    np.testing.assert_array_equal(fit.idata_.constant_data["sample_weight"].values, w)
