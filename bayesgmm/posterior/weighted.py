"""The posterior averaged over its modes by their weights, as one InferenceData.

Pooling the draws of all chains weighs a mode by the number of chains that landed in it.
:func:`mode_weighted_idata` weighs it by its weight in a :class:`ModesReport` instead:

* one mode carrying weight: the draws of its chains, as sampled (the chains of modes
  without weight leave);
* states the chains cross between (``report.draw_mode``): the draws as sampled, since
  pooling them weighs every state by its frequency, its weight (``attrs["mode_states"]``
  says so; R-hat across the chains keeps its meaning);
* several modes: every mode's share of the ``C x T`` draws is its weight (largest remainders),
  taken evenly spaced through the mode's pooled draws and laid out mode after mode in
  ``C`` rows of ``T``. Those rows are not chains of a sampler: R-hat across them means
  nothing (``attrs["mode_weighted"]`` says so), and convergence is read per mode
  (``ModesReport.table["rhat"]``).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr

from bayesgmm.posterior.modes import NEGLIGIBLE_WEIGHT, ModesReport

__all__ = ["mode_draw_indices", "mode_weighted_idata", "rows_idata"]

# Groups whose variables run over (chain, draw) and follow the chosen draws.
_DRAW_GROUPS = ("posterior", "log_likelihood", "sample_stats")


def _largest_remainders(weights: np.ndarray, total: int) -> np.ndarray:
    raw = weights / weights.sum() * total
    counts = np.floor(raw).astype(np.intp)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def mode_draw_indices(report: ModesReport, n_draws: int) -> np.ndarray:
    """Flattened draw indices (chain-major, ``c * T + t``) of the weighted posterior."""
    table = report.table
    kept = table[table["weight"] >= NEGLIGIBLE_WEIGHT]
    n_chains = sum(len(c) for c in kept["chains"])
    counts = _largest_remainders(kept["weight"].to_numpy(), n_chains * n_draws)
    picks = []
    for chains, count in zip(kept["chains"], counts, strict=True):
        pool = np.concatenate([np.arange(c * n_draws, (c + 1) * n_draws) for c in chains])
        # Evenly spaced through the pool: every chain of the mode in proportion, and
        # draws repeated only when the mode's share exceeds its own draws.
        at = np.floor((np.arange(count) + 0.5) * len(pool) / count).astype(np.intp)
        picks.append(pool[at])
    return np.concatenate(picks)


def _take(ds: xr.Dataset, index: np.ndarray, n_chains: int, n_draws: int) -> xr.Dataset:
    out = {}
    for name, da in ds.data_vars.items():
        if "chain" not in da.dims or "draw" not in da.dims:
            out[name] = da
            continue
        other = [d for d in da.dims if d not in ("chain", "draw")]
        values = da.transpose("chain", "draw", *other).values
        flat = values.reshape(-1, *values.shape[2:])[index]
        out[name] = (("chain", "draw", *other), flat.reshape(n_chains, n_draws, *flat.shape[1:]))
    coords = {k: v for k, v in ds.coords.items() if k not in ("chain", "draw")}
    coords.update(chain=np.arange(n_chains), draw=np.arange(n_draws))
    return xr.Dataset(out, coords=coords, attrs=dict(ds.attrs))


def mode_weighted_idata(idata: az.InferenceData, report: ModesReport) -> az.InferenceData:
    """``idata`` with every mode weighted by ``report`` (see the module's docstring).

    Parameters
    ----------
    idata : arviz.InferenceData
        The posterior ``report`` was computed on (same chains).
    report : ModesReport

    Returns
    -------
    arviz.InferenceData
        ``idata`` itself when every chain is in one mode; else the weighted posterior,
        with ``attrs["modes"]`` (the report's message) and ``attrs["mode_weighted"]``;
        for states, the draws as sampled with ``attrs["modes"]`` and
        ``attrs["mode_states"]``.
    """
    if report.n_modes == 1:
        return idata
    if report.draw_mode is not None:  # states weighed by frequency: the pooled draws
        out = az.InferenceData(**{group: idata[group] for group in idata.groups()})
        out.attrs = {**idata.attrs, "modes": report.message, "mode_states": 1}
        return out
    n_draws = int(idata.posterior.sizes["draw"])
    table = report.table
    kept = table[table["weight"] >= NEGLIGIBLE_WEIGHT]
    if len(kept) == 1:
        chains = list(kept["chains"].iloc[0])
        out = idata.isel(chain=chains)  # the chains keep their numbers
        out.attrs = {**idata.attrs, "modes": report.message, "mode_chains": chains}
        return out
    index = mode_draw_indices(report, n_draws)
    n_chains = len(index) // n_draws
    groups = {}
    for group in idata.groups():
        ds = idata[group]
        groups[group] = _take(ds, index, n_chains, n_draws) if group in _DRAW_GROUPS else ds
    out = az.InferenceData(**groups)
    out.attrs = {**idata.attrs, "modes": report.message, "mode_weighted": 1}
    return out


def rows_idata(idata: az.InferenceData, index: np.ndarray) -> az.InferenceData:
    """``idata`` with the draws ``index`` (R, L flat indices ``c * T + t``) as R rows of L
    draws (a state's draws per visiting chain,
    :func:`bayesgmm.posterior.states.state_draw_indices`), for R-hat within a state."""
    n_rows, n_draws = index.shape
    groups = {}
    for group in idata.groups():
        ds = idata[group]
        groups[group] = _take(ds, index.ravel(), n_rows, n_draws) if group in _DRAW_GROUPS else ds
    return az.InferenceData(**groups)
