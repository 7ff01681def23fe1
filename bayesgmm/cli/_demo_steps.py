"""The steps of ``bayesgmm demo``: data, EM selection, NUTS, diagnostics, comparison, plots."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bayesgmm.cli._common import (
    DEMO_CHAINS,
    DEMO_DRAWS,
    DEMO_FILES,
    DEMO_KS,
    DEMO_N_INIT,
    DEMO_TUNE,
    QUICK_DRAWS,
    _emit_fit_warnings,
    _emit_warnings,
    _fit_summary,
    _indent,
    _timed_with_warnings,
    _wrap,
)
from bayesgmm.cli._format import (
    _divergences,
    _format_az_summary,
    _format_comparison,
    _format_summary,
    _membership_text,
    _relabel_line,
    format_parameters,
)
from bayesgmm.cli._outputs import write_output
from bayesgmm.cli._plots import (
    _density_pair,
    _draw_plots,
    _import_pyplot,
    _plot_comparison,
)
from bayesgmm.mixture.structures import BAYESIAN_COVARIANCE_TYPES, get_structure

# mclust's BIC choice on the faithful data: 3 components, one shared covariance (EEE).
_MCLUST_FAITHFUL = (3, get_structure("EEE"))


@dataclass
class DemoState:
    """What the demo steps share.

    Attributes
    ----------
    out_dir : Path or None
        Where steps write files; ``None`` writes nothing.
    seed : int
        Seed of every random choice in the demo.
    stream : text stream
        Where the steps print.
    results : dict
        Filled by the steps; :func:`run_demo` returns it.
    quick : bool
        Short chains (``QUICK_DRAWS`` tune + draws) for a fast run; every step still runs.
    progressbar : bool
        Show the sampler's progress bar.
    model : (int or None, str or None)
        ``(K, covariance_type)`` of the Bayesian fit; ``None`` parts take the BIC choice.
    """

    out_dir: Path | None
    seed: int
    stream: TextIO
    results: dict[str, Any] = field(default_factory=dict)
    quick: bool = False
    progressbar: bool = False
    model: tuple[int | None, str | None] = (None, None)

    def write(self, name: str, writer: Callable[[Path], None]) -> None:
        """Write ``out_dir / name`` whole with ``writer(path)`` and record it (if out_dir)."""
        if self.out_dir is None:
            return
        if name not in DEMO_FILES:  # would escape the --force check: a bug
            raise RuntimeError(f"{name} is not among the demo's declared outputs.")
        path = write_output(self.out_dir / name, writer)
        self.results.setdefault("files", []).append(path)


@dataclass(frozen=True)
class DemoStep:
    """One titled step of :func:`run_demo`: a function that reads and extends the state."""

    title: str
    run: Callable[[DemoState], None]


def _demo_load_data(state: DemoState) -> None:
    from bayesgmm.datasets import load_faithful

    data = load_faithful()
    state.results["data"] = data
    print(
        f"Old Faithful: {len(data)} eruptions, features {list(data.columns)} "
        "(eruption time and waiting time to the next eruption, minutes).",
        file=state.stream,
    )


def _demo_em_select(state: DemoState) -> None:
    from bayesgmm.em import select_k

    data = state.results["data"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = select_k(
            data.to_numpy(),
            ks=DEMO_KS,
            covariance_types=BAYESIAN_COVARIANCE_TYPES,  # the demo fits the choice by NUTS
            criterion="bic",
            n_init=DEMO_N_INIT,
            random_seed=state.seed,
        )
    _emit_warnings(caught, state.stream)
    best = table.attrs["best"]
    if best is None:
        raise RuntimeError("every EM fit of the demo was degenerate; this should not happen.")
    state.results["bic_table"] = table
    state.results["best"] = best

    shown = table.map(lambda v: "failed" if v != v else f"{v:.2f}")
    shown.loc[best[0], best[1]] += " *"
    shown.columns.name = "K \\ covariance"
    shown.index.name = None
    print(
        f"BIC = -2 log L + p log N for K = {DEMO_KS[0]}..{DEMO_KS[-1]} and each covariance type "
        f"(EM, {DEMO_N_INIT} restarts, seed {state.seed}).\n"
        "LOWER IS BETTER (mclust reports -BIC, where higher is better). * marks the chosen "
        "model.",
        file=state.stream,
    )
    print(_indent(shown.to_string()), file=state.stream)
    print(f"Chosen: K={best[0]}, covariance_type={best[1]!r}.", file=state.stream)
    state.write("em_bic_table.csv", table.to_csv)
    state.write("em_model_selection.csv", lambda p: table.attrs["long"].to_csv(p, index=False))


def _demo_em_best(state: DemoState) -> None:
    from bayesgmm.em import fit_em

    data = state.results["data"]
    n_components, cov_type = state.results["best"]
    # Same call as inside select_k, so this is the fit whose BIC won the table.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_em(
            data.to_numpy(),
            n_components,
            cov_type,
            n_init=DEMO_N_INIT,
            random_seed=state.seed,
        )
    _emit_warnings(caught, state.stream)
    summary = _fit_summary(fit)
    state.results["em_fit"] = fit
    state.results["em_summary"] = summary
    print(f"EM fit, K={n_components}, covariance_type={cov_type!r}:", file=state.stream)
    print(
        _indent(format_parameters(fit.weights, fit.means, fit.covariances, cov_type, data.columns)),
        file=state.stream,
    )
    print("", file=state.stream)
    print(_indent(_format_summary(summary, map_em=False)), file=state.stream)

    def write_json(path: Path) -> None:
        from bayesgmm.io import em_fit_json

        path.write_text(json.dumps(em_fit_json(fit, list(data.columns)), indent=2) + "\n")

    state.write("em_best_fit.json", write_json)


def _demo_bayes_choice(state: DemoState) -> tuple[int, str, str]:
    """(K, covariance_type, why) of the Bayesian fit."""
    best_k, best_cov = state.results["best"]
    wanted_k, wanted_cov = state.model
    k = best_k if wanted_k is None else int(wanted_k)
    cov = best_cov if wanted_cov is None else str(wanted_cov)
    data_note = (
        "on the raw data (minutes): the default priors are scaled to the data, so there is no "
        "need to standardise, and every number below stays in the data's units."
    )
    if (k, cov) != (best_k, best_cov):
        return (
            k,
            cov,
            (
                f"Fitting K={k}, covariance_type={cov!r} as asked (BIC chose K={best_k}, "
                f"{best_cov!r}), {data_note}"
            ),
        )
    why = f"Fitting the model BIC chose, K={k}, covariance_type={cov!r}, {data_note}"
    if k >= 3:
        mclust = (
            " (mclust also picks 3 components with one shared covariance, EEE, for these data)"
            if (k, get_structure(cov)) == _MCLUST_FAITHFUL
            else ""
        )
        why += (
            " Why this model rather than the textbook two clusters: it is EM's own "
            f"answer{mclust}, and its extra component(s) overlap the two eruption types, which "
            "is where EM's single answer hides the most uncertainty. The posterior shows it: "
            "the width of the weight HDIs and the points that no component claims with "
            "confidence. For the two-cluster fit run: bayesgmm demo -k 2 --covariance-type full."
        )
    return k, cov, why


def _demo_bayes_fit(state: DemoState) -> None:
    from bayesgmm.em import fit_em
    from bayesgmm.estimators.bayesian import BayesianGMM
    from bayesgmm.exceptions import DegenerateComponentWarning, LabelSwitchingWarning

    data = state.results["data"]
    k, cov_type, why = _demo_bayes_choice(state)
    if (k, cov_type) == tuple(state.results["best"]):
        em_fit = state.results["em_fit"]
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            em_fit = fit_em(
                data.to_numpy(), k, cov_type, n_init=DEMO_N_INIT, random_seed=state.seed
            )
        _emit_warnings(caught, state.stream)
    state.results["em_reference"] = em_fit
    draws = tune = QUICK_DRAWS if state.quick else None
    draws = DEMO_DRAWS if draws is None else draws
    tune = DEMO_TUNE if tune is None else tune
    print(_wrap(why, ""), file=state.stream)
    print(
        f"NUTS with the default sampler: {DEMO_CHAINS} chains x ({tune} tuning + {draws} draws), "
        f"chains started near a MAP-EM fit, seed {state.seed}; then relabeling with Stephens' "
        "algorithm.",
        file=state.stream,
    )
    model = BayesianGMM(
        k,
        covariance_type=cov_type,
        method="nuts",
        sampler="auto",
        draws=draws,
        tune=tune,
        chains=DEMO_CHAINS,
        relabel="stephens",
        progressbar=state.progressbar,
        random_seed=state.seed,
    )
    _, caught, elapsed = _timed_with_warnings(lambda: model.fit(data))
    # The label-switching and collapse warnings repeat the reports printed in the next step.
    _emit_fit_warnings(
        caught, state.stream, skip=(LabelSwitchingWarning, DegenerateComponentWarning)
    )
    state.results["bayes_fit"] = model
    state.results["fit_seconds"] = elapsed
    idata = model.idata_
    divergent = _divergences(idata)
    tail = "" if divergent is None else f"; divergent transitions: {divergent[0]} of {divergent[1]}"
    print(
        f"Sampled with {idata.attrs.get('sampler', 'unknown')} in {elapsed:.1f} s "
        f"(including model build, compilation and relabeling){tail}.",
        file=state.stream,
    )
    print("\nPosterior summary (relabeled draws):", file=state.stream)
    print(_indent(_format_az_summary(model.summary(round_to="none"))), file=state.stream)
    state.write("fit.nc", model.save)


def _demo_diagnostics(state: DemoState) -> None:
    model = state.results["bayes_fit"]
    stream = state.stream
    line = _relabel_line(model.idata_.posterior.attrs)
    if line is not None:
        print(_wrap(line, ""), file=stream)
    report = model.label_report_
    if report is not None:
        print(_wrap(f"Label switching: {report.message}", ""), file=stream)
        switches = report.switches.copy()
        switches["modal_permutation"] = switches["modal_permutation"].map(str)
        print(_indent(switches.to_string(float_format=lambda v: f"{v:.3f}")), file=stream)
    if model.collapse_report_ is not None:
        print(_wrap(f"Collapse: {model.collapse_report_.message}", ""), file=stream)


def _demo_compare(state: DemoState) -> None:
    from bayesgmm.analysis import compare

    table = compare(state.results["em_reference"], state.results["bayes_fit"])
    state.results["comparison"] = table
    print(
        "EM (maximum likelihood) estimate beside the posterior, element by element "
        "(posterior components matched to EM's draw by draw):",
        file=state.stream,
    )
    print(_indent(_format_comparison(table)), file=state.stream)
    print("", file=state.stream)
    print(_wrap(table.summary), file=state.stream)
    state.write("comparison.csv", table.table.to_csv)


def _demo_membership(state: DemoState) -> None:
    from bayesgmm.analysis import membership

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = membership(state.results["bayes_fit"], random_seed=state.seed)
    _emit_fit_warnings(caught, state.stream)
    state.results["membership"] = result
    print(_membership_text(result), file=state.stream)
    state.write("membership.csv", result.to_frame().to_csv)


def _demo_plots(state: DemoState) -> None:
    if state.out_dir is None:
        print("No output folder: plots skipped.", file=state.stream)
        return
    plt = _import_pyplot(state.stream)
    if plt is None:
        return
    from bayesgmm import plotting

    data = state.results["data"]
    em_fit = state.results["em_reference"]
    model = state.results["bayes_fit"]
    result = state.results["membership"]
    specs = [
        (
            "clusters.png",
            lambda: plotting.plot_clusters(
                data, em=em_fit, idata=model, membership=result, random_seed=state.seed
            ),
        ),
        ("density.png", lambda: _density_pair(plt, data, em_fit, model)),
        ("trace_relabel.png", lambda: plotting.plot_trace_relabel(model.raw_idata_, model.idata_)),
        ("comparison.png", lambda: _plot_comparison(state.results["comparison"])),
        ("membership_uncertainty.png", lambda: plotting.plot_membership_uncertainty(result)),
    ]
    before = len(state.results.get("files", []))
    _draw_plots(plt, specs, state.write, state.stream)
    state.results["plots"] = state.results.get("files", [])[before:]
    print(f"Drew {len(state.results['plots'])} plot(s) into {state.out_dir}.", file=state.stream)


DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep("Data", _demo_load_data),
    DemoStep("EM model selection by BIC", _demo_em_select),
    DemoStep("The chosen EM model", _demo_em_best),
    DemoStep("Bayesian fit by NUTS", _demo_bayes_fit),
    DemoStep("Label switching, relabeling and collapse", _demo_diagnostics),
    DemoStep("EM versus posterior", _demo_compare),
    DemoStep("Membership uncertainty", _demo_membership),
    DemoStep("Plots", _demo_plots),
)
