"""Bad input: one line naming file/row/column/flag and the fix, exit code 2, no traceback,
and nothing left behind."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import make_rows

from tunesmith.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err.strip()


@pytest.fixture()
def data_dir(tmp_path):
    pd.DataFrame(make_rows(10)).to_csv(tmp_path / "ok.csv", index=False)
    pd.DataFrame({"text": ["a b c"] * 12, "label": ["only"] * 12}).to_csv(
        tmp_path / "one_class.csv", index=False
    )
    pd.DataFrame(
        {"text": [f"text {i}" for i in range(22)], "label": ["a"] * 20 + ["rare"] * 2}
    ).to_csv(tmp_path / "rare.csv", index=False)
    pd.DataFrame({"text": ["", "  ", ""], "label": ["a", "b", "a"]}).to_csv(
        tmp_path / "blank.csv", index=False
    )
    pd.DataFrame({"n1": ["1", "2", "3"], "n2": ["4", "5", "6"]}).to_csv(
        tmp_path / "numbers.csv", index=False
    )
    return tmp_path


@pytest.mark.parametrize(
    "args,expect",
    [
        (["missing.csv"], ["missing.csv", "no such file"]),
        (["one_class.csv"], ["only one class", "'only'", "one_class.csv"]),
        (["rare.csv"], ["'rare' (2 rows)", "rare.csv", "Fix:"]),
        (["blank.csv"], ["no usable rows", "blank.csv"]),
        (["numbers.csv"], ["cannot tell which column", "--data.text_column"]),
        (["ok.csv", "--data.label_column", "sentiment"], ["no column 'sentiment'", "ok.csv"]),
        (
            ["ok.csv", "--model", "no-such-model-anywhere"],
            ["--model no-such-model-anywhere", "catalog name"],
        ),
        (["ok.csv", "--model", "./not/a/folder"], ["no such model folder"]),
        (["ok.csv", "--train.epochs", "-3"], ["--train.epochs", "greater than 0"]),
        (["ok.csv", "--train.freeze", "lots"], ["--train.freeze"]),
        ([], ["no training data given"]),
    ],
)
def test_bad_training_input_is_one_clear_line(capsys, data_dir, monkeypatch, args, expect):
    monkeypatch.chdir(data_dir)
    code, err = run_cli(capsys, "train", *args, "--out", "runs/x")
    assert code == 2, err
    line = err.splitlines()[-1]  # announcements (like detected columns) may come first
    assert line.startswith("error: ") and "Traceback" not in err, err
    for fragment in expect:
        assert fragment in line, (fragment, err)
    assert not (data_dir / "runs").exists()  # nothing half-written


def test_predict_and_evaluate_need_a_finished_run(capsys, tmp_path):
    code, err = run_cli(capsys, "predict", str(tmp_path / "nope"), "--text", "hi")
    assert code == 2 and "no such run directory" in err
    code, err = run_cli(capsys, "evaluate", str(tmp_path), "--data", "x.csv")
    assert code == 2 and "not a finished tunesmith run" in err


def test_argparse_errors_exit_2_too():
    result = subprocess.run(
        [sys.executable, "-m", "tunesmith", "train", "--train.precision", "fp8"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "invalid choice: 'fp8'" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tunesmith", "train", str(tmp_path / "x.csv"), "--debug"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "Traceback" in result.stderr
