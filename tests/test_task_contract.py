"""One contract test over every registered task: tiny random model, the whole path (prepare,
train, save, load, predict, evaluate, one served request, ONNX export where the task offers
it, a correction in the task's own shape through the service, then `retrain` learning from
it). Registering a task without a case here fails `test_every_registered_task_has_a_case`,
so a new task gets tested by the same path as the others."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    PEOPLE,
    PLACES,
    TOPICS,
    make_chats,
    make_ner_sentences,
    make_rows,
    write_conll,
    write_images,
)
from fastapi.testclient import TestClient

import tunesmith
from tunesmith import tasks
from tunesmith.cli import main
from tunesmith.serving.app import create_app


def text_rows(folder: Path) -> Path:
    path = folder / "rows.csv"
    pd.DataFrame(make_rows(20)).to_csv(path, index=False)
    return path


def ner_sentences(folder: Path) -> Path:
    return write_conll(folder / "ner.conll", make_ner_sentences(60))


def label_sets(folder: Path) -> Path:
    rng = random.Random(0)
    rows = []
    for _ in range(90):
        chosen = sorted(rng.sample(list(TOPICS), rng.choice([0, 1, 2])))
        words = [rng.choice(TOPICS[t].split()) for t in chosen for _ in range(3)] + ["the"]
        rows.append({"text": " ".join(words), "labels": ";".join(chosen)})
    path = folder / "sets.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def photos(folder: Path) -> Path:
    return write_images(folder / "photos", per_class=10, size=32)


def chats(folder: Path) -> Path:
    path = folder / "chats.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in make_chats(45)), encoding="utf-8")
    return path


def pairs(folder: Path) -> Path:
    rows = [
        {"question": f"{person} in {place}", "answer": f"{place} news: {person} was seen there"}
        for person in PEOPLE
        for place in PLACES
    ]
    path = folder / "pairs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def preference_pairs(folder: Path) -> Path:
    rows = [
        {
            "prompt": f"Topic of: {' '.join(row['text'].split()[:3])}",
            "chosen": f"Yes TOPIC={row['label']}",
            "rejected": f"No TOPIC={row['label']}",
        }
        for row in make_rows(15)
    ]
    path = folder / "preferences.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


# task -> (data builder, model fixture, one input as the service takes it: text or image file)
CASES = {
    "text-classification": (text_rows, "tiny_model_dir", "goal match team"),
    "ner": (ner_sentences, "tiny_model_dir", "alice visited paris"),
    "multi-label": (label_sets, "tiny_model_dir", "goal market software"),
    "image-classification": (photos, "tiny_vit_dir", "photos/red/0.png"),
    "image-text": (photos, "tiny_clip_dir", "photos/blue/0.png"),
    "generation": (chats, "tiny_llama_dir", "Topic of: goal match team"),
    "embedding": (pairs, "tiny_model_dir", "bob in rome"),
    "preference": (preference_pairs, "tiny_llama_dir", "Topic of: goal match team"),
}


class image:  # noqa: N801  (read when the case runs: only image cases have the photos)
    def __init__(self, folder: Path, name: str):
        self.path = folder / name

    def __str__(self) -> str:
        return base64.b64encode(self.path.read_bytes()).decode()


# task -> (a correction as a client sends it, what the pool must then hold)
def corrections(folder: Path) -> dict:
    return {
        "text-classification": ({"input": "goal match stadium", "label": "sport"}, "stadium"),
        "ner": (
            {
                "input": "grace visited oslo",
                "label": [
                    {"start": 0, "end": 5, "label": "PER"},
                    {"start": 14, "end": 18, "type": "LOC"},
                ],
            },
            '"B-PER"',
        ),
        "multi-label": (
            {"input": "goal market software", "label": ["sport", "business"]},
            '["business", "sport"]',
        ),
        "image-classification": (
            {"input": image(folder, "photos/red/1.png"), "label": "green", "predicted": "red"},
            '"label": "green"',
        ),
        "image-text": (
            {"input": image(folder, "photos/blue/1.png"), "label": "navy"},
            '"caption": "a photo of navy", "label": "navy"',  # captioned as in training
        ),
        "generation": (
            {"input": "Topic of: goal win season", "label": "TOPIC=sport (a better answer)"},
            "a better answer",
        ),
        "embedding": (
            {"input": "who was in oslo", "label": "oslo news: heidi was seen there"},
            "who was in oslo",
        ),
        "preference": (  # a better answer with the model's own: a DPO pair
            {"input": "Topic of: goal win", "label": "Yes TOPIC=sport", "predicted": "TOPIC"},
            '"rejected": [{"role": "assistant", "content": "TOPIC"}]',
        ),
    }


def test_every_registered_task_has_a_case():
    assert sorted(CASES) == sorted(tasks.names())
    assert sorted(corrections(Path("."))) == sorted(tasks.names())


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_whole_path_for_every_task(name, tmp_path, request, capsys):
    build, fixture, sample = CASES[name]
    task = tasks.get(name)
    data = build(tmp_path)
    model_dir = request.getfixturevalue(fixture)
    train = {"epochs": 1, "precision": "fp32", "max_length": 32, "batch_size": 16}
    trained = tunesmith.train(
        data, task=name, model=str(model_dir), out=str(tmp_path / "run"), train=train
    )
    manifest = json.loads((trained.path / "tunesmith.json").read_text())
    assert manifest["task"] == name and "model.safetensors" in " ".join(manifest["files"])
    assert not (tmp_path / "run.unfinished").exists()

    model = tunesmith.load(trained.path)
    given = str(tmp_path / sample) if task.input_kind == "image" else sample
    answers = model.predict([given])
    assert len(answers) == 1 and isinstance(answers[0], dict) and answers[0]
    assert isinstance(model.task.report.format_answer(answers[0]), str)  # the CLI's line for it

    scores = tunesmith.evaluate(trained.path, data)
    assert scores and all(isinstance(k, str) for k in scores)

    if task.input_kind == "image":
        image = base64.b64encode(Path(given).read_bytes()).decode()
        body = {"images": [image]}
    else:
        body = {"inputs": [given]}
    with TestClient(create_app(trained.path)) as client:
        response = client.post("/v1/predict", json=body)
        assert response.status_code == 200, response.text
        assert len(response.json()["outputs"]) == 1
        assert client.get("/v1/model").json()["task"] == name

    if task.onnx is not None:
        from tunesmith.export.onnx import export_onnx

        parity = export_onnx(trained.path)["backends"]
        gaps = {k: v for k, v in parity["onnx fp32"].items() if k.startswith("max_")}
        assert gaps and all(gap < 1e-3 for gap in gaps.values())
        onnx = tunesmith.load(trained.path, backend="onnx")
        assert len(onnx.predict([given])) == 1

    feedback_and_retrain(name, trained.path, tmp_path, given, capsys)


def feedback_and_retrain(name, run: Path, folder: Path, given: str, capsys) -> None:
    body, expected = corrections(folder)[name]
    body = {k: str(v) if isinstance(v, image) else v for k, v in body.items()}
    with TestClient(create_app(run)) as client:
        assert client.get("/v1/model").json()["feedback_label"]
        response = client.post("/v1/feedback", json=body)
        assert response.status_code == 201, response.text
        wrong = client.post("/v1/feedback", json=body | {"label": {"not": "an answer"}})
        assert wrong.status_code == 422
    capsys.readouterr()
    assert main(["feedback", str(run)]) == 0
    assert "1 correction(s)" in capsys.readouterr().out
    assert main(["retrain", str(run), "--debug"]) == 0
    state = json.loads((run / "versions.json").read_text())
    v2 = state["versions"]["v2"]
    assert "from feedback corrections" in " ".join(v2["notes"])
    assert v2["compared_on"]["metric"] == tasks.get(name).promotion_metric
    assert v2["compared_on"]["rows"] > 0
    assert v2["decision"].startswith(("promoted", "kept, not promoted")), v2["decision"]
    assert 0 < v2["significance"]["tests"]["bootstrap"]["p"] <= 1  # a paired test for every task
    pool = (run / "retrain" / "v2_train.jsonl").read_text(encoding="utf-8")
    assert expected in pool  # the correction is in what v2 trained on
    if tasks.get(name).input_kind == "image":  # the pool holds its own images
        names = {json.loads(line)["image"] for line in pool.splitlines()}
        assert all((run / "retrain" / n).is_file() for n in names)
    assert len(tunesmith.load(run / "versions" / "v2").predict([given])) == 1
