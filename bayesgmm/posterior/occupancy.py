"""How many components do the data use? The posterior of the number of occupied components."""

from __future__ import annotations

from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd

from bayesgmm._utils.validation import check_random_state
from bayesgmm.bayes.inference.idata import check_idata, idata_config, posterior_draws
from bayesgmm.mixture.allocations import allocation_counts
from bayesgmm.posterior._data import fitted_labels, fitted_weights, observed

if TYPE_CHECKING:
    from bayesgmm._utils.types import SeedLike

__all__ = ["occupied_components", "occupied_counts"]


def occupied_components(
    idata: az.InferenceData,
    threshold: float | None = None,
    *,
    criterion: str = "allocations",
    random_seed: SeedLike = 0,
) -> pd.Series:
    """Posterior distribution of the number of occupied components.

    In an overfitted mixture (K larger than needed, typically with a sparse Dirichlet
    ``alpha < 1``), the extra components empty out; the number of *occupied* components
    estimates how many the data support (Rousseau & Mengersen 2011; Malsiner-Walli,
    Frühwirth-Schnatter & Grün 2016).

    Parameters
    ----------
    idata : arviz.InferenceData
    threshold : float, optional
        Fewest points an occupied component holds (default 1).
    criterion : {"allocations", "weights"}
        ``"allocations"``: sample one allocation vector per draw from the membership
        probabilities of ``observed_data.x`` and count the components holding at least
        ``threshold`` points; a fit's partial labels fix their rows' allocations, and its
        observation weights count each row ``w_n`` times (``constant_data``).
        ``"weights"``: count the components with ``N * weights >= threshold`` (no data
        needed, no randomness).
    random_seed : int or numpy Generator
        Seed of the sampled allocations.

    Returns
    -------
    pandas.Series
        Index ``n_occupied`` = 1..K, values the posterior probability of each count.
    """
    counts = occupied_counts(idata, threshold, criterion=criterion, random_seed=random_seed)
    n_comp = int(check_idata(idata).posterior["weights"].shape[-1])
    # Counts run from 1 (0 appears only when threshold > 1 leaves a draw with none).
    low = min(1, int(counts.min()))
    dist = np.bincount(counts.ravel(), minlength=n_comp + 1)[low:] / counts.size
    return pd.Series(
        dist, index=pd.RangeIndex(low, n_comp + 1, name="n_occupied"), name="probability"
    )


def occupied_counts(
    idata: az.InferenceData,
    threshold: float | None = None,
    *,
    criterion: str = "allocations",
    random_seed: SeedLike = 0,
) -> np.ndarray:
    """The number of occupied components of every draw, shape (chain, draw).

    The draws behind :func:`occupied_components` (same arguments), kept per chain so that
    their R-hat and ESS say whether the chains agree on K+.
    """
    idata = check_idata(idata)
    if criterion not in ("allocations", "weights"):
        raise ValueError(f"criterion must be 'allocations' or 'weights'; got {criterion!r}.")
    limit = 1.0 if threshold is None else float(threshold)
    if not limit > 0:
        raise ValueError(f"threshold must be > 0; got {threshold!r}.")
    draws = posterior_draws(idata)
    if criterion == "weights":
        if "observed_data" in idata.groups():
            n_obs = observed(idata, "occupied_components").shape[0]
        else:
            n_obs = idata_config(idata).get("n_samples")
        if n_obs is None:
            raise ValueError("criterion='weights' needs N: store observed_data in the idata.")
        counts = (int(n_obs) * draws.weights >= limit).sum(axis=1)
    else:
        X = observed(idata, "occupied_components")
        sizes = allocation_counts(
            X,
            draws.weights,
            draws.means,
            draws.covariances,
            check_random_state(random_seed),
            labels=fitted_labels(idata),
            sample_weight=fitted_weights(idata),
        )
        counts = (sizes >= limit).sum(axis=1)
    return counts.reshape(draws.n_chains, draws.n_draws_per_chain)
