"""``bayesgmm demo``: the whole workflow on the bundled Old Faithful data."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bayesgmm.cli._common import (
    DEMO_FILES,
    DEMO_OUT,
    UsageError,
    _progressbar,
)
from bayesgmm.cli._demo_steps import DEMO_STEPS, DemoState, DemoStep
from bayesgmm.cli._outputs import add_force_argument, check_output_folder
from bayesgmm.mixture.structures import BAYESIAN_COVARIANCE_TYPES


def run_demo(
    out_dir: str | Path | None = None,
    seed: int = 0,
    stream: TextIO | None = None,
    steps: Sequence[DemoStep] = DEMO_STEPS,
    *,
    quick: bool = False,
    progressbar: bool = False,
    n_components: int | None = None,
    covariance_type: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run the demo on the bundled Old Faithful data.

    Parameters
    ----------
    out_dir : str or Path, optional
        Directory for the outputs (created if missing): ``em_bic_table.csv``,
        ``em_model_selection.csv``, ``em_best_fit.json``, ``fit.nc`` (the Bayesian fit,
        :meth:`BayesianGMM.save`), ``comparison.csv``, ``membership.csv`` and the plots
        ``clusters.png``, ``density.png``, ``trace_relabel.png``, ``comparison.png``,
        ``membership_uncertainty.png``. ``None`` writes nothing (and draws no plots).
    seed : int
        Seed of every random choice.
    stream : text stream, optional
        Where to print; standard output by default.
    steps : sequence of DemoStep
        The steps to run, in order; :data:`DEMO_STEPS` by default.
    quick : bool
        ``QUICK_DRAWS`` tuning steps and draws per chain instead of 1000 + 1000.
    progressbar : bool
        Show the sampler's progress bar.
    n_components, covariance_type : optional
        Model of the Bayesian fit; by default the one EM's BIC chose.
    force : bool
        Overwrite the demo's files already in ``out_dir``; without it, the demo refuses to
        start when any exists.

    Returns
    -------
    dict
        ``data`` (DataFrame), ``bic_table`` (K x covariance-type DataFrame of BIC, lower is
        better), ``best`` ((K, covariance_type)), ``em_fit`` (:class:`bayesgmm.em.EMResult`),
        ``em_summary`` (log-likelihood, BIC, AIC, ICL ...), ``em_reference`` (the EM fit of
        the Bayesian model), ``bayes_fit`` (:class:`BayesianGMM`), ``fit_seconds``,
        ``comparison`` (:class:`ComparisonTable`), ``membership`` (:class:`Membership`),
        and, when ``out_dir`` is given, ``files`` (every path written) and ``plots`` (the
        PNG files), as far as the steps run.
    """
    stream = sys.stdout if stream is None else stream
    if n_components is not None and n_components < 1:
        raise UsageError(f"-k/--n-components must be >= 1; got {n_components}.")
    if covariance_type is not None and covariance_type not in BAYESIAN_COVARIANCE_TYPES:
        raise UsageError(
            f"--covariance-type must be one of {BAYESIAN_COVARIANCE_TYPES}; "
            f"got {covariance_type!r}."
        )
    path = None
    if out_dir is not None:
        path = check_output_folder(str(out_dir), "--out", DEMO_FILES, (), force=force)
    state = DemoState(
        out_dir=path,
        seed=seed,
        stream=stream,
        quick=quick,
        progressbar=progressbar,
        model=(n_components, covariance_type),
    )
    for i, step in enumerate(steps, start=1):
        title = f"Step {i}/{len(steps)}: {step.title}"
        print(f"\n{title}\n{'=' * len(title)}", file=stream)
        step.run(state)
    if state.results.get("files"):
        print("\nWrote:", file=stream)
        for written in state.results["files"]:
            print(f"  {written}", file=stream)
    return state.results


def _cmd_demo(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    run_demo(
        args.out,
        args.seed,
        sys.stdout,
        quick=args.quick,
        progressbar=_progressbar(args.progressbar),
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        force=args.force,
    )
    print(f"\nDemo finished in {time.perf_counter() - start:.1f} s.")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` sub-command to ``sub``."""
    demo = sub.add_parser(
        "demo",
        help="the whole workflow on the bundled Old Faithful data",
        description=(
            "On Old Faithful: EM for K=1..4 and every covariance type with the BIC table "
            "(lower is better); NUTS (default sampler, 2 chains x 1000 tuning + 1000 draws) on "
            "the raw data for the model BIC chose (or -k / --covariance-type); relabeling with "
            "Stephens' algorithm and the label-switching and collapse reports; the EM estimate "
            "beside the posterior; membership uncertainty; and plots. Writes fit.nc, "
            "comparison.csv, membership.csv, the EM tables and PNG plots to --out."
        ),
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default=DEMO_OUT,
        help=f"folder for the fit, tables and plots (created; default: ./{DEMO_OUT}/)",
    )
    add_force_argument(demo, "the demo's files in --out DIR")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument(
        "-k",
        "--n-components",
        type=int,
        default=None,
        metavar="K",
        help="components of the Bayesian fit (default: the BIC choice)",
    )
    demo.add_argument(
        "--covariance-type",
        choices=BAYESIAN_COVARIANCE_TYPES,
        default=None,
        help="covariance of the Bayesian fit (default: the BIC choice)",
    )
    demo.add_argument(
        "--progressbar",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="sampler progress bar (default: on when standard output is a terminal)",
    )
    # Short chains, for tests and a quick look; every step still runs.
    demo.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    demo.set_defaults(func=_cmd_demo)
