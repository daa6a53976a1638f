"""The studio's Runs, Compare, Try and Deploy pages on tiny runs: listing, comparing, the
report kept inside its run, trying a run in-process, export queued as the CLI command, the
parity table, promote and roll back, a service the studio starts and stops; Chinese too."""

import json
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from conftest import fast_settings, make_ner_sentences, make_rows, write_conll
from fastapi.testclient import TestClient

import tunesmith
from tunesmith.feedback import versions
from tunesmith.run_dir import MARKER
from tunesmith.studio import services as studio_services
from tunesmith.studio import try_pages
from tunesmith.studio.app import create_app

CHINESE_LABELS = {"sport": "体育", "business": "财经", "tech": "科技"}


class IdleJobs:
    """A queue that takes nothing to run, for the test that starts the app's lifespan."""

    def start(self):
        pass

    def stop(self):
        pass


@pytest.fixture(scope="module")
def workspace(tiny_model_dir, tmp_path_factory):
    """Two text runs on Chinese labels that differ only in epochs (one with a Chinese name),
    an NER run, and an unfinished run."""
    root = tmp_path_factory.mktemp("studio-runs")
    rows = [r | {"label": CHINESE_LABELS[r["label"]]} for r in make_rows(10)]
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    runs = root / "runs"
    tunesmith.train(root / "data.csv", **fast_settings(tiny_model_dir, runs / "a", epochs=1))
    tunesmith.train(root / "data.csv", **fast_settings(tiny_model_dir, runs / "评论", epochs=2))
    write_conll(root / "ner.conll", make_ner_sentences(20))  # test_ner.py trains one well
    tunesmith.train(root / "ner.conll", **fast_settings(tiny_model_dir, runs / "ner", epochs=1))
    (runs / "c.unfinished").mkdir()
    (runs / "c.unfinished" / MARKER).write_text("building")
    return root


@pytest.fixture()
def client(workspace):
    """The app without its lifespan: the job queue takes jobs and never runs them."""
    return TestClient(create_app(workspace), follow_redirects=False)


def queued(client, response):
    assert response.status_code == 303 and response.headers["location"].startswith("/jobs/")
    return client.app.state.jobs.get(response.headers["location"].removeprefix("/jobs/"))


def test_runs_listed_with_task_metrics_and_versions(client):
    page = client.get("/runs").text
    assert 'data-run="a"' in page and 'data-run="评论"' in page and 'data-run="ner"' in page
    assert 'data-run="c" data-state="unfinished"' in page
    assert 'id="compare-button"' in page and 'data-live="v1"' in page
    accuracy = json.loads((client.app.state.workspace.runs / "a/tunesmith.json").read_text())
    assert f"{accuracy['test']['test accuracy']:.4f}" in page
    assert "文本分类" in client.get("/runs?lang=zh").text
    unfinished = client.get("/runs/c")  # the page's language (the switch above): Chinese
    assert unfinished.status_code == 400 and "模型“c”还没有训练完" in unfinished.text
    unfinished = client.get("/runs/c?lang=en")
    assert "the run “c” has not finished" in unfinished.text and "resume it" in unfinished.text


def test_compare_shows_both_runs_and_only_the_settings_that_differ(client, workspace):
    page = client.get("/runs/compare", params={"run": ["a", "评论"]}).text
    assert 'id="compare-table"' in page
    for name in ("a", "评论"):
        headline = json.loads((workspace / "runs" / name / "tunesmith.json").read_text())["test"]
        assert f"{headline['macro F1']:.4f}" in page
        assert f"/runs/{quote(name)}/files/confusion_matrix.png" in page
    assert 'data-setting="train.epochs"' in page
    assert 'data-setting="train.batch_size"' not in page  # the same in both
    assert 'data-setting="out"' not in page
    for label in CHINESE_LABELS.values():
        assert f'data-class="{label}"' in page
    assert client.get("/runs/compare?run=a").status_code == 400  # one run is no comparison


def test_report_and_plots_served_from_inside_the_run_only(client):
    page = client.get("/runs/评论").text
    assert 'id="report-link"' in page and 'id="per-class-table"' in page
    report = client.get("/runs/评论/files/report.html")
    assert report.status_code == 200 and "<html" in report.text
    assert client.get("/runs/a/files/confusion_matrix.png").headers["content-type"] == "image/png"
    for bad in ("..%2F..%2Fdata.csv", "..%2Fa%2Fmodel.safetensors", "model.safetensors"):
        assert client.get(f"/runs/a/files/{bad}").status_code == 404, bad
    assert client.get("/runs/..%2F..%2Fetc/files/report.html").status_code == 404


def test_try_gives_what_predict_gives_with_chinese_labels(client, workspace):
    text = "goal match team 比赛"
    answer = client.post("/runs/评论/try", data={"text": text}).json()
    expected = tunesmith.load(workspace / "runs" / "评论").predict(text)
    assert answer["answer"]["label"] == expected["label"] in CHINESE_LABELS.values()
    assert f'id="try-label" data-label="{expected["label"]}"' in answer["html"]
    assert 'id="try-scores"' in answer["html"]
    assert "error" in client.post("/runs/a/try", data={"text": " "}).json()


def test_ner_try_highlights_the_entities_the_model_finds(client, monkeypatch):
    text = "李四 visited new york"

    class Tagger:  # what a trained NER run answers (test_ner.py checks a real one finds them)
        def predict(self, given):
            assert given == text
            spans = [("PER", 0, 2), ("LOC", 11, 19)]
            found = [{"type": k, "start": s, "end": e, "text": given[s:e]} for k, s, e in spans]
            return {"text": given, "entities": found, "tags": []}

    monkeypatch.setattr(try_pages.Models, "get", lambda self, run: Tagger())
    html = client.post("/runs/ner/try", data={"text": text}).json()["html"]
    assert '<mark class="entity" data-type="PER">李四<small>PER</small></mark>' in html
    assert '<mark class="entity" data-type="LOC">new york<small>LOC</small></mark>' in html
    assert " visited " in html and 'data-count="2"' in html


def test_export_queues_the_cli_command_and_shows_the_parity_table(client, workspace):
    run = workspace / "runs" / "a"
    page = client.get("/runs/a/deploy").text
    assert 'id="export-onnx-int8"' in page and 'id="export-gguf-f16"' not in page
    job = queued(client, client.post("/runs/a/export", data={"choice": "onnx-int8"}))
    assert job.command == ["export", str(run), "--format", "onnx", "--int8"]
    assert job.kind == "export" and job.state == "queued"
    assert client.post("/runs/a/export", data={"choice": "gguf-f16"}).status_code == 400
    assert 'id="parity-table"' not in page
    from tunesmith.export.onnx import export_onnx

    certificate = export_onnx(run)  # what the queued command does
    page = client.get("/runs/a/deploy").text
    assert 'id="parity-table"' in page and 'data-form="onnx fp32"' in page
    agreement = certificate["backends"]["onnx fp32"]["agreement"]
    assert f"{agreement * 100:.2f}%" in page


def test_promote_and_roll_back_change_the_live_version(client, workspace):
    run = workspace / "runs" / "评论"
    shutil.copytree(run, run / "versions" / "v2", ignore=shutil.ignore_patterns("versions"))
    state = json.loads(json.dumps(versions.read(run)))
    state["versions"]["v2"] = {
        "path": "versions/v2",
        "created": "2026-01-01T00:00:00+00:00",
        "test": {"macro F1": 0.5},
        "compared_on": {"rows": 6, "metric": "f1_macro", "live": 0.6, "new": 0.5},
        "compared_with": "v1",
        "decision": "kept, not promoted: f1_macro 0.5000 vs live 0.6000 (-0.1000 better)",
    }
    versions.write(run, state)
    page = client.get("/runs/评论/deploy?lang=zh").text
    assert 'id="gate-decision" data-version="v2" data-decision="kept"' in page
    assert "未通过把关" in page and 'id="retrain-button"' in page
    assert 'id="promote-v2" data-version="v2" data-action="promote"' in page
    client.post("/runs/评论/try", data={"text": "goal"})  # v1 loaded
    assert client.post("/runs/评论/promote", data={"version": "v2"}).status_code == 303
    assert versions.read(run)["live"] == "v2"
    page = client.get("/runs/评论/deploy").text
    assert 'data-version="v1" data-action="rollback"' in page
    client.post("/runs/评论/try", data={"text": "goal"})
    loaded = list(client.app.state.try_models.loaded)
    assert [Path(path).name for path, _ in loaded] == ["评论", "v2"]  # a new live, loaded anew
    client.post("/runs/评论/promote", data={"version": "v1"})
    assert versions.read(run)["live"] == "v1"
    job = queued(client, client.post("/runs/评论/retrain"))
    assert job.command == ["retrain", str(run)] and job.kind == "retrain"


def test_service_started_and_stopped_with_the_studio(workspace, monkeypatch):
    def command(run, port):  # a stand-in that listens as `tunesmith serve` would
        return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]

    monkeypatch.setattr(studio_services, "serve_command", command)
    app = create_app(workspace)
    app.state.jobs = IdleJobs()
    with TestClient(app, follow_redirects=False) as client:
        assert 'id="service-start"' in client.get("/runs/a/deploy").text
        client.post("/runs/a/service/start")
        service = app.state.services.get("a")
        page = client.get("/runs/a/deploy").text
        assert f'id="service-url" href="http://127.0.0.1:{service.port}/"' in page
        assert 'id="service-stop"' in page
        client.post("/runs/a/service/stop")
        assert service.process.poll() is not None
        client.post("/runs/a/service/start")
        left_running = app.state.services.get("a").process
    assert left_running.poll() is not None  # the studio's shutdown stopped it


def test_feedback_card_counts_and_lists_the_newest_first(tmp_path):
    from tunesmith.feedback.store import FeedbackStore
    from tunesmith.studio import deploy_state

    assert deploy_state.feedback(tmp_path) is None  # none collected yet
    store = FeedbackStore(tmp_path)
    store.add("correction", "v1", "球队赢了", "business", "sport")
    store.add("prediction", "v1", "shares fell", "business", None)
    store.close()
    card = deploy_state.feedback(tmp_path)
    assert card["counts"] == {"correction": 1, "prediction": 1} and card["total"] == 2
    assert [row["input"] for row in card["latest"]] == ["shares fell", "球队赢了"]
