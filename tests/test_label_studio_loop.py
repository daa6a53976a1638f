"""Labelling with the model in the loop, against a real Label Studio (tests/label_studio_server.py:
its own venv, SQLite, 127.0.0.1, started once for this file): push pre-annotated rows in the order
worth labelling, annotate through the API, pull, retrain through the gate; Chinese NER spans
(and an emoji before them) come back with exact offsets; Label Studio gets predictions from
tunesmith as its ML backend."""

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import (
    fast_settings,
    make_ner_sentences,
    make_rows,
    train_weak_run,
    write_conll,
    write_images,
)
from fastapi.testclient import TestClient
from label_studio_server import LabelStudioServer, free_port

import tunesmith
from tunesmith.cli import main
from tunesmith.data.readers import read_table
from tunesmith.labeling import configs
from tunesmith.labeling.backend import create_backend
from tunesmith.labeling.loop import pull, push, version_name
from tunesmith.labeling.ordering import order, text_features


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    server = LabelStudioServer(tmp_path_factory.mktemp("label-studio"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(studio):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=studio.url, api_key=studio.token)


@pytest.fixture(scope="module")
def weak_run(tmp_path_factory, tiny_model_dir):
    return train_weak_run(tmp_path_factory.mktemp("label-loop"), tiny_model_dir)


def project(client, title):
    return next(p for p in client.projects.list(title=title) if p.title == title)


def choice(label):
    return {"from_name": "label", "to_name": "text", "type": "choices"} | {
        "value": {"choices": [label]}
    }


def js_slice(text, start, end):
    """What the browser shows for Label Studio's offsets (UTF-16 code units)."""
    return text.encode("utf-16-le")[2 * start : 2 * end].decode("utf-16-le")


def js_offset(text, index):
    return len(text[:index].encode("utf-16-le")) // 2


def test_the_order_puts_doubt_first_and_one_copy_of_a_confusing_row():
    copies = ["markets goal confusing row"] * 50
    varied = [
        f"row {i} about {chr(0x4E00 + i)}{chr(0x4E80 + 3 * i)} and item{i % 17}" for i in range(150)
    ]
    doubt = [0.99] * 50 + list(np.linspace(0.9, 0.0, 150))
    ranked = order(text_features(copies + varied), doubt)
    assert sorted(ranked) == list(range(200))
    assert sum(r < 50 for r in ranked[:20]) == 1  # one copy near the top, not fifty
    assert ranked[0] < 50  # the least sure row leads
    first, rest = ranked[:20], ranked[20:]
    assert np.mean([doubt[r] for r in first if r >= 50]) > np.mean([doubt[r] for r in rest])
    assert order(text_features(copies + varied), doubt, limit=5) == ranked[:5]


def test_label_studio_accepts_the_config_of_every_task_that_offers_one(client):
    from tunesmith import tasks

    offered = [tasks.get(n) for n in tasks.names() if tasks.get(n).label_studio_control]
    assert {t.label_studio_control for t in offered} == {"choice", "choices", "spans"}
    for task in offered:
        config = configs.label_config(task, ["体育", "R&D", "PER"])
        made = client.projects.create(title=f"config {task.name}", label_config=config)
        stored = client.projects.get(made.id).label_config
        assert 'value="R&amp;D"' in stored and 'value="体育"' in stored
        assert f'toName="{configs.input_name(task)}"' in stored


def test_push_annotate_pull_and_retrain_through_the_gate(
    studio, client, weak_run, tmp_path, capsys
):
    root, title = weak_run.path, "reviews loop"
    truth = {r["text"]: r["label"] for r in make_rows(60, seed=7)}
    pd.DataFrame({"text": list(truth)}).to_csv(tmp_path / "unlabelled.csv", index=False)
    key = ["--url", studio.url, "--api-key", studio.token, "--project", title]
    assert main(["label", "push", str(root), "--data", str(tmp_path / "unlabelled.csv"), *key]) == 0
    assert f"Imported {len(truth)} task(s)" in capsys.readouterr().out

    found = client.projects.get(project(client, title).id)
    assert all(f'<Choice value="{label}"/>' in found.label_config for label in weak_run.labels)
    tasks = sorted(client.tasks.list(project=found.id, fields="all"), key=lambda t: t.id)
    assert len(tasks) == len(truth)
    answers = weak_run.predict([t.data["text"] for t in tasks])
    doubt = [configs.uncertainty(weak_run.task, a) for a in answers]
    for task, answer, unsure in zip(tasks, answers, doubt, strict=True):
        (prediction,) = task.predictions
        assert prediction.result[0]["value"]["choices"] == [answer["label"]]
        assert prediction.score == pytest.approx(1 - unsure, abs=1e-5)
        assert prediction.model_version == version_name(weak_run)
    assert [t.data["rank"] for t in tasks] == list(range(1, len(tasks) + 1))  # queue order
    assert np.mean(doubt[:15]) > np.mean(doubt[15:])  # the least sure come first

    for task in tasks[1:]:  # a person labels them all; one is skipped
        label = truth[task.data["text"]]
        result = [choice(label)]
        client.annotations.create(id=task.id, result=result, project=found.id)
    client.annotations.create(id=tasks[0].id, result=[], was_cancelled=True, project=found.id)

    assert main(["label", "pull", str(root), *key, "--retrain"]) == 0
    out = capsys.readouterr()
    assert f"Pulled {len(tasks) - 1} annotated task(s)" in out.out
    pulled = read_table(root / "labeling" / "pull-1.json")
    assert dict(zip(pulled["text"], pulled["label"], strict=True)) == {
        t.data["text"]: truth[t.data["text"]] for t in tasks[1:]
    }
    state = json.loads((root / "versions.json").read_text())
    assert state["versions"]["v2"]["decision"].startswith("promoted"), state["versions"]["v2"]
    assert state["live"] == "v2"
    assert "against v1 on the same frozen test set" in out.err

    assert main(["label", "pull", str(root), *key]) == 0  # nothing new since the last pull
    assert "No annotations finished" in capsys.readouterr().out
    pushed = push(root, str(tmp_path / "unlabelled.csv"), studio.url, studio.token, title)
    assert pushed["imported"] == 0  # every row is in the project already


def test_chinese_ner_spans_survive_the_round_trip(studio, client, tiny_model_dir, tmp_path):
    data = write_conll(tmp_path / "ner.conll", make_ner_sentences(40))
    settings = fast_settings(tiny_model_dir, tmp_path / "ner-run", epochs=2)
    run = tunesmith.train(data, task="ner", **settings).path
    entities = {  # text -> its entities as a person marks them (Python offsets)
        "张三在北京见了李四": [("张三", "PER"), ("北京", "LOC"), ("李四", "PER")],
        "昨天 😀 王五去了上海": [("王五", "PER"), ("上海", "LOC")],
        "alice 😀😀 visited 广州 today": [("alice", "PER"), ("广州", "LOC")],
    }
    pd.DataFrame({"text": list(entities)}).to_csv(tmp_path / "zh.csv", index=False)
    push(run, str(tmp_path / "zh.csv"), studio.url, studio.token, "chinese ner")
    pid = project(client, "chinese ner").id
    assert '<Labels name="label" toName="text">' in client.projects.get(pid).label_config
    for task in client.tasks.list(project=pid, fields="all"):
        text = task.data["text"]
        for span in task.predictions[0].result:  # what the browser would highlight
            value = span["value"]
            assert js_slice(text, value["start"], value["end"]) == value["text"]
        result = []
        for word, kind in entities[text]:
            start = text.index(word)
            value = {"start": js_offset(text, start), "end": js_offset(text, start + len(word))}
            value |= {"text": word, "labels": [kind]}
            result.append(
                {"from_name": "label", "to_name": "text", "type": "labels"} | {"value": value}
            )
        client.annotations.create(id=task.id, result=result, project=pid)

    pulled = pull(run, studio.url, studio.token, "chinese ner")
    table = read_table(pulled["file"])
    for text, spans in zip(table["text"], table["entities"], strict=True):
        assert [(text[s["start"] : s["end"]], s["label"]) for s in spans] == entities[text]
    examples = tunesmith.load(run).task.prepare(table, pulled["file"], {})
    for _, row in examples.frame.iterrows():
        words, tags, text = row["input"], row["label"], row["text"]
        marked = [w for w, t in zip(words, tags, strict=True) if t != "O"]
        assert "".join(marked).replace(" ", "") == "".join(w for w, _ in entities[text])


def test_backend_routes_answer_as_label_studio_expects(weak_run):
    app = create_backend(weak_run.path, basic_auth=("ls", "secret"))
    with TestClient(app) as web:
        assert web.get("/health").status_code == 401
        web.auth = ("ls", "secret")
        assert web.get("/health").json()["status"] == "UP"
        assert web.post("/setup", json={"project": "1.1", "schema": "<View/>"}).json() == {
            "model_version": version_name(weak_run)
        }
        body = {"tasks": [{"id": 1, "data": {"text": "goal match team"}}], "project": "1.1"}
        (answer,) = web.post("/predict", json=body).json()["results"]
        live = tunesmith.load(weak_run.path)
        assert answer["result"][0]["value"]["choices"] == [live.predict("goal match team")["label"]]
        assert (
            web.post("/webhook", json={"action": "START_TRAINING", "project": {}}).status_code
            == 201
        )


def test_label_studio_gets_predictions_from_the_backend(studio, client, weak_run):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_backend(weak_run.path), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    try:
        title = "backend check"
        key = ["--url", studio.url, "--api-key", studio.token, "--project", title]
        backend = f"http://127.0.0.1:{port}"
        assert main(["label", "connect", str(weak_run.path), *key, "--backend-url", backend]) == 0
        pid = project(client, title).id
        client.projects.import_tasks(id=pid, request=[{"data": {"text": "shares market bank"}}])
        answer = httpx.post(  # the Data Manager's "Retrieve Predictions" action
            f"{studio.url}/api/dm/actions",
            params={"id": "retrieve_tasks_predictions", "project": pid},
            json={"selectedItems": {"all": True, "excluded": []}},
            headers={"Authorization": f"Token {studio.token}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        (task,) = client.tasks.list(project=pid, fields="all")
        (prediction,) = task.predictions
        assert prediction.model_version == version_name(weak_run)
        live = tunesmith.load(weak_run.path)  # v2 since the loop test's retrain
        label = live.predict("shares market bank")["label"]
        assert prediction.result[0]["value"]["choices"] == [label]
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_wrong_key_or_no_server_names_the_flag_to_fix(studio, weak_run, capsys):
    run = str(weak_run.path)
    assert main(["label", "pull", run, "--url", studio.url, "--api-key", "not-the-key"]) == 2
    assert "--api-key" in capsys.readouterr().err
    nowhere = f"http://127.0.0.1:{free_port()}"
    assert main(["label", "pull", run, "--url", nowhere, "--api-key", "some-key"]) == 2
    err = capsys.readouterr().err
    assert "--url" in err and "label-studio start" in err


def test_span_offsets_go_to_label_studio_as_the_browser_counts_them_and_come_back():
    from tunesmith import tasks

    text = "昨天 😀 王五去了上海 𠀋 alice"  # an emoji and a CJK Extension B character
    found = [(m, text.index(m)) for m in ("王五", "上海", "alice")]
    answer = {"text": text, "entities": []}
    answer["entities"] = [
        {"type": "X", "start": s, "end": s + len(m), "text": m, "score": 0.9} for m, s in found
    ]
    result = configs.result(tasks.get("ner"), answer)
    assert [js_slice(text, r["value"]["start"], r["value"]["end"]) for r in result] == [
        m for m, _ in found
    ]
    back = configs.spans_from_label_studio(text, result)
    assert [(r["value"]["start"], r["value"]["end"]) for r in back] == [
        (s, s + len(m)) for m, s in found
    ]


def test_images_are_labelled_in_label_studio_and_come_back_as_training_data(
    studio, client, tiny_vit_dir, tmp_path
):
    photos = write_images(tmp_path / "photos", per_class=8)
    settings = fast_settings(tiny_vit_dir, tmp_path / "photo-run", epochs=4, learning_rate=3e-3)
    run = tunesmith.train(photos, **settings).path
    new = write_images(tmp_path / "new", per_class=3, seed=1)
    truth = {str(p.relative_to(new)): p.parent.name for p in sorted(new.rglob("*.png"))}
    pd.DataFrame({"image": list(truth)}).to_csv(new / "unlabelled.csv", index=False)
    before = {p: p.stat().st_mtime_ns for p in new.rglob("*")}
    push(run, str(new / "unlabelled.csv"), studio.url, studio.token, "photos")

    pid = project(client, "photos").id
    config = client.projects.get(pid).label_config
    assert '<Image name="image" value="$image"/>' in config and '<Choice value="red"/>' in config
    tasks = list(client.tasks.list(project=pid, fields="all"))
    assert len(tasks) == len(truth)
    for task in tasks:  # Label Studio shows the picture without reaching this disk
        assert task.data["image"].startswith("data:image/png;base64,")
        label = truth[str(Path(task.data["path"]).relative_to(new))]
        result = [{"from_name": "label", "to_name": "image", "type": "choices"}]
        result[0]["value"] = {"choices": [label]}
        client.annotations.create(id=task.id, result=result, project=pid)

    pulled = pull(run, studio.url, studio.token, "photos", retrain=True)
    table = read_table(pulled["file"])
    for task in json.loads(Path(pulled["file"]).read_text()):  # saved beside it, same bytes
        image, source = Path(pulled["file"]).parent / task["data"]["image"], task["data"]["source"]
        assert image.read_bytes() == Path(source).read_bytes()
    examples = tunesmith.load(run).task.prepare(table, pulled["file"], {})
    assert len(examples.frame) == len(truth)  # every image found and readable beside the file
    assert sorted(examples.frame["label"]) == sorted(truth.values())
    assert pulled["retrain"]["decision"]  # the gate judged the new version
    assert {p: p.stat().st_mtime_ns for p in new.rglob("*")} == before  # the user's untouched


def test_label_sets_are_chosen_in_label_studio_and_come_back_whole(
    studio, client, tiny_model_dir, tmp_path
):
    from test_multi_label import make_multi_rows

    rows = make_multi_rows(120)
    data = tmp_path / "topics.jsonl"
    pd.DataFrame(rows).to_json(data, orient="records", lines=True, force_ascii=False)
    settings = fast_settings(tiny_model_dir, tmp_path / "topics-run", epochs=4, learning_rate=5e-3)
    run = tunesmith.train(data, task="multi-label", **settings).path
    truth = {r["text"]: r["labels"] for r in make_multi_rows(24, seed=5) if r["labels"]}
    pd.DataFrame({"text": list(truth)}).to_csv(tmp_path / "new.csv", index=False)
    push(run, str(tmp_path / "new.csv"), studio.url, studio.token, "topics")

    pid = project(client, "topics").id
    assert 'choice="multiple"' in client.projects.get(pid).label_config
    for task in client.tasks.list(project=pid, fields="all"):
        result = choice(None) | {"value": {"choices": truth[task.data["text"]]}}  # one or two
        client.annotations.create(id=task.id, result=[result], project=pid)

    pulled = pull(run, studio.url, studio.token, "topics", retrain=True)
    table = read_table(pulled["file"])
    examples = tunesmith.load(run).task.prepare(table, pulled["file"], {})
    frame = examples.frame
    got = {
        text: sorted(labels) for text, labels in zip(frame["input"], frame["label"], strict=True)
    }
    assert got == {text: sorted(labels) for text, labels in truth.items()}
    assert any(len(labels) == 2 for labels in truth.values())  # sets, not one label each
    assert pulled["retrain"]["decision"]


def test_the_studio_runs_the_loop_and_keeps_the_key_off_its_pages(
    studio, client, weak_run, tmp_path
):
    import shutil
    import stat
    from urllib.parse import unquote

    from tunesmith.feedback import versions
    from tunesmith.studio.app import create_app

    app = create_app(tmp_path / "workspace")
    run = app.state.workspace.runs / "评论"  # the weak run as it is, without earlier pulls
    shutil.copytree(weak_run.path, run, ignore=shutil.ignore_patterns("labeling"))
    before = set(versions.read(run)["versions"])
    truth = {r["text"]: r["label"] for r in make_rows(30, seed=11)}
    rows = pd.DataFrame({"text": list(truth)}).to_csv(index=False).encode()
    with TestClient(app, follow_redirects=False) as web:
        first = web.get("/runs/评论/label?lang=zh")
        assert "为 评论 标注数据" in first.text and 'data-connected="false"' in first.text
        wrong = web.post("/runs/评论/label/connection", data={"url": studio.url, "key": "nope"})
        assert wrong.status_code == 400 and "拒绝了这个访问令牌" in wrong.text
        nobody = {"url": f"http://127.0.0.1:{free_port()}", "key": studio.token}
        dead = web.post("/runs/评论/label/connection", data=nobody)
        assert dead.status_code == 400 and "上没有 Label Studio 响应" in dead.text
        for url, said in (("http://[::1", "不是一个网址"), ("http://u:p@h:1", "用户名或密码")):
            refused = web.post("/runs/评论/label/connection", data={"url": url, "key": "k"})
            assert refused.status_code == 400 and said in refused.text, url
        assert not app.state.workspace.secrets.exists()  # nothing kept from a failed check
        saved = web.post(
            "/runs/评论/label/connection", data={"url": studio.url, "key": studio.token}
        )
        assert saved.status_code == 303
        assert stat.S_IMODE(app.state.workspace.secrets.stat().st_mode) == 0o600
        page = web.get("/runs/评论/label").text
        assert 'data-connected="true"' in page and studio.token not in page
        elsewhere = web.post("/runs/评论/label/connection", data={"url": "http://127.0.0.2:1"})
        assert "没有填写这个地址的访问令牌" in elsewhere.text  # the saved key stays at its address
        assert web.get("/runs/评论/label?problem=x&status=500").status_code == 200

        upload = web.post("/data/upload", files={"file": ("待标注.csv", rows)})
        dataset = unquote(upload.headers["location"].rsplit("/", 1)[1])
        job = _studio_job(web, "/runs/评论/label/push", {"dataset": dataset, "limit": "12"})
        assert job.state == "done", job
        saved_job = (app.state.jobs.job_folder(job.id) / "job.json").read_text()
        assert studio.token not in saved_job and studio.token not in " ".join(job.command)
        pid = project(client, "tunesmith 评论").id
        tasks = list(client.tasks.list(project=pid, fields="all"))
        assert len(tasks) == 12  # the limit: the twelve most worth labelling
        for task in tasks:
            client.annotations.create(
                id=task.id, result=[choice(truth[task.data["text"]])], project=pid
            )

        job = _studio_job(web, "/runs/评论/label/pull", {"retrain": "true"})
        assert job.state == "done", job
        page = web.get("/runs/评论/label").text
        assert 'data-file="pull-1.json" data-tasks="12"' in page
        state = versions.read(run)["versions"]
        [new] = set(state) - before  # retrained once, and the gate decided
        assert state[new]["decision"], state[new]
        assert "<td>标注</td>" in web.get("/jobs?lang=zh").text  # the job's kind, in Chinese


def _studio_job(web, path, form):
    response = web.post(path, data=form)
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].rsplit("/", 1)[1]
    queue = web.app.state.jobs
    deadline = time.monotonic() + 300
    while queue.get(job_id).state not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, (queue.job_folder(job_id) / "log.txt").read_text()
        time.sleep(0.3)
    job = queue.get(job_id)
    assert job.state == "done", (queue.job_folder(job_id) / "log.txt").read_text()
    return job
