"""Feedback in each task's own shape, checked by the service before anything is stored: images
shrunk and bounded, wrong shapes refused saying what to send, thumbs kept apart. (Feedback and
retrain on a trained run of every task: tests/test_task_contract.py.)"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fastapi.testclient import TestClient

from tunesmith import tasks
from tunesmith.serving.app import create_app


class Served:
    """What the service needs of a loaded run to take feedback, without training one."""

    def __init__(self, task: str, root: Path):
        self.task, self.root, self.labels = tasks.get(task), root, ["PER", "LOC"]
        self.manifest = {"task": task, "created": "test", "columns": {"text": "text"}}
        self.backend = "pytorch"

    def predict(self, inputs):
        return [{} for _ in inputs]


def test_feedback_images_are_shrunk_and_their_folder_is_bounded(tmp_path):
    from PIL import Image

    from tunesmith.serving.app import Limits

    def png(color, size):
        path = tmp_path / f"{color}.png"
        Image.new("RGB", size, color).save(path)
        return base64.b64encode(path.read_bytes()).decode()

    limits = Limits(max_feedback_image_bytes=20_000)
    app = create_app(tmp_path, model=Served("image-classification", tmp_path), limits=limits)
    with TestClient(app) as client:
        big = client.post("/v1/feedback", json={"input": png("red", (3000, 200)), "label": "r"})
        assert big.status_code == 201, big.text
        stored = list((tmp_path / "feedback" / "images").glob("*.png"))
        assert len(stored) == 1 and max(Image.open(stored[0]).size) == 1024
        noise = Image.effect_noise((900, 900), 100).convert("RGB")  # does not compress
        noise.save(tmp_path / "noise.png")
        body = {"input": base64.b64encode((tmp_path / "noise.png").read_bytes()).decode()}
        full = client.post("/v1/feedback", json=body | {"label": "n"})
        assert full.status_code == 507 and "full" in full.text
        bad = client.post("/v1/feedback", json={"input": "not base64!", "label": "r"})
        assert bad.status_code == 422 and "input is not valid base64" in bad.text
    assert len(list((tmp_path / "feedback" / "images").glob("*.png"))) == 1


def test_corrections_in_the_wrong_shape_say_what_to_send(tmp_path):
    with TestClient(create_app(tmp_path, model=Served("ner", tmp_path))) as client:
        outside = {"input": "bob in rome", "label": [{"start": 7, "end": 20, "label": "LOC"}]}
        response = client.post("/v1/feedback", json=outside)
        assert response.status_code == 422 and "outside the input's 11 characters" in response.text
        no_type = {"input": "bob in rome", "label": [{"start": 7, "end": 11}]}
        assert client.post("/v1/feedback", json=no_type).status_code == 422
        rating = {"input": "bob in rome", "label": [], "rating": "up"}
        assert "rating is for generation" in client.post("/v1/feedback", json=rating).text
    with TestClient(create_app(tmp_path, model=Served("generation", tmp_path))) as client:
        bare = client.post("/v1/feedback", json={"input": "hi", "rating": "down"})
        assert bare.status_code == 422 and "needs the answer it rates" in bare.text
        chat = [{"role": "user", "content": "hi"}]
        down = {"input": chat, "rating": "down", "predicted": "go away"}
        assert client.post("/v1/feedback", json=down).status_code == 201
        up = {"input": "hi", "rating": "up", "predicted": "hello!"}
        assert client.post("/v1/feedback", json=up).status_code == 201
    from tunesmith.feedback.store import FeedbackStore

    store = FeedbackStore(tmp_path)
    (trained,) = store.corrections()  # the thumbs-up; the thumbs-down is kept apart
    assert (trained["label"], store.count("rating")) == ("hello!", 1)
    store.close()
    record = tasks.get("generation").feedback.record(
        json.dumps(chat), "hello!", Served("generation", tmp_path), str
    )
    assert record == {"messages": [*chat, {"role": "assistant", "content": "hello!"}]}
