"""The int8 accuracy gate (export/quantize.py) and the parity certificate
(evaluation/parity.py): every form of the model against the trained one, in parity.json,
report.html and GET /v1/model, the running service's HTTP row included."""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest
from conftest import fast_settings, make_rows
from fastapi.testclient import TestClient

import tunesmith
from tunesmith.cli import main
from tunesmith.errors import TunesmithError
from tunesmith.evaluation import parity
from tunesmith.serving.app import create_app


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("parity")
    pd.DataFrame(make_rows(10)).to_csv(folder / "d.csv", index=False)
    settings = fast_settings(tiny_model_dir, folder / "run", epochs=2, early_stopping=0)
    return tunesmith.train(folder / "d.csv", **settings).path


def test_int8_beyond_max_drop_is_refused_and_never_served(run, capsys):
    # A limit no int8 can meet (it would have to gain a point): the gate must refuse.
    assert main(["export", str(run), "--format", "onnx", "--int8", "--max-drop", "-1"]) == 2
    err = capsys.readouterr().err
    assert "int8 on the validation split" in err
    assert "int8 dynamic" in err and "int8 static" in err  # both recipes measured, printed
    error = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "no int8 model was written" in error[0]
    assert "--max-drop" in error[0] and "Traceback" not in err
    assert not list((run / "onnx").glob("*int8*.onnx"))  # nothing half-written either
    record = json.loads((run / "onnx" / "int8.json").read_text())
    assert record["accepted"] is False and [t["recipe"] for t in record["tried"]] == [
        "dynamic",
        "static",
    ]
    assert tunesmith.load(run, backend="onnx").backend == "onnx fp32"
    # An int8 file the gate did not accept (an older export) is an error, not served silently.
    (run / "onnx" / "model.int8.onnx").write_bytes((run / "onnx" / "model.onnx").read_bytes())
    with pytest.raises(TunesmithError, match="not measured"):
        tunesmith.load(run, backend="onnx")
    (run / "onnx" / "model.int8.onnx").unlink()


def test_int8_within_max_drop_is_kept_and_certified(run, capsys):
    # The tiny model's validation split has 9 rows (one flip is 11 points): a wide limit.
    assert main(["export", str(run), "--format", "onnx", "--int8", "--max-drop", "50"]) == 0
    err = capsys.readouterr().err
    assert "kept:" in err and "Parity on the run's test split" in err
    assert (run / "onnx" / "model.int8.onnx").is_file()
    assert json.loads((run / "onnx" / "int8.json").read_text())["accepted"] is True
    model = tunesmith.load(run, backend="onnx")
    assert model.backend == "onnx int8"

    certificate = json.loads((run / "parity.json").read_text())
    forms = set(parity.pytorch_forms(tunesmith.load(run))) | {"onnx fp32", "onnx int8"}
    assert set(certificate["backends"]) == forms
    metric = certificate["metric"]
    for name, row in certificate["backends"].items():
        low, high = row["interval_95"]
        assert 0 <= row["agreement"] <= 1 and low <= row["difference"] <= high, name
        assert row["examples"] == certificate["test_examples"] and metric in row
    assert certificate["backends"]["onnx fp32"]["agreement"] == 1.0
    assert "Parity: every form of the model" in (run / "report.html").read_text()
    with TestClient(create_app(run, model=model)) as client:
        shown = client.get("/v1/model").json()["parity"]
    assert shown["backends"]["onnx int8"] == certificate["backends"]["onnx int8"]


def test_bootstrap_interval_from_the_tasks_counts_matches_its_metric(run):
    model = tunesmith.load(run)
    test = parity.split_examples(model, "test")
    answers = model.predict(list(test.frame["input"]))
    other = {a["label"]: next(x for x in model.labels if x != a["label"]) for a in answers}
    flipped = [dict(a, label=other[a["label"]]) for a in answers]  # every answer changed
    parts, metric = model.task.headline_parts(flipped, test, model.labels)
    _, value = parity.headline_metric(model.task, flipped, test, model.labels)
    assert metric(parts.sum(0)) == pytest.approx(value)  # the counts are the task's metric
    same = [
        model.task.decision(a) == model.task.decision(b)
        for a, b in zip(flipped, answers, strict=True)
    ]
    row = parity.compare(
        model.task,
        flipped,
        answers,
        test,
        model.labels,
        parity.headline(model.task, flipped, test, model.labels),
        parity.headline(model.task, answers, test, model.labels),
    )
    assert row["agreement"] == pytest.approx(sum(same) / len(same)) == 0
    low, high = row["interval_95"]
    assert low <= row["difference"] <= high and (low, high) != (0.0, 0.0)


def test_the_running_service_is_certified_over_http(run):
    import httpx

    from tunesmith.serving.server import make_server, start_parity_check

    port = free_port()
    server = make_server(create_app(run, model=tunesmith.load(run)), "127.0.0.1", port)
    start_parity_check(server, str(run), None)  # what `tunesmith serve` starts
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline, row = time.monotonic() + 60, {}
        while "agreement" not in row and time.monotonic() < deadline:
            time.sleep(0.2)
            if server.started:
                info = httpx.get(f"http://127.0.0.1:{port}/v1/model").json()
                row = (info["parity"] or {}).get("backends", {}).get("http", {})
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert row["agreement"] == 1.0 and row["interval_95"] == [0.0, 0.0], row
    assert row["url"] == f"http://127.0.0.1:{port}" and row["examples"] >= 1
    saved = json.loads((run / "parity.json").read_text())["backends"]
    assert saved["http"]["agreement"] == 1.0 and "pytorch fp32" in saved
    assert "service over HTTP" in (run / "report.html").read_text()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
