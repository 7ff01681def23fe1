"""Command-line interface: ``bayesgmm demo``, ``fit``, ``report`` and ``fit-em``.

* ``bayesgmm demo``: the whole workflow on the bundled Old Faithful data (EM model selection
  by BIC, NUTS, relabeling, EM versus posterior, membership uncertainty, plots).
* ``bayesgmm fit data.csv -k K --method nuts|advi|fullrank_advi|map|em --out fit.nc``: fit
  a CSV file and write the fit to netCDF.
* ``bayesgmm report fit.nc [--out DIR]``: summaries and plots of a written fit.
* ``bayesgmm fit-em data.csv -k K``: EM or MAP-EM only, printed (no file needed).

The module imports only the standard library at import time. numpy, pandas and the EM code
load inside the subcommands; PyMC / ArviZ / matplotlib load only in the steps that need them
(never in the EM commands), so ``bayesgmm --help`` starts fast.

Exit codes: 0 success, 1 the fit itself failed (every restart collapsed), 2 bad input or
bad options (the message, never a traceback, goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = ["DEMO_STEPS", "DemoState", "DemoStep", "UsageError", "build_parser", "main", "run_demo"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DEMO_KS = (1, 2, 3, 4)
DEMO_N_INIT = 3
#: NUTS settings of the demo: chains x (tune + draws); ``--quick`` uses QUICK_DRAWS for both.
DEMO_CHAINS = 2
DEMO_DRAWS = 1000
DEMO_TUNE = 1000
QUICK_DRAWS = 200
#: Default output folder of ``bayesgmm demo``.
DEMO_OUT = "bayesgmm-demo"
#: ``bayesgmm fit --method`` choices: the BayesianGMM methods plus the reference EM.
FIT_METHODS = ("nuts", "advi", "fullrank_advi", "map", "em")
RELABEL_CHOICES = ("stephens", "pivot", "ecr", "ordering", "none")
SAMPLERS = ("auto", "nutpie", "pymc", "numpyro")
#: ``attrs["bayesgmm_kind"]`` of the netCDF file that ``bayesgmm fit --method em`` writes.
EM_FILE_KIND = "em"
PLOT_INSTALL_HINT = 'plots need matplotlib: pip install "bayesgmm[plot]"'


class UsageError(Exception):
    """Bad input or options: reported on stderr with exit code 2, without a traceback."""


# ---------------------------------------------------------------------------------------
# Formatting helpers (shared by ``demo`` and ``fit-em``)
# ---------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


def format_parameters(
    weights: Any,
    means: Any,
    covariances: Any,
    covariance_type: str,
    feature_names: Sequence[str],
) -> str:
    """Human-readable table of mixture parameters.

    Parameters
    ----------
    weights : array-like of shape (K,)
    means : array-like of shape (K, D)
    covariances : array-like
        In the layout of ``covariance_type`` (see :mod:`bayesgmm.covariance`).
    covariance_type : {"full", "tied", "diag", "spherical"}
    feature_names : sequence of str
        One name per feature (column).

    Returns
    -------
    str
        Weights and means as one table (a row per component), then the covariances.
    """
    import numpy as np
    import pandas as pd

    weights = np.asarray(weights)
    means = np.atleast_2d(np.asarray(means))
    covariances = np.asarray(covariances)
    names = [str(n) for n in feature_names]
    n_components = means.shape[0]
    index = pd.Index(range(n_components), name="component")

    table = pd.DataFrame(means, index=index, columns=[f"mean[{n}]" for n in names])
    table.insert(0, "weight", weights)
    lines = ["Weights and means:", _indent(table.to_string(float_format=_fmt)), ""]

    if covariance_type == "full":
        lines.append("Covariances (one matrix per component):")
        for k in range(n_components):
            matrix = pd.DataFrame(covariances[k], index=names, columns=names)
            lines += [f"  component {k}:", _indent(matrix.to_string(float_format=_fmt), "    ")]
    elif covariance_type == "tied":
        lines.append("Covariance (tied: shared by all components):")
        matrix = pd.DataFrame(covariances, index=names, columns=names)
        lines.append(_indent(matrix.to_string(float_format=_fmt)))
    elif covariance_type == "diag":
        lines.append("Variances (diag: per component and feature; covariances are 0):")
        variances = pd.DataFrame(covariances, index=index, columns=[f"var[{n}]" for n in names])
        lines.append(_indent(variances.to_string(float_format=_fmt)))
    else:
        lines.append("Variances (spherical: one variance per component, shared by all features):")
        variances = pd.DataFrame({"variance": covariances}, index=index)
        lines.append(_indent(variances.to_string(float_format=_fmt)))
    return "\n".join(lines)


def _fit_summary(fit: Any) -> dict[str, Any]:
    from bayesgmm import em

    return {
        "log_likelihood": float(fit.log_likelihood),
        "log_prior": float(fit.log_prior),
        "n_parameters": int(em.n_free_parameters(fit)),
        "bic": float(em.bic(fit)),
        "aic": float(em.aic(fit)),
        "icl": float(em.icl(fit)),
        "converged": bool(fit.converged),
        "n_iter": int(fit.n_iter),
        "degenerate_components": [int(k) for k in fit.degenerate_components],
    }


def _format_summary(summary: dict[str, Any], *, map_em: bool) -> str:
    lines = [f"log-likelihood    {summary['log_likelihood']:.4f}"]
    if map_em:
        lines.append(f"log prior         {summary['log_prior']:.4f}  (MAP-EM objective = sum)")
    lines += [
        f"free parameters   {summary['n_parameters']}",
        f"BIC               {summary['bic']:.4f}  (lower is better)",
        f"AIC               {summary['aic']:.4f}  (lower is better)",
        f"ICL               {summary['icl']:.4f}  (lower is better)",
        f"converged         {'yes' if summary['converged'] else 'NO'} "
        f"after {summary['n_iter']} iteration(s)",
    ]
    if summary["degenerate_components"]:
        lines.append(f"degenerate        components {summary['degenerate_components']}")
    return "\n".join(lines)


def _timed_with_warnings(run: Any) -> tuple[Any, list[Any], float]:
    """Call ``run()`` recording every warning (printed later as one-liners) and its time."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    return result, caught, time.perf_counter() - start


def _emit_warnings(caught: Sequence[warnings.WarningMessage], stream: TextIO) -> None:
    seen = set()
    for w in caught:
        text = f"warning: {w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            print(text, file=stream)


def _params_json(fit: Any, feature_names: Sequence[str]) -> dict[str, Any]:
    return {
        "n_components": int(fit.means.shape[0]),
        "covariance_type": fit.covariance_type,
        "features": [str(n) for n in feature_names],
        "weights": fit.weights.tolist(),
        "means": fit.means.tolist(),
        "covariances": fit.covariances.tolist(),
        **_fit_summary(fit),
    }


# ---------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------


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
        """Call ``writer(path)`` for ``out_dir / name`` and record the path (if out_dir)."""
        if self.out_dir is None:
            return
        path = self.out_dir / name
        writer(path)
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
            covariance_types=COVARIANCE_TYPES,
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
        path.write_text(json.dumps(_params_json(fit, list(data.columns)), indent=2) + "\n")

    state.write("em_best_fit.json", write_json)


# ---------------------------------------------------------------------------------------
# Helpers shared by the Bayesian steps of ``demo``, ``fit`` and ``report``
# ---------------------------------------------------------------------------------------


def _emit_fit_warnings(
    caught: Sequence[warnings.WarningMessage],
    stream: TextIO,
    skip: tuple[type[Warning], ...] = (),
) -> None:
    """Print the package's own warnings from a fit, except the ``skip`` categories.

    Warnings of bayesgmm's classes (label switching, collapse, convergence) or issued from
    its code are kept; those of the libraries underneath (PyTensor's BLAS notice,
    deprecations) say nothing about the fit and are left out.
    """
    package_dir = str(Path(__file__).resolve().parent)

    def ours(w: warnings.WarningMessage) -> bool:
        module = getattr(w.category, "__module__", "")
        return module.split(".")[0] == "bayesgmm" or str(w.filename).startswith(package_dir)

    _emit_warnings([w for w in caught if ours(w) and not issubclass(w.category, skip)], stream)


def _wrap(text: str, prefix: str = "  ") -> str:
    """Wrap every line of ``text`` at 100 columns, indented by ``prefix``."""
    return "\n".join(
        textwrap.fill(line, 100, initial_indent=prefix, subsequent_indent=prefix + "  ")
        for line in text.splitlines()
        if line.strip()
    )


def _format_az_summary(summary: Any) -> str:
    """A compact ArviZ summary: mean, sd, HDI, bulk ESS and R-hat."""
    columns = [c for c in summary.columns if c in ("mean", "sd", "ess_bulk", "r_hat")]
    columns[2:2] = [c for c in summary.columns if str(c).startswith("hdi_")]
    return summary[columns].to_string(float_format=lambda v: f"{v:.4g}")


def _posterior_summary(idata: Any) -> Any:
    """ArviZ summary of the weights, means and standard deviations (no rounding)."""
    import arviz as az

    names = [v for v in ("weights", "means", "stds") if v in idata.posterior]
    logger = logging.getLogger("arviz")
    level = logger.level
    # One chain (ADVI) makes ArviZ warn and log about R-hat; the table shows NaN instead.
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return az.summary(idata, var_names=names, round_to="none")
    finally:
        logger.setLevel(level)


def _format_comparison(table: Any) -> str:
    """A compact view of :func:`bayesgmm.comparison.compare`'s table."""
    import pandas as pd

    frame = table.table
    pct = f"{100 * table.hdi_prob:g}%"
    shown = pd.DataFrame(
        {
            "EM": frame["em_estimate"],
            "post. mean": frame["posterior_mean"],
            "post. sd": frame["posterior_sd"],
            f"{pct} HDI low": frame["hdi_low"],
            "high": frame["hdi_high"],
            "EM in HDI": frame["em_in_hdi"].map({True: "yes", False: "NO"}),
            "z": frame["z"],
        },
        index=frame.index,
    )
    shown.index.name = None
    return shown.to_string(float_format=lambda v: f"{v:.4g}")


def _divergences(idata: Any) -> tuple[int, int] | None:
    """(divergent transitions, draws) of a NUTS fit, or None without sample stats."""
    if "sample_stats" not in idata.groups() or "diverging" not in idata.sample_stats:
        return None
    diverging = idata.sample_stats["diverging"].values
    return int(diverging.sum()), int(diverging.size)


def _relabel_line(attrs: Any) -> str | None:
    """One line describing the relabeling stored in an InferenceData's attrs."""
    if "relabel_method" not in attrs:
        return None
    n_iter = int(attrs.get("relabel_n_iter", 0))
    converged = bool(int(attrs.get("relabel_converged", 1)))
    return (
        f"Relabeling: {attrs['relabel_method']} (reference: "
        f"{attrs.get('relabel_reference', 'none')}); it permuted "
        f"{int(attrs.get('relabel_n_permuted', 0))} draw(s) "
        f"({100 * float(attrs.get('relabel_fraction_permuted', 0.0)):.1f}%), "
        f"{'converged' if converged else 'did NOT converge'} after {n_iter} iteration(s)."
    )


def _membership_text(result: Any) -> str:
    """Ambiguous points, the most uncertain ones and P(number of occupied components)."""
    import numpy as np

    n_obs = len(result.labels)
    n_amb = int(result.ambiguous.sum())
    lines = [
        f"{n_amb} of {n_obs} points are ambiguous: no component claims them with posterior-mean "
        f"membership probability >= {result.ambiguity_threshold:g}."
    ]
    occupied = ", ".join(f"{k}: {p:.3f}" for k, p in result.n_occupied.items() if p > 0)
    lines.append(f"P(number of occupied components | data) = {{{occupied}}}.")
    if n_amb:
        frame = result.to_frame()
        worst = frame.iloc[np.argsort(result.max_probability, kind="stable")[: min(n_amb, 5)]]
        keep = ["label", "max_probability"] + [
            c for c in frame.columns if c.startswith("p") and c[1:].isdigit()
        ]
        lines.append(
            f"The {len(worst)} least certain points (posterior-mean probability of each component):"
        )
        lines.append(_indent(worst[keep].to_string(float_format=lambda v: f"{v:.3f}")))
    return "\n".join(lines)


def _import_pyplot(stream: TextIO) -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or None (with the install hint printed)."""
    try:
        import matplotlib
    except ImportError:
        print(
            f"matplotlib is not installed; skipping the plots ({PLOT_INSTALL_HINT}).", file=stream
        )
        return None
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # files only: no window, works without a display
    import matplotlib.pyplot as plt

    return plt


def _draw_plots(
    plt: Any,
    specs: Sequence[tuple[str, Callable[[], Any]]],
    write: Callable[[str, Callable[[Path], None]], None],
    stream: TextIO,
) -> None:
    """Draw every ``(file name, draw)`` spec and save it through ``write``.

    ``draw()`` returns the Axes (or an array of them); their figure is saved and closed. A
    plot that cannot be drawn for these data (a ``ValueError`` or ``TypeError`` from
    :mod:`bayesgmm.plotting`) is reported and skipped, so that one plot does not lose the
    others.
    """
    import numpy as np

    for name, draw in specs:

        def save(path: Path, draw: Callable[[], Any] = draw) -> None:
            axes = draw()
            figure = np.ravel(np.asarray(axes, dtype=object))[0].figure
            try:
                figure.savefig(path, dpi=110)
            finally:
                plt.close(figure)

        try:
            write(name, save)
        except (ValueError, TypeError) as exc:
            plt.close("all")
            print(f"skipped {name}: {exc}", file=stream)


def _density_pair(plt: Any, data: Any, em_fit: Any, bayes: Any) -> Any:
    """EM density (left) and posterior predictive density (right), on one figure."""
    from bayesgmm.plotting import plot_density

    _, axes = plt.subplots(1, 2, figsize=(11.0, 4.5), layout="constrained", sharey=True)
    plot_density(data, em_fit, ax=axes[0])
    axes[0].set_title("EM (maximum likelihood) density")
    plot_density(data, bayes, ax=axes[1])
    axes[1].set_title("Posterior predictive density")
    return axes


def _plot_comparison(table: Any) -> Any:
    from bayesgmm.plotting import plot_comparison

    return plot_comparison(table)


# ---------------------------------------------------------------------------------------
# demo: the Bayesian steps
# ---------------------------------------------------------------------------------------


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
            if (k, cov) == (3, "tied")
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
    from bayesgmm.estimator import BayesianGMM
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
    from bayesgmm.comparison import compare

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
    from bayesgmm.comparison import membership

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
    if covariance_type is not None and covariance_type not in COVARIANCE_TYPES:
        raise UsageError(
            f"--covariance-type must be one of {COVARIANCE_TYPES}; got {covariance_type!r}."
        )
    path = None if out_dir is None else Path(out_dir)
    if path is not None:
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {str(path)!r} exists and is not a directory.")
        path.mkdir(parents=True, exist_ok=True)
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


def _progressbar(choice: bool | None) -> bool:
    """The user's --progressbar choice, else on only when standard output is a terminal."""
    if choice is not None:
        return bool(choice)
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


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
    )
    print(f"\nDemo finished in {time.perf_counter() - start:.1f} s.")
    return 0


# ---------------------------------------------------------------------------------------
# fit-em
# ---------------------------------------------------------------------------------------


def _read_csv(path_text: str, columns: str | None) -> Any:
    """Read a CSV with a header row and return the selected numeric columns."""
    import pandas as pd

    path = Path(path_text)
    if not path.exists():
        raise UsageError(f"data file {path_text!r} does not exist.")
    if path.is_dir():
        raise UsageError(f"data file {path_text!r} is a directory, not a CSV file.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise UsageError(f"data file {path_text!r} is empty (no header, no rows).") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UsageError(f"could not parse {path_text!r} as CSV: {exc}") from None
    if len(frame) == 0:
        raise UsageError(f"data file {path_text!r} has a header but no data rows.")

    if columns is not None:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        if not wanted:
            raise UsageError("--columns is empty; give comma-separated column names.")
        unknown = [c for c in wanted if c not in frame.columns]
        if unknown:
            raise UsageError(
                f"unknown column(s) {unknown} in --columns; {path_text!r} has columns "
                f"{[str(c) for c in frame.columns]}."
            )
        frame = frame[wanted]

    non_numeric = [
        str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]
    if non_numeric:
        numeric = [str(c) for c in frame.columns if str(c) not in non_numeric]
        hint = f" (for example --columns {','.join(numeric)})" if numeric else ""
        raise UsageError(
            f"non-numeric column(s) {non_numeric} in {path_text!r}; Gaussian mixtures need "
            f"numbers. Select numeric columns with --columns{hint}, or encode them first."
        )

    missing = frame.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        described = ", ".join(f"{c!r} ({n} missing)" for c, n in missing.items())
        raise UsageError(
            f"{path_text!r} has NaN / empty values in column(s) {described}. "
            "Drop or impute those rows first (for example with pandas' dropna()); "
            "bayesgmm never imputes silently."
        )
    return frame.astype("float64")


def _write_labels(path_text: str, labels: Any, proba: Any) -> Path:
    import numpy as np
    import pandas as pd

    path = Path(path_text)
    if path.parent != Path() and not path.parent.is_dir():
        raise UsageError(f"--labels-out: directory {str(path.parent)!r} does not exist.")
    table = pd.DataFrame({"label": labels, "uncertainty": 1.0 - np.max(proba, axis=1)})
    for k in range(proba.shape[1]):
        table[f"prob_{k}"] = proba[:, k]
    table.index.name = "row"
    table.to_csv(path)
    return path


def _cmd_fit_em(args: argparse.Namespace) -> int:
    # Cheap option checks first, before reading any data.
    if args.n_components < 1:
        raise UsageError(f"-k/--n-components must be >= 1; got {args.n_components}.")
    if args.n_init < 1:
        raise UsageError(f"--n-init must be >= 1; got {args.n_init}.")
    if args.max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1; got {args.max_iter}.")
    if args.reg_covar < 0:
        raise UsageError(f"--reg-covar must be >= 0; got {args.reg_covar}.")

    frame = _read_csv(args.data, args.columns)
    n_samples, n_features = frame.shape
    if args.n_components > n_samples:
        raise UsageError(
            f"-k/--n-components={args.n_components} exceeds the number of rows ({n_samples}) "
            f"in {args.data!r}; each component needs data. Use a smaller K."
        )

    from bayesgmm.estimator import GaussianMixtureEM

    model = GaussianMixtureEM(
        args.n_components,
        covariance_type=args.covariance_type,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        reg_covar=args.reg_covar,
        prior=None if args.prior == "none" else "default",
        random_seed=args.seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(frame)
        proba = model.predict_proba(frame)
    _emit_warnings(caught, sys.stderr)

    fit = model.result_
    names = [str(c) for c in frame.columns]
    mode = "MAP-EM (Fraley & Raftery 2007 prior)" if args.prior == "default" else "EM (ML)"
    print(
        f"{mode} on {args.data}: N={n_samples}, D={n_features} ({', '.join(names)}), "
        f"K={args.n_components}, covariance_type={args.covariance_type!r}, "
        f"n_init={args.n_init}, seed={args.seed}",
    )
    print()
    print(format_parameters(fit.weights, fit.means, fit.covariances, fit.covariance_type, names))
    print()
    print(_format_summary(_fit_summary(fit), map_em=args.prior == "default"))
    if args.labels_out is not None:
        written = _write_labels(args.labels_out, proba.argmax(axis=1), proba)
        print(f"\nWrote labels and membership probabilities to {written}")
    return 0


# ---------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------


def _check_out_file(path_text: str) -> Path:
    path = Path(path_text)
    if path.is_dir():
        raise UsageError(f"--out {path_text!r} is a directory; give a file name such as fit.nc.")
    if path.parent != Path() and not path.parent.is_dir():
        raise UsageError(f"--out: directory {str(path.parent)!r} does not exist.")
    return path


def _check_fit_options(args: argparse.Namespace) -> None:
    if args.n_components < 1:
        raise UsageError(f"-k/--n-components must be >= 1; got {args.n_components}.")
    for option, value, low in (
        ("--draws", args.draws, 1),
        ("--tune", args.tune, 0),
        ("--chains", args.chains, 1),
        ("--advi-steps", args.advi_steps, 1),
        ("--n-init", args.n_init, 1),
    ):
        if value < low:
            raise UsageError(f"{option} must be >= {low}; got {value}.")
    if args.method not in ("map", "em") and args.draws < 4:
        raise UsageError(
            f"--draws must be >= 4 for posterior summaries with --method {args.method}; "
            f"got {args.draws}."
        )


def _em_dataset(fit: Any, X: Any, feature_names: Sequence[str], **attrs: Any) -> Any:
    """The netCDF layout of an EM fit written by ``bayesgmm fit --method em``.

    Parameters
    ----------
    fit : bayesgmm.em.EMResult
    X : array-like of shape (N, D)
        The data the fit was made on (stored so that ``bayesgmm report`` can plot).
    feature_names : sequence of str
    **attrs
        Extra attributes (numbers or strings).

    Returns
    -------
    xarray.Dataset
        ``weights`` (component), ``means`` (component, feature), ``covariances`` in the
        layout of the covariance type (full: component, feature, feature_bis; tied:
        feature, feature_bis; diag: component, feature; spherical: component), ``x`` (obs,
        feature); attrs ``bayesgmm_kind = "em"``, ``bayesgmm_version``, ``covariance_type``,
        ``n_components``, ``em_summary`` (JSON: log-likelihood, BIC, AIC, ICL, convergence)
        and ``attrs``.
    """
    import numpy as np
    import xarray as xr

    import bayesgmm

    names = [str(n) for n in feature_names]
    values = np.asarray(X, dtype=np.float64)
    n_components = int(fit.means.shape[0])
    cov_dims = {
        "full": ("component", "feature", "feature_bis"),
        "tied": ("feature", "feature_bis"),
        "diag": ("component", "feature"),
        "spherical": ("component",),
    }[fit.covariance_type]
    return xr.Dataset(
        {
            "weights": (("component",), np.asarray(fit.weights)),
            "means": (("component", "feature"), np.asarray(fit.means)),
            "covariances": (cov_dims, np.asarray(fit.covariances)),
            "x": (("obs", "feature"), values),
        },
        coords={
            "component": np.arange(n_components),
            "feature": names,
            "feature_bis": names,
            "obs": np.arange(values.shape[0]),
        },
        attrs={
            "bayesgmm_kind": EM_FILE_KIND,
            "bayesgmm_version": bayesgmm.__version__,
            "covariance_type": fit.covariance_type,
            "n_components": n_components,
            "em_summary": json.dumps(_fit_summary(fit)),
            **attrs,
        },
    )


def _cmd_fit(args: argparse.Namespace) -> int:
    _check_fit_options(args)
    out = _check_out_file(args.out)
    frame = _read_csv(args.data, args.columns)
    n_samples, n_features = frame.shape
    if args.n_components > n_samples:
        raise UsageError(
            f"-k/--n-components={args.n_components} exceeds the number of rows ({n_samples}) "
            f"in {args.data!r}; each component needs data. Use a smaller K."
        )
    names = [str(c) for c in frame.columns]
    head = (
        f"N={n_samples}, D={n_features} ({', '.join(names)}), K={args.n_components}, "
        f"covariance_type={args.covariance_type!r}, seed={args.seed}"
    )
    if args.method == "em":
        return _fit_em_file(args, frame, names, head, out)
    return _fit_bayes(args, frame, names, head, out)


def _fit_em_file(
    args: argparse.Namespace, frame: Any, names: list[str], head: str, out: Path
) -> int:
    from bayesgmm.em import fit_em

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_em(
            frame.to_numpy(),
            args.n_components,
            args.covariance_type,
            n_init=args.n_init,
            random_seed=args.seed,
        )
    _emit_warnings(caught, sys.stderr)
    print(f"EM (maximum likelihood, {args.n_init} restarts) on {args.data}: {head}")
    print()
    print(format_parameters(fit.weights, fit.means, fit.covariances, fit.covariance_type, names))
    print()
    print(_format_summary(_fit_summary(fit), map_em=False))
    dataset = _em_dataset(
        fit, frame.to_numpy(), names, data_file=str(args.data), random_seed=args.seed
    )
    dataset.to_netcdf(out)
    print(f"\nWrote the EM fit to {out} (netCDF; read it with: bayesgmm report {out})")
    return 0


def _fit_bayes(args: argparse.Namespace, frame: Any, names: list[str], head: str, out: Path) -> int:
    from bayesgmm.estimator import BayesianGMM

    model = BayesianGMM(
        args.n_components,
        covariance_type=args.covariance_type,
        method=args.method,
        sampler=args.sampler,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        init=args.init,
        relabel=args.relabel,
        advi_steps=args.advi_steps,
        progressbar=_progressbar(args.progressbar),
        random_seed=args.seed,
    )
    _, caught, elapsed = _timed_with_warnings(lambda: model.fit(frame))
    _emit_fit_warnings(caught, sys.stderr)
    idata = model.idata_
    sampler = idata.attrs.get("sampler", args.method)
    if args.method == "nuts":
        how = f"NUTS ({sampler}), {args.chains} chain(s) x {args.draws} draws (+{args.tune} tuning)"
    elif args.method == "map":
        how = "MAP (posterior mode)"
    else:
        how = f"{args.method} ({args.advi_steps} steps, {args.draws} draws)"
    print(f"{how} on {args.data}: {head}; {elapsed:.1f} s")
    _print_bayes_summary(idata, args.method, sys.stdout)
    if model.label_report_ is not None:
        print(_wrap(f"Label switching: {model.label_report_.message}", ""))
    elif args.method == "nuts":
        print("Label switching: not checked (needs K >= 2 and at least 2 chains).")
    if model.collapse_report_ is not None:
        print(_wrap(f"Collapse: {model.collapse_report_.message}", ""))
    model.save(out)
    print(f"\nWrote the fit to {out} (InferenceData netCDF; read it with: bayesgmm report {out})")
    return 0


def _print_bayes_summary(idata: Any, method: str, stream: TextIO) -> None:
    """Posterior summary (or the MAP point), divergences and the relabeling line."""
    from bayesgmm.posterior import posterior_draws

    draws = posterior_draws(idata)
    n_draws = draws.weights.shape[0]
    if n_draws < 2:
        print("\nPosterior mode (MAP):", file=stream)
        text = format_parameters(
            draws.weights[0], draws.means[0], draws.covariances[0], "full", draws.feature_names
        )
        print(_indent(text), file=stream)
    else:
        kind = "relabeled draws" if "relabel_method" in idata.posterior.attrs else "draws"
        print(f"\nPosterior summary ({n_draws} {kind}):", file=stream)
        print(_indent(_format_az_summary(_posterior_summary(idata))), file=stream)
        if method in ("advi", "fullrank_advi"):
            print(
                "  (one chain from a variational approximation: no R-hat; ADVI tends to "
                "understate posterior sds)",
                file=stream,
            )
    divergent = _divergences(idata)
    if divergent is not None:
        print(f"Divergent transitions: {divergent[0]} of {divergent[1]} draws.", file=stream)
    line = _relabel_line(idata.posterior.attrs)
    if line is not None:
        print(_wrap(line, ""), file=stream)


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------


def _load_fit_file(path_text: str) -> tuple[str, Any]:
    """``("em", Dataset)`` or ``("bayes", InferenceData)`` for a file written by ``fit``."""
    path = Path(path_text)
    if not path.exists():
        raise UsageError(f"fit file {path_text!r} does not exist.")
    if path.is_dir():
        raise UsageError(f"fit file {path_text!r} is a directory, not a netCDF file.")
    import xarray as xr

    not_ours = (
        f"{path_text!r} is not a bayesgmm fit file; write one with "
        "`bayesgmm fit data.csv -k K --out fit.nc` (or BayesianGMM.save)."
    )
    try:
        root = xr.load_dataset(path)
    except Exception:  # any backend's "cannot read this": not a netCDF file
        raise UsageError(f"{not_ours} It could not be read as netCDF.") from None
    if root.attrs.get("bayesgmm_kind") == EM_FILE_KIND:
        missing = [v for v in ("weights", "means", "covariances") if v not in root]
        if missing:
            raise UsageError(f"{path_text!r} is an EM fit file without {missing}; rewrite it.")
        return "em", root

    import arviz as az

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # custom groups (relabel_permutations, elbo)
            idata = az.from_netcdf(str(path))
    except Exception as exc:
        raise UsageError(f"{not_ours} ({exc})") from None
    if "posterior" not in idata.groups():
        raise UsageError(f"{not_ours} It has no posterior group.")
    post = idata.posterior
    has_config = "bayesgmm_config" in post.attrs or "bayesgmm_config" in (idata.attrs or {})
    if not has_config or any(v not in post for v in ("weights", "means", "covariances")):
        raise UsageError(
            f"{not_ours} Its posterior lacks the bayesgmm configuration or the variables "
            "weights, means and covariances."
        )
    return "bayes", idata


def _fit_meta(idata: Any) -> dict[str, Any]:
    """The estimator parameters stored by BayesianGMM.save ({} for a bare InferenceData)."""
    raw = idata.posterior.attrs.get("bayesgmm_estimator_params")
    if raw is None:
        return {}
    try:
        return dict(json.loads(raw).get("params", {}))
    except (TypeError, ValueError):
        return {}


def _report_data(args: argparse.Namespace, feature_names: list[str]) -> Any:
    """``--data`` as a DataFrame with the fit's feature names, or None without --data."""
    if args.data is None:
        return None
    columns = args.columns
    if columns is None:
        header = _read_csv_header(args.data)
        if set(feature_names) <= set(header):
            columns = ",".join(feature_names)
    frame = _read_csv(args.data, columns)
    if frame.shape[1] != len(feature_names):
        raise UsageError(
            f"--data {args.data!r} has {frame.shape[1]} numeric column(s) "
            f"{[str(c) for c in frame.columns]} but the fit has {len(feature_names)} features "
            f"{feature_names}; pick them with --columns."
        )
    frame.columns = feature_names
    return frame


def _read_csv_header(path_text: str) -> list[str]:
    import pandas as pd

    path = Path(path_text)
    if not path.exists():
        raise UsageError(f"data file {path_text!r} does not exist.")
    if path.is_dir():
        raise UsageError(f"data file {path_text!r} is a directory, not a CSV file.")
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UsageError(f"could not parse {path_text!r} as CSV: {exc}") from None


def _report_out_dir(args: argparse.Namespace) -> Path | None:
    if args.out is None:
        return None
    path = Path(args.out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {args.out!r} exists and is not a directory.")
    path.mkdir(parents=True, exist_ok=True)
    return path


class _Writer:
    """Writes files into a folder (or nowhere) and remembers them."""

    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.files: list[Path] = []

    def __call__(self, name: str, writer: Callable[[Path], None]) -> None:
        if self.out_dir is None:
            return
        path = self.out_dir / name
        writer(path)
        self.files.append(path)


def _cmd_report(args: argparse.Namespace) -> int:
    if args.columns is not None and args.data is None:
        raise UsageError("--columns selects columns of --data; give --data data.csv too.")
    kind, fit = _load_fit_file(args.fit)
    if kind == "em":
        names = [str(n) for n in fit["feature"].values]
    else:
        names = [str(n) for n in fit.posterior["feature"].values]
    new_data = _report_data(args, names)  # checked before anything is printed
    out_dir = _report_out_dir(args)
    write = _Writer(out_dir)
    if kind == "em":
        _report_em(args, fit, write, new_data)
    else:
        _report_bayes(args, fit, write, new_data)
    if out_dir is None:
        print("\nNo plots drawn: pass --out DIR to write them.")
    elif write.files:
        print("\nWrote:")
        for path in write.files:
            print(f"  {path}")
    return 0


def _em_params_from_dataset(ds: Any) -> Any:
    import numpy as np

    from bayesgmm.covariance import precisions_cholesky
    from bayesgmm.em import GMMParams

    cov_type = str(ds.attrs["covariance_type"])
    covariances = np.asarray(ds["covariances"].values, dtype=np.float64)
    return GMMParams(
        np.asarray(ds["weights"].values, dtype=np.float64),
        np.asarray(ds["means"].values, dtype=np.float64),
        covariances,
        precisions_cholesky(covariances, cov_type),
        cov_type,
    )


def _report_em(args: argparse.Namespace, ds: Any, write: _Writer, new_data: Any) -> None:
    import pandas as pd

    params = _em_params_from_dataset(ds)
    names = [str(n) for n in ds["feature"].values]
    observed = ds["x"].values if "x" in ds else None
    print(
        f"EM fit file {args.fit} (bayesgmm {ds.attrs.get('bayesgmm_version', '?')}): "
        f"K={params.means.shape[0]}, covariance_type={params.covariance_type!r}, "
        f"features {names}" + ("" if observed is None else f", N={observed.shape[0]}")
    )
    print()
    print(
        format_parameters(
            params.weights, params.means, params.covariances, params.covariance_type, names
        )
    )
    summary = json.loads(ds.attrs.get("em_summary", "{}"))
    if summary:
        print()
        print(_format_summary(summary, map_em=False))
    print("\n(No posterior in an EM fit: refit with --method nuts for uncertainty.)")
    data = new_data
    if data is None and observed is not None:
        data = pd.DataFrame(observed, columns=names)
    if write.out_dir is None or data is None:
        return
    plt = _import_pyplot(sys.stdout)
    if plt is None:
        return
    from bayesgmm import plotting

    specs = [
        ("clusters.png", lambda: plotting.plot_clusters(data, em=params)),
        ("density.png", lambda: plotting.plot_density(data, params)),
    ]
    _draw_plots(plt, specs, write, sys.stdout)


def _report_bayes(args: argparse.Namespace, idata: Any, write: _Writer, new_data: Any) -> None:
    import numpy as np
    import pandas as pd

    from bayesgmm.comparison import compare, membership
    from bayesgmm.em import fit_em
    from bayesgmm.posterior import collapse_report, label_switching_report, posterior_draws

    meta = _fit_meta(idata)
    draws = posterior_draws(idata)
    n_draws, n_comp = draws.weights.shape
    names = draws.feature_names
    cov_type = draws.covariance_type
    attrs = idata.attrs or {}
    sampler = str(attrs.get("sampler", "unknown"))
    method = str(meta.get("method") or ("map" if sampler == "map" else "nuts"))
    observed = None
    if "observed_data" in idata.groups() and "x" in idata.observed_data:
        observed = np.asarray(idata.observed_data["x"].transpose("obs", ...).values)
    print(
        f"Fit file {args.fit} (bayesgmm {attrs.get('bayesgmm_version', '?')}): method "
        f"{method!r}, sampler {sampler}, {draws.n_chains} chain(s) x {draws.n_draws} draw(s); "
        f"K={n_comp}, covariance_type={cov_type!r}, features {names}"
        + ("" if observed is None else f", N={observed.shape[0]}")
    )
    _print_bayes_summary(idata, method, sys.stdout)

    from bayesgmm.posterior import unrelabel_idata

    raw = unrelabel_idata(idata)
    if n_comp > 1 and draws.n_chains > 1 and n_draws > 1 and raw is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the message says it all
            report = label_switching_report(raw, relabeled=idata)
        print(_wrap(f"Label switching: {report.message}", ""))
    elif n_draws > 1:
        why = (
            "one component"
            if n_comp == 1
            else "one chain"
            if draws.n_chains == 1
            else "the draws were not relabeled"
        )
        print(f"Label switching: not checked ({why}).")
    if observed is not None:
        print(_wrap(f"Collapse: {collapse_report(idata).message}", ""))

    table = None
    em_data = observed
    if em_data is None and new_data is not None:
        em_data = new_data.to_numpy()
    if n_draws > 1 and em_data is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            em_fit = fit_em(em_data, n_comp, cov_type, n_init=5, random_seed=args.seed)
        _emit_warnings(caught, sys.stderr)
        table = compare(em_fit, idata)
        source = "the fit's data" if observed is not None else args.data
        print(
            f"\nEM versus posterior (EM refitted to {source}: K={n_comp}, {cov_type!r}, "
            f"5 restarts, seed {args.seed}):"
        )
        print(_indent(_format_comparison(table)))
        print()
        print(_wrap(table.summary))
        write("comparison.csv", table.table.to_csv)
    elif n_draws < 2:
        print("\nEM versus posterior: not available for a MAP fit (one point, no draws).")
        em_fit = None
    else:
        print("\nEM versus posterior: the file holds no data; pass --data data.csv.")
        em_fit = None

    data = new_data
    if data is None and observed is not None:
        data = pd.DataFrame(observed, columns=names)
    result = None
    if data is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = membership(idata, new_data, random_seed=args.seed)
        _emit_fit_warnings(caught, sys.stderr)
        source = "the fit's data" if args.data is None else args.data
        print(f"\nMembership ({source}):")
        print(_indent(_membership_text(result)))

    if write.out_dir is None or data is None:
        return
    plt = _import_pyplot(sys.stdout)
    if plt is None:
        return
    from bayesgmm import plotting

    specs: list[tuple[str, Callable[[], Any]]] = [
        (
            "clusters.png",
            lambda: plotting.plot_clusters(
                data, em=em_fit, idata=idata, membership=result, random_seed=args.seed
            ),
        ),
        (
            "density.png",
            (lambda: _density_pair(plt, data, em_fit, idata))
            if em_fit is not None
            else (lambda: plotting.plot_density(data, idata)),
        ),
    ]
    if table is not None:
        specs.append(("comparison.png", lambda: _plot_comparison(table)))
    if result is not None and n_draws > 1:
        specs.append(
            ("membership_uncertainty.png", lambda: plotting.plot_membership_uncertainty(result))
        )
    if raw is not None and n_draws > 1:
        specs.append(("trace_relabel.png", lambda: plotting.plot_trace_relabel(raw, idata)))
    _draw_plots(plt, specs, write, sys.stdout)


# ---------------------------------------------------------------------------------------
# Parser and entry point
# ---------------------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesgmm")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _add_fit_parser(sub: Any) -> None:
    fit = sub.add_parser(
        "fit",
        help="fit a Gaussian mixture to a CSV file (NUTS, ADVI, MAP or EM) and write it",
        description=(
            "Fit a K-component Gaussian mixture to the numeric columns of a CSV file (header "
            "row required), print a summary and write the fit to --out. Bayesian methods "
            "(nuts, advi, fullrank_advi, map) write an ArviZ InferenceData netCDF file "
            "(BayesianGMM.save: relabeled posterior, sample stats, observed data, the "
            "relabeling permutations, and the configuration in the attrs; read it back with "
            "BayesianGMM.load or arviz.from_netcdf). --method em writes a plain netCDF "
            "(xarray Dataset) with the variables weights (component), means (component, "
            "feature), covariances (in the covariance type's layout: full (component, "
            "feature, feature_bis), tied (feature, feature_bis), diag (component, feature), "
            "spherical (component)) and x (the data: obs, feature), and the attrs "
            "bayesgmm_kind='em', covariance_type, n_components and em_summary (JSON: "
            "log-likelihood, BIC, AIC, ICL, convergence); read it with xarray.load_dataset. "
            "`bayesgmm report FILE` reads both."
        ),
    )
    fit.add_argument("data", metavar="data.csv", help="CSV file with a header row")
    fit.add_argument(
        "-k", "--n-components", type=int, required=True, metavar="K", help="number of components"
    )
    fit.add_argument(
        "--method",
        choices=FIT_METHODS,
        default="nuts",
        help="nuts (default), advi, fullrank_advi, map, or em (maximum likelihood)",
    )
    fit.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="covariance structure (default: full)",
    )
    fit.add_argument("--out", required=True, metavar="fit.nc", help="netCDF file to write")
    fit.add_argument(
        "--draws",
        type=int,
        default=1000,
        help="NUTS draws per chain, or draws from the ADVI approximation (default: 1000)",
    )
    fit.add_argument("--tune", type=int, default=1000, help="NUTS tuning steps (default: 1000)")
    fit.add_argument("--chains", type=int, default=2, help="NUTS chains (default: 2)")
    fit.add_argument(
        "--sampler", choices=SAMPLERS, default="auto", help="NUTS backend (default: auto)"
    )
    fit.add_argument(
        "--init",
        choices=("em", "default"),
        default="em",
        help="start the chains near a MAP-EM fit (default) or at random",
    )
    fit.add_argument(
        "--relabel",
        choices=RELABEL_CHOICES,
        default="stephens",
        help="relabeling of the draws (default: stephens)",
    )
    fit.add_argument(
        "--advi-steps", type=int, default=20000, help="ADVI optimisation steps (default: 20000)"
    )
    fit.add_argument("--n-init", type=int, default=5, help="EM restarts (default: 5)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    fit.add_argument(
        "--columns", default=None, metavar="A,B", help="comma-separated columns (default: all)"
    )
    fit.add_argument(
        "--progressbar",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on when standard output is a terminal)",
    )
    fit.set_defaults(func=_cmd_fit)


def _add_report_parser(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="summaries and plots of a fit written by `bayesgmm fit` (or BayesianGMM.save)",
        description=(
            "Load a fit file and print its summaries: the posterior summary, the relabeling, "
            "the label-switching report (recomputed from the stored permutations), the "
            "collapse report, the EM estimate (refitted to the data in the file) beside the "
            "posterior, and membership uncertainty. With --out, draw clusters.png, "
            "density.png, comparison.png, membership_uncertainty.png and trace_relabel.png "
            "into DIR and write comparison.csv. An EM fit file gets its parameters and "
            "clusters / density plots."
        ),
    )
    report.add_argument("fit", metavar="fit.nc", help="file written by `bayesgmm fit`")
    report.add_argument("--out", metavar="DIR", default=None, help="folder for the plots")
    report.add_argument(
        "--data",
        metavar="data.csv",
        default=None,
        help="points to plot and classify (default: the data stored in the fit)",
    )
    report.add_argument(
        "--columns",
        default=None,
        metavar="A,B",
        help="columns of --data (default: the fit's feature names, else all)",
    )
    report.add_argument(
        "--seed", type=int, default=0, help="seed of the EM refit and the plots (default: 0)"
    )
    report.set_defaults(func=_cmd_report)


def build_parser() -> argparse.ArgumentParser:
    """The ``bayesgmm`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="bayesgmm",
        description="Bayesian Gaussian mixture models on PyMC, with a reference EM.",
    )
    parser.add_argument("--version", action="version", version=f"bayesgmm {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
        choices=COVARIANCE_TYPES,
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

    _add_fit_parser(sub)
    _add_report_parser(sub)

    fit = sub.add_parser(
        "fit-em",
        help="fit a Gaussian mixture to a CSV file by EM or MAP-EM",
        description=(
            "Fit a K-component Gaussian mixture to the numeric columns of a CSV file "
            "(header row required) and print the parameters, log-likelihood, BIC, AIC, ICL "
            "and convergence."
        ),
    )
    fit.add_argument("data", metavar="data.csv", help="CSV file with a header row")
    fit.add_argument(
        "-k",
        "--n-components",
        type=int,
        required=True,
        metavar="K",
        help="number of components",
    )
    fit.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="covariance structure (default: full)",
    )
    fit.add_argument("--n-init", type=int, default=5, help="EM restarts (default: 5)")
    fit.add_argument(
        "--prior",
        choices=("none", "default"),
        default="none",
        help="none: maximum likelihood; default: MAP-EM with the Fraley & Raftery (2007) prior",
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    fit.add_argument(
        "--columns",
        default=None,
        metavar="A,B",
        help="comma-separated columns to use (default: all)",
    )
    fit.add_argument("--max-iter", type=int, default=1000, help="EM iterations (default: 1000)")
    fit.add_argument(
        "--tol",
        type=float,
        default=None,
        help="stop when the log-likelihood changes by less than TOL per sample, scikit-learn's "
        "rule (default: a relative change below 1e-8, as mclust)",
    )
    fit.add_argument(
        "--reg-covar",
        type=float,
        default=1e-6,
        help="floor added to covariance diagonals (default: 1e-6)",
    )
    fit.add_argument(
        "--labels-out",
        metavar="labels.csv",
        default=None,
        help="write the predicted label, uncertainty and membership probabilities per row",
    )
    fit.set_defaults(func=_cmd_fit_em)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesgmm`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit code: 0 success, 1 the fit failed (every restart collapsed), 2 bad input or
        options (including unreadable or unwritable files and missing optional packages).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, or argparse's own usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)

    from bayesgmm.exceptions import BayesGMMError

    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"bayesgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BayesGMMError as exc:  # CollapseError and friends: the fit itself failed
        print(f"bayesgmm {args.command}: fit failed: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:  # the package's input validation
        print(f"bayesgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ImportError) as exc:  # unwritable output, a missing optional package
        print(f"bayesgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
