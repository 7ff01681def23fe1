"""Ctrl-C during a fit raises KeyboardInterrupt and leaves the estimator as it was (issue 24).

The interrupt is a real SIGINT (``_thread.interrupt_main``), sent at a named stage of the
fit by a wrapper around the function that runs that stage, or after a delay from the
start of a stage that cannot finish in that time (warm-up or sampling of a long run, the
ADVI loop). Whatever the stage, the fit must raise ``KeyboardInterrupt`` (not an error
made from a partial trace, and not return), and the estimator must keep the previous
fit's attributes, unchanged.
"""

from __future__ import annotations

import _thread
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bayesgmm import GaussianMixtureEM
from bayesgmm._utils.interrupts import interrupts_propagated

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 0.5, (80, 2)), rng.normal(2, 0.5, (80, 2))])
    return X[:120].copy(), X


#: Timers started by _interrupting; cancelled after every test, so that no SIGINT from a
#: stage that ended early reaches a later test.
_TIMERS: list[threading.Timer] = []


@pytest.fixture(autouse=True)
def _cancel_timers():
    yield
    while _TIMERS:
        _TIMERS.pop().cancel()


def _interrupting(function: Callable[..., Any], delay: float | None = None) -> Callable:
    """``function`` that sends SIGINT to the main thread as it starts (``delay=None``)
    or ``delay`` seconds after it started, then runs."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if delay is None:
            _thread.interrupt_main()
        else:
            _TIMERS.append(threading.Timer(delay, _thread.interrupt_main))
            _TIMERS[-1].start()
        return function(*args, **kwargs)

    return wrapper


def _state(estimator: Any) -> dict[str, Any]:
    return dict(vars(estimator))


def _assert_unchanged(estimator: Any, before: dict[str, Any]) -> None:
    after = _state(estimator)
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert after[name] is value, name  # the very same objects: nothing reassigned


def _interrupted_fit(estimator: Any, X: np.ndarray) -> None:
    before = _state(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            estimator.fit(X)
    _assert_unchanged(estimator, before)


def test_library_that_swallows_ctrl_c_is_interrupted_all_the_same() -> None:
    """A SIGINT caught by a library that returns early is raised when the block ends."""

    def swallowing() -> str:
        try:
            _thread.interrupt_main()
            for _ in range(10**7):  # the handler runs within a few bytecodes
                pass
        except KeyboardInterrupt:
            return "partial"
        return "finished"

    with pytest.raises(KeyboardInterrupt), interrupts_propagated():
        swallowing()


def test_error_after_a_swallowed_interrupt_is_the_interrupt() -> None:
    def swallowing_then_failing() -> None:
        try:
            _thread.interrupt_main()
            for _ in range(10**7):
                pass
        except KeyboardInterrupt:
            pass
        raise ValueError("cannot reshape array of size 0")

    with pytest.raises(KeyboardInterrupt) as info, interrupts_propagated():
        swallowing_then_failing()
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("stage", ["m_step", "best_result"])
def test_em_interrupted(data, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    first, second = data
    estimator = GaussianMixtureEM(2, random_seed=0).fit(first)
    module = "bayesgmm.em.restarts" if stage == "m_step" else "bayesgmm.em.fit"
    target = f"{module}.{stage}"
    import importlib

    original = getattr(importlib.import_module(module), stage)
    monkeypatch.setattr(target, _interrupting(original))
    _interrupted_fit(estimator, second)


def test_em_interrupted_before_any_fit_leaves_it_unfitted(data, monkeypatch) -> None:
    import bayesgmm.em.restarts as restarts

    monkeypatch.setattr(restarts, "m_step", _interrupting(restarts.m_step))
    estimator = GaussianMixtureEM(2, random_seed=0)
    _interrupted_fit(estimator, data[1])
    assert not hasattr(estimator, "n_features_in_")


@pytest.fixture(scope="module")
def fitted_nuts(data):
    pytest.importorskip("nutpie")
    from bayesgmm import BayesianGMM

    estimator = BayesianGMM(
        2, draws=50, tune=50, chains=2, sampler="nutpie", random_seed=1, progressbar=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(data[0])


# (module, function, delay, settings): SIGINT as the stage starts or `delay` s into it.
NUTS_STAGES = {
    "compilation": ("bayesgmm.bayes.kernel.nutpie_bridge", "kernel_model", None, {}),
    "start of warm-up": ("bayesgmm.bayes.inference.nuts", "_run_nutpie", None, {}),
    "warm-up": ("bayesgmm.bayes.inference.nuts", "_run_nutpie", 0.3, {"tune": 10**6}),
    "sampling": (
        "bayesgmm.bayes.inference.nuts",
        "_run_nutpie",
        0.5,
        {"tune": 20, "draws": 10**6},
    ),
    "post-processing": ("bayesgmm.posterior", "relabel_idata", None, {}),
    # PyMC's own sampler catches Ctrl-C and returns its partial trace, as nutpie does.
    "PyMC's sampler": (
        "bayesgmm.bayes.inference.nuts",
        "_sample_pymc",
        3.0,
        {"sampler": "pymc", "tune": 20, "draws": 10**6},
    ),
}


@pytest.mark.parametrize("stage", list(NUTS_STAGES))
def test_nuts_interrupted(data, fitted_nuts, monkeypatch, stage: str) -> None:
    import importlib

    module_name, name, delay, settings = NUTS_STAGES[stage]
    module = importlib.import_module(module_name)
    monkeypatch.setattr(module, name, _interrupting(getattr(module, name), delay))
    before = _state(fitted_nuts)
    params = fitted_nuts.get_params()
    fitted_nuts.set_params(**settings)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(KeyboardInterrupt):
                fitted_nuts.fit(data[1])
    finally:
        fitted_nuts.set_params(**params)
    _assert_unchanged(fitted_nuts, before)
    assert fitted_nuts.predict(data[0]).shape == (120,)  # the previous fit still works


@pytest.mark.parametrize("method", ["map", "advi"])
def test_map_and_advi_interrupted(data, monkeypatch, method: str) -> None:
    from bayesgmm import BayesianGMM
    from bayesgmm.bayes.inference import advi, run

    estimator = BayesianGMM(2, method="map", random_seed=0, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(data[0])
    if method == "map":
        # BayesianGMM reaches fit_map through the one runner (bayes.inference.run).
        monkeypatch.setattr(run, "fit_map", _interrupting(run.fit_map))
    else:
        estimator.set_params(method="advi", advi_steps=10**7, draws=10)
        monkeypatch.setattr(advi, "fit_advi_gaussian", _interrupting(advi.fit_advi_gaussian, 0.3))
    _interrupted_fit(estimator, data[1])
