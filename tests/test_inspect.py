"""`tunesmith inspect`: the data doctor's first checks."""

import json

import pandas as pd

from tunesmith.cli import main


def test_inspect_reports_balance_duplicates_conflicts_and_vocabulary(
    tiny_model_dir, tmp_path, capsys
):
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
    assert report["vocabulary"]["unknown_share"] > 0  # zzzz qqqq
    assert main(["inspect", str(data), "--model", str(tiny_model_dir)]) == 0
    text = capsys.readouterr().out
    assert "3 duplicate texts (1 with conflicting labels)" in text
    assert "imbalanced labels (11 vs 1)" in text


FILLER_WORDS = "the a of to and in on for with this that".split()
