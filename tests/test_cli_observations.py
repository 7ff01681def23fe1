"""``--weights COLUMN`` and ``--labels COLUMN`` of ``bayesgmm fit-em`` and ``bayesgmm fit``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesgmm.cli import main
from bayesgmm.datasets import make_gmm_data


@pytest.fixture
def observed_csv(tmp_path: Path) -> Path:
    """Two separated clusters, a weight column and a label column (10 rows labelled)."""
    sim = make_gmm_data(200, [0.4, 0.6], [[-5.0, 0.0], [5.0, 1.0]], [1.0, 0.5], random_seed=1)
    frame = pd.DataFrame(sim.X, columns=["x", "y"])
    frame["w"] = np.random.default_rng(0).integers(1, 4, size=200).astype(float)
    frame["truth"] = sim.labels
    path = tmp_path / "observed.csv"
    frame.to_csv(path, index=False)
    return path


def _with_labels(path: Path, rename: np.ndarray) -> Path:
    frame = pd.read_csv(path)
    lab = np.full(len(frame), -1)
    lab[:10] = rename[frame["truth"].to_numpy()[:10]]
    frame["lab"] = lab
    out = path.with_name(f"labelled_{rename[0]}.csv")
    frame.drop(columns="truth").to_csv(out, index=False)
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("rename", [np.array([0, 1]), np.array([1, 0])])
def test_fit_em_follows_the_labels_column(capsys, observed_csv, tmp_path, rename):
    data = _with_labels(observed_csv, rename)
    labels_out = tmp_path / "pred.csv"
    argv = ["fit-em", str(data), "-k", "2", "--weights", "w", "--labels", "lab"]
    code = main([*argv, "--labels-out", str(labels_out)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "D=2 (x, y)" in out  # the weight and label columns are not features
    truth = pd.read_csv(observed_csv)["truth"].to_numpy()
    np.testing.assert_array_equal(pd.read_csv(labels_out)["label"], rename[truth])


@pytest.mark.timeout(60)
def test_fit_em_file_takes_weights(capsys, observed_csv, tmp_path):
    out_file = tmp_path / "fit.nc"
    argv = ["fit", str(observed_csv), "-k", "2", "--method", "em", "--weights", "w"]
    code = main([*argv, "--columns", "x,y", "--out", str(out_file)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert out_file.exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--weights", "nope"], "--weights: no numeric column 'nope'"),
        (["--labels", "w", "--weights", "w"], "name the same column"),
        (["--labels", "w"], r"outside -1 and 0\.\.1"),
    ],
)
def test_bad_observation_columns_are_usage_errors(capsys, observed_csv, extra, match):
    code = main(["fit-em", str(observed_csv), "-k", "2", *extra])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert pytest.importorskip("re").search(match, err), err
