"""The loop: feedback from the service (concurrent, crash-safe), retrain, the promotion gate,
versions and rollback, with tiny models."""

import json
import sqlite3
import subprocess
import sys
import threading

import pandas as pd
import pytest
from conftest import make_rows, train_weak_run
from fastapi.testclient import TestClient

import tunesmith
from tunesmith.cli import main
from tunesmith.feedback.store import FeedbackStore, db_path
from tunesmith.serving.app import create_app


@pytest.fixture(scope="module")
def weak_run(tmp_path_factory, tiny_model_dir):
    return train_weak_run(tmp_path_factory.mktemp("loop"), tiny_model_dir, early_stopping=0)


def test_concurrent_feedback_is_all_stored(weak_run):
    with TestClient(create_app(weak_run.path)) as client:
        results = []

        def send(i):
            body = {"input": f"goal match number {i}", "label": "sport", "predicted": "tech"}
            results.append(client.post("/v1/feedback", json=body))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.status_code for r in results] == [201] * 40
    assert len({r.json()["id"] for r in results}) == 40
    store = FeedbackStore(weak_run.path)
    assert store.count("correction") == 40
    store.close()


WRITER = """
import sys
from tunesmith.feedback.store import FeedbackStore
store = FeedbackStore(sys.argv[1])
i = 0
while True:
    i += 1
    print(store.add("correction", "v1", "text %d" % i, None, "sport"), flush=True)
"""


def test_a_kill_during_writes_leaves_committed_records_intact(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    committed = [int(child.stdout.readline()) for _ in range(200)]
    child.kill()  # SIGKILL, mid-write
    child.wait()
    db = sqlite3.connect(db_path(tmp_path))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM feedback")}
    assert set(committed) <= stored


def test_retrain_promotes_a_better_version_rejects_a_worse_one_and_rolls_back(
    weak_run, tmp_path, capsys
):
    root = weak_run.path
    with TestClient(create_app(root)) as client:
        for row in make_rows(2, seed=9):
            body = {"input": row["text"], "label": row["label"]}
            assert client.post("/v1/feedback", json=body).status_code == 201
    new = tmp_path / "new.csv"
    pd.DataFrame(make_rows(60, seed=7)).to_csv(new, index=False)
    assert main(["retrain", str(root), "--add", str(new)]) == 0
    out = capsys.readouterr()
    state = json.loads((root / "versions.json").read_text())
    v2 = state["versions"]["v2"]
    assert "against v1 on the same frozen test set" in out.err
    assert "from feedback corrections" in " ".join(v2["notes"])
    assert v2["decision"].startswith("promoted"), v2["decision"]
    assert state["live"] == "v2"
    assert tunesmith.load(root).path == root / "versions" / "v2"
    with TestClient(create_app(root)) as client:  # serve picks up the live version
        live_version = client.get("/v1/model").json()["version"]
    assert live_version == json.loads((root / "versions/v2/tunesmith.json").read_text())["created"]

    tests = v2["significance"]["tests"]
    assert tests["mcnemar"]["p"] < 0.05 and tests["bootstrap"]["p"] < 0.05
    assert tests["bootstrap"]["interval"][0] > 0  # the whole 95% interval is a gain

    assert main(["retrain", str(root), "--no-feedback", "--margin", "1.0"]) == 0
    state = json.loads((root / "versions.json").read_text())
    assert state["versions"]["v3"]["decision"].startswith("kept, not promoted")
    assert "the gate needs +1.0000" in state["versions"]["v3"]["decision"]
    assert state["live"] == "v2"

    # Another epoch on the same pool: whatever it gains on the frozen test set is luck.
    assert main(["retrain", str(root), "--no-feedback"]) == 0
    v4 = json.loads((root / "versions.json").read_text())["versions"]["v4"]
    assert v4["decision"].startswith("kept, not promoted"), v4["decision"]
    if v4["compared_on"]["new"] > v4["compared_on"]["live"]:
        assert "within the noise" in v4["decision"]

    assert main(["promote", str(root), "--version", "1"]) == 0
    assert json.loads((root / "versions.json").read_text())["live"] == "v1"
    assert tunesmith.load(root).path == root
    assert main(["runs", str(root)]) == 0
    listing = capsys.readouterr().out
    assert "live -> v1" in listing and "v3" in listing and "kept, not promoted" in listing


def test_paired_tests_tell_a_real_gain_from_luck():
    import numpy as np

    from tunesmith.feedback.significance import mcnemar, paired_bootstrap

    # 6 rows only the new version gets right, none the other way: p = 0.5 ** 6
    assert mcnemar([False] * 6 + [True] * 4, [True] * 10)["p"] == pytest.approx(0.5**6)
    assert mcnemar([True] * 10, [True] * 10)["p"] == 1.0  # no disagreement, no evidence
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 400)
    live = np.where(rng.random(400) < 0.80, truth, 1 - truth)
    better = np.where(rng.random(400) < 0.95, truth, 1 - truth)
    noise = np.where(rng.random(400) < 0.81, truth, 1 - truth)

    def accuracy(answers):
        return lambda rows: (
            float(np.mean(live[rows] == truth[rows])),
            float(np.mean(answers[rows] == truth[rows])),
        )

    real = paired_bootstrap(accuracy(better), 400, higher=True)
    assert real["p"] < 0.01 and real["interval"][0] > 0
    luck = paired_bootstrap(accuracy(noise), 400, higher=True)
    assert luck["p"] > 0.05 and luck["interval"][0] < 0 < luck["interval"][1]


def test_the_quick_promotion_score_equals_the_full_metric():
    import pandas as pd

    from tunesmith import tasks
    from tunesmith.tasks.base import Examples

    task = tasks.get("text-classification")
    frame = pd.DataFrame({"input": list("abcdefg"), "label": list("xxyyzzx"), "row": range(7)})
    examples, labels = Examples(frame, "t.csv", {"label": "label"}), ["x", "y", "z"]
    answers = [{"label": y, "score": 1.0} for y in "xyyzzxx"]
    full = task.score(answers, examples, labels)["f1_macro"]
    assert task.promotion_score(answers, examples, labels) == pytest.approx(full)
