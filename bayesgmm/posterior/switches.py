"""Label switches in the per-draw permutations: within each chain, and between chains
(each chain's label mode), from the permutations :func:`relabel_idata` stores.
"""

from __future__ import annotations

from typing import Unpack

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm.bayes.inference.idata import check_idata
from bayesgmm.posterior import relabel
from bayesgmm.posterior.relabeling import (
    PERMUTATION_GROUP,
    RelabelOptions,
    relabel_idata,
    stored_permutations,
)

__all__ = ["chains_in_different_modes", "count_switches"]


def _relative_permutations(idata: az.InferenceData, relabeled: az.InferenceData) -> np.ndarray:
    """Permutations (S, K) taking ``idata``'s labels to ``relabeled``'s labels."""
    total = stored_permutations(relabeled)
    if total is None:
        raise ValueError(
            f"relabeled has no {PERMUTATION_GROUP!r} group; pass the output of relabel_idata."
        )
    base = stored_permutations(idata)
    if base is None:
        return total
    return relabel.compose_permutations(relabel.invert_permutations(base), total)


def switch_table(perms: np.ndarray, n_chains: int, n_draws: int) -> pd.DataFrame:
    n_comp = perms.shape[1]
    by_chain = perms.reshape(n_chains, n_draws, n_comp)
    rows = []
    for c in range(n_chains):
        chain = by_chain[c]
        changes = int(np.any(chain[1:] != chain[:-1], axis=1).sum()) if n_draws > 1 else 0
        uniq, counts = np.unique(chain, axis=0, return_counts=True)
        best = int(np.argmax(counts))
        rows.append(
            {
                "n_switches": changes,
                "n_permutations": len(uniq),
                "modal_permutation": tuple(int(v) for v in uniq[best]),
                "modal_fraction": float(counts[best] / n_draws),
            }
        )
    return pd.DataFrame(rows, index=pd.RangeIndex(n_chains, name="chain"))


def permutations_for(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None,
    method: str,
    relabel_kwargs: RelabelOptions,
) -> tuple[az.InferenceData, np.ndarray]:
    if relabeled is None:
        relabeled = relabel_idata(idata, method, **relabel_kwargs)
    return relabeled, _relative_permutations(idata, relabeled)


def count_switches(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None = None,
    method: str = "stephens",
    **relabel_kwargs: Unpack[RelabelOptions],
) -> pd.DataFrame:
    """Label switches within each chain, and each chain's label mode.

    The draws are relabeled (all chains together) with ``method``, or the permutations of
    ``relabeled`` are used. The permutation of a draw says how its raw labels map onto the
    common labels. Then, per chain:

    * ``n_switches``: the number of consecutive draws whose permutations differ (a switch
      of labels *within* the chain);
    * ``modal_permutation``: the most frequent permutation, the chain's *label mode*;
      chains with different modal permutations sampled different (symmetric) modes;
    * ``modal_fraction``: the fraction of the chain's draws in its mode;
    * ``n_permutations``: the number of distinct permutations in the chain.

    Components that are not identifiable (heavily overlapping, or empty components of an
    overfitted mixture) make permutations flip from draw to draw; such counts describe
    relabeling ambiguity rather than sampler moves.

    Parameters
    ----------
    idata : arviz.InferenceData
        Raw sampler output.
    relabeled : arviz.InferenceData, optional
        :func:`relabel_idata` of ``idata``; computed when not given.
    method : str
        Relabeling method when ``relabeled`` is not given.
    **relabel_kwargs
        Passed to :func:`relabel_idata` (``reference``, ``feature``, ...).

    Returns
    -------
    pandas.DataFrame
        Indexed by chain.
    """
    idata = check_idata(idata)
    _, perms = permutations_for(idata, relabeled, method, relabel_kwargs)
    post = idata.posterior
    return switch_table(perms, int(post.sizes["chain"]), int(post.sizes["draw"]))


def chains_in_different_modes(
    idata: az.InferenceData,
    relabeled: az.InferenceData | None = None,
    method: str = "stephens",
    **relabel_kwargs: Unpack[RelabelOptions],
) -> bool:
    """Whether the chains' modal permutations differ (see :func:`count_switches`)."""
    table = count_switches(idata, relabeled, method, **relabel_kwargs)
    return table["modal_permutation"].nunique() > 1
