"""The offline dual encoder (packaged MobileNetV2 + MiniLM-L6) on real textile photos."""

import shutil

import pytest

import tunesmith
from tunesmith.packaged import textile_images

pytestmark = pytest.mark.integration


def test_dual_encoder_learns_zero_shot_textile_classes(tmp_path):
    source = textile_images()
    data = tmp_path / "textiles"
    for name in ("global", "local", "nominal"):  # 120 photos a class keep this test short
        (data / name).mkdir(parents=True)
        for photo in sorted((source / name).glob("*.jpg"))[:120]:
            shutil.copy(photo, data / name / photo.name)
    model = tunesmith.train(
        data,
        task="image-text",
        model="mobilenet-v2+minilm-l6",
        out=str(tmp_path / "run"),
        data={"caption_template": "a close-up photo of {label} fabric"},
        train={"epochs": 3},
    )
    test = model.metrics["test"]
    assert test["before"]["zero_shot_accuracy"] < 0.5  # untrained projections: about chance
    assert test["zero_shot_accuracy"] > test["before"]["zero_shot_accuracy"] + 0.15
    photo = str(sorted((data / "nominal").glob("*.jpg"))[-1])
    answer = model.predict(photo, labels=["global", "local", "nominal"])
    assert set(answer["scores"]) == {"global", "local", "nominal"}
