"""Preference tuning: DPO on pairs moves held-out preference up, KTO on thumbs, detection, bad
rows named, Chinese pairs, the service's feedback as pairs and thumbs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_rows

import tunesmith
from tunesmith import tasks
from tunesmith.cli import main
from tunesmith.tasks.preference.feedback import PreferenceFeedback

OTHERS = ["No", "Ok", "the", "So", "An", "Hi"]


@pytest.fixture(autouse=True)
def few_samples(monkeypatch):
    """Two short sample answers in the report, not five long ones: the tiny model's answers
    are noise, and generating them was most of each run's time."""
    from tunesmith.tasks.preference import task

    monkeypatch.setattr(task, "SAMPLES", 2)
    monkeypatch.setattr(task, "SAMPLE_TOKENS", 8)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    return path


def pairs(n: int, seed: int = 0) -> list[dict]:
    """The preferred answer starts with "Yes", the other with another word of as many tokens
    (for the tiny tokenizer), so the untrained model has no length to go by."""
    rng = random.Random(seed)
    return [
        {
            "prompt": f"Topic of: {row['text']}",
            "chosen": f"Yes TOPIC={row['label']}",
            "rejected": f"{rng.choice(OTHERS)} TOPIC={row['label']}",
        }
        for row in make_rows(n // 3, seed)
    ]


def settings(model_dir, out, **train) -> dict:
    return {
        "model": str(model_dir),
        "out": str(out),
        "train": {
            "epochs": 4,
            "learning_rate": 5e-3,
            "precision": "fp32",
            "max_length": 48,
            **train,
        },
    }


def test_dpo_moves_held_out_preference_up(tiny_llama_dir, tmp_path, capsys):
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs(90))
    assert tasks.detect(pd.read_json(data, lines=True)) == "preference"
    model = tunesmith.train(data, **settings(tiny_llama_dir, tmp_path / "run"))
    assert "Data read as preference pairs: DPO" in capsys.readouterr().err
    metrics = json.loads((model.path / "metrics.json").read_text())["test"]
    assert metrics["method"] == "dpo" and metrics["count"] >= 8
    assert metrics["accuracy"] > metrics["before"]["accuracy"]
    assert metrics["margin"] > metrics["before"]["margin"]
    assert metrics["reward_accuracy"] > 0.5 and metrics["reward_margin"] > 0
    assert (model.path / "adapter_config.json").is_file()  # LoRA by default
    assert not (model.path / "ref").exists()  # TRL's copy of the adapters is not kept
    report = (model.path / "report.html").read_text(encoding="utf-8")
    assert "preference accuracy" in report and "preference accuracy" in (
        model.path / "README.md"
    ).read_text(encoding="utf-8")
    answer = tunesmith.load(model.path).predict(["Topic of: goal match team"])[0]["text"]
    assert isinstance(answer, str)


def test_kto_on_thumbs_runs_end_to_end(tiny_llama_dir, tmp_path):
    rows = []
    for i, row in enumerate(make_rows(24)):
        good = i % 2 == 0
        answer = f"Yes TOPIC={row['label']}" if good else f"No {row['label']}"
        rows.append({"prompt": f"Topic of: {row['text']}", "completion": answer, "label": good})
    data = write_jsonl(tmp_path / "thumbs.jsonl", rows)
    assert tasks.detect(pd.read_json(data, lines=True)) == "preference"
    model = tunesmith.train(data, **settings(tiny_llama_dir, tmp_path / "run", epochs=1))
    metrics = json.loads((model.path / "metrics.json").read_text())["test"]
    assert metrics["method"] == "kto"
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["before"]["accuracy"] <= 1
    assert {"reward_desirable", "reward_undesirable", "reward_margin"} <= set(metrics)


@pytest.mark.parametrize(
    "bad, line, words",
    [
        ({"chosen": "Yes TOPIC=sport", "rejected": "Yes TOPIC=sport"}, 5, "the same"),
        ({"chosen": "Yes TOPIC=sport", "rejected": None}, 5, "no 'rejected' answer"),
    ],
)
def test_bad_pairs_stop_with_file_and_row(bad, line, words, tmp_path, capsys):
    rows = pairs(9)
    rows[3] = {"prompt": "Topic of: goal"} | bad
    path = tmp_path / "bad.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code = main(["train", str(path), "--model", "smollm2-135m", "--out", str(tmp_path / "r")])
    error = capsys.readouterr().err
    assert code == 2 and f"bad.csv, line {line}" in error and words in error
    assert not (tmp_path / "r").exists()


def test_bad_thumbs_label_names_the_row(tmp_path, capsys):
    rows = [{"prompt": "Topic of: goal", "completion": "TOPIC=sport", "label": "true"}] * 3
    rows = [*rows, {"prompt": "Topic of: vote", "completion": "TOPIC=politics", "label": "meh"}]
    path = tmp_path / "thumbs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    flags = ["--task", "preference", "--model", "smollm2-135m", "--out", str(tmp_path / "r")]
    assert main(["train", str(path), *flags]) == 2
    error = capsys.readouterr().err
    assert "thumbs.csv, line 5, column 'label'" in error and "'meh' is not true or false" in error


def test_chinese_pairs(tiny_llama_dir, tmp_path):
    rng = random.Random(1)
    topics = {"体育": "比赛 球队 进球", "财经": "股票 市场 价格", "科技": "软件 芯片 代码"}
    rows = []
    for i in range(36):
        label, words = rng.choice(list(topics.items()))
        prompt = [{"role": "user", "content": f"这段话的主题：{words} {i}"}]
        rows.append(
            {"prompt": prompt, "chosen": f"是的，主题是{label}", "rejected": f"不知道{label}"}
        )
    data = write_jsonl(tmp_path / "中文.jsonl", rows)
    run = settings(tiny_llama_dir, tmp_path / "run", epochs=1, max_length=128)
    model = tunesmith.train(data, **run)
    metrics = json.loads((model.path / "metrics.json").read_text(encoding="utf-8"))["test"]
    assert "是的" in metrics["samples"][0]["reference"]
    assert 0 <= metrics["accuracy"] <= 1


class _Live:
    def __init__(self, columns):
        self.manifest = {"columns": columns}


def test_feedback_becomes_pairs_or_thumbs():
    rows = [
        {"input": "hi", "label": "Hello there!", "predicted": "hi"},  # a better answer
        {"input": "bye", "label": "Goodbye!", "predicted": "Goodbye!"},  # thumbs up
        {"input": "bye", "label": None, "predicted": "bye"},  # thumbs down, same prompt
        {"input": "你好", "label": None, "predicted": "嗯"},  # a lone thumbs down
    ]
    rules = PreferenceFeedback()
    dpo, unused = rules.records(rows, _Live({"chosen": "c", "rejected": "r"}), str)
    assert unused == 1 and len(dpo) == 2
    assert (
        dpo[0]["chosen"][0]["content"] == "Hello there!"
        and dpo[0]["rejected"][0]["content"] == "hi"
    )
    assert {r["prompt"][0]["content"] for r in dpo} == {"hi", "bye"}
    kto, unused = rules.records(rows, _Live({"completion": "c", "label": "l"}), str)
    assert unused == 0
    flags = sorted((r["completion"][0]["content"], r["label"]) for r in kto)
    assert flags == sorted(
        [("Hello there!", True), ("hi", False), ("Goodbye!", True), ("bye", False), ("嗯", False)]
    )
    assert rules.check("hi", None, "an answer", "down").trains  # a thumbs-down trains here
