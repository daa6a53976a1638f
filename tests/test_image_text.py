"""Image-text: pairs and class folders, a CLIP checkpoint and an assembled dual encoder,
recall@k and zero-shot before and after, zero-shot and search predictions."""

import json

import pandas as pd
import pytest
import torch
from conftest import COLOURS, write_images

import tunesmith
from tunesmith.cli import main
from tunesmith.tasks.image_text.metrics import recall


def test_recall_at_k_counts_any_relevant_item():
    similarity = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    out = recall(similarity, [{0}, {1}])
    assert out["R@1"] == 0.5 and out["R@5"] == 1.0  # query 2's item is second-best
    assert recall(similarity, [{2}, {0, 2}])["R@1"] == 0.5


@pytest.fixture(scope="module")
def clip_run(tiny_clip_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    photos = write_images(folder / "photos", per_class=20, size=40)
    return tunesmith.train(
        photos,
        task="image-text",
        model=str(tiny_clip_dir),
        out=str(folder / "run"),
        train={"epochs": 6, "learning_rate": 1e-3, "precision": "fp32", "freeze": "none"},
    )


def test_class_folders_train_a_clip_and_report_before_and_after(clip_run):
    test = clip_run.metrics["test"]
    assert set(test["before"]) >= {"image_to_text", "text_to_image", "zero_shot_accuracy"}
    assert test["images"] == 6 and test["captions"] == 3  # 6 test images, 3 templated captions
    validation = clip_run.metrics["validation"]  # a random tiny CLIP: it trains, not well
    assert clip_run.metrics["best_validation"]["loss"] < validation[0]["eval_loss"]
    report = (clip_run.path / "report.html").read_text()
    assert "Before and after fine-tuning" in report and "zero-shot accuracy" in report
    assert (clip_run.path / "model.safetensors").is_file()  # CLIP saved in its own format
    assert "library_name: transformers" in (clip_run.path / "README.md").read_text()


def test_saved_clip_works_with_the_transformers_pipeline(clip_run, tmp_path):
    from transformers import pipeline

    photos = write_images(tmp_path / "more", per_class=1, size=40)
    image = str(next((photos / "red").iterdir()))
    ours = clip_run.predict(image, labels=list(COLOURS))
    theirs = pipeline("zero-shot-image-classification", model=str(clip_run.path))(
        image, candidate_labels=list(COLOURS), hypothesis_template="a photo of {}"
    )
    assert set(ours["scores"]) == set(COLOURS) and abs(sum(ours["scores"].values()) - 1) < 1e-5
    assert {r["label"] for r in theirs} == set(COLOURS)


def test_zero_shot_and_search_from_the_cli(clip_run, tmp_path, capsys):
    photos = write_images(tmp_path / "gallery", per_class=3, size=40)
    image = str(photos / "blue" / "0.png")
    assert (
        main(
            [
                "predict",
                str(clip_run.path),
                "--image",
                image,
                "--labels",
                "red,green,blue",
                "--json",
            ]
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert set(answer["scores"]) == {"red", "green", "blue"}
    assert (
        main(
            [
                "predict",
                str(clip_run.path),
                "--query",
                "a photo of blue",
                "--images",
                str(photos),
                "--json",
            ]
        )
        == 0
    )
    ranked = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(ranked) == 9 and ranked[0]["score"] >= ranked[-1]["score"]
    assert ranked == clip_run.search(
        "a photo of blue", sorted(str(p) for p in photos.rglob("*.png")), 10
    )


def test_pairs_with_captions_and_the_assembled_dual_encoder(tiny_model_dir, tmp_path):
    photos = write_images(tmp_path / "photos", per_class=10, size=40)
    rows = [
        {"image": str(p.relative_to(tmp_path)), "caption": f"{word} {p.parent.name} {p.stem}"}
        for p in sorted(photos.rglob("*.png"))
        for word in ("goal", "market")  # two captions per image
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    model = tunesmith.train(
        tmp_path / "pairs.csv",
        task="image-text",
        model=f"mobilenet-v2+{tiny_model_dir}",
        out=str(tmp_path / "run"),
        train={"epochs": 1, "precision": "fp32"},
    )
    test = model.metrics["test"]
    assert "zero_shot_accuracy" not in test  # no labels: recall only
    assert test["captions"] == 2 * test["images"]
    assert (
        json.loads((model.path / "dual_encoder.json").read_text())["image_encoder"]
        == "mobilenet-v2"
    )
    assert "library_name: pytorch" in (model.path / "README.md").read_text()
    again = tunesmith.load(model.path)  # rebuilt from dual_encoder.json + safetensors
    image = str(next(photos.rglob("*.png")))
    assert again.predict(image, labels=["x", "y"]) == model.predict(image, labels=["x", "y"])
    from tunesmith.export.onnx import export_onnx

    parity = export_onnx(model.path)["backends"]  # both towers of the assembled dual encoder
    assert parity["onnx fp32"]["max_embedding_difference"] < 1e-4
    # The random tiny towers score some captions almost alike: a difference of 1e-6 may swap
    # one near-tie, so the two recalls may differ by at most one image of the test split.
    recalls = [parity[form]["image-to-text R@1"] for form in ("onnx fp32", "pytorch fp32")]
    assert abs(recalls[0] - recalls[1]) <= 1 / test["images"] + 1e-3  # metrics keep 4 digits


def test_bad_image_text_input_is_named(tmp_path, capsys):
    pd.DataFrame({"image": ["a.png"], "score": [1]}).to_csv(tmp_path / "d.csv", index=False)
    assert (
        main(
            [
                "train",
                str(tmp_path / "d.csv"),
                "--task",
                "image-text",
                "--model",
                "mobilenet-v2+nothing/here/x",
            ]
        )
        == 2
    )
    assert "--model" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                str(tmp_path / "d.csv"),
                "--task",
                "image-text",
                "--model",
                "minilm-l6+minilm-l6",
            ]
        )
        == 2
    )
    assert "torchvision image model" in capsys.readouterr().err


def test_repeated_captions_share_the_target():
    from tunesmith.models.dual_encoder import contrastive_loss

    same = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    one = torch.eye(3, dtype=torch.bool)
    copies = torch.tensor([[5.0, 5.0, 0.0], [5.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    # copies of a caption with equal logits: sharing the target changes nothing ...
    assert torch.isclose(contrastive_loss(copies, same), contrastive_loss(copies, one))
    # ... but when a copy scores a little higher (dropout), it is not punished as wrong
    noisy = copies + torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert contrastive_loss(noisy, same) < contrastive_loss(noisy, one)


def test_embeddings_share_one_space(clip_run, tmp_path):
    photos = write_images(tmp_path / "e", per_class=1, size=40)
    images = sorted(str(p) for p in photos.rglob("*.png"))
    vectors = clip_run.embed(images=images)
    words = clip_run.embed(texts=["a photo of red", "a photo of blue"])
    assert vectors.shape == (3, 16) and words.shape == (2, 16)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    top = clip_run.search("a photo of red", images, 3)
    assert [t["image"] for t in top] == [
        images[i] for i in (vectors @ words[0]).argsort(descending=True)
    ]


def test_onnx_export_of_both_towers(clip_run, tmp_path):
    from tunesmith.export.onnx import export_onnx

    backends = export_onnx(clip_run.path, int8=True, max_drop=100)["backends"]  # tiny model
    pytorch, fp32, int8 = backends["pytorch fp32"], backends["onnx fp32"], backends["onnx int8"]
    assert fp32["max_embedding_difference"] < 1e-4
    for metric in ("zero-shot accuracy", "image-to-text R@1"):
        assert fp32[metric] == pytorch[metric]
    assert "image.int8.onnx" in int8["file"] and "text.int8.onnx" in int8["file"]
    (clip_run.path / "onnx" / "image.int8.onnx").unlink()  # fp32 files are served then
    (clip_run.path / "onnx" / "text.int8.onnx").unlink()
    onnx = tunesmith.load(clip_run.path, backend="onnx")
    assert onnx.backend == "onnx fp32"
    photos = write_images(tmp_path / "o", per_class=1, size=40)
    images = sorted(str(p) for p in photos.rglob("*.png"))
    got, want = (
        onnx.predict(images, labels=list(COLOURS)),
        clip_run.predict(images, labels=list(COLOURS)),
    )
    for a, b in zip(got, want, strict=True):
        assert a["label"] == b["label"]
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)
    words = onnx.embed(texts=["a photo of red"])
    assert torch.allclose(words, clip_run.embed(texts=["a photo of red"]), atol=1e-4)
    top, expected = (
        onnx.search("a photo of red", images, 3),
        clip_run.search("a photo of red", images, 3),
    )
    assert top[0]["image"] == expected[0]["image"]
