"""--train.lora for every task but generation (tests/test_generation.py): adapters learn, the run
holds the merged model."""

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


# --- embedding and image-text: adapters learn, the run holds the merged model ---

LORA = {"lora": True, "epochs": 1, "max_length": 32, "precision": "fp32", "batch_size": 16}


def adapter_size(model, skip: str, rank: int = 16) -> int:
    """Parameters of rank-`rank` adapters on every linear layer whose name does not start with
    one of the `skip` prefixes (comma separated)."""
    import torch

    prefixes = tuple(p for p in skip.split(",") if p)
    return sum(
        rank * (m.in_features + m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and not name.startswith(prefixes or ("\0",))
    )


def trainable_reported(run) -> int:
    """The trainable parameter count the run's report gives."""
    import re

    found = re.search(r"([\d,]+) of [\d,]+ \(LoRA r=16", (run.path / "report.html").read_text())
    return int(found.group(1).replace(",", ""))


def changed(before: dict, after: dict, prefix: str) -> list[str]:
    import torch

    names = [n for n in before if n.startswith(prefix)]
    assert names and all(n in after for n in names)
    return [n for n in names if not torch.equal(before[n], after[n])]


def test_embedding_with_lora_trains_adapters_and_saves_the_merged_encoder(tiny_model_dir, tmp_path):
    from test_task_contract import pairs
    from transformers import AutoModel

    run = tunesmith.train(
        pairs(tmp_path),
        task="embedding",
        model=str(tiny_model_dir),
        out=str(tmp_path / "run"),
        train=LORA,
    )
    base = AutoModel.from_pretrained(tiny_model_dir)
    # adapters on every linear layer of the encoder but the unused pooler; nothing else learns
    assert trainable_reported(run) == adapter_size(base, "pooler")
    assert (run.path / "adapter" / "adapter_config.json").is_file()
    merged = AutoModel.from_pretrained(run.path).state_dict()  # plain transformers, no peft
    assert not any("lora" in n or "base_model" in n for n in merged)
    assert changed(base.state_dict(), merged, "encoder.")
    assert not changed(base.state_dict(), merged, "embeddings.")
    assert (run.path / "modules.json").is_file()  # still a sentence-transformers folder
    vector = tunesmith.load(run.path).predict(["bob in rome"])[0]["embedding"]
    assert len(vector) == 64 and abs(sum(x * x for x in vector) - 1) < 1e-4


def test_clip_with_lora_adapts_the_text_tower_and_keeps_the_image_tower(tiny_clip_dir, tmp_path):
    """The default --train.freeze image (LiT) holds under LoRA: adapters on the text tower and
    the projections, the image tower saved exactly as loaded."""
    from test_task_contract import photos
    from transformers import CLIPModel, pipeline

    images = photos(tmp_path)
    run = tunesmith.train(
        images, task="image-text", model=str(tiny_clip_dir), out=str(tmp_path / "run"), train=LORA
    )
    base = CLIPModel.from_pretrained(tiny_clip_dir)
    assert trainable_reported(run) == adapter_size(base, "vision_model")
    merged = CLIPModel.from_pretrained(run.path).state_dict()
    assert changed(base.state_dict(), merged, "text_model.")
    assert not changed(base.state_dict(), merged, "vision_model.")
    image = str(images / "red" / "0.png")
    answer = tunesmith.load(run.path).predict(image, labels=["red", "green", "blue"])
    theirs = pipeline("zero-shot-image-classification", model=str(run.path))(
        image, candidate_labels=["a photo of red", "a photo of green", "a photo of blue"]
    )
    assert answer["label"] in {"red", "green", "blue"} and theirs[0]["score"] > 0


def test_assembled_dual_encoder_with_lora_trains_projections_whole(tiny_model_dir, tmp_path):
    from conftest import write_images
    from transformers import AutoModel

    from tunesmith.tasks import get as get_task

    images = write_images(tmp_path / "photos", per_class=8, size=32)  # MobileNetV2 runs 224px
    flag = f"mobilenet-v2+{tiny_model_dir}"
    run = tunesmith.train(
        images, task="image-text", model=flag, out=str(tmp_path / "run"), train=LORA
    )
    loaded = tunesmith.load(run.path)  # rebuilt from dual_encoder.json + merged safetensors
    start, _ = get_task("image-text").load_model(flag, [], flag)
    # text-tower adapters (no pooler) plus both new projections, whole
    projections = sum(
        p.numel() for n, p in start.named_parameters() if n.endswith("projection.weight")
    )
    assert trainable_reported(run) == adapter_size(start.text_net, "pooler") + projections
    text = AutoModel.from_pretrained(tiny_model_dir).state_dict()
    after = loaded.model.state_dict()
    assert changed({f"text_net.{n}": v for n, v in text.items()}, after, "text_net.encoder.")
    assert not changed(start.state_dict(), after, "image_net.")
    assert loaded.predict(str(images / "red" / "0.png"), labels=["red", "blue"])["label"]


def test_lora_on_an_assembled_image_tower_is_a_one_line_refusal(tiny_model_dir, tmp_path, capsys):
    from test_task_contract import photos

    from tunesmith.cli import main

    args = ["train", str(photos(tmp_path)), "--task", "image-text", "--lora"]
    args += ["--model", f"mobilenet-v2+{tiny_model_dir}", "--train.freeze", "none"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "cannot adapt the image tower" in err and "--no-lora --train.freeze none" in err
