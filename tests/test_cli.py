"""Tests of the ``bayesgmm`` command line: in-process through ``main``, plus subprocesses.

The Bayesian fits run once per module (short chains) and are shared by the tests that read
their output and files; the full-length ``bayesgmm demo`` runs only with ``-m slow``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesgmm.cli import DEMO_STEPS, main, run_demo
from bayesgmm.datasets import load_faithful, make_gmm_data
from bayesgmm.mixture.structures import BAYESIAN_COVARIANCE_TYPES


@pytest.fixture
def faithful_csv(tmp_path: Path) -> Path:
    path = tmp_path / "faithful.csv"
    load_faithful().to_csv(path, index=False)
    return path


@pytest.fixture
def blobs_csv(tmp_path: Path) -> Path:
    """Two well separated 2-D clusters plus a text column."""
    sim = make_gmm_data(
        200,
        weights=[0.4, 0.6],
        means=[[-5.0, 0.0], [5.0, 1.0]],
        covariances=[1.0, 0.5],
        random_seed=1,
    )
    frame = pd.DataFrame(sim.X, columns=["x", "y"])
    frame["name"] = [f"p{i}" for i in range(len(frame))]
    frame["truth"] = sim.labels
    path = tmp_path / "blobs.csv"
    frame.to_csv(path, index=False)
    return path


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``main`` expecting exit code 2; return stderr, checking there is no traceback."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.strip()
    return err


# ---------------------------------------------------------------------------------------
# fit-em: success paths
# ---------------------------------------------------------------------------------------


def test_fit_em_prints_parameters_and_criteria(capsys, faithful_csv):
    code = main(["fit-em", str(faithful_csv), "-k", "2", "--n-init", "2", "--seed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for text in (
        "Weights and means",
        "mean[eruptions]",
        "mean[waiting]",
        "Covariances (one matrix per component)",
        "log-likelihood",
        "BIC",
        "AIC",
        "ICL",
        "converged         yes",
    ):
        assert text in out
    # Same numbers as the library.
    from bayesgmm import em

    fit = em.fit_em(load_faithful(), 2, n_init=2, random_seed=0)
    assert f"{fit.log_likelihood:.4f}" in out
    assert f"{em.bic(fit):.4f}" in out
    assert f"{em.icl(fit):.4f}" in out


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_fit_em_covariance_types_and_map_prior(capsys, faithful_csv, cov_type):
    argv = ["fit-em", str(faithful_csv), "-k", "2", "--covariance-type", cov_type]
    code = main([*argv, "--prior", "default", "--n-init", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "MAP-EM" in out
    assert "log prior" in out
    assert f"covariance_type={cov_type!r}" in out


def test_fit_em_columns_and_labels_out(capsys, blobs_csv, tmp_path):
    labels_path = tmp_path / "labels.csv"
    code = main(
        [
            "fit-em",
            str(blobs_csv),
            "-k",
            "2",
            "--columns",
            "x, y",
            "--seed",
            "3",
            "--labels-out",
            str(labels_path),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "D=2 (x, y)" in out
    labels = pd.read_csv(labels_path)
    assert list(labels.columns) == ["row", "label", "uncertainty", "prob_0", "prob_1"]
    assert len(labels) == 200
    probs = labels[["prob_0", "prob_1"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(labels["label"], probs.argmax(axis=1))
    # Well separated clusters: the labels recover the truth up to a permutation.
    truth = pd.read_csv(blobs_csv)["truth"].to_numpy()
    agreement = np.mean(labels["label"].to_numpy() == truth)
    assert max(agreement, 1 - agreement) == 1.0


def test_fit_em_is_seeded(capsys, faithful_csv):
    argv = ["fit-em", str(faithful_csv), "-k", "3", "--n-init", "2", "--seed", "7"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first


def test_collapse_warning_goes_to_stderr(capsys, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b\n1,2\n3,4\n5,7\n")
    code = main(["fit-em", str(path), "-k", "2", "--n-init", "1"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "DegenerateComponentWarning" in err
    assert "degenerate" in out


# ---------------------------------------------------------------------------------------
# fit-em: error paths (exit code 2, a message naming the problem, no traceback)
# ---------------------------------------------------------------------------------------


def test_missing_file(capsys, tmp_path):
    err = _error(capsys, ["fit-em", str(tmp_path / "nope.csv"), "-k", "2"])
    assert "nope.csv" in err and "does not exist" in err


def test_directory_instead_of_file(capsys, tmp_path):
    err = _error(capsys, ["fit-em", str(tmp_path), "-k", "2"])
    assert "is a directory" in err


def test_empty_file(capsys, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    err = _error(capsys, ["fit-em", str(path), "-k", "2"])
    assert "empty" in err


def test_header_only_file(capsys, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    err = _error(capsys, ["fit-em", str(path), "-k", "1"])
    assert "no data rows" in err


def test_non_numeric_columns_are_named(capsys, blobs_csv):
    err = _error(capsys, ["fit-em", str(blobs_csv), "-k", "2"])
    assert "non-numeric" in err and "'name'" in err
    assert "--columns" in err


def test_unknown_columns_are_named(capsys, blobs_csv):
    err = _error(capsys, ["fit-em", str(blobs_csv), "-k", "2", "--columns", "x,zeta,eta"])
    assert "unknown column" in err and "'zeta'" in err and "'eta'" in err
    assert "'x'" in err  # lists what is available


@pytest.mark.parametrize("k", ["0", "-3"])
def test_k_below_one(capsys, faithful_csv, k):
    err = _error(capsys, ["fit-em", str(faithful_csv), "-k", k])
    assert "n-components" in err and ">= 1" in err


def test_k_above_n(capsys, tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("a\n1\n2\n3\n")
    err = _error(capsys, ["fit-em", str(path), "-k", "4"])
    assert "exceeds the number of rows (3)" in err


def test_unknown_covariance_type(capsys, faithful_csv):
    err = _error(capsys, ["fit-em", str(faithful_csv), "-k", "2", "--covariance-type", "round"])
    assert "--covariance-type" in err and "round" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--n-init", "0"), ("--max-iter", "0"), ("--reg-covar", "-1")],
)
def test_bad_numeric_options(capsys, faithful_csv, option, value):
    err = _error(capsys, ["fit-em", str(faithful_csv), "-k", "2", option, value])
    assert option in err


def test_bad_prior_and_non_integer_k(capsys, faithful_csv):
    err = _error(capsys, ["fit-em", str(faithful_csv), "-k", "2", "--prior", "flat"])
    assert "--prior" in err
    err = _error(capsys, ["fit-em", str(faithful_csv), "-k", "two"])
    assert "-k/--n-components" in err


def test_nan_in_data(capsys, tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text("a,b\n1,2\n,3\n4,5\n6,NA\n7,8\n")
    err = _error(capsys, ["fit-em", str(path), "-k", "1"])
    assert "NaN" in err and "'a' (1 missing)" in err and "'b' (1 missing)" in err
    assert "impute" in err


def test_infinite_value_is_reported_by_package_validation(capsys, tmp_path):
    path = tmp_path / "inf.csv"
    path.write_text("a,b\n1,2\ninf,3\n4,5\n6,7\n")
    err = _error(capsys, ["fit-em", str(path), "-k", "1"])
    assert "infinite" in err


def test_labels_out_directory_missing(capsys, faithful_csv, tmp_path):
    target = tmp_path / "no" / "such" / "labels.csv"
    err = _error(capsys, ["fit-em", str(faithful_csv), "-k", "2", "--labels-out", str(target)])
    assert "does not exist" in err


def test_no_subcommand_and_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "fit-em" in out


# ---------------------------------------------------------------------------------------
# Helpers for the Bayesian commands
# ---------------------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEMO_PLOTS = (
    "clusters.png",
    "density.png",
    "trace_relabel.png",
    "comparison.png",
    "membership_uncertainty.png",
)


def _run(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout / stderr captured (usable in module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # Not a blank canvas: something was drawn.
    assert float(np.ptp(image[..., :3])) > 0.5


def _section(text: str, start: str, end: str) -> str:
    """The text from ``start`` up to (not including) ``end``, whitespace-normalised."""
    body = text.split(start, 1)[1].split(end, 1)[0]
    return " ".join(body.split())


@dataclass
class Run:
    code: int
    out: str
    err: str
    path: Path


@pytest.fixture(scope="module")
def faithful_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "faithful.csv"
    load_faithful().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def nuts_run(tmp_path_factory, faithful_file) -> Run:
    """``bayesgmm fit --method nuts`` with short chains, run once for the module."""
    path = tmp_path_factory.mktemp("nuts") / "fit.nc"
    argv = ["fit", str(faithful_file), "-k", "2", "--method", "nuts", "--seed", "1"]
    short = ["--draws", "200", "--tune", "200", "--chains", "2", "--out", str(path)]
    code, out, err = _run([*argv, *short])
    return Run(code, out, err, path)


@pytest.fixture(scope="module")
def nuts_report(tmp_path_factory, nuts_run) -> Run:
    """``bayesgmm report`` of the NUTS fit, with plots."""
    out_dir = tmp_path_factory.mktemp("nuts-report") / "plots"
    code, out, err = _run(["report", str(nuts_run.path), "--out", str(out_dir)])
    return Run(code, out, err, out_dir)


@pytest.fixture(scope="module")
def em_run(tmp_path_factory, faithful_file) -> Run:
    path = tmp_path_factory.mktemp("em") / "em.nc"
    argv = ["fit", str(faithful_file), "-k", "3", "--method", "em", "--covariance-type", "diag"]
    code, out, err = _run([*argv, "--n-init", "2", "--seed", "4", "--out", str(path)])
    return Run(code, out, err, path)


# ---------------------------------------------------------------------------------------
# fit --method nuts and report
# ---------------------------------------------------------------------------------------


def test_fit_nuts_prints_summary_and_writes_inference_data(nuts_run):
    import arviz as az

    from bayesgmm.estimators.bayesian import BayesianGMM

    assert nuts_run.code == 0, nuts_run.err
    assert "Traceback" not in nuts_run.err
    for text in (
        "NUTS (",
        "2 chain(s) x 200 draws (+200 tuning)",
        "Posterior summary (400 relabeled draws)",
        "weights[0]",
        "means[1, waiting]",
        "stds[0, eruptions]",
        "Divergent transitions:",
        "Relabeling: stephens",
        "Label switching:",
        "Collapse:",
        f"Wrote the fit to {nuts_run.path}",
    ):
        assert text in nuts_run.out, text
    fit = BayesianGMM.load(nuts_run.path)
    assert (fit.n_components, fit.covariance_type, fit.method) == (2, "full", "nuts")
    assert fit.random_seed == 1
    post = fit.idata_.posterior
    assert (post.sizes["chain"], post.sizes["draw"]) == (2, 200)
    assert list(post["feature"].values) == ["eruptions", "waiting"]
    # The printed summary is the file's: same posterior means, to the printed precision.
    table = az.summary(fit.idata_, var_names=["weights", "means", "stds"], round_to="none")
    row = next(line for line in nuts_run.out.splitlines() if line.strip().startswith("weights[0]"))
    assert f"{table.loc['weights[0]', 'mean']:.4g}" == row.split()[1]
    assert f"{table.loc['weights[0]', 'sd']:.4g}" == row.split()[2]


def test_report_recomputes_the_reports_and_draws_the_plots(nuts_run, nuts_report):
    assert nuts_report.code == 0, nuts_report.err
    out = nuts_report.out
    assert f"Fit file {nuts_run.path}" in out
    assert "method 'nuts'" in out and "2 chain(s) x 200 draw(s)" in out
    # Rebuilt from the stored permutations, the label-switching report equals the fit's.
    fit_msg = _section(nuts_run.out, "Label switching:", "Collapse:")
    report_msg = _section(out, "Label switching:", "Collapse:")
    assert report_msg == fit_msg and report_msg
    assert _section(out, "Collapse:", "\n\n") == _section(nuts_run.out, "Collapse:", "\n\n")
    assert "EM versus posterior (EM refitted to the fit's data: K=2, 'full'" in out
    assert "EM in HDI" in out and "Why it matters" in out
    assert "points are ambiguous" in out
    for name in (*DEMO_PLOTS, "comparison.csv"):
        assert name in out
    for name in DEMO_PLOTS:
        _assert_png(nuts_report.path / name)
    table = pd.read_csv(nuts_report.path / "comparison.csv", index_col=0)
    # K=2 full, D=2: per component 1 weight, 2 means, 2 stds, 1 correlation.
    assert len(table) == 12
    assert set(table["parameter"]) == {"weights", "means", "stds", "correlations"}
    assert (table["hdi_low"] <= table["posterior_mean"]).all()
    assert (table["posterior_mean"] <= table["hdi_high"]).all()


def test_report_without_out_prints_only(capsys, nuts_run):
    assert main(["report", str(nuts_run.path)]) == 0
    out = capsys.readouterr().out
    assert "Posterior summary" in out and "No plots drawn: pass --out DIR" in out


def test_report_with_new_data_classifies_those_points(capsys, nuts_run, tmp_path):
    frame = pd.DataFrame({"waiting": [50.0, 80.0, 70.0], "eruptions": [1.8, 4.5, 3.2]})
    frame["note"] = ["a", "b", "c"]
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    # The fit's feature names pick and order the columns; the text column is ignored.
    assert main(["report", str(nuts_run.path), "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"Membership ({path})" in out
    assert "of 3 points are ambiguous" in out


def test_unrelabeled_inverts_relabeling_across_label_modes(nuts_run):
    import arviz as az

    from bayesgmm.posterior import label_switching_report, relabel_idata
    from bayesgmm.posterior import unrelabel_idata as _unrelabeled

    idata = az.from_netcdf(str(nuts_run.path))
    raw = _unrelabeled(idata)
    assert "relabel_permutations" not in raw.groups()
    # Put chain 1 in the other label mode: swap components 0 and 1 of every variable.
    swapped = raw.posterior.copy(deep=True)
    for name, da in raw.posterior.data_vars.items():
        if "component" in da.dims:
            values = da.transpose("chain", "component", ...).values.copy()
            values[1] = values[1, ::-1]
            swapped[name] = da.copy(data=np.moveaxis(values, 1, da.dims.index("component")))
    switched = az.InferenceData(
        posterior=swapped,
        log_likelihood=idata.log_likelihood,
        observed_data=idata.observed_data,
        attrs=dict(idata.attrs),
    )
    relabeled = relabel_idata(switched, "stephens")
    assert relabeled.attrs["relabel_fraction_permuted"] == pytest.approx(0.5)
    back = _unrelabeled(relabeled)
    for name in swapped.data_vars:
        np.testing.assert_array_equal(back.posterior[name].values, swapped[name].values)
    report = label_switching_report(back, relabeled=relabeled)
    assert report.chains_in_different_modes
    assert report.rhat_after < report.rhat_before


def test_unrelabeled_undoes_random_permutations_of_three_components():
    """The stored convention relabeled[s, k] = raw[s, perm[s, k]], with 3-cycles (which,
    unlike swaps, are not their own inverse), on every variable with a component dim."""
    import arviz as az
    import xarray as xr

    from bayesgmm.posterior import unrelabel_idata as _unrelabeled
    from bayesgmm.posterior.relabel import apply_permutations

    rng = np.random.default_rng(5)
    n_chains, n_draws, n_comp = 2, 30, 3
    n_total = n_chains * n_draws
    raw = {
        "weights": rng.dirichlet(np.ones(n_comp), size=n_total),
        "means": rng.normal(size=(n_total, n_comp, 2)),
        "covariances": rng.normal(size=(n_total, n_comp, 2, 2)),
    }
    perms = np.array([rng.permutation(n_comp) for _ in range(n_total)])
    assert any(not np.array_equal(p[p], np.arange(n_comp)) for p in perms)  # some 3-cycles
    relabeled = apply_permutations(raw, perms)
    dims = {
        "weights": ("component",),
        "means": ("component", "feature"),
        "covariances": ("component", "feature", "feature_bis"),
    }

    def dataset(arrays: dict) -> xr.Dataset:
        return xr.Dataset(
            {
                name: (("chain", "draw", *dims[name]), a.reshape(n_chains, n_draws, *a.shape[1:]))
                for name, a in arrays.items()
            }
            | {"tau": (("chain", "draw"), np.ones((n_chains, n_draws)))}
        )

    permutation = xr.Dataset(
        {
            "permutation": (
                ("chain", "draw", "component"),
                perms.reshape(n_chains, n_draws, n_comp),
            )
        }
    )
    idata = az.InferenceData(
        posterior=dataset(relabeled),
        relabel_permutations=permutation,
        warn_on_custom_groups=False,
        attrs={"relabel_method": "stephens", "sampler": "test"},
    )
    back = _unrelabeled(idata)
    for name, values in raw.items():
        np.testing.assert_array_equal(
            back.posterior[name].values.reshape(values.shape), values, err_msg=name
        )
    np.testing.assert_array_equal(back.posterior["tau"].values, 1.0)
    assert "relabel_permutations" not in back.groups()
    assert "relabel_method" not in back.attrs and back.attrs["sampler"] == "test"
    assert _unrelabeled(back) is None  # nothing stored, nothing to undo


# ---------------------------------------------------------------------------------------
# fit --method advi / em / map
# ---------------------------------------------------------------------------------------


def test_fit_advi_and_report(tmp_path, faithful_file):
    from bayesgmm.estimators.bayesian import BayesianGMM

    path = tmp_path / "advi.nc"
    argv = ["fit", str(faithful_file), "-k", "2", "--method", "advi", "--draws", "200"]
    code, out, err = _run([*argv, "--advi-steps", "2000", "--seed", "2", "--out", str(path)])
    assert code == 0, err
    assert "advi (2000 steps, 200 draws)" in out
    assert "Posterior summary (200 relabeled draws)" in out and "no R-hat" in out
    assert "Label switching" not in out  # one chain: nothing to compare
    assert "Collapse:" in out
    assert "WARNING" not in out + err  # ArviZ's one-chain log message is silenced
    fit = BayesianGMM.load(path)
    assert fit.method == "advi"
    assert fit.idata_.posterior.sizes["chain"] == 1

    code, out, err = _run(["report", str(path)])  # the plots are tested on the NUTS fit
    assert code == 0, err
    assert "Label switching: not checked (one chain)." in out
    assert "variational approximation" in out  # the comparison summary's ADVI caveat


def test_fit_em_writes_netcdf_that_report_reads(em_run, tmp_path):
    import xarray as xr

    from bayesgmm.em import fit_em

    assert em_run.code == 0, em_run.err
    assert "EM (maximum likelihood, 2 restarts)" in em_run.out
    assert "Variances (diag" in em_run.out
    ds = xr.load_dataset(em_run.path)
    assert ds.attrs["bayesgmm_kind"] == "em"
    assert ds.attrs["covariance_type"] == "diag"
    assert ds["covariances"].dims == ("component", "feature")
    assert ds["x"].shape == (272, 2)
    fit = fit_em(load_faithful(), 3, "diag", n_init=2, random_seed=4)
    np.testing.assert_allclose(ds["weights"].values, fit.weights)
    np.testing.assert_allclose(ds["means"].values, fit.means)
    np.testing.assert_allclose(ds["covariances"].values, fit.covariances)
    summary = json.loads(ds.attrs["em_summary"])
    assert summary["log_likelihood"] == pytest.approx(fit.log_likelihood)

    out_dir = tmp_path / "em-report"
    code, out, err = _run(["report", str(em_run.path), "--out", str(out_dir)])
    assert code == 0, err
    assert "EM fit file" in out and "covariance_type='diag'" in out
    assert f"{fit.log_likelihood:.4f}" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["clusters.png", "density.png"]
    for name in ("clusters.png", "density.png"):
        _assert_png(out_dir / name)


def test_report_skips_plots_without_matplotlib(monkeypatch, em_run, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" now fails
    out_dir = tmp_path / "no-plots"
    code, out, err = _run(["report", str(em_run.path), "--out", str(out_dir)])
    assert code == 0, err
    assert 'pip install "bayesgmm[plot]"' in out
    assert list(out_dir.iterdir()) == []


@pytest.mark.timeout(120)  # 9 s: the MAP runs on the compiled kernel (115 s with find_MAP)
def test_fit_map_and_report(tmp_path, faithful_file):
    path = tmp_path / "map.nc"
    code, out, err = _run(
        ["fit", str(faithful_file), "-k", "2", "--method", "map", "--out", str(path)]
    )
    assert code == 0, err
    assert "Posterior mode (MAP)" in out and "Weights and means" in out
    code, out, err = _run(["report", str(path), "--out", str(tmp_path / "plots")])
    assert code == 0, err
    assert "not available for a MAP fit" in out
    _assert_png(tmp_path / "plots" / "clusters.png")


# ---------------------------------------------------------------------------------------
# fit / report: error paths
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["-k", "0"], ">= 1"),
        (["-k", "2", "--method", "gibbs"], "invalid choice: 'gibbs'"),
        (["-k", "2", "--draws", "0"], "--draws must be >= 1"),
        (["-k", "2", "--chains", "0"], "--chains must be >= 1"),
        (["-k", "2", "--n-starts", "0"], "--n-starts must be >= 1"),
        (["-k", "2", "--tune", "-1"], "--tune must be >= 0"),
        (["-k", "400"], "exceeds the number of rows (272)"),
        (["-k", "2", "--method", "advi", "--draws", "2"], "--draws must be >= 4"),
    ],
)
def test_fit_bad_options(capsys, faithful_csv, tmp_path, extra, needle):
    err = _error(capsys, ["fit", str(faithful_csv), *extra, "--out", str(tmp_path / "f.nc")])
    assert needle in err
    assert not (tmp_path / "f.nc").exists()


def test_fit_bad_inputs_and_outputs(capsys, faithful_csv, blobs_csv, tmp_path):
    err = _error(capsys, ["fit", str(tmp_path / "nope.csv"), "-k", "2", "--out", "f.nc"])
    assert "does not exist" in err
    err = _error(capsys, ["fit", str(blobs_csv), "-k", "2", "--out", str(tmp_path / "f.nc")])
    assert "non-numeric" in err and "'name'" in err and "--columns" in err
    err = _error(capsys, ["fit", str(faithful_csv), "-k", "2"])
    assert "--out" in err
    err = _error(capsys, ["fit", str(faithful_csv), "-k", "2", "--out", str(tmp_path)])
    assert "is a directory" in err
    target = tmp_path / "missing" / "f.nc"
    err = _error(capsys, ["fit", str(faithful_csv), "-k", "2", "--out", str(target)])
    assert "does not exist" in err


def test_report_rejects_files_that_are_not_bayesgmm_fits(capsys, tmp_path):
    import arviz as az
    import xarray as xr

    err = _error(capsys, ["report", str(tmp_path / "nope.nc")])
    assert "does not exist" in err
    err = _error(capsys, ["report", str(tmp_path)])
    assert "is a directory" in err
    text = tmp_path / "text.nc"
    text.write_text("not netcdf\n")
    err = _error(capsys, ["report", str(text)])
    assert "is not a valid bayesgmm fit file" in err and "cannot be read as netCDF" in err
    plain = tmp_path / "plain.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(plain)
    err = _error(capsys, ["report", str(plain)])
    assert "is not a valid bayesgmm fit file" in err and "no posterior group" in err
    other = tmp_path / "other.nc"
    az.from_dict(posterior={"mu": np.zeros((2, 10))}).to_netcdf(str(other))
    err = _error(capsys, ["report", str(other)])
    assert "is not a valid bayesgmm fit file" in err and "configuration" in err


def test_report_bad_data_options(capsys, em_run, tmp_path):
    err = _error(capsys, ["report", str(em_run.path), "--data", str(tmp_path / "nope.csv")])
    assert "does not exist" in err
    three = tmp_path / "three.csv"
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]}).to_csv(three, index=False)
    err = _error(capsys, ["report", str(em_run.path), "--data", str(three)])
    assert "3 numeric column(s)" in err and "2 features" in err
    err = _error(capsys, ["report", str(em_run.path), "--columns", "a,b"])
    assert "--data" in err
    file_out = tmp_path / "file.txt"
    file_out.write_text("x")
    err = _error(capsys, ["report", str(em_run.path), "--out", str(file_out)])
    assert "not a directory" in err


# ---------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------


def test_run_demo_em_steps_return_results_and_write_files(tmp_path):
    stream = io.StringIO()
    steps = DEMO_STEPS[:3]
    results = run_demo(tmp_path / "out", seed=0, stream=stream, steps=steps)
    text = stream.getvalue()
    table = results["bic_table"]
    assert list(table.index) == [1, 2, 3, 4]
    # The demo chooses among the structures it can then fit by NUTS.
    assert list(table.columns) == list(BAYESIAN_COVARIANCE_TYPES)
    k, cov_type = results["best"]
    # The chosen model has the lowest BIC in the table, and the refit reproduces it.
    assert table.loc[k, cov_type] == pytest.approx(np.nanmin(table.to_numpy()))
    assert results["em_summary"]["bic"] == pytest.approx(table.loc[k, cov_type])
    assert results["em_fit"].means.shape == (k, 2)
    assert "lower is better" in text.lower()
    assert "*" in text
    for name in ("em_bic_table.csv", "em_model_selection.csv", "em_best_fit.json"):
        assert (tmp_path / "out" / name).is_file()
    saved = json.loads((tmp_path / "out" / "em_best_fit.json").read_text())
    assert saved["n_components"] == k and saved["covariance_type"] == cov_type
    assert saved["bic"] == pytest.approx(results["em_summary"]["bic"])
    assert f"Step {len(steps)}/{len(steps)}" in text


def test_demo_quick_in_process_runs_every_step(capsys, tmp_path):
    from bayesgmm.estimators.bayesian import BayesianGMM

    out_dir = tmp_path / "demo"
    assert main(["demo", "--quick", "--seed", "0", "--out", str(out_dir)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    n_steps = len(DEMO_STEPS)
    for i, step in enumerate(DEMO_STEPS, start=1):
        assert f"Step {i}/{n_steps}: {step.title}" in out
    for text in (
        "LOWER IS BETTER",
        "on the raw data",
        "NUTS with the default sampler: 2 chains x (200 tuning + 200 draws)",
        "Posterior summary (relabeled draws)",
        "Relabeling: stephens",
        "Label switching:",
        "Collapse:",
        "EM in HDI",
        "EM (maximum likelihood) versus the posterior",
        "Why it matters",
        "points are ambiguous",
        "Demo finished in",
    ):
        assert text in out, text
    # The Bayesian fit is the model the BIC step chose, and says why.
    chosen = out.split("Chosen: K=", 1)[1].split(".", 1)[0]  # e.g. "3, covariance_type='tied'"
    k = int(chosen.split(",")[0])
    cov_type = chosen.split("'")[1]
    assert f"Fitting the model BIC chose, K={k}, covariance_type={cov_type!r}" in out
    fit = BayesianGMM.load(out_dir / "fit.nc")
    assert (fit.n_components, fit.covariance_type) == (k, cov_type)
    assert fit.idata_.posterior.sizes["draw"] == 200
    # Every file is listed at the end and exists; the plots are real PNGs.
    listed = out.split("\nWrote:\n", 1)[1]
    for name in ("fit.nc", "comparison.csv", "membership.csv", *DEMO_PLOTS):
        assert str(out_dir / name) in listed
        assert (out_dir / name).is_file()
    for name in DEMO_PLOTS:
        _assert_png(out_dir / name)
    # The printed count of ambiguous points is the saved membership table's.
    membership = pd.read_csv(out_dir / "membership.csv")
    n_ambiguous = int(out.split(" points are ambiguous")[0].rsplit("\n", 1)[1].split(" of ")[0])
    assert n_ambiguous == int(membership["ambiguous"].sum())
    assert len(membership) == 272
    comparison = pd.read_csv(out_dir / "comparison.csv", index_col=0)
    assert set(comparison["parameter"]) >= {"weights", "means", "stds"}
    assert comparison["em_in_hdi"].dtype == bool


def test_demo_bayes_choice_follows_bic_or_the_options():
    from bayesgmm.cli._demo_steps import DemoState, _demo_bayes_choice

    state = DemoState(out_dir=None, seed=0, stream=io.StringIO(), results={"best": (3, "tied")})
    k, cov_type, why = _demo_bayes_choice(state)
    assert (k, cov_type) == (3, "tied")
    assert "BIC chose" in why and "mclust" in why and "-k 2 --covariance-type full" in why
    state.model = (2, "full")
    k, cov_type, why = _demo_bayes_choice(state)
    assert (k, cov_type) == (2, "full")
    assert "as asked" in why and "BIC chose K=3, 'tied'" in why
    state.model = (None, "diag")
    assert _demo_bayes_choice(state)[:2] == (3, "diag")


def test_demo_plots_skipped_without_matplotlib(monkeypatch, tmp_path):
    from bayesgmm.cli._demo_steps import DemoState, _demo_plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    stream = io.StringIO()
    _demo_plots(DemoState(out_dir=tmp_path, seed=0, stream=stream))
    assert 'pip install "bayesgmm[plot]"' in stream.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_demo_bad_options(capsys, tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    err = _error(capsys, ["demo", "--out", str(path)])
    assert "not a directory" in err
    err = _error(capsys, ["demo", "-k", "0", "--out", str(tmp_path / "d")])
    assert ">= 1" in err
    err = _error(capsys, ["demo", "--covariance-type", "round"])
    assert "round" in err


def test_demo_defaults(monkeypatch):
    from bayesgmm.cli import DEMO_OUT, build_parser
    from bayesgmm.cli._common import _progressbar

    args = build_parser().parse_args(["demo"])
    assert args.out == DEMO_OUT == "bayesgmm-demo"
    assert args.quick is False and args.progressbar is None
    # Progress bar: on only for a terminal, unless asked.
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert _progressbar(None) is False
    assert _progressbar(True) is True


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "fit", "report", "fit-em"):
        assert command in out
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "bayesgmm_kind" in out and "xarray" in out  # the EM file format is documented
    assert main(["demo", "--help"]) == 0
    assert "--quick" not in capsys.readouterr().out  # hidden


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("bayesgmm")
    if script.is_file():
        return [str(script)]
    found = shutil.which("bayesgmm")
    return [found] if found else [sys.executable, "-m", "bayesgmm"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~115 s on the shared machine under load
def test_console_script_full_demo_subprocess(tmp_path):
    """The real thing: ``bayesgmm demo`` (2 chains x 1000 + 1000) in a fresh process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out_dir = tmp_path / "demo"
    proc = subprocess.run(
        [*_console_script(), "demo", "--out", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"Step {len(DEMO_STEPS)}/{len(DEMO_STEPS)}" in proc.stdout
    assert "2 chains x (1000 tuning + 1000 draws)" in proc.stdout
    for name in ("em_bic_table.csv", "fit.nc", "comparison.csv", *DEMO_PLOTS):
        assert (out_dir / name).is_file(), name


def test_python_m_bayesgmm_errors_cleanly(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bayesgmm", "fit-em", str(tmp_path / "missing.csv"), "-k", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_import_is_light():
    code = (
        "import sys, bayesgmm.cli; "
        "heavy = [m for m in ('pymc', 'arviz', 'matplotlib', 'pytensor') if m in sys.modules]; "
        "print(heavy)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "[]"


@pytest.mark.timeout(120)
def test_python_m_bayesgmm_cli_runs():
    """``python -m bayesgmm.cli`` (the package's ``__main__``) is the console script."""
    proc = subprocess.run(
        [sys.executable, "-m", "bayesgmm.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("demo", "fit", "report", "fit-em"):
        assert command in proc.stdout


@pytest.mark.timeout(120)
def test_em_commands_never_load_arviz_pymc_or_matplotlib(tmp_path):
    """fit-em reads its CSV through bayesgmm.io, which must not pull ArviZ in."""
    path = tmp_path / "faithful.csv"
    load_faithful().to_csv(path, index=False)
    labels = tmp_path / "labels.csv"
    code = (
        "import sys\nfrom bayesgmm.cli import main\n"
        f"assert main(['fit-em', {str(path)!r}, '-k', '2', '--n-init', '1', "
        f"'--labels-out', {str(labels)!r}]) == 0\n"
        "heavy = ('pymc', 'pytensor', 'arviz', 'matplotlib', 'xarray')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert labels.is_file()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_io_em_file_round_trip(tmp_path, cov_type):
    """em_dataset -> netCDF -> read_fit_file -> em_params_from_dataset gives the fit back."""
    from bayesgmm.em import fit_em
    from bayesgmm.io import em_dataset, em_params_from_dataset, read_fit_file

    data = load_faithful()
    fit = fit_em(data.to_numpy(), 2, cov_type, n_init=1, random_seed=3)
    path = tmp_path / "em.nc"
    em_dataset(fit, data.to_numpy(), list(data.columns), random_seed=3).to_netcdf(path)
    kind, ds = read_fit_file(path)
    assert kind == "em"
    assert ds.attrs["random_seed"] == 3
    params = em_params_from_dataset(ds)
    assert params.covariance_type == cov_type
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_allclose(getattr(params, name), getattr(fit, name), rtol=1e-12)
    np.testing.assert_array_equal(ds["x"].values, data.to_numpy())


@pytest.mark.timeout(60)
def test_io_csv_errors_name_the_callers_option(blobs_csv):
    from bayesgmm.io import read_numeric_csv

    with pytest.raises(ValueError, match=r"Select numeric columns with columns \(for example"):
        read_numeric_csv(blobs_csv)
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['zeta'\] in --columns"):
        read_numeric_csv(blobs_csv, "x,zeta", columns_option="--columns")
    frame = read_numeric_csv(blobs_csv, " x , y ")
    assert list(frame.columns) == ["x", "y"] and (frame.dtypes == "float64").all()
