"""Fit files are untrusted input: every tampered, truncated or crafted file gives one clean
:class:`FitFileError` naming what is wrong (from ``read_fit_file``, ``BayesianGMM.load`` and
``bayesgmm report``), never a KeyError / JSONDecodeError / LayoutError traceback, and nothing
sized by the file is allocated before its sizes are checked.

The files are edited by rewriting every group through xarray (our own, trusted, writer),
so each case changes exactly one thing; an unedited rewrite must load (the control).
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bayesgmm.cli import main
from bayesgmm.exceptions import FitFileError

pytestmark = pytest.mark.timeout(240)

Groups = dict[str, Any]


@pytest.fixture(scope="module")
def bayes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short NUTS fit (2 chains x 20 draws) of two 2-D clusters, saved."""
    from bayesgmm import BayesianGMM, make_gmm_data

    sim = make_gmm_data(
        60,
        weights=[0.5, 0.5],
        means=[[-4.0, 0.0], [4.0, 0.0]],
        covariances=[1.0, 1.0],
        random_seed=2,
    )
    model = BayesianGMM(2, draws=20, tune=20, chains=2, progressbar=False, random_seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: convergence notes
        model.fit(sim.X)
    path = tmp_path_factory.mktemp("fits") / "fit.nc"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def em_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bayesgmm import load_faithful
    from bayesgmm.em import fit_em
    from bayesgmm.io import em_dataset

    data = load_faithful()
    fit = fit_em(data.to_numpy(), 2, "full", n_init=1, random_seed=0)
    path = tmp_path_factory.mktemp("fits") / "em.nc"
    em_dataset(fit, data.to_numpy(), list(data.columns)).to_netcdf(path, engine="h5netcdf")
    return path


def _read(path: Path) -> tuple[dict[str, Any], Groups]:
    import h5netcdf
    import xarray as xr

    with h5netcdf.File(path, "r") as handle:
        names, root_attrs = list(handle.groups), dict(handle.attrs)
    if not names:  # an EM file: one root dataset
        return root_attrs, {"/": xr.load_dataset(path, engine="h5netcdf")}
    return root_attrs, {n: xr.load_dataset(path, group=n, engine="h5netcdf") for n in names}


def _write(path: Path, root_attrs: dict[str, Any], groups: Groups) -> None:
    import xarray as xr

    if "/" in groups:
        groups["/"].attrs = {**groups["/"].attrs}
        groups["/"].to_netcdf(path, mode="w", engine="h5netcdf")
        return
    xr.Dataset(attrs=root_attrs).to_netcdf(path, mode="w", engine="h5netcdf")
    for name, ds in groups.items():
        ds.to_netcdf(path, group=name, mode="a", engine="h5netcdf")


def _edited(source: Path, tmp_path: Path, edit: Callable[[dict[str, Any], Groups], None]) -> Path:
    root_attrs, groups = _read(source)
    edit(root_attrs, groups)
    path = tmp_path / f"edited{source.suffix}"
    _write(path, root_attrs, groups)
    return path


def _config_edit(change: Callable[[dict[str, Any]], None], only: str | None = None):
    """Edit the JSON configuration in every group (so that they agree), or in ``only``."""

    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        targets = [root_attrs, *(ds.attrs for ds in groups.values())]
        if only is not None:
            targets = [groups[only].attrs]
        for attrs in targets:
            if "bayesgmm_config" in attrs:
                config = json.loads(attrs["bayesgmm_config"])
                change(config)
                attrs["bayesgmm_config"] = json.dumps(config)

    return edit


def _meta_edit(change: Callable[[dict[str, Any]], None]):
    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        for ds in groups.values():
            if "bayesgmm_estimator_params" in ds.attrs:
                meta = json.loads(ds.attrs["bayesgmm_estimator_params"])
                change(meta)
                ds.attrs["bayesgmm_estimator_params"] = json.dumps(meta)

    return edit


def _set(group: str, name: str, value: Callable[[np.ndarray], np.ndarray]):
    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        da = groups[group][name]
        new = da.copy(data=value(np.array(da.values)))
        new.encoding = {}  # written as the new values' dtype, not the file's
        groups[group][name] = new

    return edit


def _attrs_everywhere(name: str, value: Any):
    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        for attrs in [root_attrs, *(ds.attrs for ds in groups.values())]:
            if value is None:
                attrs.pop(name, None)
            elif name in attrs:
                attrs[name] = value

    return edit


def _nan_first(values: np.ndarray) -> np.ndarray:
    values.flat[0] = np.nan
    return values


def _drop_var(group: str, name: str):
    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        groups[group] = groups[group].drop_vars(name)

    return edit


def _swap_dims(group: str, name: str):
    """The variable transposed (same size, dims in another order)."""

    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        ds = groups[group]
        ds[name] = ds[name].transpose(*reversed(ds[name].dims))

    return edit


def _extra_feature(root_attrs: dict[str, Any], groups: Groups) -> None:
    import xarray as xr

    obs = groups["observed_data"]
    x = obs["x"].values
    wide = np.concatenate([x, x[:, :1]], axis=1)
    groups["observed_data"] = xr.Dataset({"x": (("obs", "feature"), wide)}, attrs=obs.attrs)


def _labels_group(labels: Callable[[int], np.ndarray]):
    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        import xarray as xr

        n = groups["observed_data"].sizes["obs"]
        groups["constant_data"] = xr.Dataset({"labels": (("obs",), labels(n))})

    return edit


def _shuffle_permutation(values: np.ndarray) -> np.ndarray:
    values[0, 0, :] = 0  # [0, 0] is no permutation of (0, 1)
    return values


def _unchanged(root_attrs: dict[str, Any], groups: Groups) -> None:
    return None


BAYES_CASES: dict[str, tuple[Callable[..., None], str]] = {
    # configuration (the JSON in the attributes)
    "no config": (_attrs_everywhere("bayesgmm_config", None), "no bayesgmm configuration"),
    "config not JSON": (_attrs_everywhere("bayesgmm_config", "{n_components: 2"), "not valid JSON"),
    "config a list": (_attrs_everywhere("bayesgmm_config", "[1, 2]"), "not a JSON object"),
    "n_components 10**9": (
        _config_edit(lambda c: c.update(n_components=10**9)),
        "2 component(s); its configuration says 1000000000",
    ),
    "n_components negative": (
        _config_edit(lambda c: c.update(n_components=-1)),
        "n_components must be an integer >= 1",
    ),
    "n_components text": (
        _config_edit(lambda c: c.update(n_components="2")),
        "n_components must be an integer",
    ),
    "n_components missing": (_config_edit(lambda c: c.pop("n_components")), "no 'n_components'"),
    "covariance type unknown": (
        _config_edit(lambda c: c.update(covariance_type="banana")),
        "unknown covariance_type 'banana'",
    ),
    "feature names too many": (
        _config_edit(lambda c: c.update(feature_names=["a", "b", "c"])),
        "mean_loc must hold 1 or 3 finite number(s)",
    ),
    "feature names not a list": (
        _config_edit(lambda c: c.update(feature_names="ab")),
        "feature_names is not a list",
    ),
    "priors negative scale": (
        _config_edit(lambda c: c["priors"].update(mean_scale=[-1.0, 1.0])),
        "priors are invalid",
    ),
    "priors unknown family": (
        _config_edit(lambda c: c["priors"].update(std_family="cauchy")),
        "priors are invalid",
    ),
    "priors wrong length": (
        _config_edit(lambda c: c["priors"].update(std_scale=[1.0, 1.0, 1.0])),
        "std_scale must hold 1 or 2",
    ),
    "standardization zero scale": (
        _config_edit(lambda c: c["standardization"].update(scale=[0.0, 1.0])),
        "scale must be > 0",
    ),
    "standardization NaN center": (
        _config_edit(lambda c: c["standardization"].update(center=[float("nan"), 1.0])),
        "center must hold 2 finite",
    ),
    "n_samples wrong": (
        _config_edit(lambda c: c.update(n_samples=7)),
        "60 obs(s); its configuration says 7",
    ),
    "groups disagree": (
        _config_edit(lambda c: c.update(covariance_type="diag"), only="observed_data"),
        "disagree on the model configuration",
    ),
    # draws and other arrays
    "weights missing": (_drop_var("posterior", "weights"), "no variable 'weights'"),
    "covariances missing": (_drop_var("posterior", "covariances"), "no variable 'covariances'"),
    "means transposed": (_swap_dims("posterior", "means"), "posterior.means has dims"),
    "NaN in means": (_set("posterior", "means", _nan_first), "'means' holds NaN"),
    "inf in weights": (
        _set("posterior", "weights", lambda w: np.where(w == w.flat[0], np.inf, w)),
        "'weights' holds NaN or infinite",
    ),
    "weights not summing to 1": (
        _set("posterior", "weights", lambda w: w * 2.0),
        "weights are not probabilities",
    ),
    "negative variance": (
        _set("posterior", "covariances", lambda c: -c),
        "covariances are not symmetric with variances > 0",
    ),
    "weights as text": (
        _set("posterior", "weights", lambda w: w.astype(str)),
        "not a number type",
    ),
    "data with an extra feature": (_extra_feature, "3 feature(s); its configuration says 2"),
    "NaN in the data": (_set("observed_data", "x", _nan_first), "NaN in a fit without"),
    "labels out of range": (_labels_group(lambda n: np.full(n, 5)), "labels are not -1"),
    "labels as floats": (_labels_group(lambda n: np.zeros(n)), "not a number type"),
    "not a permutation": (
        _set("relabel_permutations", "permutation", _shuffle_permutation),
        "not permutations of 0..1",
    ),
    "log-likelihood NaN": (_set("log_likelihood", "x", _nan_first), "log-likelihood holds NaN"),
    # the estimator's parameters (BayesianGMM.load)
    "estimator params not JSON": (
        _attrs_everywhere("bayesgmm_estimator_params", "{{"),
        "not valid JSON",
    ),
    "estimator unknown param": (
        _meta_edit(lambda m: m["params"].update(evil="__import__('os')")),
        "unknown BayesianGMM parameter(s) ['evil']",
    ),
    "estimator K differs": (
        _meta_edit(lambda m: m["params"].update(n_components=3)),
        "n_components=3 differs",
    ),
    "estimator missing unknown": (
        _meta_edit(lambda m: m["params"].update(missing="ignore")),
        "missing='ignore' is unknown",
    ),
    "estimator max_predict_draws": (
        _meta_edit(lambda m: m["params"].update(max_predict_draws=-5)),
        "max_predict_draws must be an integer >= 1",
    ),
    "estimator n_features_in": (_meta_edit(lambda m: m.update(n_features_in=9)), "n_features_in"),
    "estimator param a list": (
        _meta_edit(lambda m: m["params"].update(draws=[1, 2])),
        "draws is not a number",
    ),
}


def _assert_clean_error(path: Path, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    from bayesgmm import BayesianGMM
    from bayesgmm.io import read_fit_file

    for read in (read_fit_file, BayesianGMM.load):
        with pytest.raises(FitFileError) as caught:
            read(path)
        assert needle in str(caught.value), str(caught.value)
        assert "not a valid bayesgmm fit file" in str(caught.value)
        error = caught.value  # one error: no chained KeyError / JSONDecodeError shown
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    code = main(["report", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err and "not a valid" in err


def test_an_unedited_rewrite_loads(bayes_file, em_file, tmp_path):
    """The control: the rewriting itself keeps a valid file valid."""
    from bayesgmm import BayesianGMM
    from bayesgmm.io import read_fit_file

    original = BayesianGMM.load(bayes_file)
    again = BayesianGMM.load(_edited(bayes_file, tmp_path, _unchanged))
    np.testing.assert_array_equal(again.means_, original.means_)
    assert read_fit_file(_edited(em_file, tmp_path, _unchanged)).kind == "em"


@pytest.mark.parametrize("case", list(BAYES_CASES))
def test_tampered_bayes_file_gives_one_clean_error(bayes_file, tmp_path, capsys, case):
    edit, needle = BAYES_CASES[case]
    path = _edited(bayes_file, tmp_path, edit)
    if case.startswith("estimator"):
        from bayesgmm import BayesianGMM

        with pytest.raises(FitFileError, match="not a valid bayesgmm fit file") as caught:
            BayesianGMM.load(path)
        assert needle in str(caught.value)
        return
    _assert_clean_error(path, needle, capsys)


def _em_attr(name: str, value: Any):
    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        if value is None:
            groups["/"].attrs.pop(name)
        else:
            groups["/"].attrs[name] = value

    return edit


def _em_summary(change: Callable[[dict[str, Any]], None]):
    def edit(root_attrs: dict[str, Any], groups: Groups) -> None:
        summary = json.loads(groups["/"].attrs["em_summary"])
        change(summary)
        groups["/"].attrs["em_summary"] = json.dumps(summary)

    return edit


def _singular(cov: np.ndarray) -> np.ndarray:
    cov[0] = [[1.0, 2.0], [2.0, 1.0]]  # symmetric, not positive definite
    return cov


EM_CASES: dict[str, tuple[Callable[..., None], str]] = {
    "covariances missing": (_drop_var("/", "covariances"), "no variable 'covariances'"),
    "covariance type unknown": (_em_attr("covariance_type", "banana"), "'banana' is unknown"),
    "covariance type missing": (_em_attr("covariance_type", None), "None is unknown"),
    "n_components 10**9": (_em_attr("n_components", 10**9), "says 1000000000"),
    "n_components text": (_em_attr("n_components", "two"), "n_components must be an integer"),
    "summary not JSON": (_em_attr("em_summary", "{bic"), "em_summary is not valid JSON"),
    "summary key missing": (_em_summary(lambda s: s.pop("bic")), "em_summary['bic']"),
    "summary wrong type": (_em_summary(lambda s: s.update(converged="yes")), "'converged'"),
    "NaN in means": (_set("/", "means", _nan_first), "'means' holds NaN"),
    "negative weight": (_set("/", "weights", lambda w: w * [-1.0, 3.0]), "not probabilities"),
    "singular covariance": (_set("/", "covariances", _singular), "not positive definite"),
    "means transposed": (_swap_dims("/", "means"), "means has dims"),
}


@pytest.mark.parametrize("case", list(EM_CASES))
def test_tampered_em_file_gives_one_clean_error(em_file, tmp_path, capsys, case):
    edit, needle = EM_CASES[case]
    _assert_clean_error(_edited(em_file, tmp_path, edit), needle, capsys)


def _truncated(source: Path, path: Path) -> None:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(source: Path, path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(5000))


def _garbage_inside(source: Path, path: Path) -> None:
    """The HDF5 signature kept, the rest overwritten from byte 4096 on."""
    data = bytearray(source.read_bytes())
    data[4096:] = np.random.default_rng(1).bytes(len(data) - 4096)
    path.write_bytes(bytes(data))


RAW_CASES = {
    "truncated": (_truncated, "not a valid bayesgmm fit file"),
    "garbage bytes": (_garbage, "cannot be read as netCDF4"),
    "garbage after the header": (_garbage_inside, "not a valid bayesgmm fit file"),
    "empty": (lambda source, path: path.write_bytes(b""), "cannot be read as netCDF4"),
    "a CSV file": (lambda source, path: path.write_text("a,b\n1,2\n"), "cannot be read"),
    "JSON, not netCDF": (
        lambda source, path: path.write_text(json.dumps({"n_components": 10**9})),
        "cannot be read as netCDF4",
    ),
}


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_damaged_bytes_give_one_clean_error(bayes_file, tmp_path, capsys, case):
    make, needle = RAW_CASES[case]
    path = tmp_path / "damaged.nc"
    make(bayes_file, path)
    _assert_clean_error(path, needle, capsys)


def test_huge_declared_arrays_are_refused_before_reading(tmp_path, capsys):
    """A 10**9-component posterior declared in a small file (HDF5 chunks never written):
    refused from the header alone, without allocating its 8 GB."""
    import h5netcdf

    config = {
        "n_components": 10**9,
        "covariance_type": "spherical",
        "feature_names": ["a"],
        "priors": {},
        "n_samples": 0,
    }
    path = tmp_path / "huge.nc"
    with h5netcdf.File(path, "w") as handle:
        post = handle.create_group("posterior")
        post.dimensions = {"chain": 1, "draw": 1, "component": 10**9, "feature": 1}
        post.attrs["bayesgmm_config"] = json.dumps(config)
        for name, dims in (
            ("weights", ("chain", "draw", "component")),
            ("means", ("chain", "draw", "component", "feature")),
        ):
            post.create_variable(name, dims, float, chunks=tuple(1 for _ in dims))
    assert path.stat().st_size < 100_000
    _assert_clean_error(path, "more than a", capsys)


def test_missing_and_directory_fit_files(tmp_path):
    from bayesgmm.io import read_fit_file

    with pytest.raises(FitFileError, match="does not exist"):
        read_fit_file(tmp_path / "nope.nc")
    with pytest.raises(FitFileError, match="is a directory"):
        read_fit_file(tmp_path)


def test_em_file_is_not_a_bayesian_fit(em_file, tmp_path):
    from bayesgmm import BayesianGMM

    with pytest.raises(FitFileError, match="is an EM fit file"):
        BayesianGMM.load(em_file)


def test_saved_fit_is_written_atomically(bayes_file, tmp_path, monkeypatch):
    """A save that fails half-way leaves the previous file intact and no temporary file."""
    from bayesgmm import BayesianGMM

    model = BayesianGMM.load(bayes_file)
    target = tmp_path / "fit.nc"
    shutil.copy(bayes_file, target)
    before = target.read_bytes()

    def broken(self: Any, path: str, **kwargs: Any) -> None:
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    import arviz as az

    monkeypatch.setattr(az.InferenceData, "to_netcdf", broken)
    with pytest.raises(KeyboardInterrupt):
        model.save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("cov_type", ["tied", "diag", "spherical"])
def test_every_kind_of_fit_passes_the_checks(tmp_path, cov_type):
    """The checks accept what bayesgmm writes: MAP and ADVI fits of every covariance type
    (NUTS full fits, missing values, labels, weights and sparse fits load in their tests)."""
    from bayesgmm import BayesianGMM, make_gmm_data

    sim = make_gmm_data(
        60,
        weights=[0.5, 0.5],
        means=[[-4.0, 0.0, 1.0], [4.0, 0.0, 1.0]],
        covariances=[1.0, 1.0],
        random_seed=3,
    )
    for method in ("map", "advi"):
        model = BayesianGMM(
            2,
            covariance_type=cov_type,
            method=method,
            advi_steps=300,
            draws=20,
            progressbar=False,
            random_seed=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(sim.X)
        path = tmp_path / f"{method}.nc"
        model.save(path)
        loaded = BayesianGMM.load(path)
        np.testing.assert_array_equal(loaded.predict_proba(sim.X), model.predict_proba(sim.X))
