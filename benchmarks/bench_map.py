"""MAP on the compiled kernel against ``pm.find_MAP`` on the same model, same start.

Both find the mode of the constrained parameters' log density (PyMC's ``jacobian=False``)
by L-BFGS-B from the same MAP-EM start; ``pm.find_MAP`` first compiles PyMC's logp and
dlogp, which is what a fit paid before. Reports wall seconds (one run each, compile
included: that is what every fit costs), their ratio, and the log posterior each reached
(PyMC's own compiled logp at both points).

    python benchmarks/bench_map.py
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pymc as pm

from bayesgmm.bayes.inference.map import kernel_map
from bayesgmm.bayes.inference.starts import em_initial_point
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.datasets import load_faithful, make_gmm_data


def _cases() -> list[tuple[str, np.ndarray, int]]:
    rng = np.random.default_rng(0)
    cases = [("Faithful (272x2)", np.asarray(load_faithful(), dtype=np.float64), 2)]
    for d in (5, 10):
        means = rng.normal(scale=4.0, size=(3, d))
        covs = np.stack([np.eye(d) * (0.5 + k) for k in range(3)])
        data = make_gmm_data(600, [0.3, 0.3, 0.4], means, covs, random_seed=d)
        cases.append((f"simulated (600x{d})", data.X, 3))
    return cases


def _log_posterior(gmm: Any, logp: Any, theta: np.ndarray) -> float:
    """PyMC's compiled log density at a free vector (PyMC's value-variable order)."""
    initial = gmm.model.initial_point()
    point, offset = {}, 0
    for var in gmm.model.value_vars:
        size = initial[var.name].size
        point[var.name] = theta[offset : offset + size].reshape(initial[var.name].shape)
        offset += size
    return float(logp(point))


def main() -> None:
    warnings.simplefilter("ignore")
    print("| data | K | kernel MAP s | pm.find_MAP s | ratio | logp kernel | logp find_MAP |")
    print("|---|---|---|---|---|---|---|")
    for name, X, k in _cases():
        gmm = build_model(X, k, "full")
        start = em_initial_point(gmm, random_seed=0)
        t0 = time.perf_counter()
        ours = kernel_map(gmm, gmm.spec.pack(start))
        t_kernel = time.perf_counter() - t0
        t0 = time.perf_counter()
        with gmm.model:
            theirs = pm.find_MAP(start=start, progressbar=False, include_transformed=False)
        t_pymc = time.perf_counter() - t0
        logp = gmm.model.compile_logp(jacobian=False)
        at_ours = _log_posterior(gmm, logp, ours.theta)
        at_theirs = _log_posterior(gmm, logp, gmm.spec.pack(theirs))
        print(
            f"| {name} | {k} | {t_kernel:.3f} | {t_pymc:.1f} | {t_kernel / t_pymc:.4f} | "
            f"{at_ours:.6f} | {at_theirs:.6f} |"
        )


if __name__ == "__main__":
    main()
