"""The README's commands, through the CLI: train, predict (text and file), evaluate."""

import json

import pandas as pd
import pytest
from conftest import make_rows

from tunesmith.cli import main


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    data = folder / "news"
    for row_number, row in enumerate(make_rows(60)):  # the folder-per-class layout
        (data / row["label"]).mkdir(parents=True, exist_ok=True)
        (data / row["label"] / f"{row_number:03d}.txt").write_text(row["text"])
    out = folder / "run"
    code = main(
        [
            "train",
            str(data),
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--train.epochs",
            "8",
            "--train.learning_rate",
            "1e-3",
            "--train.freeze",
            "none",
            "--train.precision",
            "fp32",
            "--train.max_length",
            "32",
        ]
    )
    assert code == 0
    return out


def test_predict_text_prints_label_and_score(run_dir, capsys):
    assert (
        main(
            [
                "predict",
                str(run_dir),
                "--text",
                "goal match team",
                "--text",
                "shares market",
                "--json",
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["input"] for line in lines] == ["goal match team", "shares market"]
    assert all(
        line["label"] in {"sport", "business", "tech"} and 0 < line["score"] <= 1 for line in lines
    )


def test_predict_file_writes_rows_plus_predictions(run_dir, tmp_path, capsys):
    source = tmp_path / "new.csv"
    rows = make_rows(5, seed=3)
    pd.DataFrame({"id": range(len(rows)), "text": [r["text"] for r in rows]}).to_csv(
        source, index=False
    )
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run_dir), "--input", str(source), "--output", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["id", "text", "predicted_label", "score"]
    assert len(table) == 15
    accuracy = (table["predicted_label"] == [r["label"] for r in rows]).mean()
    assert accuracy >= 0.7
    # An existing output is not replaced without --overwrite, and the input never is.
    assert main(["predict", str(run_dir), "--input", str(source), "--output", str(out)]) == 2
    assert (
        main(
            [
                "predict",
                str(run_dir),
                "--input",
                str(source),
                "--output",
                str(source),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "would overwrite it" in capsys.readouterr().err


def test_evaluate_prints_metrics_and_writes_json(run_dir, tmp_path, capsys):
    data = tmp_path / "more.csv"
    pd.DataFrame(make_rows(8, seed=11)).to_csv(data, index=False)
    out = tmp_path / "m.json"
    assert main(["evaluate", str(run_dir), "--data", str(data), "--output", str(out)]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert json.loads(out.read_text())["count"] == 24
