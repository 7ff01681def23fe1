"""The modes report in words: what each mode is ("three clusters plus a one-point
component") and the message that names the modes, their weights and how they mix.

Split from :mod:`bayesgmm.posterior.modes`, which finds and weighs the modes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesgmm.posterior.switching import RHAT_THRESHOLD

__all__ = ["NEGLIGIBLE_WEIGHT", "describe_weights"]

#: A mode whose weight is below this carries none (its chains leave the summaries).
NEGLIGIBLE_WEIGHT = 0.01
# A component holding at least this many points is a cluster in the words of a report.
_CLUSTER_POINTS = 5.0

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _number(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def describe_weights(sorted_weights: np.ndarray, n_obs: int) -> str:
    """A mode in words: "three clusters", "two clusters plus a one-point component"."""
    points = np.asarray(sorted_weights) * n_obs
    clusters = int((points >= _CLUSTER_POINTS).sum())
    words = f"{_number(clusters)} cluster{'s' if clusters != 1 else ''}"
    small = points[(points < _CLUSTER_POINTS) & (points >= 0.5)]
    extras = [f"a {_number(round(p))}-point component" for p in small]
    empty = int((points < 0.5).sum())
    if empty:
        extras.append(f"{_number(empty)} empty component{'s' if empty > 1 else ''}")
    return words + (" plus " + " and ".join(extras) if extras else "")


def _tell_apart(table: pd.DataFrame, means: np.ndarray, n_obs: int) -> None:
    """Modes whose words coincide (mirror clusterings) get their clusters' means added."""
    repeated = table["description"].duplicated(keep=False)
    for m in np.flatnonzero(repeated.to_numpy()):
        centres = "; ".join("(" + ", ".join(f"{v:.3g}" for v in mu) + ")" for mu in means[m])
        table.loc[m, "description"] = f"{table['description'].iloc[m]} with means {centres}"


def _other_weight(row: pd.Series, use_mass: bool) -> str:
    """The estimate that is not the weight, in brackets: the stacking weight beside a
    mass, or an uncertain mass beside a stacking weight (its se says why it is not used)."""
    if use_mass:
        return f" (stacking {row['stacking']:.2f})"
    if np.isfinite(row["mass"]):
        return f" (mass {row['mass']:.2f} ± {row['mass_se']:.2f})"
    return ""


def _weights_basis(table: pd.DataFrame, use_mass: bool) -> str:
    """What the weights are, in words."""
    if use_mass:
        return "posterior mass by bridge sampling"
    basis = "stacking of chains on leave-one-out predictive density"
    if np.isfinite(table["mass"]).all():
        basis += (
            f"; the posterior masses by bridge sampling have standard errors up to "
            f"{table['mass_se'].max():.2f}, too uncertain to weigh by"
        )
    return basis


def _mixing_note(table: pd.DataFrame) -> str:
    """Modes whose chains agree on the solution but not yet on its log-likelihood: slow
    mixing within the mode (states that differ by a small component), not another mode."""
    slow = table[table["rhat"] > RHAT_THRESHOLD]
    if slow.empty:
        return ""
    which = ", ".join(
        f"{'the solution' if len(table) == 1 else f'mode {m}'} (chains "
        f"{', '.join(str(c) for c in row['chains'])}): R-hat {row['rhat']:.3f}"
        for m, row in slow.iterrows()
    )
    return (
        f" The chains mix slowly within {which}, the label-invariant R-hat of the "
        f"log-likelihood, which should be <= {RHAT_THRESHOLD}: run more draws (and tune), "
        "or more chains."
    )


def _modes_message(table: pd.DataFrame, use_mass: bool = False) -> str:
    n_modes = len(table)
    if n_modes == 1:
        row = table.iloc[0]
        return f"All chains found one solution: {row['description']}." + _mixing_note(table)
    parts = [
        f"{row['description']}, weight {row['weight']:.2f} ± {row['weight_se']:.2f}"
        + _other_weight(row, use_mass)
        + f" (chain{'s' if len(row['chains']) > 1 else ''} "
        f"{', '.join(str(c) for c in row['chains'])}; mean log-likelihood "
        f"{row['log_likelihood']:.1f})"
        for _, row in table.iterrows()
    ]
    text = f"The chains found {_number(n_modes)} modes: " + "; ".join(parts) + "."
    text += _mixing_note(table)
    if (table["weight"] >= NEGLIGIBLE_WEIGHT).sum() > 1:
        return text + (
            " The summaries, memberships and partitions average over the modes by these "
            f"weights ({_weights_basis(table, use_mass)}). This is not label switching: no "
            "relabeling joins different solutions."
        )
    return text + (
        " Only the first carries weight; the summaries use its chains alone. This is not "
        "label switching: no relabeling joins different solutions."
    )
