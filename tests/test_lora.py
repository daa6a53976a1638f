"""--train.lora for classification and NER: adapters learn, the run stays a plain model."""

import json

import pytest
from conftest import fast_settings, make_ner_sentences, write_conll

import tunesmith


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


def test_image_lora_trains_adapters_and_head_only(tiny_vit_dir):
    """On the tiny ViT, LoRA leaves the adapters (all linear layers but the head) and the new
    classifier trainable, nothing else."""
    from tunesmith.config import TrainConfig
    from tunesmith.tasks import get as get_task
    from tunesmith.training.lora import apply_lora, parameter_counts

    task = get_task("image-classification")
    model, _ = task.load_model(str(tiny_vit_dir), ["a", "b", "c"], str(tiny_vit_dir))
    full = parameter_counts(model)
    settings = task.lora_settings(model)
    assert settings == {"modules_to_save": ["classifier"]}
    wrapped = apply_lora(model, TrainConfig(lora=True), settings)
    trainable = {n: p.numel() for n, p in wrapped.named_parameters() if p.requires_grad}
    head = {n: v for n, v in trainable.items() if "modules_to_save" in n}
    adapters = {n: v for n, v in trainable.items() if "lora_" in n}
    assert set(trainable) == set(head) | set(adapters)
    assert sum(head.values()) == 32 * 3 + 3  # the new 3-label head, whole
    # rank 16 on query, key, value, attention output, intermediate, output of 2 layers
    per_layer = 4 * 16 * (32 + 32) + 2 * 16 * (32 + 64)
    assert sum(adapters.values()) == 2 * per_layer
    assert parameter_counts(wrapped)["trainable"] == 2 * per_layer + 99 < full["trainable"]


def test_image_classification_with_lora_saves_merged_model_and_adapters(tiny_vit_dir, tmp_path):
    from conftest import write_images
    from PIL import Image
    from safetensors import safe_open
    from transformers import AutoModelForImageClassification, pipeline

    photos = write_images(tmp_path / "photos", per_class=12)
    train = {"epochs": 5, "learning_rate": 1e-2, "batch_size": 8, "precision": "fp32"}
    model = tunesmith.train(
        photos, model=str(tiny_vit_dir), out=str(tmp_path / "run"), train={"lora": True, **train}
    )
    with safe_open(model.path / "adapter" / "adapter_model.safetensors", "pt") as f:
        names = list(f.keys())
    assert any("lora_A" in n for n in names) and any("classifier" in n for n in names)
    assert "LoRA r=16 on all-linear" in (model.path / "report.html").read_text()
    assert model.metrics["test"]["accuracy"] >= 0.8, model.metrics["test"]
    # the run is the merged model: plain transformers loads it, with no peft keys left
    plain = AutoModelForImageClassification.from_pretrained(model.path).eval()
    assert not any("lora" in n or "base_model" in n for n in plain.state_dict())
    image = photos / "green" / "2.png"
    again = tunesmith.load(model.path)
    answer = again.predict(str(image))
    best = pipeline("image-classification", model=str(model.path))(Image.open(image))[0]
    assert best["label"] == answer["label"] == "green"
    assert best["score"] == pytest.approx(answer["score"], abs=1e-4)


def test_lora_on_a_torchvision_cnn_is_a_one_line_refusal(tmp_path, capsys):
    from conftest import write_images

    from tunesmith.cli import main

    photos = write_images(tmp_path / "photos", per_class=10)
    out = tmp_path / "r"
    assert main(["train", str(photos), "--model", "mobilenet-v2", "--lora", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--lora is not available for torchvision CNNs" in err
    assert "no LoRA wiring" in err and "--train.freeze head" in err and "ViT/ConvNeXt" in err
    assert not out.exists()
