"""`tunesmith tune`: trials on validation only, pruning, a resumable study, the best retrained."""

import json

import pandas as pd
import pytest
from conftest import make_rows

from tunesmith.cli import main
from tunesmith.training.search import parse_duration


def test_durations():
    assert parse_duration("30m") == 1800 and parse_duration("2h") == 7200
    assert parse_duration("90") == 90 and parse_duration(None) is None
    from tunesmith.errors import TunesmithError

    with pytest.raises(TunesmithError, match="--timeout"):
        parse_duration("soon")


def test_tune_runs_trials_then_trains_the_best_and_resumes(tiny_model_dir, tmp_path):
    data = tmp_path / "rows.csv"
    pd.DataFrame(make_rows(40)).to_csv(data, index=False)
    out = tmp_path / "run"
    flags = ["--model", str(tiny_model_dir), "--out", str(out), "--train.precision", "fp32"]
    flags += ["--train.epochs", "3", "--train.learning_rate", "1e-3"]  # fixed for every trial
    assert main(["tune", str(data), "--trials", "2", *flags]) == 0
    study = out.parent / "run.tune"
    trials = json.loads((study / "trials.json").read_text())
    assert [t["trial"] for t in trials] == [0, 1]
    assert all(t["state"] == "complete" and 0 <= t["value"] <= 1 for t in trials)
    assert all("epochs" not in t and "learning_rate" not in t and "warmup" in t for t in trials)
    metrics = json.loads((out / "metrics.json").read_text())
    best = max(trials, key=lambda t: t["value"])
    assert metrics["search"]["best"]["warmup"] == best["warmup"]
    config = (out / "run_config.yaml").read_text()
    assert f"warmup: {best['warmup']}" in config and "epochs: 3" in config
    report = (out / "report.html").read_text()
    assert "Hyperparameter search" in report and (out.parent / "run.tune" / "search.png").is_file()
    assert not list(study.glob("trial-*"))  # trial checkpoints are cleaned up
    # the same command with more trials resumes the study: only the new trial runs
    assert main(["tune", str(data), "--trials", "3", "--overwrite", *flags]) == 0
    trials = json.loads((study / "trials.json").read_text())
    assert [t["trial"] for t in trials] == [0, 1, 2]


def test_tune_flags_are_checked_first(tmp_path, capsys):
    assert main(["tune", str(tmp_path / "none.csv"), "--trials", "0"]) == 2
    assert "--trials" in capsys.readouterr().err
    assert main(["tune", str(tmp_path / "none.csv"), "--timeout", "later"]) == 2
    assert "--timeout" in capsys.readouterr().err
