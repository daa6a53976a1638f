"""Image classification on a tiny random ViT: folders and CSV in, bad images sorted out, the
run reloads, predicts files and folders, and loads with transformers alone."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_images

import tunesmith
from tunesmith.cli import main


def image_settings(model_dir, out, **train):
    return {
        "model": str(model_dir),
        "out": str(out),
        "train": {
            "epochs": 6,
            "learning_rate": 3e-3,
            "batch_size": 8,
            "precision": "fp32",
            "freeze": "none",
            **train,
        },
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_vit_dir):
    root = write_images(tmp_path_factory.mktemp("photos") / "photos")
    (root / "red" / "not_an_image.jpg").write_text("hello")  # a text file named .jpg
    jpeg = root / "green" / "truncated.jpg"
    shutil.copy(root / "green" / "0.png", jpeg.with_suffix(".png.tmp"))
    from PIL import Image

    Image.open(jpeg.with_suffix(".png.tmp")).save(jpeg, quality=90)
    jpeg.write_bytes(jpeg.read_bytes()[:300])  # cut short
    jpeg.with_suffix(".png.tmp").unlink()
    shutil.copy(root / "blue" / "1.png", root / "blue" / "copy_of_1.png")  # same bytes
    out = tmp_path_factory.mktemp("runs") / "photos"
    model = tunesmith.train(root, **image_settings(tiny_vit_dir, out))
    return root, model


def test_trains_on_class_folders_and_sorts_out_bad_images(trained, capsys):
    root, model = trained
    assert model.task.name == "image-classification"
    assert model.metrics["test"]["accuracy"] >= 0.8, model.metrics["test"]
    report = (model.path / "report.html").read_text()
    assert "Dropped 1 image(s): unreadable" in report
    assert "Dropped 1 image(s): truncated" in report
    assert "exact duplicate" in report  # the copy of blue/1.png
    assert (model.path / "image_model.json").is_file()


def test_reloads_and_predicts_images_and_folders(trained, tmp_path, capsys):
    root, model = trained
    again = tunesmith.load(model.path)
    answer = again.predict(str(root / "red" / "3.png"))
    assert answer["label"] == "red" and 0 < answer["score"] <= 1
    out = tmp_path / "predictions.csv"
    assert (
        main(["predict", str(model.path), "--input", str(root / "blue"), "--output", str(out)]) == 0
    )
    table = pd.read_csv(out)
    assert set(table.columns) >= {"image", "predicted_label", "score"}
    assert (table["predicted_label"] == "blue").mean() >= 0.8


def test_saved_run_loads_with_transformers_alone(trained):
    from PIL import Image
    from transformers import pipeline

    root, model = trained
    classify = pipeline("image-classification", model=str(model.path))
    best = classify(Image.open(root / "green" / "2.png"))[0]
    assert best["label"] == "green"


def test_csv_with_relative_image_paths(trained, tmp_path, tiny_vit_dir):
    root, _ = trained
    rows = [
        {"path": f"photos/{p.parent.name}/{p.name}", "label": p.parent.name}
        for p in sorted(root.glob("*/[0-9]*.png"))
    ]
    shutil.copytree(root, tmp_path / "photos")
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    model = tunesmith.train(
        tmp_path / "labels.csv", **image_settings(tiny_vit_dir, tmp_path / "run", epochs=1)
    )
    assert model.manifest["columns"] == {"image": "path", "label": "label"}


def test_doctor_flags_near_duplicate_and_blurry_images(tmp_path, capsys):
    from PIL import Image, ImageFilter

    root = write_images(tmp_path / "photos", per_class=6, size=64)
    source = Image.open(root / "red" / "0.png")
    source.resize((60, 60)).save(root / "red" / "resized.png")  # a near copy
    source.filter(ImageFilter.GaussianBlur(8)).save(root / "red" / "blurred.png")
    assert main(["inspect", str(root), "--json", "--report", str(tmp_path / "r")]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    checks = {f["check"]: f for f in report["findings"]}
    assert report["task"] == "image-classification"
    near = sorted(Path(row).name for row in checks["near duplicates"]["rows"])
    assert near == ["0.png", "resized.png"]
    assert [Path(row).name for row in checks["blurry"]["rows"]] == ["blurred.png"]


def test_label_studio_image_export_finds_images_beside_it(tmp_path):
    import json

    from tunesmith.data.readers import read_table
    from tunesmith.tasks import get

    root = write_images(tmp_path / "classes", per_class=2)
    media = tmp_path / "media"  # what a user downloads from Label Studio: flat files
    media.mkdir()
    tasks = []
    for photo in sorted(root.glob("*/*.png")):
        name = f"{photo.parent.name}_{photo.name}"
        shutil.copy(photo, media / name)
        choice = {"choices": [photo.parent.name]}
        tasks.append(
            {
                "data": {"image": f"/data/upload/7/{name}"},
                "annotations": [{"result": [{"type": "choices", "value": choice}]}],
            }
        )
    export = media / "export.json"
    export.write_text(json.dumps(tasks))
    table = read_table(export)
    examples = get("image-classification").prepare(table, str(export), {})
    assert len(examples) == 6
    assert sorted(set(examples.frame["label"])) == ["blue", "green", "red"]


def test_discriminative_learning_rate_trains_the_backbone_slower(tiny_vit_dir, tmp_path):
    from tunesmith.config import TrainConfig
    from tunesmith.tasks import get

    task = get("image-classification")
    model, _ = task.load_model(str(tiny_vit_dir), ["a", "b"], str(tiny_vit_dir))
    groups = task.parameter_groups(model, TrainConfig(learning_rate=1e-3, backbone_lr_scale=0.1))
    rates = sorted({round(g["lr"], 8) for g in groups})
    assert rates == [1e-4, 1e-3]
    head = [g for g in groups if g["lr"] == 1e-3]
    assert sum(p.numel() for g in head for p in g["params"]) == 32 * 2 + 2  # the new head
    assert task.parameter_groups(model, TrainConfig()) is None  # default: one rate
    root = write_images(tmp_path / "photos", per_class=10)
    settings = image_settings(tiny_vit_dir, tmp_path / "run", epochs=1, backbone_lr_scale=0.1)
    assert tunesmith.train(root, **settings).metrics["test"]["count"] > 0


def bad_images(folder: Path) -> None:
    """An unreadable file and a 60-megapixel image (training refuses anything over 50)."""
    from PIL import Image

    (folder / "not_an_image.jpg").write_text("hello")
    Image.new("1", (10_000, 6_000)).save(folder / "huge.png")  # bilevel: a small file


def test_predict_on_a_folder_skips_bad_images_and_writes_the_rest(trained, tmp_path, capsys):
    root, model = trained
    folder = tmp_path / "inbox"
    shutil.copytree(root / "red", folder)
    bad_images(folder)
    out = tmp_path / "predictions.csv"
    code = main(["predict", str(model.path), "--input", str(folder), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    table = pd.read_csv(out, keep_default_na=False).set_index("file")
    assert len(table) == len(list(folder.iterdir()))
    assert table.loc["huge.png", "skipped"] == "larger than 50,000,000 pixels"
    assert table.loc["not_an_image.jpg", "skipped"] == "unreadable"
    assert table.loc["huge.png", "predicted_label"] == ""
    good = table[table["skipped"] == ""]
    assert len(good) == len(table) - 2 and (good["predicted_label"] == "red").mean() >= 0.8
    assert "Skipped 2 image(s)" in err and "huge.png" in err and "not_an_image.jpg" in err


def test_predict_on_a_folder_of_only_bad_images_fails_cleanly(trained, tmp_path, capsys):
    _, model = trained
    folder = tmp_path / "inbox"
    folder.mkdir()
    bad_images(folder)
    out = tmp_path / "predictions.csv"
    code = main(["predict", str(model.path), "--input", str(folder), "--output", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith("error: ") and "none of the 2 image(s) can be used" in err
    assert not out.exists()


@pytest.mark.parametrize("name", ["not_an_image.jpg", "huge.png"])
def test_predict_one_bad_image_is_a_one_line_error(trained, tmp_path, capsys, name):
    _, model = trained
    bad_images(tmp_path)
    code = main(["predict", str(model.path), "--image", str(tmp_path / name)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert name in err and "Fix:" in err


def test_predict_on_a_table_skips_images_outside_its_folder(trained, tmp_path, capsys):
    root, model = trained
    shutil.copy(root / "red" / "0.png", tmp_path / "secret.png")
    (tmp_path / "inbox").mkdir()
    shutil.copy(root / "red" / "1.png", tmp_path / "inbox" / "mine.png")
    table = tmp_path / "inbox" / "images.csv"
    table.write_text("image\nmine.png\n../secret.png\n")
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(model.path), "--input", str(table), "--output", str(out)]) == 0
    rows = pd.read_csv(out, keep_default_na=False)
    assert rows["skipped"].tolist() == ["", "outside the data folder"]
    assert rows["predicted_label"].tolist()[1] == ""
