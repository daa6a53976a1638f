"""Parity of a GGUF export with the PyTorch model it came from (export/gguf.py).

Tensors: the file is read back with the `gguf` package and every tensor is compared with the
PyTorch weight it was made from, after undoing llama.cpp's converter: its names (gguf's own
tensor name map), the q/k row permutation of the `llama` architecture (llama.cpp rotates
adjacent pairs, transformers the two halves) and Gemma's norm weights stored as 1 + w.
Per storage type: f32 must be exact, f16 must equal the weights rounded to f16, q8_0 must lie
within half a quantisation step of each block of 32 (plus the f16 rounding of the block's
scale); other quantised types (q4_k_m's mix) are measured and reported only.

Answers (only where llama-cpp-python is installed): greedy answers to held-out prompts from
the GGUF through llama.cpp against PyTorch's, token by token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

Q8_STEPS = 0.5 + 127 * 2.0**-11  # half a step, plus the scale's f16 rounding times |q| <= 127
GENERATED = ("rope_freqs",)  # tensors the converter computes from the config, not weights


def field(reader, key: str) -> Any:
    """A metadata value of a GGUFReader: str, number, or list."""
    item = reader.get_field(key)
    if item is None:
        return None
    return item.contents()


def tensor_parity(path: Path, state: dict, config, from_f16: bool = False) -> dict:
    """Every tensor of the GGUF at `path` against `state` (the model's state dict).
    `from_f16`: the file was quantised from an f16 GGUF (q4_k_m), so each weight was rounded
    to f16 before its block was quantised."""
    import gguf

    reader = gguf.GGUFReader(path)
    arch_name = field(reader, "general.architecture")
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    source = {}
    for hf_name in state:
        mapped = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if mapped:
            source[mapped] = hf_name
    types: dict[str, dict] = {}
    unmatched, used = [], set()
    for tensor in reader.tensors:
        hf_name = source.get(tensor.name)
        if hf_name is None:
            if not tensor.name.startswith(GENERATED):
                unmatched.append(tensor.name)
            continue
        used.add(hf_name)
        want = _as_converted(state[hf_name], hf_name, arch_name, config)
        got = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(want.shape)
        kind = tensor.tensor_type.name.lower()
        _measure(types.setdefault(kind, _empty()), kind, got, want, from_f16)
    tied = getattr(config, "tie_word_embeddings", False)
    missing = [n for n in state if n not in used and not (tied and n == "lm_head.weight")]
    for row in types.values():
        row["relative_error"] = float(f"{row['relative_error']:.3g}")
        row["max_abs_error"] = float(f"{row['max_abs_error']:.3g}")
    ok = all(row["within_bound"] is not False for row in types.values())
    return {
        "architecture": arch_name,
        "tensors": len(reader.tensors),
        "by_type": types,
        "not_in_gguf": missing,
        "not_from_model": unmatched,
        "ok": bool(ok and not missing and not unmatched),
    }


def _as_converted(weight, name: str, arch: str, config) -> np.ndarray:
    """The PyTorch weight as the converter writes it (float32 numpy)."""
    array = weight.detach().float().cpu().numpy()
    if arch == "llama" and name.endswith(("q_proj.weight", "k_proj.weight")):
        heads = config.num_attention_heads
        if name.endswith("k_proj.weight"):
            heads = getattr(config, "num_key_value_heads", None) or heads
        shape = array.shape
        array = array.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2)
        array = array.reshape(shape)
    if arch.startswith("gemma") and name.endswith("norm.weight"):
        array = array + 1  # Gemma's RMSNorm scales by 1 + w; llama.cpp stores the sum
    return array


def _empty() -> dict:
    return {"tensors": 0, "max_abs_error": 0.0, "relative_error": 0.0, "within_bound": True}


def _measure(row: dict, kind: str, got: np.ndarray, want: np.ndarray, from_f16: bool) -> None:
    """Fold one tensor into its type's row: the largest error anywhere, the largest relative
    (L2) error of a tensor, and whether the type's bound holds (None: no stated bound)."""
    diff = np.abs(got - want)
    row["tensors"] += 1
    row["max_abs_error"] = max(row["max_abs_error"], float(diff.max(initial=0)))
    norm = float(np.linalg.norm(want))
    relative = float(np.linalg.norm(got - want)) / norm if norm else float(diff.max(initial=0))
    row["relative_error"] = max(row["relative_error"], relative)
    if kind == "f32":
        holds = bool(np.array_equal(got, want))
    elif kind == "f16":  # round-to-nearest of every weight, nothing else
        holds = bool(np.array_equal(got, want.astype(np.float16).astype(np.float32)))
    elif kind == "q8_0":  # blocks of 32 along the rows, one f16 scale (max |w| / 127) each
        blocks = np.abs(want.reshape(-1, 32))
        step = blocks.max(axis=1, keepdims=True) / 127
        rounded = blocks * 2.0**-11 if from_f16 else 0  # f16's half an ulp, at most
        holds = bool((diff.reshape(-1, 32) <= Q8_STEPS * step + rounded + 1e-12).all())
    else:
        row["within_bound"] = None
        return
    row["within_bound"] = bool(row["within_bound"] and holds)


def answer_parity(path: Path, model, tokenizer, prompts: list, max_new_tokens: int = 16) -> dict:
    """Greedy answers to `prompts` from the GGUF (llama-cpp-python) against PyTorch's: the
    share of answer tokens that agree position by position, and of answers that agree whole."""
    import llama_cpp
    import torch

    from tunesmith.tasks.generation.encoding import prompt_text

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, verbose=False, logits_all=False)
    eos = {tokenizer.eos_token_id, llm.token_eos()}
    same_tokens = total = same_answers = 0
    for prompt in prompts:
        ids = tokenizer(prompt_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        theirs = [t for t in out[0, len(ids) :].tolist() if t not in eos]
        ours = []
        for token in llm.generate(ids, top_k=1, temp=0.0, reset=True):
            if token in eos or len(ours) >= max_new_tokens:
                break
            ours.append(token)
        same_tokens += sum(a == b for a, b in zip(ours, theirs, strict=False))
        total += max(len(ours), len(theirs), 1)
        same_answers += ours == theirs
    return {
        "prompts": len(prompts),
        "max_new_tokens": max_new_tokens,
        "token_agreement": round(same_tokens / max(total, 1), 4),
        "same_answers": same_answers,
    }
