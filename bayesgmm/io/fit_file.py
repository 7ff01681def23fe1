"""Open a fit file of either kind: an EM fit (xarray Dataset) or a Bayesian fit (InferenceData)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, NamedTuple

from bayesgmm.exceptions import FitFileError, FitFileNotFoundError
from bayesgmm.io.em_file import EM_FILE_KIND
from bayesgmm.io.fit_checks import (
    ESTIMATOR_ATTR,
    check_bayes_layout,
    check_bayes_values,
    check_em_layout,
    check_em_values,
    stored_missing,
)
from bayesgmm.io.netcdf_header import check_declared_size, load_group, read_layout


class FitFile(NamedTuple):
    """A fit file's content and its kind.

    Attributes
    ----------
    kind : {"em", "bayes"}
        ``"em"``: written by ``bayesgmm fit --method em`` (see
        :func:`bayesgmm.io.em_dataset`); ``"bayes"``: an InferenceData written by
        ``bayesgmm fit`` or ``BayesianGMM.save``.
    content : xarray.Dataset or arviz.InferenceData
    """

    kind: str
    content: Any


def read_fit_file(path: str | Path) -> FitFile:
    """Read a file written by ``bayesgmm fit`` or ``BayesianGMM.save``, checking all of it.

    The file is untrusted: its layout and configuration are checked against the spec they
    declare before any array is read (so a header declaring huge arrays, or a
    configuration with ``n_components=10**9``, fails at once), then the arrays are checked
    (finite draws, weights summing to 1, valid permutations, labels and weights). Only JSON
    is parsed; nothing is executed.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    FitFile
        ``("em", Dataset)`` or ``("bayes", InferenceData)``.

    Raises
    ------
    FitFileError
        The file is missing, a directory, not netCDF4, or not a valid bayesgmm fit (a
        missing or ill-typed variable, attribute or configuration entry, sizes that
        disagree, NaN in the draws ...); the one message names what is wrong.
    """
    path_text = str(path)
    path = Path(path)
    if not path.exists():
        raise FitFileNotFoundError(f"fit file {path_text!r} does not exist.")
    if path.is_dir():
        raise FitFileError(f"fit file {path_text!r} is a directory, not a netCDF file.")
    layout = read_layout(path, path_text)
    check_declared_size(layout, path.stat().st_size, path_text)
    if layout["/"].attrs.get("bayesgmm_kind") == EM_FILE_KIND:
        _, cov_type = check_em_layout(layout, path_text)
        dataset = load_group(path, path_text, "/")
        check_em_values(dataset, cov_type, path_text)
        return FitFile("em", dataset)
    return FitFile("bayes", _read_bayes_file(path, path_text, layout))


def _read_bayes_file(path: Path, path_text: str, layout: dict[str, Any]) -> Any:
    """The InferenceData in ``path``, its layout and values checked."""
    import arviz as az

    config = check_bayes_layout(layout, path_text)
    groups = {name: load_group(path, path_text, name) for name in layout if name != "/"}
    meta = layout["posterior"].attrs.get(ESTIMATOR_ATTR)
    # A bare InferenceData (sample_nuts) may hold NaN; an estimator's says if it may.
    missing_ok = meta is None or stored_missing(meta, path_text) == "marginalize"
    check_bayes_values(groups, config, path_text, missing_ok=missing_ok)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # custom groups (relabel_permutations, elbo)
        return az.InferenceData(attrs=dict(layout["/"].attrs), **groups)
