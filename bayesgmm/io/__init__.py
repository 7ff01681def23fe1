"""Every file format of bayesgmm.

- :mod:`bayesgmm.io.fit`: Bayesian fits as InferenceData netCDF (``BayesianGMM.save`` /
  ``load``), the estimator's configuration in the attrs;
- :mod:`bayesgmm.io.em_file`: EM fits as a plain xarray Dataset in netCDF
  (``bayesgmm fit --method em``), and an EM fit's JSON summary;
- :mod:`bayesgmm.io.fit_file`: open a fit file of either kind, checking it is one;
- :mod:`bayesgmm.io.csv_data`: numeric data from CSV, labels and memberships to CSV.

Importing this package loads numpy only; ArviZ, xarray and pandas load in the functions
that need them, so that the EM commands of the CLI never import ArviZ.
"""

from __future__ import annotations

from bayesgmm.io.csv_data import read_csv_header, read_numeric_csv, write_labels
from bayesgmm.io.em_file import (
    EM_FILE_KIND,
    em_dataset,
    em_fit_json,
    em_params_from_dataset,
    em_summary,
)
from bayesgmm.io.fit import load_fit, load_idata, save_fit
from bayesgmm.io.fit_file import FitFile, read_fit_file

__all__ = [
    "EM_FILE_KIND",
    "FitFile",
    "em_dataset",
    "em_fit_json",
    "em_params_from_dataset",
    "em_summary",
    "load_fit",
    "load_idata",
    "read_csv_header",
    "read_fit_file",
    "read_numeric_csv",
    "save_fit",
    "write_labels",
]
