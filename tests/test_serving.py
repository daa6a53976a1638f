"""The REST service: every task, schemas and limits, API key, micro-batching on a real loopback
server, and the web page in headless Chromium."""

import base64
import contextlib
import io
import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import fast_settings, make_ner_sentences, make_rows, write_conll, write_images
from fastapi.testclient import TestClient

import tunesmith
from tunesmith.serving.app import Limits, create_app

ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("serve-text")
    pd.DataFrame(make_rows(30)).to_csv(folder / "d.csv", index=False)
    return tunesmith.train(folder / "d.csv", **fast_settings(tiny_model_dir, folder / "run"))


@pytest.fixture()
def client(text_run):
    with TestClient(
        create_app(text_run.path, limits=Limits(max_inputs=4, max_text_chars=500))
    ) as c:
        yield c


def test_predict_texts_in_order_with_the_models_answers(client, text_run):
    texts = [make_rows(2, seed=5)[i]["text"] for i in range(3)]
    response = client.post("/v1/predict", json={"inputs": texts})
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert [o["label"] for o in outputs] == [a["label"] for a in text_run.predict(texts)]
    info = client.get("/v1/model").json()
    assert info["task"] == "text-classification" and info["labels"] == text_run.labels
    assert client.get("/health").json()["status"] == "ok"
    assert "tunesmith" in client.get("/").text and client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"inputs": []}, 422, "no inputs"),
        ({"inputs": ["a"] * 5}, 413, "too many inputs (5 > 4)"),
        ({"inputs": ["x" * 501]}, 413, "inputs[0] has 501 characters"),
        ({"images": ["aGVsbG8="]}, 422, "this model takes texts"),
        ({"inputs": "not a list"}, 422, "list"),
    ],
)
def test_bad_requests_get_4xx_with_a_clear_message(client, body, status, words):
    response = client.post("/v1/predict", json=body)
    assert response.status_code == status
    assert words in json.dumps(response.json())
    assert "Traceback" not in response.text


def test_oversized_body_is_refused_before_reading(text_run):
    app = create_app(text_run.path, limits=Limits(max_body_bytes=100))
    with TestClient(app) as c:
        response = c.post("/v1/predict", json={"inputs": ["y" * 200]})
    assert response.status_code == 413 and "request body over 100 bytes" in response.text


def test_api_key_is_required_when_set(text_run):
    with TestClient(create_app(text_run.path, api_key="s3cret")) as c:
        assert c.post("/v1/predict", json={"inputs": ["goal"]}).status_code == 401
        assert c.get("/v1/model", headers={"x-api-key": "wrong"}).status_code == 401
        ok = c.post("/v1/predict", json={"inputs": ["goal"]}, headers={"x-api-key": "s3cret"})
        assert ok.status_code == 200
        assert c.get("/health").status_code == 200  # liveness stays open


def test_ner_service_returns_entity_spans(tmp_path, tiny_model_dir):
    data = write_conll(tmp_path / "n.conll", make_ner_sentences(80))
    model = tunesmith.train(data, task="ner", **fast_settings(tiny_model_dir, tmp_path / "run"))
    with TestClient(create_app(model.path)) as c:
        text = " ".join(make_ner_sentences(1, seed=9)[0][0])
        answer = c.post("/v1/predict", json={"inputs": [text]}).json()["outputs"][0]
    assert answer == json.loads(json.dumps(model.predict(text)))
    for entity in answer["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    from tunesmith.export.onnx import export_onnx  # NER exports too: same entities in fp32

    parity = export_onnx(model.path, int8=True, max_drop=100)["backends"]  # tiny model
    assert parity["onnx fp32"]["answers_that_differ"] == 0
    assert parity["onnx fp32"]["entity F1 (micro)"] == parity["pytorch fp32"]["entity F1 (micro)"]
    onnx = tunesmith.load(model.path, backend="onnx")
    assert set(onnx.predict(text)) == set(model.predict(text))  # entities, tags, text


def test_image_service_takes_base64_and_uploads(tmp_path, tiny_vit_dir):
    root = write_images(tmp_path / "photos")
    settings = fast_settings(tiny_vit_dir, tmp_path / "run", epochs=3)
    settings["train"].pop("max_length")
    model = tunesmith.train(root, **settings)
    photo = (root / "red" / "1.png").read_bytes()
    with TestClient(create_app(model.path, limits=Limits(max_image_pixels=10_000))) as c:
        by_json = c.post("/v1/predict", json={"images": [base64.b64encode(photo).decode()]})
        upload = c.post("/v1/predict/upload", files=[("files", ("1.png", photo, "image/png"))])
        assert by_json.status_code == upload.status_code == 200, by_json.text
        assert by_json.json()["outputs"] == upload.json()["outputs"]
        assert (
            by_json.json()["outputs"][0]["label"]
            == model.predict(str(root / "red" / "1.png"))["label"]
        )
        bad = c.post("/v1/predict", json={"images": ["%%%"]})
        assert bad.status_code == 422 and "not valid base64" in bad.text
        text = base64.b64encode(b"plain text").decode()
        assert "not a readable image" in c.post("/v1/predict", json={"images": [text]}).text
        from PIL import Image

        big = io.BytesIO()
        Image.new("RGB", (200, 200)).save(big, format="PNG")
        huge = c.post("/v1/predict", json={"images": [base64.b64encode(big.getvalue()).decode()]})
        assert huge.status_code == 413 and "200x200 pixels" in huge.text


@contextlib.contextmanager
def serving(app):
    """A real uvicorn server for `app` on a free loopback port, stopped afterwards."""
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.fixture()
def live_server(text_run):
    app = create_app(text_run.path, max_wait_ms=20)
    with serving(app) as url:
        yield url, app


def test_concurrent_requests_are_batched_and_all_answered(live_server, text_run):
    import httpx

    url, app = live_server
    texts = [row["text"] for row in make_rows(4, seed=3)]
    expected = [a["label"] for a in text_run.predict(texts)]
    results = [None] * len(texts)

    def ask(i):
        r = httpx.post(f"{url}/v1/predict", json={"inputs": [texts[i]]}, timeout=30)
        results[i] = r.json()["outputs"][0]["label"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected
    assert app.state.batcher.batches < len(texts)  # some requests shared a batch
    health = httpx.get(f"{url}/health").json()  # the batch sizes formed: every input once
    assert sum(int(size) * n for size, n in health["batch_sizes"].items()) == len(texts)
    assert sum(health["batch_sizes"].values()) == health["batches"]


def test_web_page_in_headless_chromium(live_server, browser):
    url, _ = live_server
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("#text-input:not([hidden])")
    page.fill("#text", "goal match team striker")
    page.click("#go")
    label = page.wait_for_selector("#top-label", timeout=20_000).inner_text()
    page.screenshot(path=str(ARTIFACTS / "serve_page.png"), full_page=True)
    assert label in {"sport", "business", "tech"}
    assert (ARTIFACTS / "serve_page.png").stat().st_size > 1000


def test_web_page_highlights_entities_and_takes_images(
    browser, tmp_path, tiny_model_dir, tiny_vit_dir
):
    data = write_conll(tmp_path / "n.conll", make_ner_sentences(120))
    ner = tunesmith.train(data, task="ner", **fast_settings(tiny_model_dir, tmp_path / "ner"))
    sentence = " ".join(make_ner_sentences(1, seed=4)[0][0])
    expected = ner.predict(sentence)["entities"]
    with serving(create_app(ner.path)) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#text-input:not([hidden])")
        page.fill("#text", sentence)
        page.click("#go")
        page.wait_for_selector("#entities", timeout=20_000)
        marks = page.locator("mark.entity small").all_inner_texts()
        page.screenshot(path=str(ARTIFACTS / "serve_ner_page.png"), full_page=True)
    assert marks == [e["type"] for e in expected]
    root = write_images(tmp_path / "photos")
    settings = fast_settings(tiny_vit_dir, tmp_path / "img", epochs=3)
    settings["train"].pop("max_length")
    images = tunesmith.train(root, **settings)
    with serving(create_app(images.path)) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#image-input:not([hidden])")
        page.set_input_files("#file", str(root / "blue" / "2.png"))
        page.wait_for_selector("#preview:not([hidden])")
        page.click("#go")
        label = page.wait_for_selector("#top-label", timeout=20_000).inner_text()
        page.screenshot(path=str(ARTIFACTS / "serve_image_page.png"), full_page=True)
    assert label == images.predict(str(root / "blue" / "2.png"))["label"]


def test_onnx_export_int8_parity_and_serving(text_run, capsys):
    from tunesmith.cli import main

    # A limit for the tiny model's 9 validation rows, where one changed answer is 11 points.
    export = ["export", str(text_run.path), "--format", "onnx", "--int8", "--max-drop", "20"]
    assert main(export) == 0
    err = capsys.readouterr().err
    assert "Parity on the run's test split" in err and "onnx int8" in err
    parity = json.loads((text_run.path / "parity.json").read_text())
    backends = parity["backends"]
    assert backends["onnx fp32"]["max_probability_difference"] < 1e-4
    accuracy = {name: b["test accuracy"] for name, b in backends.items()}
    assert accuracy["onnx fp32"] == accuracy["pytorch fp32"]
    assert abs(accuracy["onnx int8"] - accuracy["pytorch fp32"]) <= 0.2
    onnx = tunesmith.load(text_run.path, backend="onnx")
    assert onnx.backend == "onnx int8"
    texts = [row["text"] for row in make_rows(3, seed=8)]
    with TestClient(create_app(text_run.path, model=onnx)) as c:
        assert c.get("/v1/model").json()["backend"] == "onnx int8"
        served = c.post("/v1/predict", json={"inputs": texts}).json()["outputs"]
    assert [s["label"] for s in served] == [a["label"] for a in onnx.predict(texts)]


def test_onnx_backend_without_an_export_says_what_to_run(tmp_path, tiny_model_dir):
    from tunesmith.errors import TunesmithError

    pd.DataFrame(make_rows(12)).to_csv(tmp_path / "d.csv", index=False)
    model = tunesmith.train(tmp_path / "d.csv", **fast_settings(tiny_model_dir, tmp_path / "r"))
    with pytest.raises(TunesmithError, match="tunesmith export"):
        tunesmith.load(model.path, backend="onnx")


def test_bf16_precision_predicts_the_same_labels(text_run):
    bf16 = tunesmith.load(text_run.path, precision="bf16")
    assert bf16.backend == "pytorch bf16"
    texts = [row["text"] for row in make_rows(5, seed=11)]
    pairs = zip(bf16.predict(texts), text_run.predict(texts), strict=True)
    same = [a["label"] == b["label"] for a, b in pairs]
    assert sum(same) >= len(texts) - 1  # bf16 rounds probabilities, rarely a decision


def test_serve_refuses_a_taken_port_and_a_missing_run(text_run, capsys):
    import socket

    from tunesmith.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["serve", str(text_run.path), "--port", port]) == 2
    assert "pick a free port" in capsys.readouterr().err
    assert main(["serve", "no-such-run"]) == 2
    assert "no such run directory" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["multi-label", "embedding", "generation", "image-text"])
def test_web_page_shows_each_kind_of_answer(name, browser, tmp_path, request):
    """The page reads every task's answers: label sets, vectors, generated text, zero-shot."""
    from test_task_contract import CASES

    build, fixture, sample = CASES[name]
    data = build(tmp_path)
    train = {"epochs": 1, "precision": "fp32", "max_length": 32, "batch_size": 16}
    model_dir = str(request.getfixturevalue(fixture))
    run = tunesmith.train(data, task=name, model=model_dir, out=str(tmp_path / "run"), train=train)
    given = str(tmp_path / sample) if run.task.input_kind == "image" else sample
    expected = run.predict(given)
    with serving(create_app(run.path)) as url:
        page = browser.new_page()
        page.goto(url)
        if run.task.input_kind == "image":
            page.wait_for_selector("#image-input:not([hidden])")
            page.set_input_files("#file", given)
            page.wait_for_selector("#preview:not([hidden])")
        else:
            page.wait_for_selector("#text-input:not([hidden])")
            page.fill("#text", given)
        page.click("#go")
        answer = "#top-label, #embedding, #generated"  # an empty answer is not "visible"
        shown = page.wait_for_selector(answer, state="attached", timeout=20_000).inner_text()
        page.screenshot(path=str(ARTIFACTS / f"serve_{name}_page.png"), full_page=True)
    if "labels" in expected:
        assert shown == (", ".join(expected["labels"]) or "(no label)")
    elif "embedding" in expected:
        assert shown == f"{len(expected['embedding'])} dimensions"
    elif "label" in expected:
        assert shown.startswith(expected["label"])
    else:
        assert shown == expected["text"]
