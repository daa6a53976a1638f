"""Multi-label text classification: every data shape, the iterative split, thresholds, metrics,
and one tiny run (English and Chinese texts and labels) through CLI, API, pipeline and REST."""

import json
import random

import numpy as np
import pandas as pd
import pytest
from conftest import FILLER, TOPICS

import tunesmith
from tunesmith import tasks
from tunesmith.cli import main
from tunesmith.data.readers import read_table
from tunesmith.data.split import iterative_split, stratified_split
from tunesmith.tasks.multi_label import metrics as measure

TASK = tasks.get("multi-label")
# Chinese labels over Chinese characters the tiny model's vocabulary has.
ZH_TOPICS = {"体育": "球 赛", "财经": "股 市", "科技": "手 机"}


def make_multi_rows(n: int = 240, seed: int = 0) -> list[dict]:
    """Texts made of the words of 0 to 2 topics: the label set is the topics present. A quarter
    is Chinese, with Chinese labels."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topics = ZH_TOPICS if i % 4 == 3 else {k: v for k, v in TOPICS.items()}
        chosen = sorted(rng.sample(list(topics), rng.choice([0, 1, 1, 2])))
        words = [rng.choice(topics[t].split()) for t in chosen for _ in range(3)]
        words += rng.sample(FILLER, 2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": chosen})
    return rows


def prepared(table: pd.DataFrame, **columns):
    return TASK.prepare(table, "t", {"text": None, "label": None} | columns)


# --- reading every data shape -------------------------------------------------------------


def test_list_column_in_jsonl_and_parquet_is_read_and_detected(tmp_path):
    rows = [
        {"text": "goal match", "labels": ["sport"]},
        {"text": "shares phone", "labels": ["business", "tech", "tech"]},
        {"text": "the a of", "labels": []},
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    for name in ("d.jsonl", "d.parquet"):
        table = read_table(tmp_path / name)
        assert tasks.detect(table) == "multi-label"
        examples = prepared(table)
        assert examples.frame["label"].tolist() == [["sport"], ["business", "tech"], []]
        assert examples.columns == {"text": "text", "label": "labels"}
        assert any("1 row(s) have no label" in n for n in examples.notes)


@pytest.mark.parametrize("sep", [";", "|", ","])
def test_joined_labels_in_a_csv_cell(tmp_path, sep):
    path = tmp_path / "d.csv"
    pd.DataFrame(
        {
            "review": ["goal match", "shares phone", "the a", "app data"],
            "topics": [" Sport", f"business{sep} tech ", "", '["tech", "Sport"]'],
        }
    ).to_csv(path, index=False)
    table = read_table(path)
    assert tasks.detect(table) == "text-classification"  # a CSV says nothing: --task says it
    examples = prepared(table, label="topics")
    # " Sport" and "Sport" are one label; the empty cell is the empty set; a JSON list is read
    assert examples.frame["label"].tolist() == [
        ["Sport"],
        ["business", "tech"],
        [],
        ["Sport", "tech"],
    ]
    assert TASK.label_names(examples) == ["Sport", "business", "tech"]


def label_studio_task(text: str, *annotations: list[str]) -> dict:
    return {
        "data": {"text": text},
        "annotations": [
            {"result": [{"type": "choices", "from_name": "topic", "value": {"choices": choices}}]}
            for choices in annotations
        ],
    }


def test_label_studio_multi_choice_keeps_every_choice_of_the_latest_annotation(tmp_path):
    records = [
        label_studio_task("goal match shares", ["sport"], ["sport", "business"]),
        label_studio_task("phone app", ["tech"]),
        label_studio_task("球 赛 手 机", ["体育", "科技"]),
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    table = read_table(path)
    assert tasks.detect(table) == "multi-label"
    examples = prepared(table)
    assert examples.columns["label"] == "choices"
    assert examples.frame["label"].tolist() == [["business", "sport"], ["tech"], ["体育", "科技"]]
    # A single-choice export is unchanged: one label, text classification.
    path.write_text(json.dumps(records[1:2] * 3))
    single = read_table(path)
    assert "choices" not in single and tasks.detect(single) == "text-classification"


def test_ner_tables_are_still_ner():
    tokens = pd.DataFrame({"tokens": [["a", "b"]], "tags": [["O", "B-PER"]]})
    spans = pd.DataFrame({"text": ["Bob"], "entities": [[{"start": 0, "end": 3, "label": "PER"}]]})
    assert tasks.detect(tokens) == "ner" and tasks.detect(spans) == "ner"


# --- the split -------------------------------------------------------------------------------


def test_iterative_split_keeps_label_shares_and_every_label_in_train():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 6)) < [0.5, 0.3, 0.1, 0.05, 0.0, 0.0]).astype(int)
    y[0, 4] = 1  # a label with one row
    y[[1, 2], 5] = 1  # and one with two
    index = iterative_split(y, 0.1, 0.2, seed=3)
    together = sorted(index["train"] + index["val"] + index["test"])
    assert together == list(range(400))  # a partition
    assert len(index["test"]) == pytest.approx(80, abs=3)
    assert len(index["val"]) == pytest.approx(40, abs=3)
    assert y[index["train"]].sum(axis=0).min() >= 1  # every label in train
    for j in range(4):  # each frequent label's share of test is its share overall
        assert y[index["test"], j].mean() == pytest.approx(y[:, j].mean(), abs=0.03)
    assert iterative_split(y, 0.1, 0.2, seed=3) == index  # seeded
    # The shared entry point dispatches multi-hot keys to it.
    assert stratified_split(y, 0.1, 0.2, 3) == index


def test_stratify_key_is_multi_hot_of_the_label_sets():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "labels": [["x"], ["x", "y"], []]})
    key = TASK.stratify_key(prepared(frame))
    assert key.tolist() == [[1, 0], [1, 1], [0, 0]]


# --- thresholds and metrics ---------------------------------------------------------------------


def test_thresholds_maximise_each_labels_f1_and_fall_back_to_a_half():
    probs = np.array([[0.9, 0.2, 0.7], [0.6, 0.3, 0.1], [0.4, 0.25, 0.2], [0.1, 0.1, 0.05]])
    truth = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    cuts = measure.tune_thresholds(probs, truth, ["a", "b", "c"])
    assert cuts["a"] == pytest.approx(0.5)  # between 0.6 (positive) and 0.4 (negative)
    assert cuts["b"] == pytest.approx(0.225)  # rows 2 and 3 positive: below 0.25, above 0.2
    assert cuts["c"] == 0.5  # no positive in validation
    predicted = measure.apply_thresholds(probs, ["a", "b", "c"], cuts)
    assert predicted[:, :2].tolist() == truth[:, :2].tolist()


def test_metrics_on_a_hand_made_case():
    truth = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 0]])
    m = measure.full_metrics(truth, predicted, ["a", "b", "c"])
    # tp 4, fp 1, fn 1: micro F1 = 8 / 10; label F1s 1, 1, 0
    assert m["f1_micro"] == pytest.approx(0.8)
    assert m["f1_macro"] == pytest.approx(2 / 3)
    assert m["subset_accuracy"] == pytest.approx(0.5)  # rows 3 and 4 exactly right
    assert m["hamming_loss"] == pytest.approx(2 / 12)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["per_class"]["b"]["support"] == 2 and m["rows_without_label"] == 1


# --- one tiny run, used by the rest ----------------------------------------------------------


@pytest.fixture(scope="module")
def run(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("multi-label")
    rows = make_multi_rows()
    data = folder / "topics.csv"  # labels joined by ";" in a CSV cell
    pd.DataFrame(
        {"text": [r["text"] for r in rows], "labels": [";".join(r["labels"]) for r in rows]}
    ).to_csv(data, index=False)
    out = folder / "run"
    settings = ["--train.epochs", "8", "--train.learning_rate", "5e-3", "--train.batch_size", "16"]
    settings += ["--train.freeze", "none", "--train.precision", "fp32"]
    settings += ["--train.max_length", "32", "--train.early_stopping", "0"]
    code = main(
        ["train", str(data), "--task", "multi-label", "--model", str(tiny_model_dir)]
        + ["--out", str(out), *settings]
    )
    assert code == 0
    return out


def test_the_run_is_tuned_saved_and_reported(run):
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    # The tiny random model learns slowly; it must still beat itself untrained (0.5 cut-offs).
    assert test["f1_micro"] > test["before"]["f1_micro"] + 0.1 and test["f1_micro"] > 0.4
    assert metrics["best_validation"]["f1_micro"] > 0  # the selection metric, logged per epoch
    saved = json.loads((run / "thresholds.json").read_text(encoding="utf-8"))
    labels = ["business", "sport", "tech", "体育", "科技", "财经"]
    assert sorted(saved) == sorted(labels) and saved == test["thresholds"]
    assert all(0 < t < 1 for t in saved.values()) and len(set(saved.values())) > 1
    config = json.loads((run / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert sorted(config["id2label"].values()) == sorted(labels)
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "F1 per label" in report and "Thresholds" in report and "科技" in report
    assert "Before and after training" in report
    assert (run / "f1_per_label.png").stat().st_size > 1000
    assert 'function_to_apply="sigmoid"' in (run / "README.md").read_text(encoding="utf-8")


def over_thresholds(answer: dict, cuts: dict) -> list[str]:
    return [k for k, v in answer["scores"].items() if v >= cuts[k]]


TEXTS = ["goal match player the", "shares profit phone software", "球 赛 球 的", "the a of"]


def test_api_predicts_sets_over_thresholds_english_and_chinese(run):
    model = tunesmith.load(run)
    answers = model.predict(TEXTS)
    cuts = json.loads((run / "thresholds.json").read_text(encoding="utf-8"))
    for answer in answers:  # labels: those whose score reaches their threshold, best first
        assert answer["labels"] == over_thresholds(answer, cuts)
        scores = list(answer["scores"].values())
        assert scores == sorted(scores, reverse=True) and len(scores) == 6
    assert answers[0]["labels"] and answers[2]["labels"]  # a topic's words give some label
    assert answers[0]["labels"][0] in TOPICS and answers[2]["labels"][0] in ZH_TOPICS
    alone = model.predict(TEXTS[0])  # one text, unpadded: the same scores within float error
    assert alone["scores"] == pytest.approx(answers[0]["scores"], abs=1e-5)
    metrics = model.evaluate(run.parent / "topics.csv")
    assert metrics["thresholds"] == cuts
    assert metrics["count"] == 240 and metrics["f1_micro"] > 0.4


def test_saved_thresholds_are_what_prediction_uses(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    labels = tunesmith.load(run).labels
    (copy / "thresholds.json").write_text(json.dumps(dict.fromkeys(labels, 0.0)))
    assert len(tunesmith.load(copy).predict(TEXTS[0])["labels"]) == 6
    (copy / "thresholds.json").write_text(json.dumps(dict.fromkeys(labels, 1.0)))
    assert tunesmith.load(copy).predict(TEXTS[0])["labels"] == []


def test_plain_transformers_pipeline_gives_the_same_scores(run):
    from transformers import pipeline

    classify = pipeline(
        "text-classification", model=str(run), top_k=None, function_to_apply="sigmoid"
    )
    piped = {s["label"]: s["score"] for s in classify(TEXTS[1])[0]}
    assert piped == pytest.approx(tunesmith.load(run).predict(TEXTS[1])["scores"], abs=1e-5)


def test_cli_predict_and_evaluate(run, tmp_path, capsys):
    answers = tunesmith.load(run).predict(TEXTS)
    assert main(["predict", str(run), "--text", TEXTS[2], "--json"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["labels"] == answers[2]["labels"] and "体育" in line["scores"]
    source, out = tmp_path / "new.csv", tmp_path / "pred.csv"
    pd.DataFrame({"id": range(4), "text": TEXTS}).to_csv(source, index=False)
    assert main(["predict", str(run), "--input", str(source), "--output", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert table["predicted_labels"].tolist() == [";".join(a["labels"]) for a in answers]
    expected = [a["scores"]["体育"] for a in answers]
    assert table["score_体育"].tolist() == pytest.approx(expected, abs=1e-5)
    assert main(["evaluate", str(run), "--data", str(run.parent / "topics.csv")]) == 0
    assert "micro-F1" in capsys.readouterr().out


def test_served_request(run):
    from fastapi.testclient import TestClient

    from tunesmith.serving.app import create_app

    with TestClient(create_app(run)) as client:
        response = client.post("/v1/predict", json={"inputs": TEXTS})
        assert response.status_code == 200, response.text
        outputs = response.json()["outputs"]
        answers = tunesmith.load(run).predict(TEXTS)
        assert [o["labels"] for o in outputs] == [a["labels"] for a in answers]
        for served, answer in zip(outputs, answers, strict=True):
            assert served["scores"] == pytest.approx(answer["scores"], abs=1e-5)
        assert client.get("/v1/model").json()["task"] == "multi-label"


def test_onnx_export_keeps_the_label_sets(run, capsys):
    from tunesmith.export.onnx import export_onnx

    parity = export_onnx(run, int8=False)["backends"]
    assert parity["onnx fp32"]["max_probability_difference"] < 1e-4
    pytorch = {k: v for k, v in parity["pytorch fp32"].items() if k != "max_probability_difference"}
    assert {k: parity["onnx fp32"][k] for k in pytorch} == pytorch
    onnx = tunesmith.load(run, backend="onnx")
    assert [a["labels"] for a in onnx.predict(TEXTS)] == [
        a["labels"] for a in tunesmith.load(run).predict(TEXTS)
    ]


def test_the_quick_promotion_score_equals_micro_f1():
    import pandas as pd

    from tunesmith import tasks
    from tunesmith.tasks.base import Examples

    task = tasks.get("multi-label")
    labels = ["a", "b", "c"]
    frame = pd.DataFrame(
        {"input": ["x", "y", "z"], "label": [["a"], ["a", "b"], []], "row": [0, 1, 2]}
    )
    examples = Examples(frame, "t.csv", {"label": "labels"})
    answers = [{"labels": ["a", "c"]}, {"labels": ["b"]}, {"labels": []}]
    full = task.score(answers, examples, labels)["f1_micro"]
    assert task.promotion_score(answers, examples, labels) == pytest.approx(full)
