"""``import bayesgmm`` and ``import bayesgmm.em`` stay light: no PyMC, PyTensor, ArviZ or
matplotlib until a Bayesian fit or a plot asks for them, and no Dask until EM is given a
Dask array (checked in fresh interpreters)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# pyarrow is not listed: pandas itself loads it, when installed, to read a CSV.
HEAVY = ("pymc", "pytensor", "arviz", "matplotlib", "dask", "distributed", "zarr")

PROBE = """
import json, sys
{statement}
heavy = {heavy!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps(loaded))
"""


def loaded_heavy_modules(statement: str) -> list[str]:
    code = PROBE.format(statement=statement, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "statement",
    [
        "import bayesgmm.em",
        "import bayesgmm",
        # Using the EM end to end does not pull them in either.
        "import bayesgmm\n"
        "fit = bayesgmm.fit_em(bayesgmm.load_faithful(), 2, random_seed=0)\n"
        "table = bayesgmm.select_k(bayesgmm.load_faithful(), ks=[1, 2], covariance_types='full')",
    ],
    ids=["bayesgmm.em", "bayesgmm", "fit_em+select_k"],
)
def test_import_is_light(statement):
    assert loaded_heavy_modules(statement) == []


@pytest.mark.timeout(240)
@pytest.mark.parametrize("module", ["matplotlib", "distributed"])
def test_probe_detects_a_heavy_import(module):
    # The probe itself works: importing one of the modules is seen.
    assert "json" not in HEAVY
    detected = loaded_heavy_modules(f"import {module}")
    assert module in detected


@pytest.mark.timeout(240)
def test_estimator_works_without_sklearn_loaded():
    # scikit-learn is a test dependency only: the estimator neither imports it nor needs
    # it to raise its NotFittedError.
    statement = (
        "import sys\n"
        "from bayesgmm.estimators.bayesian import GaussianMixtureEM\n"
        "from bayesgmm.exceptions import NotFittedError\n"
        "from bayesgmm import load_faithful\n"
        "X = load_faithful().to_numpy()\n"
        "try:\n"
        "    GaussianMixtureEM(2).predict(X)\n"
        "except NotFittedError:\n"
        "    pass\n"
        "GaussianMixtureEM(2, random_seed=0).fit(X).predict(X)\n"
        "assert 'sklearn' not in sys.modules, 'scikit-learn was imported'\n"
    )
    assert loaded_heavy_modules(statement) == []
