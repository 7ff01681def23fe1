"""States within one solution: draws grouped when the chains cross between them slowly.

A sparse mixture's chains can agree on the clustering of nearly every point and still
disagree: they cross now and then between metastable states that differ by a small
component (a fourth cluster of a dozen points, present or merged away). Grouping chains
(:mod:`bayesgmm.posterior.modes`) cannot weigh those states, since a chain visits several.
Here the **draws** are grouped instead, by the sizes of their components sorted by size
(label-invariant), and every state's weight is its frequency among the draws, with a Monte
Carlo standard error from the effective sample size of the state's indicator: slow
crossing gives a small ESS and says so in a large standard error.

A set of draws is split in two only when its chains disagree on the log-likelihood
(label-invariant R-hat above ``RHAT_THRESHOLD``), when the two halves' sizes differ by at
least ``SEPARATION`` within-state standard deviations on the square-root scale (where the
spread of a count is about 1/2 whatever its size), when each half holds at least
``MIN_STATE_SHARE`` of the draws and when the chains stay in a half for runs of draws
(``MAX_SWITCH_RATE``): flickers from draw to draw are not states.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np

from bayesgmm.posterior.switching import RHAT_THRESHOLD

__all__ = [
    "size_features",
    "split_states",
    "state_draw_indices",
    "state_rhat",
    "state_weights",
]

#: Fewest within-state standard deviations (of a sqrt component size) between two states.
SEPARATION = 3.0
#: Smallest share of the draws a state holds (and at least ``MIN_STATE_DRAWS``).
MIN_STATE_SHARE = 0.01
MIN_STATE_DRAWS = 50
#: Largest number of entries into and exits from a state per draw of the smaller state:
#: 0.25 is a mean stay of eight draws. Measured on the penguins: 0.02-0.1.
MAX_SWITCH_RATE = 0.25
#: Most states looked for.
MAX_STATES = 4
#: Fewest draws in a state for a chain to count in the state's R-hat (shorter visits are
#: mostly the crossing itself: a component half grown, half merged away).
MIN_CHAIN_DRAWS = 100


def size_features(weights: np.ndarray, n_obs: int) -> np.ndarray:
    """Square roots of the expected component sizes ``N x weight``, largest first.

    Parameters
    ----------
    weights : ndarray of shape (..., K)
    n_obs : int

    Returns
    -------
    ndarray of shape (..., K)
    """
    points = np.clip(np.asarray(weights, dtype=np.float64) * n_obs, 0.0, None)
    return np.sqrt(-np.sort(-points, axis=-1))


def _otsu(x: np.ndarray) -> float:
    """The threshold that splits ``x`` into two groups of least within-group variance."""
    order = np.sort(x)
    n = len(order)
    below = np.arange(1, n)
    total = np.cumsum(order)
    mean_low = total[:-1] / below
    mean_high = (total[-1] - total[:-1]) / (n - below)
    j = int(np.argmax(below * (n - below) * (mean_low - mean_high) ** 2))
    return 0.5 * float(order[j] + order[j + 1])


def _two_means(features: np.ndarray) -> np.ndarray:
    """Two groups of draws (a boolean mask): Otsu's split along the first principal axis,
    refined by 2-means (deterministic)."""
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[0]
    mask = proj > _otsu(proj)
    for _ in range(50):
        if mask.all() or not mask.any():
            break
        a, b = features[mask].mean(axis=0), features[~mask].mean(axis=0)
        new = ((features - a) ** 2).sum(axis=1) < ((features - b) ** 2).sum(axis=1)
        if np.array_equal(new, mask):
            break
        mask = new
    return mask


def _separation(features: np.ndarray, mask: np.ndarray) -> float:
    """Largest difference of the groups' mean features in pooled within-group sds."""
    a, b = features[mask], features[~mask]
    pooled = np.sqrt(0.5 * (a.var(axis=0) + b.var(axis=0))) + 1e-9
    return float(np.max(np.abs(a.mean(axis=0) - b.mean(axis=0)) / pooled))


def _switch_rate(inside: np.ndarray, within: np.ndarray) -> float:
    """Entries and exits of ``inside`` per draw of its smaller side, counted along the
    chains over the draws of ``within`` (both (C, T) masks)."""
    switches = 0
    for c in range(inside.shape[0]):
        path = inside[c][within[c]]
        switches += int(np.count_nonzero(path[1:] != path[:-1]))
    small = min(int(inside[within].sum()), int((~inside & within).sum()))
    return switches / max(small, 1)


def state_draw_indices(in_state: np.ndarray, min_draws: int = MIN_CHAIN_DRAWS) -> np.ndarray:
    """Flat draw indices (``c * T + t``) of a state as rows of equal length: one row per
    chain with at least ``min_draws`` draws in it, each thinned evenly to the fewest.

    One visiting chain gives two rows, its first and second half (R-hat then compares
    them). Returns an empty (0, 0) array when no chain visits.

    Parameters
    ----------
    in_state : ndarray of bool, shape (C, T)
    min_draws : int
    """
    in_state = np.asarray(in_state, dtype=bool)
    n_draws = in_state.shape[1]
    counts = in_state.sum(axis=1)
    chains = np.flatnonzero(counts >= max(min_draws, 2))
    if not len(chains):
        return np.zeros((0, 0), dtype=np.intp)
    length = int(counts[chains].min())
    rows = []
    for c in chains:
        where = np.flatnonzero(in_state[c])
        pick = np.linspace(0, len(where) - 1, length).round().astype(np.intp)
        rows.append(c * n_draws + where[pick])
    index = np.stack(rows)
    if len(chains) == 1:
        half = length // 2
        index = index[0, : 2 * half].reshape(2, half)
    return index


def state_rhat(values: np.ndarray, in_state: np.ndarray) -> float:
    """Rank-normalised split R-hat of ``values`` (C, T) over the draws of a state, its
    visiting chains thinned to equal length (:func:`state_draw_indices`); NaN when fewer
    than four draws a row remain."""
    index = state_draw_indices(in_state)
    if index.size == 0 or index.shape[1] < 4:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(az.rhat(np.asarray(values, dtype=np.float64).reshape(-1)[index]))


def _acceptable(features: np.ndarray, inside: np.ndarray, within: np.ndarray) -> bool:
    """Is splitting the draws of ``within`` into ``inside`` and the rest a pair of states?"""
    small = min(int(inside[within].sum()), int((~inside & within).sum()))
    if small < max(MIN_STATE_DRAWS, MIN_STATE_SHARE * within.size):
        return False
    sub = inside[within]
    if _separation(features[within], sub) < SEPARATION:
        return False
    return _switch_rate(inside, within) <= MAX_SWITCH_RATE


def split_states(features: np.ndarray, log_likelihood: np.ndarray) -> np.ndarray:
    """The state of every draw: draws split in two while their chains disagree.

    A state is split when the label-invariant R-hat of the log-likelihood over its draws
    exceeds ``RHAT_THRESHOLD`` and the split is acceptable (module docstring), up to
    ``MAX_STATES`` states. States are numbered by decreasing frequency.

    Parameters
    ----------
    features : ndarray of shape (C, T, F)
        Label-invariant features of every draw (:func:`size_features`).
    log_likelihood : ndarray of shape (C, T)

    Returns
    -------
    ndarray of int, shape (C, T)
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.zeros(log_likelihood.shape, dtype=np.intp)
    pending = [0]
    n_states = 1
    while pending and n_states < MAX_STATES:
        s = pending.pop(0)
        within = labels == s
        if not state_rhat(log_likelihood, within) > RHAT_THRESHOLD:
            continue
        inside = np.zeros_like(within)
        inside[within] = _two_means(features[within])
        if not _acceptable(features, inside, within):
            continue
        if inside.sum() > (within & ~inside).sum():  # the smaller side takes the new label
            inside = within & ~inside
        labels[inside] = n_states
        pending += [s, n_states]
        n_states += 1
    order = np.argsort(-np.bincount(labels.ravel(), minlength=n_states), kind="stable")
    return np.argsort(order)[labels]


def state_weights(labels: np.ndarray, n_states: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every state's frequency among the draws, its Monte Carlo standard error and the
    effective sample size of its indicator.

    The standard error is ``sqrt(p (1 - p) / ESS)``, with ArviZ's ESS of the mean of the
    (C, T) indicator, which counts the autocorrelation within chains and the
    disagreement between them: chains that cross rarely give a small ESS.

    Parameters
    ----------
    labels : ndarray of int, shape (C, T)
    n_states : int

    Returns
    -------
    weight, se, ess : ndarray of shape (n_states,)
    """
    labels = np.asarray(labels)
    weight = np.array([(labels == s).mean() for s in range(n_states)])
    ess = np.full(n_states, float(labels.size))
    for s in range(n_states):
        if 0.0 < weight[s] < 1.0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = float(az.ess((labels == s).astype(np.float64), method="mean"))
            ess[s] = min(max(value, 1.0), labels.size) if np.isfinite(value) else 1.0
    se = np.sqrt(weight * (1.0 - weight) / ess)
    return weight, se, ess
