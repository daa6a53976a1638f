"""Real ImageNet weights (packaged MobileNetV2 and EfficientNet-Lite0) on real photos, offline."""

import json
import shutil
from pathlib import Path

import pytest
import sklearn

import tunesmith
from tunesmith.packaged import textile_images

pytestmark = pytest.mark.integration
PHOTOS = Path(sklearn.__file__).parent / "datasets" / "images"
PALACE = 698  # ImageNet class of scikit-learn's china.jpg (the Summer Palace)


@pytest.mark.parametrize("name", ["mobilenet-v2", "efficientnet-lite0"])
def test_packaged_weights_and_their_preprocessing_recognise_a_photo(name):
    import torch

    from tunesmith.data.image_dataset import decode, transforms_for
    from tunesmith.models.vision import BUILDERS

    net, prep = BUILDERS[name]()
    pixels = transforms_for(prep, training=False)(decode(str(PHOTOS / "china.jpg"), prep))
    with torch.no_grad():
        assert net.eval()(pixels.unsqueeze(0)).argmax().item() == PALACE


@pytest.fixture(scope="module")
def textile_slice(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("textile")
    for folder in sorted(textile_images().iterdir()):
        (target / folder.name).mkdir()
        for photo in sorted(folder.glob("*.jpg"))[:30]:
            shutil.copy(photo, target / folder.name / photo.name)
    return target


def test_mobilenet_fine_tunes_and_reloads_with_torchvision_alone(textile_slice, tmp_path):
    import torch
    import torchvision
    from safetensors.torch import load_file

    from tunesmith.data.image_dataset import decode, transforms_for
    from tunesmith.models.vision import Preprocessing

    model = tunesmith.train(
        textile_slice, model="mobilenet-v2", out=str(tmp_path / "run"), train={"epochs": 2}
    )
    assert model.manifest["task"] == "image-classification"
    assert "freeze: head" in (model.path / "run_config.yaml").read_text()  # small data: a probe
    photo = str(next((textile_slice / "global").glob("*.jpg")))
    ours = model.predict(photo)
    info = json.loads((model.path / "image_model.json").read_text())
    net = torchvision.models.get_model(info["architecture"], num_classes=len(info["labels"]))
    state = load_file(model.path / "model.safetensors")
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})
    prep = Preprocessing.load(model.path)
    with torch.no_grad():
        probs = net.eval()(transforms_for(prep, False)(decode(photo, prep)).unsqueeze(0))
    probs = probs.softmax(-1)[0].tolist()
    assert info["labels"][max(range(3), key=probs.__getitem__)] == ours["label"]
    assert max(probs) == pytest.approx(ours["score"], abs=1e-4)
    assert "Use it" in (model.path / "README.md").read_text()
