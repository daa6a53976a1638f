"""`tunesmith inspect`: the data doctor."""

import json

import pandas as pd

from tunesmith.cli import main


def test_inspect_reports_balance_duplicates_conflicts_and_vocabulary(
    tiny_model_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    rows = (
        [{"text": "goal match team", "label": "sport"}] * 3
        + [
            {"text": "goal match team", "label": "tech"},  # a conflicting duplicate
            {"text": "", "label": "sport"},
        ]
        + [{"text": f"shares market {w}", "label": "business"} for w in FILLER_WORDS]
        + [{"text": "zzzz qqqq", "label": "sport"}]
    )
    data = tmp_path / "d.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    assert main(["inspect", str(data), "--model", str(tiny_model_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_read"] == 17 and report["rows_kept"] == 16
    assert report["labels"] == {"business": 11, "sport": 4, "tech": 1}
    assert report["duplicates"] == 3 and report["conflicting_duplicates"] == 1
    assert report["tokens"]["unknown_share"] > 0  # zzzz qqqq
    checks = {f["check"]: f for f in report["findings"]}
    assert checks["conflicting labels"]["rows"][0] == f"{data}, line 2"
    assert checks["too small to split"]["severity"] == "error"  # tech: 1 row
    assert (tmp_path / "runs" / "d-data-report" / "data_report.html").is_file()
    assert main(["inspect", str(data), "--model", str(tiny_model_dir)]) == 0
    text = capsys.readouterr().out
    assert "1 text(s) appear with different labels (4 rows)" in text
    assert "imbalanced labels (11 vs 1" in text
    assert "stop `tunesmith train` until fixed" in text


FILLER_WORDS = "the a of to and in on for with this that".split()
