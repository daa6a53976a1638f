"""Generation: data shapes, answer-only labels, packing, LoRA training, merged model, prediction."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_chats, make_rows

import tunesmith
from tunesmith.cli import main
from tunesmith.data.conversations import detect_shape, to_examples
from tunesmith.errors import TunesmithError
from tunesmith.tasks.generation import encoding as lm


def settings(model_dir: Path, out: Path, **train) -> dict:
    return {
        "model": str(model_dir),
        "out": str(out),
        "task": "generation",
        "train": {"epochs": 2, "learning_rate": 3e-3, "precision": "fp32", **train},
    }


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    return path


@pytest.fixture(scope="module")
def chat_run(tiny_llama_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("chat-run")
    data = write_jsonl(folder / "chats.jsonl", make_chats(90))
    model = tunesmith.train(data, **settings(tiny_llama_dir, folder / "run", merge=True))
    return model.root


def test_shapes_are_detected_and_normalised():
    openai = pd.DataFrame(
        {"messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]]}
    )
    sharegpt = pd.DataFrame(
        {"conversations": [[{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]]}
    )
    alpaca = pd.DataFrame({"instruction": ["Add"], "input": ["2 and 3"], "output": ["5"]})
    text = pd.DataFrame({"text": ["Once upon a time."]})
    expected = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    for table in (openai, sharegpt):
        shape = detect_shape(table, "d.jsonl")
        assert shape.kind == "chat"
        assert to_examples(table, shape, "d.jsonl")[0] == [expected]
    shape = detect_shape(alpaca, "d.jsonl")
    assert shape.kind == "instruction"
    assert to_examples(alpaca, shape, "d.jsonl")[0] == [
        [{"role": "user", "content": "Add\n\n2 and 3"}, {"role": "assistant", "content": "5"}]
    ]
    assert detect_shape(text, "d.txt").kind == "text"
    assert tunesmith.tasks.detect(openai) == "generation"
    assert tunesmith.tasks.detect(alpaca) == "generation"


def test_only_answer_tokens_carry_labels(tiny_llama_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    chat = [
        {"role": "user", "content": "Topic of: goal match"},
        {"role": "assistant", "content": "TOPIC=sport"},
        {"role": "user", "content": "and: shares bank"},
        {"role": "assistant", "content": "TOPIC=business"},
    ]
    columns, counts = lm.encode_chats(tokenizer, [chat], max_length=256)
    ids, labels = columns["input_ids"][0], columns["labels"][0]
    learned = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != lm.IGNORE])
    assert learned == "TOPIC=sport<|im_end|>\nTOPIC=business<|im_end|>\n"
    assert "Topic of" not in learned and "shares" not in learned
    assert counts == {"truncated": 0, "no_answer_left": 0, "unmasked": 0}
    # cut before the first answer: nothing to learn, so the example is skipped and counted
    _, counts = lm.encode_chats(tokenizer, [chat[:2]], max_length=6)
    assert counts["no_answer_left"] == 1 and counts["truncated"] == 1


def test_plain_text_is_packed_into_full_blocks(tiny_llama_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    texts = [r["text"] for r in make_rows(10)]
    columns = lm.encode_texts(tokenizer, texts, max_length=32)
    total = sum(len(tokenizer(t)["input_ids"]) + 1 for t in texts)  # + end-of-text each
    assert sum(len(b) for b in columns["input_ids"]) == total
    assert all(len(b) == 32 for b in columns["input_ids"][:-1])
    assert columns["labels"] == columns["input_ids"]
    packed = lm.pack({"input_ids": [[1] * 10] * 5, "labels": [[2] * 10] * 5}, max_length=25)
    assert [len(b) for b in packed["input_ids"]] == [20, 20, 10]


def test_lora_run_learns_and_reports_before_and_after(chat_run):
    metrics = json.loads((chat_run / "metrics.json").read_text())["test"]
    assert metrics["perplexity"] < metrics["before"]["perplexity"]
    assert len(metrics["samples"]) == 5 and all("before" in s for s in metrics["samples"])
    assert (chat_run / "adapter_config.json").is_file()
    assert not (chat_run / "model.safetensors").exists()  # adapters only, plus merged/
    report = (chat_run / "report.html").read_text()
    assert "Before and after fine-tuning" in report and "Sample generations" in report
    assert "only the answers" in report
    config = (chat_run / "run_config.yaml").read_text()
    assert "lora: true" in config and "learning_rate: 0.003" in config


def test_merged_model_loads_with_transformers_alone_and_matches(chat_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(chat_run / "merged")
    tokenizer = AutoTokenizer.from_pretrained(chat_run / "merged")
    model = tunesmith.load(chat_run)
    prompt = lm.prompt_text(model.processor, "Topic of: goal match team")
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        ours = model.model(**enc).logits
        theirs = merged(**enc).logits
    assert torch.allclose(ours, theirs, atol=1e-4)
    greedy = merged.generate(**enc, max_new_tokens=8, do_sample=False)
    expected = tokenizer.decode(greedy[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert model.predict("Topic of: goal match team", max_new_tokens=8)["text"] == expected.strip()


def test_predict_streams_and_prints_json(chat_run, capsys):
    model = tunesmith.load(chat_run)
    whole = model.predict("Topic of: shares market", max_new_tokens=12)["text"]
    assert "".join(model.stream("Topic of: shares market", max_new_tokens=12)).strip() == whole
    assert (
        main(
            [
                "predict",
                str(chat_run),
                "--prompt",
                "Topic of: shares market",
                "--max-new-tokens",
                "12",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == whole
    assert (
        main(
            [
                "predict",
                str(chat_run),
                "--prompt",
                "Topic of: goal",
                "--json",
                "--temperature",
                "0.9",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    line = json.loads(capsys.readouterr().out)
    assert line["prompt"] == "Topic of: goal" and isinstance(line["text"], str)
    assert main(["predict", str(chat_run), "--prompt", "x", "--top-p", "0"]) == 2
    assert "--top-p" in capsys.readouterr().err


def test_evaluate_scores_new_data_by_perplexity(chat_run, tmp_path):
    data = write_jsonl(tmp_path / "more.jsonl", make_chats(12, seed=5))
    metrics = tunesmith.evaluate(chat_run, data)
    assert metrics["count"] == 12 and metrics["perplexity"] > 1 and metrics["tokens"] > 0


def test_full_fine_tune_instruction_and_text_data(tiny_llama_dir, tmp_path):
    rows = make_rows(20)
    alpaca = pd.DataFrame(
        {
            "instruction": ["Topic?"] * len(rows),
            "input": [r["text"] for r in rows],
            "output": [r["label"] for r in rows],
        }
    )
    alpaca.to_csv(tmp_path / "alpaca.csv", index=False)
    full = tunesmith.train(
        tmp_path / "alpaca.csv",
        **settings(tiny_llama_dir, tmp_path / "full", lora=False, learning_rate=1e-3),
    )
    assert (full.path / "model.safetensors").is_file()
    assert full.metrics["test"]["perplexity"] < full.metrics["test"]["before"]["perplexity"]
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(30):
        (notes / f"{i}.txt").write_text(" ".join(r["text"] for r in make_rows(2, seed=i)), "utf-8")
    text_run = tunesmith.train(
        notes, **settings(tiny_llama_dir, tmp_path / "text", packing=True, max_length=32)
    )
    assert text_run.processor.tunesmith_chat is False  # plain-text runs continue prompts
    assert isinstance(text_run.predict("goal match", max_new_tokens=4)["text"], str)


def test_bad_generation_data_is_named(tiny_llama_dir, tmp_path, capsys):
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [{"messages": [{"role": "narrator", "content": "x"}]}] * 10
    )
    code = main(
        [
            "train",
            str(bad),
            "--task",
            "generation",
            "--model",
            str(tiny_llama_dir),
            "--out",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "record 1" in err and "known role" in err
    assert not (tmp_path / "r").exists()
    silent = write_jsonl(
        tmp_path / "silent.jsonl", [{"messages": [{"role": "user", "content": "x"}]}] * 10
    )
    code = main(
        [
            "train",
            str(silent),
            "--task",
            "generation",
            "--model",
            str(tiny_llama_dir),
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert code == 2 and "no rows left" in capsys.readouterr().err
    with pytest.raises(TunesmithError, match="lora_targets"):
        tunesmith.train(
            write_jsonl(tmp_path / "c.jsonl", make_chats(30)),
            **settings(tiny_llama_dir, tmp_path / "t", lora_targets="no_such_layer"),
        )


def test_service_answers_prompts(chat_run):
    from fastapi.testclient import TestClient

    from tunesmith.serving.app import create_app

    expected = tunesmith.load(chat_run).predict(["Topic of: goal", "Topic of: shares"])
    with TestClient(create_app(chat_run)) as client:
        info = client.get("/v1/model").json()
        assert info["task"] == "generation" and info["labels"] == []
        response = client.post(
            "/v1/predict", json={"inputs": ["Topic of: goal", "Topic of: shares"]}
        )
    assert response.status_code == 200
    assert response.json()["outputs"] == expected


def test_predict_file_of_prompts_chats_and_instructions(chat_run, tmp_path):
    from tunesmith.prediction_files import predict_file

    model = tunesmith.load(chat_run)
    chats = tmp_path / "chats.jsonl"
    chats.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Topic of: goal"},
                    {"role": "assistant", "content": "x"},
                    {"role": "user", "content": "Topic of: shares"},
                ]
            }
        )
        + "\n"
    )
    predict_file(chat_run, chats, tmp_path / "a.jsonl", None)
    out = json.loads((tmp_path / "a.jsonl").read_text())
    chat = [
        {"role": "user", "content": "Topic of: goal"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "Topic of: shares"},
    ]
    assert out["generated"] == model.predict(chat)["text"]
    pd.DataFrame({"instruction": ["Topic of:"], "input": ["goal match"]}).to_csv(
        tmp_path / "i.csv", index=False
    )
    predict_file(chat_run, tmp_path / "i.csv", tmp_path / "b.csv", None)
    assert pd.read_csv(tmp_path / "b.csv")["generated"].fillna("").tolist() == [
        model.predict("Topic of:\n\ngoal match")["text"]
    ]


def test_model_card_names_the_library_that_loads_the_run(chat_run):
    card = (chat_run / "README.md").read_text()
    assert "library_name: peft" in card and "AutoPeftModelForCausalLM" in card


def test_onnx_export_of_a_generation_run_says_why_not_and_what_instead(chat_run, capsys):
    from tunesmith.cli import main

    assert main(["export", str(chat_run), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "GGUF for llama.cpp" in err and "tunesmith serve RUN" in err
    assert len(err.strip().splitlines()) == 1 and not (chat_run / "onnx").exists()
