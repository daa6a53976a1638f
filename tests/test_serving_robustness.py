"""The service under abuse and at shutdown, on real loopback servers: a bad request fails alone
and keeps its connection, bodies are bounded while they stream (and refused unread with a wrong
key), a 500 logs one line, and SIGTERM answers every accepted request and frees the port."""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pandas as pd
import pytest
from conftest import fast_settings, make_rows
from fastapi.testclient import TestClient

import tunesmith
from tunesmith.feedback.store import FeedbackStore
from tunesmith.serving.app import create_app
from tunesmith.serving.batching import MicroBatcher

MB = 1024 * 1024
JSON = {"content-type": "application/json"}
SURROGATE = b'{"inputs": ["goal match", "team \\ud800 win"]}'  # valid JSON, not valid UTF-8


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_model_dir):
    """A quickly trained run: these tests need a served model, not a good one."""
    folder = tmp_path_factory.mktemp("robust-text")
    pd.DataFrame(make_rows(10)).to_csv(folder / "d.csv", index=False)
    settings = fast_settings(tiny_model_dir, folder / "run", epochs=1, early_stopping=0)
    return tunesmith.train(folder / "d.csv", **settings)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(server):
    """`server` (a uvicorn.Server) in a thread; its URL while it runs; stopped afterwards."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive()


def plain_server(app):
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error")
    )


def until(condition, tries: int = 400) -> None:
    """Wait for `condition` (a hang guard, not a timing assertion)."""
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


def fragile(model, gate: threading.Event | None = None):
    """The model, failing any batch that holds "boom" (an input it cannot take), and holding
    each batch until `gate` is set (the model is busy). `model.seen`: the batches it got."""
    predict, model.seen = model.predict, []

    def predict_fragile(batch, **options):
        model.seen.append(list(batch))
        if gate is not None:
            gate.wait()
        if "boom" in batch:
            raise ValueError("cannot take 'boom'")
        return predict(batch, **options)

    model.predict = predict_fragile
    return model


def local_port(response: httpx.Response) -> int:
    """The client side of the connection that carried `response`: same port, same connection."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def streamed(total_mb: int, sent: list[int]):
    """A JSON body sent chunked (a generator has no length), counting what left the client."""
    yield b'{"inputs": ["'
    for _ in range(total_mb * 16):
        sent[0] += 64 * 1024
        yield b"x" * (64 * 1024)
    yield b'"]}'


# -- one bad request fails alone --------------------------------------------------------------


def test_a_lone_surrogate_is_a_422_naming_the_input(text_run):
    with TestClient(create_app(text_run.path)) as client:
        response = client.post("/v1/predict", content=SURROGATE, headers=JSON)
        assert response.status_code == 422, response.text
        assert "inputs[1] is not valid Unicode" in response.json()["detail"]
        feedback = b'{"input": "goal \\udc00", "label": "sport"}'
        response = client.post("/v1/feedback", content=feedback, headers=JSON)
        assert response.status_code == 422 and "input is not valid Unicode" in response.text
        # Pydantic's 422 quotes the input: a surrogate in it must not make that a 500.
        for path, body in (
            ("/v1/predict", b'{"inputs": "\\ud800"}'),
            ("/v1/feedback", b'{"input": "goal", "label": "sport\\udc00"}'),
        ):
            response = client.post(path, content=body, headers=JSON)
            assert response.status_code == 422, response.text


def test_a_failed_batch_is_retried_request_by_request():
    calls = []

    def predict(batch):
        calls.append(list(batch))
        if "boom" in batch:
            raise ValueError("cannot take 'boom'")
        return [text.upper() for text in batch]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=64, max_wait_ms=50)
        await batcher.start()
        texts = [f"text {i}" for i in range(10)]
        texts.insert(4, "boom")
        answers = await asyncio.gather(*(batcher.run([t]) for t in texts), return_exceptions=True)
        await batcher.stop()
        return texts, answers

    texts, answers = asyncio.run(scenario())
    assert calls[0] == texts  # all of them shared the first batch
    for text, answer in zip(texts, answers, strict=True):
        if text == "boom":
            assert isinstance(answer, ValueError)
        else:
            assert answer == [text.upper()]


def test_jobs_queued_while_a_batch_runs_make_the_next_batch_without_waiting():
    """No wait window at all (max_wait_ms=0): what queued behind a running batch still goes
    as one batch, and /health's batch sizes count it."""
    gate, calls = threading.Event(), []

    def predict(batch):
        calls.append(list(batch))
        gate.wait()
        return [text.upper() for text in batch]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=64, max_wait_ms=0)
        await batcher.start()
        first = asyncio.create_task(batcher.run(["a"]))
        while not calls:  # the model is busy with the first batch
            await asyncio.sleep(0.01)
        rest = [asyncio.create_task(batcher.run([t])) for t in ("b", "c", "d")]
        await asyncio.sleep(0.05)  # all three queued
        gate.set()
        answers = await asyncio.gather(first, *rest)
        await batcher.stop()
        return answers, dict(batcher.sizes)

    answers, sizes = asyncio.run(scenario())
    assert answers == [["A"], ["B"], ["C"], ["D"]]
    assert calls == [["a"], ["b", "c", "d"]] and sizes == {1: 1, 3: 1}


def test_one_bad_request_among_many_fails_alone_and_keeps_its_connection(text_run):
    gate = threading.Event()
    model = fragile(tunesmith.load(text_run.path), gate)
    app = create_app(text_run.path, model=model)
    texts = [row["text"] for row in make_rows(20, seed=3)]  # 60 innocent requests
    expected = [a["label"] for a in text_run.predict(texts)]
    innocent, bad = {}, {}

    def ask(i):
        response = httpx.post(url + "/v1/predict", json={"inputs": [texts[i]]}, timeout=60)
        outputs = response.json().get("outputs") or [{}]
        innocent[i] = (response.status_code, outputs[0].get("label"))

    def misbehave(client):
        for name, body in (("surrogate", SURROGATE), ("boom", b'{"inputs": ["boom"]}')):
            response = client.post(url + "/v1/predict", content=body, headers=JSON)
            bad[name] = (response.status_code, local_port(response), response.text)
        response = client.post(url + "/v1/predict", json={"inputs": [texts[0]]})
        bad["next"] = (response.status_code, local_port(response), response.text)

    with running(plain_server(app)) as url, httpx.Client(timeout=60) as client:
        # The model holds a first batch while every other request queues up; these then
        # run as full batches, "boom" among innocent neighbours.
        first = threading.Thread(
            target=httpx.post, args=(url + "/v1/predict",), kwargs={"json": {"inputs": ["goal"]}}
        )
        first.start()
        until(lambda: model.seen)
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
        threads.append(threading.Thread(target=misbehave, args=(client,)))
        for t in threads:
            t.start()
        queue = app.state.batcher.queue
        try:
            until(lambda: queue.qsize() == len(texts) + 1)  # and the bad one
        finally:
            gate.set()
            for t in [first, *threads]:
                t.join()
    assert [innocent[i] for i in range(len(texts))] == [(200, label) for label in expected]
    assert any("boom" in batch and len(batch) > 1 for batch in model.seen)
    assert [bad[name][0] for name in ("surrogate", "boom", "next")] == [422, 500, 200]
    assert "boom" not in bad["boom"][2]  # a generic 500
    assert len({port for _, port, _ in bad.values()}) == 1  # one keep-alive connection for all


@pytest.mark.parametrize("options", [{}, {"debug": True}])
def test_a_500_logs_one_line_with_a_traceback_only_in_debug(text_run, options):
    app = create_app(text_run.path, model=fragile(tunesmith.load(text_run.path)), **options)
    records = []
    capture = logging.Handler(logging.ERROR)
    capture.emit = records.append
    with running(plain_server(app)) as url:
        logger = logging.getLogger("uvicorn.error")  # uvicorn sets it up when it starts
        logger.addHandler(capture)
        try:
            with httpx.Client(timeout=60) as client:
                failed = client.post(url + "/v1/predict", json={"inputs": ["boom"]})
                port = local_port(failed)
                after = client.post(url + "/v1/predict", json={"inputs": ["goal"]})
                assert after.status_code == 200 and local_port(after) == port  # kept alive
        finally:
            logger.removeHandler(capture)
    assert failed.status_code == 500 and "boom" not in failed.text
    assert len(records) == 1, [r.getMessage() for r in records]
    line = records[0].getMessage()
    assert "POST /v1/predict failed: ValueError: cannot take 'boom'" in line and "\n" not in line
    assert (records[0].exc_info is not None) == options.get("debug", False)


# -- bodies and keys ---------------------------------------------------------------------------


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(text_run):
    app = create_app(text_run.path)  # the default limit: 10 MB
    sent = [0]
    with running(plain_server(app)) as url:
        response = httpx.post(
            url + "/v1/predict", content=streamed(100, sent), headers=JSON, timeout=60
        )
        assert httpx.get(url + "/health").status_code == 200
    assert response.status_code == 413, response.text
    assert "request body over 10485760 bytes" in response.text
    assert sent[0] < 50 * MB  # the server stopped reading: the client could not send it all


def test_a_wrong_key_is_refused_before_the_body_is_read(text_run):
    app = create_app(text_run.path, api_key="s3cret")
    sent = [0]
    with running(plain_server(app)) as url:
        response = httpx.post(
            url + "/v1/predict",
            content=streamed(100, sent),
            headers=JSON | {"x-api-key": "wrong"},
            timeout=60,
        )
        right = httpx.post(
            url + "/v1/predict", json={"inputs": ["goal"]}, headers={"x-api-key": "s3cret"}
        )
    assert response.status_code == 401 and sent[0] < 50 * MB
    assert right.status_code == 200
    with TestClient(create_app(text_run.path, api_key="s3cret")) as client:  # before parsing
        malformed = client.post("/v1/predict", content=b"{not json", headers=JSON)
        assert malformed.status_code == 401
        assert client.get("/health").status_code == 200 and client.get("/").status_code == 200


def test_feedback_labels_are_stripped_and_bounded(text_run):
    with TestClient(create_app(text_run.path)) as client:

        def send(**fields):
            return client.post("/v1/feedback", json={"input": "goal match"} | fields)

        too_long = send(label="x" * 201)
        assert too_long.status_code == 422 and "at most 200 characters" in too_long.text
        assert "label" in too_long.text
        assert send(label="   ").status_code == 422
        assert send(label="sport", predicted="y" * 201).status_code == 422
        stored = send(label="  sport ", predicted=" tech")
        assert stored.status_code == 201
    store = FeedbackStore(text_run.path)
    record = next(r for r in store.corrections() if r["id"] == stored.json()["id"])
    store.close()
    assert (record["label"], record["predicted"]) == ("sport", "tech")


# -- shutdown ----------------------------------------------------------------------------------


def test_shutdown_answers_accepted_requests_and_refuses_new_ones(text_run):
    from tunesmith.serving.server import make_server

    gate = threading.Event()  # the model is busy until the test lets it go
    app = create_app(text_run.path, model=fragile(tunesmith.load(text_run.path), gate))
    inflight = app.state.inflight
    server = make_server(app, "127.0.0.1", free_port())
    answers = []
    with running(server) as url, httpx.Client(base_url=url, timeout=60) as idle:
        assert idle.get("/health").status_code == 200  # a keep-alive connection, now idle

        def ask(i):
            answers.append(httpx.post(url + "/v1/predict", json={"inputs": [f"goal {i}"]}))

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        try:
            until(lambda: inflight.active == 5)
            server.should_exit = True  # what SIGTERM does
            until(lambda: inflight.draining)
            late = idle.get("/health")
            fresh = httpx.post(url + "/v1/predict", json={"inputs": ["goal"]})
        finally:
            gate.set()
            for t in threads:
                t.join()
    assert [r.status_code for r in answers] == [200] * 5
    for refused in (late, fresh):
        assert refused.status_code == 503 and refused.headers["connection"] == "close"
    assert app.state.batcher.queue.empty()


def test_stopping_the_batcher_answers_every_queued_job():
    async def scenario():
        batcher = MicroBatcher(lambda batch: [len(t) for t in batch], max_batch=1)
        await batcher.start()
        jobs = [asyncio.create_task(batcher.run(["x" * i])) for i in range(6)]
        await asyncio.sleep(0)  # every job is queued
        await batcher.stop()
        answered = [job.result() if job.done() else None for job in jobs]
        for job in jobs:
            job.cancel()
        return answered

    assert asyncio.run(scenario()) == [[i] for i in range(6)]


def test_sigterm_answers_every_request_and_the_port_is_free_at_once(text_run):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    texts = [row["text"] for row in make_rows(3, seed=1)][:8]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

    def start():
        command = [sys.executable, "-m", "tunesmith", "serve", str(text_run.path)]
        process = subprocess.Popen(
            command + ["--port", str(port)], stderr=subprocess.PIPE, text=True, env=env
        )

        def up():
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(url + "/health").status_code == 200
            return process.poll() is not None

        until(up, tries=1200)
        return process

    async def load(process):
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        first, signalled, after_sigterm = asyncio.Event(), asyncio.Event(), []
        async with (
            httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as many,
            httpx.AsyncClient(base_url=url, timeout=120) as idle,
        ):
            assert (await idle.get("/health")).status_code == 200

            async def ask():
                response = await many.post("/v1/predict", json={"inputs": texts})
                first.set()
                if signalled.is_set():
                    after_sigterm.append(response.status_code)
                return response

            requests = [asyncio.create_task(ask()) for _ in range(150)]
            await first.wait()
            process.send_signal(signal.SIGTERM)
            signalled.set()
            for _ in range(400):  # the idle keep-alive connection asks again until refused
                late = await idle.get("/health")
                if late.status_code == 503:
                    break
            return await asyncio.gather(*requests), late, after_sigterm

    first = start()
    assert first.poll() is None, first.stderr.read()
    responses, late, after_sigterm = asyncio.run(load(first))
    first.wait(timeout=120)
    log = first.stderr.read()
    for r in responses:
        assert r.status_code == 200 or (r.status_code == 503 and r.headers["connection"] == "close")
    assert after_sigterm.count(200) > 0  # requests were in flight when the signal came
    assert late.status_code == 503 and late.headers["connection"] == "close"
    assert "Traceback" not in log and "Cancel" not in log, log
    second = start()  # at once, on the same port
    try:
        assert second.poll() is None, second.stderr.read()
        assert httpx.get(url + "/health").status_code == 200
    finally:
        second.terminate()
        second.wait(timeout=60)


def test_serve_refuses_a_grace_period_of_nothing(capsys):
    from tunesmith.cli import main

    assert main(["serve", "runs/none", "--grace", "0"]) == 2
    assert "--grace" in capsys.readouterr().err
