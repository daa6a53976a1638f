"""GGUF export of generation runs: llama.cpp's converter, metadata, Modelfile, tensor parity,
on a tiny random Llama run (LoRA adapters, Chinese chats); a tiny Qwen2 trains, and its toy
tokenizer's export is refused in one clear line."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from conftest import CHATML, fast_settings, make_rows, tiny_causal_lm

import tunesmith
from tunesmith.cli import main
from tunesmith.export import gguf as gguf_export

ZH_TOPICS = {
    "体育": "比赛 球队 进球 教练 冠军",
    "财经": "股市 银行 利润 价格 投资",
    "科技": "手机 电脑 芯片 网络 软件",
}


def chinese_chats(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    chats = []
    for i in range(n):
        label = list(ZH_TOPICS)[i % 3]
        words = rng.sample(ZH_TOPICS[label].split(), 3)
        chats.append(
            {
                "messages": [
                    {"role": "user", "content": f"这段话的主题：{''.join(words)}"},
                    {"role": "assistant", "content": f"主题={label}"},
                ]
            }
        )
    return chats


def train(model_dir: Path, folder: Path, chats: list[dict], **train) -> Path:
    data = folder / "chats.jsonl"
    data.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in chats), "utf-8")
    settings = {"epochs": 1, "learning_rate": 3e-3, "precision": "fp32", "max_length": 48}
    out = folder / "run"
    tunesmith.train(
        data, model=str(model_dir), out=str(out), task="generation", train=settings | train
    )
    return out


def files(run: Path) -> dict[str, str]:
    """Every file of the run outside gguf/, with its hash."""
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.relative_to(run).parts[0] != "gguf"
    }


@pytest.fixture(scope="module")
def llama_run(tmp_path_factory) -> Path:
    base = tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama-smol"), "llama", CHATML)
    return train(base, tmp_path_factory.mktemp("llama"), chinese_chats(18))


def metadata(path: Path) -> dict:
    import gguf

    from tunesmith.export.gguf_parity import field

    reader = gguf.GGUFReader(path)
    keys = ("tokenizer.chat_template", "tokenizer.ggml.eos_token_id", "general.architecture")
    return {key: field(reader, key) for key in keys}


def test_a_lora_llama_run_exports_f16_and_q8_0_with_parity(llama_run, tmp_path, capsys):
    from transformers import AutoTokenizer

    assert (llama_run / "adapter_config.json").is_file()  # the run holds adapters only
    before = files(llama_run)
    assert main(["export", str(llama_run), "--format", "gguf"]) == 0
    printed = capsys.readouterr().err
    folder = llama_run / "gguf"
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "model.gguf", "parity.json"]
    report = json.loads((folder / "parity.json").read_text())
    tensors = report["tensors"]
    # ok: every tensor matched, q/k with the converter's permutation undone
    assert tensors["ok"] and tensors["architecture"] == "llama", tensors
    assert not tensors["not_in_gguf"] and not tensors["not_from_model"]
    f16 = tensors["by_type"]["f16"]
    assert f16["within_bound"] and 0 < f16["relative_error"] < 1e-3  # rounding, no more
    assert tensors["by_type"]["f32"]["max_abs_error"] == 0  # norms and biases stay f32
    assert "llama-cpp-python" in report["answers"]["skipped"]
    assert "f16" in printed and "within bound" in printed

    tokenizer = AutoTokenizer.from_pretrained(llama_run)
    meta = metadata(folder / "model.gguf")
    assert meta["tokenizer.chat_template"] == tokenizer.chat_template
    assert meta["tokenizer.ggml.eos_token_id"] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    modelfile = (folder / "Modelfile").read_text()
    assert "FROM ./model.gguf" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "TEMPLATE" in modelfile  # the run's template is ChatML

    assert (
        main(
            [
                "export",
                str(llama_run),
                "--format",
                "gguf",
                "--quant",
                "q8_0",
                "--out",
                str(tmp_path / "q8"),
            ]
        )
        == 0
    )
    q8 = json.loads((tmp_path / "q8" / "parity.json").read_text())["tensors"]
    assert q8["ok"] and q8["by_type"]["q8_0"]["within_bound"]
    # measured: q8_0 costs more than f16's rounding, and stays within a few percent
    assert f16["relative_error"] < q8["by_type"]["q8_0"]["relative_error"] < 0.02
    assert files(llama_run) == before  # the run's files are only read
    assert not [p for p in llama_run.iterdir() if p.name.startswith(".")]


def test_the_parity_check_catches_a_changed_weight(llama_run):
    from tunesmith.api import load
    from tunesmith.export.gguf_parity import tensor_parity

    if not (llama_run / "gguf").exists():
        gguf_export.export_gguf(llama_run, "f16")
    model = load(llama_run).model
    state = dict(model.state_dict())
    name = "model.layers.0.self_attn.q_proj.weight"
    state[name] = state[name].clone()
    state[name][0, 0] += 0.01
    changed = tensor_parity(llama_run / "gguf" / "model.gguf", state, model.config)
    assert not changed["ok"] and changed["by_type"]["f16"]["within_bound"] is False


def test_the_modelfile_spells_out_chatml_only():
    from transformers import AutoTokenizer

    from tunesmith.export.modelfile import modelfile
    from tunesmith.models.gguf import smollm2_folder

    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder())  # adds a default system turn
    own = modelfile(tokenizer)
    assert "\nTEMPLATE" not in own and 'PARAMETER stop "<|im_end|>"' in own
    tokenizer.chat_template = CHATML
    assert '\nTEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}' in modelfile(tokenizer)


def test_a_qwen2_run_trains_on_chinese_and_an_unknown_tokenizer_is_refused(
    tiny_qwen2_dir, tmp_path, capsys
):
    run = train(tiny_qwen2_dir, tmp_path, chinese_chats(12), lora=False, max_length=96)
    model = tunesmith.load(run)
    assert type(model.model).__name__ == "Qwen2ForCausalLM"
    text = "这段话的主题：股市银行"
    assert model.processor.decode(model.processor(text)["input_ids"]) == text
    assert isinstance(model.predict(text, max_new_tokens=4)["text"], str)
    # a toy tokenizer's BPE pre-tokenizer is unknown to llama.cpp: refused, nothing written
    assert main(["export", str(run), "--format", "gguf"]) == 2
    err = capsys.readouterr().err
    assert "does not know this model's tokenizer" in err and not (run / "gguf").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_other_tasks_and_q4_k_m_without_llama_cpp_are_refused_first(
    tiny_model_dir, llama_run, tmp_path, capsys, monkeypatch
):
    import pandas as pd

    data = tmp_path / "rows.csv"
    pd.DataFrame(make_rows(10)).to_csv(data, index=False)
    run = tunesmith.train(data, **fast_settings(tiny_model_dir, tmp_path / "cls", epochs=1)).root
    assert main(["export", str(run), "--format", "gguf"]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "not text-classification" in err, err
    assert "is not one" in err and not (run / "gguf").exists()

    monkeypatch.setattr(gguf_export, "llama_cpp_python", lambda: None)
    out = tmp_path / "q4"
    assert (
        main(["export", str(llama_run), "--format", "gguf", "--quant", "q4_k_m", "--out", str(out)])
        == 2
    )
    err = capsys.readouterr().err
    assert "pip install 'tunesmith[llamacpp]'" in err and not out.exists()
    assert main(["export", str(llama_run), "--format", "gguf", "--int8"]) == 2
    assert "--int8 does not apply to --format gguf" in capsys.readouterr().err
    # a folder the export did not write is never replaced (the run itself, for one)
    monkeypatch.undo()
    assert main(["export", str(llama_run), "--format", "gguf", "--out", str(llama_run)]) == 2
    assert "is not an earlier GGUF export" in capsys.readouterr().err
    assert (llama_run / "tunesmith.json").is_file()
