"""Open a fit file of either kind: an EM fit (xarray Dataset) or a Bayesian fit (InferenceData)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, NamedTuple

from bayesgmm.io.em_file import EM_FILE_KIND


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
    """Read a file written by ``bayesgmm fit`` or ``BayesianGMM.save``, checking it is one.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    FitFile
        ``("em", Dataset)`` or ``("bayes", InferenceData)``.

    Raises
    ------
    ValueError
        The file is missing, a directory, not netCDF, or netCDF without the variables and
        configuration bayesgmm writes; the message says how to write a fit file.
    """
    path_text = str(path)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"fit file {path_text!r} does not exist.")
    if path.is_dir():
        raise ValueError(f"fit file {path_text!r} is a directory, not a netCDF file.")
    import xarray as xr

    not_ours = (
        f"{path_text!r} is not a bayesgmm fit file; write one with "
        "`bayesgmm fit data.csv -k K --out fit.nc` (or BayesianGMM.save)."
    )
    try:
        root = xr.load_dataset(path)
    except Exception:  # any backend's "cannot read this": not a netCDF file
        raise ValueError(f"{not_ours} It could not be read as netCDF.") from None
    if root.attrs.get("bayesgmm_kind") == EM_FILE_KIND:
        missing = [v for v in ("weights", "means", "covariances") if v not in root]
        if missing:
            raise ValueError(f"{path_text!r} is an EM fit file without {missing}; rewrite it.")
        return FitFile("em", root)
    return FitFile("bayes", _read_bayes_file(path, not_ours))


def _read_bayes_file(path: Path, not_ours: str) -> Any:
    """The InferenceData in ``path``, checked to hold a bayesgmm posterior."""
    import arviz as az

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # custom groups (relabel_permutations, elbo)
            idata = az.from_netcdf(str(path))
    except Exception as exc:
        raise ValueError(f"{not_ours} ({exc})") from None
    if "posterior" not in idata.groups():
        raise ValueError(f"{not_ours} It has no posterior group.")
    post = idata.posterior
    has_config = "bayesgmm_config" in post.attrs or "bayesgmm_config" in (idata.attrs or {})
    if not has_config or any(v not in post for v in ("weights", "means", "covariances")):
        raise ValueError(
            f"{not_ours} Its posterior lacks the bayesgmm configuration or the variables "
            "weights, means and covariances."
        )
    return idata
