"""--train.lora for classification and NER: adapters learn, the run stays a plain model."""

import json

import pytest
from conftest import fast_settings, make_ner_sentences, write_conll

import tunesmith
from tunesmith.errors import TunesmithError


def test_text_classification_with_lora_saves_merged_model_and_adapters(
    tiny_model_dir, tmp_path, toy_csv
):
    from safetensors import safe_open
    from transformers import pipeline

    settings = fast_settings(tiny_model_dir, tmp_path / "run", lora=True, learning_rate=5e-3)
    model = tunesmith.train(toy_csv, **settings)
    with safe_open(model.path / "adapter" / "adapter_model.safetensors", "pt") as f:
        names = list(f.keys())
    assert any("lora_A" in n for n in names) and any("classifier" in n for n in names)
    report = (model.path / "report.html").read_text()
    assert "LoRA r=16 on all-linear" in report
    trained = json.loads((model.path / "metrics.json").read_text())["test"]["accuracy"]
    assert trained > 0.5  # three balanced classes: chance is 1/3
    # the run itself is the merged model: plain transformers scores it the same
    assert tunesmith.evaluate(model.path, toy_csv)["accuracy"] > 0.5
    classify = pipeline("text-classification", model=str(model.path))
    text = "goal match team player"
    assert classify(text)[0]["label"] == model.predict(text)["label"]


def test_ner_with_lora_trains(tiny_model_dir, tmp_path):
    data = write_conll(tmp_path / "ner.conll", make_ner_sentences(120))
    settings = fast_settings(
        tiny_model_dir, tmp_path / "ner", lora=True, learning_rate=5e-3, epochs=3
    )
    model = tunesmith.train(data, task="ner", **settings)
    assert (model.path / "adapter" / "adapter_config.json").is_file()
    assert "f1" in model.metrics["test"]


def test_lora_is_refused_where_it_is_not_wired(tiny_vit_dir, tmp_path):
    from conftest import write_images

    photos = write_images(tmp_path / "photos", per_class=12)
    with pytest.raises(TunesmithError, match="LoRA is not available"):
        tunesmith.train(
            photos, model=str(tiny_vit_dir), out=str(tmp_path / "r"), train={"lora": True}
        )
    assert not (tmp_path / "r").exists()
