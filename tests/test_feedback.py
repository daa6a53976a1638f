"""The loop: feedback from the service (concurrent, crash-safe), retrain, the promotion gate,
versions and rollback, with tiny models."""

import json
import sqlite3
import subprocess
import sys
import threading

import pandas as pd
import pytest
from conftest import fast_settings, make_rows
from fastapi.testclient import TestClient

import tunesmith
from tunesmith.cli import main
from tunesmith.feedback.store import FeedbackStore, db_path
from tunesmith.serving.app import create_app


@pytest.fixture(scope="module")
def weak_run(tmp_path_factory, tiny_model_dir):
    """A run trained on little data for one epoch: room to improve."""
    folder = tmp_path_factory.mktemp("loop")
    pd.DataFrame(make_rows(10, seed=2)).to_csv(folder / "d.csv", index=False)
    settings = fast_settings(tiny_model_dir, folder / "run", epochs=1, early_stopping=0)
    return tunesmith.train(folder / "d.csv", **settings)


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
    pd.DataFrame(make_rows(40, seed=7)).to_csv(new, index=False)
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

    assert main(["retrain", str(root), "--no-feedback", "--margin", "1.0"]) == 0
    state = json.loads((root / "versions.json").read_text())
    assert state["versions"]["v3"]["decision"].startswith("kept, not promoted")
    assert "the gate needs +1.0000" in state["versions"]["v3"]["decision"]
    assert state["live"] == "v2"

    assert main(["promote", str(root), "--version", "1"]) == 0
    assert json.loads((root / "versions.json").read_text())["live"] == "v1"
    assert tunesmith.load(root).path == root
    assert main(["runs", str(root)]) == 0
    listing = capsys.readouterr().out
    assert "live -> v1" in listing and "v3" in listing and "kept, not promoted" in listing
