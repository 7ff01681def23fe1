"""An edited PyMC model is fitted as edited: the kernel runs only the model build_model writes.

The reference for an edited posterior is ``pm.sample`` on the same model: PyMC's own NUTS
on PyMC's own graph, which bayesgmm's dispatch does not touch.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pymc as pm
import pytest

from bayesgmm.bayes.inference import fit_advi, fit_map, sample_nuts
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.exceptions import EditedModelWarning

# The pull on the long eruptions' mean, stated in data units (minutes) and moved to the
# model's internal units with the spec's standardization: 4.5 +- 0.05 min, where the data
# alone put it at 4.29 +- 0.03 min.
PULL_MINUTES, PULL_SD_MINUTES = 4.5, 0.05


def _pulled_model(X: np.ndarray, extra: bool = True):
    gm = build_model(X, 2, "diag")
    center, scale = gm.spec.standardization.center[0], gm.spec.standardization.scale[0]
    with gm.model:
        loc, sd = (PULL_MINUTES - center) / scale, PULL_SD_MINUTES / scale
        pm.Potential("pull", pm.logp(pm.Normal.dist(loc, sd), gm.model["means"][0, 0]))
        if extra:
            pm.Normal("extra", 0.0, 1.0)
    return gm


def _first_mean_minutes(idata: az.InferenceData, gm, internal: bool) -> np.ndarray:
    """Draws of means[0, 0] in minutes, (chain, draw)."""
    values = idata.posterior["means"].values[..., 0, 0]
    standard = gm.spec.standardization
    return values * standard.scale[0] + standard.center[0] if internal else values


@pytest.mark.timeout(120)
def test_the_fingerprint_sees_every_edit_and_nothing_else(faithful) -> None:
    gm = build_model(faithful, 2)
    assert gm.edits == []
    gm.model.initial_point()  # using the model is not editing it
    assert gm.edits == []
    with gm.model:
        pm.Potential("pull", -(gm.model["means"][0, 0] ** 2))
    assert gm.edits == ["new potential 'pull'"]

    gm = build_model(faithful, 2)
    with gm.model:
        pm.Deterministic("gap", gm.model["means"][1] - gm.model["means"][0])
        pm.Normal("extra", 0, 1)
    assert gm.edits == ["new deterministic 'gap'", "new free variable 'extra'"]

    gm = build_model(faithful, 2)
    with gm.model:
        pm.set_data({"X": gm.internal[::-1].copy()})
    assert gm.edits == ["data container 'X' holds other values"]
    # New data make another model (units, observed data, log-likelihood): refused.
    for fit in (sample_nuts, fit_advi, fit_map):
        with pytest.raises(ValueError, match=r"holds other values.*build_model\(X_new"):
            fit(gm)


@pytest.mark.timeout(300)
def test_the_unedited_model_runs_on_the_kernel(faithful) -> None:
    gm = build_model(faithful, 2, "diag")
    with warnings.catch_warnings():
        warnings.simplefilter("error", EditedModelWarning)
        idata = sample_nuts(gm, draws=50, tune=50, random_seed=0, progressbar=False)
    assert idata.attrs["sampler"] == "nutpie+bayesgmm-kernel"
    assert idata.attrs["model_edits"] == ""


@pytest.mark.timeout(900)
def test_an_edited_model_samples_the_edited_posterior(faithful) -> None:
    gm = _pulled_model(faithful)
    with pytest.warns(EditedModelWarning, match=r"new potential 'pull'.*PyMC graph"):
        idata = sample_nuts(gm, draws=400, tune=400, random_seed=1, progressbar=False)
    assert idata.attrs["sampler"] != "nutpie+bayesgmm-kernel"
    assert "new potential 'pull'" in idata.attrs["model_edits"]
    with gm.model:
        reference = pm.sample(
            400,
            tune=400,
            chains=2,
            random_seed=2,
            progressbar=False,
            compute_convergence_checks=False,
        )
    ours = _first_mean_minutes(idata, gm, internal=False)
    theirs = _first_mean_minutes(reference, gm, internal=True)
    mcse = np.hypot(
        az.mcse(az.convert_to_dataset(ours[..., None, None]))["x"].item(),
        az.mcse(az.convert_to_dataset(theirs[..., None, None]))["x"].item(),
    )
    assert abs(ours.mean() - theirs.mean()) < 4 * mcse, (ours.mean(), theirs.mean(), mcse)
    # The pull moved the mean: the data alone put it at 4.29 min, 7 sd below the pull.
    assert 4.33 < ours.mean() < 4.5
    # The extra variable is in the posterior, with its N(0, 1) prior as posterior.
    extra = idata.posterior["extra"].values
    assert abs(extra.mean()) < 4 * az.mcse(idata, var_names=["extra"])["extra"].item()
    assert 0.85 < extra.std() < 1.15


@pytest.mark.timeout(600)
def test_advi_and_map_fit_the_edited_model(faithful) -> None:
    gm = _pulled_model(faithful)
    with pytest.warns(EditedModelWarning, match="MAP"):
        point = fit_map(gm, random_seed=0)
    assert "extra" in point and abs(float(point["extra"])) < 1e-3  # the N(0, 1) mode
    assert 4.33 < point["means"][0, 0] < 4.5
    with pytest.warns(EditedModelWarning, match="ADVI"):
        idata = fit_advi(gm, n=3000, draws=200, random_seed=0, progressbar=False)
    assert idata.attrs["sampler"] == "advi"  # PyMC's ADVI, on the edited graph
    assert "extra" in idata.posterior
    assert 4.33 < idata.posterior["means"].values[..., 0, 0].mean() < 4.5
    with pytest.raises(ValueError, match=r"engine='kernel' evaluates only .* engine='pymc'"):
        fit_advi(gm, engine="kernel", n=10, progressbar=False)
    with pytest.raises(ValueError, match="without your edits"):
        fit_advi(gm, minibatch_size=50, n=10, progressbar=False)
