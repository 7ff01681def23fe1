"""The posterior summary table of :class:`~bayesgmm.BayesianGMM` (a mixin of the estimator).

ArviZ's summary of the relabeled weights, means and standard deviations, with the means
exact far from the origin and the mode-averaged posterior's R-hat / ESS left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BayesianSummaryMixin"]


class BayesianSummaryMixin:
    """``summary`` of a fitted Bayesian estimator."""

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """ArviZ summary of the (relabeled) weights, means and standard deviations.

        ``kwargs`` go to :func:`arviz.summary` (``hdi_prob``, ``kind``, ``coords`` ...).
        """
        import arviz as az

        self._check_is_fitted()
        # The means' draws are summarised as exact differences from their first draw,
        # then moved back: ArviZ's sums of values near 1e15 lose more than a posterior sd.
        means = self.idata_.posterior["means"]
        anchor = means.isel(chain=0, draw=0)
        coords = {k: v for k, v in kwargs.get("coords", {}).items() if k in anchor.dims}
        anchor = anchor.sel(**coords) if coords else anchor
        shifted = self.idata_.posterior[["weights", "stds"]].assign(means=means - anchor)
        table = az.summary(shifted, var_names=["weights", "means", "stds"], **kwargs)
        rows = np.asarray(table.index.str.startswith("means["))
        located = [c for c in table.columns if c in ("mean", "median") or c[:4] in ("hdi_", "eti_")]
        table.loc[rows, located] += anchor.values.reshape(-1, 1)
        note = self.idata_.attrs.get("label_identification")
        if note:
            table.attrs["label_identification"] = note
        if self.idata_.attrs.get("mode_weighted"):
            # Its rows are draws resampled mode by mode, not chains: R-hat and ESS across
            # them mean nothing; modes_.table["rhat"] gives convergence within each mode.
            table.attrs["modes"] = self.modes_.message
            table[[c for c in table.columns if c.startswith(("r_hat", "ess"))]] = np.nan
        elif getattr(getattr(self, "modes_", None), "draw_mode", None) is not None:
            # States the chains cross between: the draws as sampled, R-hat over all chains
            # kept (it says they have not mixed); the message gives the states' weights.
            table.attrs["modes"] = self.modes_.message
        return table
