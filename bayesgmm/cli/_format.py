"""Text output of the commands: parameter tables, EM criteria, posterior summaries."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from bayesgmm.cli._common import (
    _fmt,
    _indent,
    _wrap,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import arviz as az
    import numpy as np
    import pandas as pd

    from bayesgmm.analysis.comparison import ComparisonTable
    from bayesgmm.analysis.memberships import Membership


def format_parameters(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    covariance_type: str,
    feature_names: Sequence[str],
) -> str:
    """Human-readable table of mixture parameters.

    Parameters
    ----------
    weights : array-like of shape (K,)
    means : array-like of shape (K, D)
    covariances : array-like
        In the layout of ``covariance_type`` (see :mod:`bayesgmm.mixture.covariance`).
    covariance_type : str
        A registered structure (:mod:`bayesgmm.mixture.structures`).
    feature_names : sequence of str
        One name per feature (column).

    Returns
    -------
    str
        Weights and means as one table (a row per component), then the covariances.
    """
    import numpy as np
    import pandas as pd

    from bayesgmm.mixture.structures import get_structure, structure_from_shape

    weights = np.asarray(weights)
    means = np.atleast_2d(np.asarray(means))
    covariances = np.asarray(covariances)
    names = [str(n) for n in feature_names]
    n_components = means.shape[0]
    index = pd.Index(range(n_components), name="component")

    table = pd.DataFrame(means, index=index, columns=[f"mean[{n}]" for n in names])
    table.insert(0, "weight", weights)
    lines = ["Weights and means:", _indent(table.to_string(float_format=_fmt)), ""]

    structure = get_structure(covariance_type)
    name = structure.name
    # By the stored array's dims: matrices per component, one matrix, variances.
    if structure.dims == ("component", "feature", "feature_bis"):
        # A structure stored as full's matrices (mclust's EII ... EVV) says which it is.
        as_full = structure_from_shape(np.shape(covariances), n_components, len(names))
        detail = "" if structure is as_full else f", structure {name}"
        lines.append(f"Covariances (one matrix per component{detail}):")
        for k in range(n_components):
            matrix = pd.DataFrame(covariances[k], index=names, columns=names)
            lines += [f"  component {k}:", _indent(matrix.to_string(float_format=_fmt), "    ")]
    elif structure.dims == ("feature", "feature_bis"):
        lines.append(f"Covariance ({name}: shared by all components):")
        matrix = pd.DataFrame(covariances, index=names, columns=names)
        lines.append(_indent(matrix.to_string(float_format=_fmt)))
    elif structure.dims == ("component", "feature"):
        lines.append(f"Variances ({name}: per component and feature; covariances are 0):")
        variances = pd.DataFrame(covariances, index=index, columns=[f"var[{n}]" for n in names])
        lines.append(_indent(variances.to_string(float_format=_fmt)))
    else:
        lines.append(f"Variances ({name}: one variance per component, shared by all features):")
        variances = pd.DataFrame({"variance": covariances}, index=index)
        lines.append(_indent(variances.to_string(float_format=_fmt)))
    return "\n".join(lines)


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


def _format_az_summary(summary: pd.DataFrame) -> str:
    """A compact ArviZ summary: mean, sd, HDI, bulk ESS and R-hat."""
    columns = [c for c in summary.columns if c in ("mean", "sd", "ess_bulk", "r_hat")]
    columns[2:2] = [c for c in summary.columns if str(c).startswith("hdi_")]
    return summary[columns].to_string(float_format=lambda v: f"{v:.4g}")


def _posterior_summary(idata: az.InferenceData) -> Any:
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


def _format_comparison(table: ComparisonTable) -> str:
    """A compact view of :func:`bayesgmm.analysis.compare`'s table."""
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


def _divergences(idata: az.InferenceData) -> tuple[int, int] | None:
    """(divergent transitions, draws) of a NUTS fit, or None without sample stats."""
    if "sample_stats" not in idata.groups() or "diverging" not in idata.sample_stats:
        return None
    diverging = idata.sample_stats["diverging"].values
    return int(diverging.sum()), int(diverging.size)


def _relabel_line(attrs: Mapping[str, Any]) -> str | None:
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


def _membership_text(result: Membership) -> str:
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


def _print_bayes_summary(idata: az.InferenceData, method: str, stream: TextIO) -> None:
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
