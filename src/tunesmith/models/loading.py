"""Turn what the user typed after --model into something `from_pretrained` can load.

A catalog name, a local folder, or a Hugging Face id. With no network, a hub id that is not
cached fails with a message that names the offline alternatives instead of a stack of HTTP errors.
"""

from __future__ import annotations

import os
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.models.catalog import CATALOG, TORCHVISION_MODELS


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def resolve(name: str) -> tuple[str, str]:
    """Return (loadable source, human description) for a model name, folder or hub id."""
    if name.lower() in TORCHVISION_MODELS or name.startswith("torchvision/"):
        where = TORCHVISION_MODELS.get(name.lower(), "torchvision's ImageNet weights")
        return name, f"{name} ({where})"
    if "+" in name and not Path(name).exists():  # an image tower + a text tower (image-text)
        image, text = name.split("+", 1)
        if not (image.lower() in TORCHVISION_MODELS or image.startswith("torchvision/")):
            raise TunesmithError(
                f"{image!r} is not a torchvision image model",
                where=f"--model {name}",
                fix="write the image tower first: mobilenet-v2+minilm-l6",
            )
        resolve(text)  # an unknown text tower fails now
        return name, f"dual encoder: image tower {image} + text tower {text}, new projections"
    entry = CATALOG.get(name.lower())
    if entry:
        local = entry.local_dir()
        if local:
            how = "converted from packaged weights, cached" if entry.build else "packaged weights"
            return str(local), f"{entry.name} ({how} in {local})"
        if _offline():
            raise TunesmithError(
                f"catalog model {entry.name!r} is not installed and the hub is offline",
                where=f"--model {name}",
                fix=f"run `{entry.install_hint}`",
            )
        return entry.hub_id, f"{entry.name} ({entry.hub_id} from the Hugging Face Hub)"
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        from tunesmith.models.gguf import gguf_to_folder

        folder = gguf_to_folder(path)
        return str(folder), f"GGUF file {path} (dequantised, cached in {folder})"
    if path.exists():
        if not (path / "config.json").is_file():
            raise TunesmithError(
                "this folder holds no config.json, so it is not a model folder",
                where=f"--model {name}",
                fix="point to a folder saved with save_pretrained(), or use a "
                f"catalog name ({', '.join(CATALOG)})",
            )
        return str(path), f"local model {path}"
    if name.count("/") > 1 or name.startswith((".", "/")):
        raise TunesmithError(
            "no such model folder",
            where=f"--model {name}",
            fix=f"check the path, or use a catalog name ({', '.join(CATALOG)})",
        )
    return name, f"{name} (Hugging Face Hub)"


def load_or_explain(loader, source: str, flag_value: str, **kwargs):
    """Call `loader.from_pretrained(source, ...)`, turning 'cannot fetch' into a clear error."""
    import pickle

    try:
        return loader.from_pretrained(source, **kwargs)
    except pickle.UnpicklingError:
        raise unsafe_weights(f"--model {flag_value}") from None
    except OSError as exc:
        reason = (
            "the hub is offline and it is not in the local cache"
            if _offline()
            else str(exc).splitlines()[0]
        )
        raise TunesmithError(
            f"cannot load model {flag_value!r}: {reason}",
            where=f"--model {flag_value}",
            fix=f"use a catalog name ({', '.join(CATALOG)}), a local model folder, or go online "
            "and check the model id",
        ) from None


def unsafe_weights(where: str) -> TunesmithError:
    """A pickled weights file that holds more than tensors: refused, never run."""
    return TunesmithError(
        "a weights file was refused: it is a pickle holding Python objects other than tensors, "
        "which could run code on this machine, so it was not loaded",
        where=where,
        fix="use weights in safetensors format (model.safetensors) from a source you trust",
    )


def load_with_new_head(
    model_class, source: str, labels: list[str], flag_value: str, processor_class=None
):
    """A pretrained model with a fresh head sized to `labels` (names saved in its config), and
    its tokenizer (or `processor_class`, e.g. an image processor). A checkpoint that already has
    a head of another size gets a fresh one."""
    from transformers import AutoTokenizer

    tokenizer = load_or_explain(processor_class or AutoTokenizer, source, flag_value)
    model = load_or_explain(
        model_class,
        source,
        flag_value,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )
    return model, tokenizer
