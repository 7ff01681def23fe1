"""Every file format of bayesgmm.

- :mod:`bayesgmm.io.fit`: Bayesian fits as InferenceData netCDF (``BayesianGMM.save`` /
  ``load``), the estimator's configuration in the attrs;
- :mod:`bayesgmm.io.em_file`: EM fits as a plain xarray Dataset in netCDF
  (``bayesgmm fit --method em``), and an EM fit's JSON summary;
- :mod:`bayesgmm.io.fit_file`: open a fit file of either kind, checking all of it
  (:mod:`~bayesgmm.io.netcdf_header`, :mod:`~bayesgmm.io.fit_checks`: files are untrusted);
- :mod:`bayesgmm.io.csv_data`: numeric data from CSV (:mod:`~bayesgmm.io.csv_dialect`:
  delimiter, decimal mark, header), labels and memberships to CSV;
- :mod:`bayesgmm.io.atomic`: every file written whole or not at all.

Importing this package loads numpy only; ArviZ, xarray and pandas load in the functions
that need them, so that the EM commands of the CLI never import ArviZ.
"""

from __future__ import annotations

from bayesgmm.io.atomic import write_atomically
from bayesgmm.io.csv_data import read_csv_header, read_numeric_csv, write_labels
from bayesgmm.io.csv_dialect import CsvFormat
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
    "CsvFormat",
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
    "write_atomically",
    "write_labels",
]
