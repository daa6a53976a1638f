"""End-to-end runs of the tiny random BERT: train, reload, predict, evaluate, resume."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import fast_settings, make_rows

import tunesmith
from tunesmith.errors import TunesmithError


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    data = folder / "reviews.csv"
    pd.DataFrame(make_rows(60)).rename(columns={"text": "review", "label": "topic"}).to_csv(
        data, index=False
    )
    model = tunesmith.train(data, **fast_settings(tiny_model_dir, folder / "run"))
    return model, data


def test_run_directory_holds_the_whole_artifact(trained):
    model, _ = trained
    names = {p.name for p in model.path.iterdir()}
    expected = {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "run_config.yaml",
        "splits.json",
        "metrics.json",
        "report.html",
        "README.md",
        "tunesmith.json",
        "confusion_matrix.png",
        "learning_curves.png",
    }
    assert expected <= names
    assert "checkpoints" not in names and "training_args.bin" not in names
    manifest = json.loads((model.path / "tunesmith.json").read_text())
    assert manifest["labels"] == ["business", "sport", "tech"]
    assert manifest["columns"] == {"text": "review", "label": "topic"}
    report = (model.path / "report.html").read_text()
    assert "data:image/png;base64," in report and "Per class" in report
    best = model.metrics["best_validation"]["f1_macro"]
    assert f"validation f1_macro {best:.4f}" in report  # the restored epoch is named


def test_learns_the_toy_topics_and_reports_all_metrics(trained):
    model, _ = trained
    test = model.metrics["test"]
    assert test["accuracy"] >= 0.8, test  # chance is 0.33
    for key in ("f1_macro", "f1_weighted", "precision_macro", "recall_macro"):
        assert 0 <= test[key] <= 1
    assert set(test["per_class"]) == {"business", "sport", "tech"}
    assert np.array(test["confusion_matrix"]).sum() == test["count"]
    assert len(model.metrics["validation"]) >= 1


def test_splits_are_saved_disjoint_and_complete(trained):
    model, data = trained
    splits = json.loads((model.path / "splits.json").read_text())
    rows = [set(splits[k]) for k in ("train", "val", "test")]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert set.union(*rows) == set(range(len(pd.read_csv(data))))
    assert splits["fingerprints"]["data"].startswith("sha256:")


def test_plain_transformers_loads_the_run_and_agrees(trained):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model, _ = trained
    texts = ["goal match team the", "shares market profit bank", "software chip data app"]
    plain = AutoModelForSequenceClassification.from_pretrained(model.path).eval()
    tokenizer = AutoTokenizer.from_pretrained(model.path)
    with torch.no_grad():
        probs = plain(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
    ours = model.predict(texts)
    assert [plain.config.id2label[i] for i in probs.argmax(-1).tolist()] == [
        a["label"] for a in ours
    ]
    np.testing.assert_allclose(
        [[a["scores"][n] for n in model.labels] for a in ours], probs.numpy(), atol=1e-5
    )


def test_predict_keeps_input_order(trained):
    model, _ = trained
    texts = ["software " * n for n in (9, 1, 5)] + ["goal"] + ["shares market " * 7]
    one_by_one = [model.predict(t)["label"] for t in texts]
    assert [a["label"] for a in model.predict(texts, batch_size=2)] == one_by_one


def test_evaluate_scores_new_labelled_data(trained, tmp_path):
    model, _ = trained
    new = tmp_path / "more.jsonl"
    pd.DataFrame(make_rows(10, seed=5)).rename(
        columns={"text": "review", "label": "topic"}
    ).to_json(new, orient="records", lines=True)
    metrics = tunesmith.evaluate(model.path, new)
    assert metrics["count"] == 30 and metrics["accuracy"] >= 0.7


def test_evaluate_refuses_labels_the_model_never_saw(trained, tmp_path):
    model, _ = trained
    new = tmp_path / "odd.csv"
    pd.DataFrame({"review": ["goal match", "chip"], "topic": ["sport", "weather"]}).to_csv(
        new, index=False
    )
    with pytest.raises(TunesmithError, match="does not know: \\['weather'\\]"):
        model.evaluate(new)


def test_user_supplied_test_file_is_used_as_is(tiny_model_dir, tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame(make_rows(30)).to_csv(train, index=False)
    pd.DataFrame(make_rows(4, seed=9)).to_csv(test, index=False)
    settings = fast_settings(tiny_model_dir, tmp_path / "run", epochs=1)
    settings["data"] = {"test_file": str(test)}
    model = tunesmith.train(train, **settings)
    assert model.metrics["test"]["count"] == 12
    splits = json.loads((model.path / "splits.json").read_text())
    assert len(splits["train"]) + len(splits["val"]) == 90
    assert "test_file" in splits["fingerprints"]


def test_chinese_text_labels_and_columns(tiny_model_dir, tmp_path):
    rng = np.random.default_rng(0)
    stock, ball = "股 市 大 国 上".split(), "球 赛 手 人 中".split()
    rows = [
        {"评论": "".join(rng.choice(words, 6)), "标签": label}
        for label, words in (("财经", stock), ("体育", ball))
        for _ in range(60)
    ]
    data = tmp_path / "中文.csv"
    pd.DataFrame(rows).to_csv(data, index=False, encoding="utf-8-sig")
    model = tunesmith.train(data, **fast_settings(tiny_model_dir, tmp_path / "运行"))
    assert model.labels == ["体育", "财经"]
    assert model.predict("股市大国股市")["label"] in {"体育", "财经"}
    assert model.metrics["test"]["accuracy"] >= 0.8
    assert "财经" in (model.path / "report.html").read_text(encoding="utf-8")


def test_freezing_head_only_trains_only_the_classifier(tiny_model_dir, tmp_path, toy_csv):
    from safetensors.torch import load_file

    model = tunesmith.train(
        toy_csv, **fast_settings(tiny_model_dir, tmp_path / "run", epochs=1, freeze="head")
    )
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(model.path / "model.safetensors")
    name = next(k for k in after if k.endswith("encoder.layer.0.attention.self.query.weight"))
    original = next(
        v for k, v in before.items() if k.endswith("encoder.layer.0.attention.self.query.weight")
    )
    assert (after[name] == original).all()
    classifier = after["classifier.weight"]
    assert classifier.shape == (3, 64)


def test_class_weights_turn_on_for_imbalanced_data():
    from tunesmith.training.trainer import balanced_weights as class_weights

    assert class_weights([0] * 10 + [1] * 10, 2, "auto") is None
    weights = class_weights([0] * 30 + [1] * 5, 2, "auto")
    assert weights[1] > weights[0] * 5
    assert class_weights([0] * 30 + [1] * 5, 2, "none") is None


def test_auto_freeze_freezes_embeddings_only_on_small_data(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    from tunesmith.training.freezing import apply_freezing, resolve_freeze

    assert resolve_freeze("auto", 500) == "embeddings"
    assert resolve_freeze("auto", 50_000) == "none"
    assert resolve_freeze("2", 500) == "2"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    counts = apply_freezing(model, "1")
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any("embeddings.word_embeddings" in n for n in frozen)
    assert any("encoder.layer.0." in n for n in frozen)
    assert not any("encoder.layer.1." in n or n.startswith("classifier") for n in frozen)
    assert counts["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
