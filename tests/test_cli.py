"""Tests of the ``bayesgmm`` command line (in-process through ``main``, plus one subprocess)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesgmm.cli import DEMO_STEPS, main, run_demo
from bayesgmm.datasets import load_faithful, make_gmm_data


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
# demo
# ---------------------------------------------------------------------------------------


def test_run_demo_returns_results_and_writes_files(tmp_path):
    stream = io.StringIO()
    results = run_demo(tmp_path / "out", seed=0, stream=stream)
    text = stream.getvalue()
    table = results["bic_table"]
    assert list(table.index) == [1, 2, 3, 4]
    assert list(table.columns) == ["full", "tied", "diag", "spherical"]
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
    assert f"Step {len(DEMO_STEPS)}/{len(DEMO_STEPS)}" in text


def test_demo_command_in_process(capsys):
    assert main(["demo", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for text in ("BIC", "LOWER IS BETTER", "Weights and means", "log-likelihood", "ICL"):
        assert text in out


def test_demo_out_is_a_file(capsys, tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    err = _error(capsys, ["demo", "--out", str(path)])
    assert "not a directory" in err


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("bayesgmm")
    if script.is_file():
        return [str(script)]
    found = shutil.which("bayesgmm")
    return [found] if found else [sys.executable, "-m", "bayesgmm"]


def test_console_script_demo_subprocess(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [*_console_script(), "demo", "--seed", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "BIC" in proc.stdout and "lower is better" in proc.stdout.lower()
    assert (tmp_path / "em_bic_table.csv").is_file()


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
