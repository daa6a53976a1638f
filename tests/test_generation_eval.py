"""Answer scores of generation runs: exact match, ROUGE-L (English and Chinese) and valid JSON,
before and after fine-tuning, in metrics.json, the report, the model card and the printed line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from conftest import make_rows

import tunesmith
from tunesmith.evaluation.parity import split_examples
from tunesmith.tasks.base import Examples
from tunesmith.tasks.generation import answer_metrics as am

ZH_TOPICS = {"sport": "体育", "business": "财经", "tech": "科技"}


def test_exact_match_ignores_only_white_space():
    answers = ["The  cat\nsat ", "the cat sat", "a dog"]
    references = ["The cat sat", "The cat sat", "a cat"]
    assert am.exact_match(answers, references) == round(1 / 3, 4)  # case still counts
    assert am.exact_match(["价格是 42 元"], ["价格是  42\t元"]) == 1.0
    assert am.exact_match(["价格是42元"], ["价格是 42 元"]) == 0.0


def test_rouge_l_in_english_by_hand():
    # LCS "the cat on the mat": 5 of 6 units either side, so P = R = F1 = 5/6
    assert am.rouge_l(["the cat sat on the mat"], ["the cat lay on the mat"]) == round(5 / 6, 4)
    # "cat" against "the cat sat": P = 1, R = 1/3, F1 = 2PR / (P + R) = 0.5
    assert am.rouge_l(["cat"], ["the cat sat"]) == 0.5
    assert am.rouge_l(["Hello, World!"], ["hello world"]) == 1.0  # case and punctuation aside
    assert am.rouge_l(["cat", "dog"], ["cat", "bird"]) == 0.5  # the mean over answers


def test_rouge_l_in_chinese_counts_characters():
    from rouge_score.rouge_scorer import RougeScorer

    # rouge_score's own tokenizer keeps a-z and 0-9 only: Chinese would score 0 even when equal
    assert RougeScorer(["rougeL"]).score("今天天气很好", "今天天气很好")["rougeL"].fmeasure == 0
    assert am.rouge_l(["今天天气很好"], ["今天天气很好"]) == 1.0
    assert am.rouge_l(["猫在睡觉"], ["股票上涨"]) == 0.0
    # LCS 今天天气好: 5 of 6 characters either side
    assert am.rouge_l(["今天天气不好"], ["今天天气很好"]) == round(5 / 6, 4)
    # mixed text: units 价 格 是 42 元, white space or not
    assert am.rouge_l(["价格是42元。"], ["价格是 42 元"]) == 1.0
    assert am.Units().tokenize("今天 OK, fine_tuned 42") == [
        "今",
        "天",
        "ok",
        "fine",
        "tuned",
        "42",
    ]


def test_valid_json_only_when_most_references_are_json():
    assert [am.is_json(t) for t in ['{"a": 1}', "[1, 2]", "42", '"x"', '{"a": 1', "yes"]] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    json_refs = ['{"topic": "sport"}', '{"topic": "tech"}', "none"]
    answers = ['{"topic": "sport"}', '{"topic": "tech"', "none"]
    scores = am.score(answers, json_refs)
    assert scores["json_valid"] == 0.3333 and scores["exact_match"] == 0.6667
    prose = am.score(["a cat", "[1]"], ["a cat", "[1]"])  # one of two: not most
    assert "json_valid" not in prose and prose["exact_match"] == 1.0


def test_plain_text_has_no_answers_to_score():
    examples = Examples(pd.DataFrame({"input": ["once upon a time", "the end"]}), "t.txt", {})
    assert am.measure(None, None, examples) == {}


def chats(answer, rows: list[dict]) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"Topic of: {row['text']}"},
                {"role": "assistant", "content": answer(row["label"])},
            ]
        }
        for row in rows
    ]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    return path


def test_run_scores_answers_before_and_after(tiny_llama_dir, tmp_path, capsys):
    """JSON answers: all three scores, before and after, wherever results are shown."""
    data = write_jsonl(
        tmp_path / "json.jsonl", chats(lambda label: json.dumps({"topic": label}), make_rows(10))
    )
    train = {"epochs": 1, "learning_rate": 3e-3, "precision": "fp32"}
    run = tunesmith.train(
        data, model=str(tiny_llama_dir), out=str(tmp_path / "run"), task="generation", train=train
    )
    printed = capsys.readouterr().err  # the test results line among the messages
    test = json.loads((run.path / "metrics.json").read_text(encoding="utf-8"))["test"]
    before = test["before"]
    for key in ("exact_match", "rouge_l", "json_valid"):
        assert 0 <= test[key] <= 1 and 0 <= before[key] <= 1
    assert test["answered"] == test["count"] == len(split_examples(run))
    references = [json.dumps({"topic": label}) for label in ("sport", "business", "tech")]
    tokens = run.processor(references, add_special_tokens=False)["input_ids"]
    assert test["answer_tokens"] == before["answer_tokens"] == max(map(len, tokens)) + am.SLACK
    # the figures are those of the saved model's answers to the test split
    again = am.measure(run.model, run.processor, split_examples(run))
    assert {k: again[k] for k in ("exact_match", "rouge_l", "json_valid")} == {
        k: test[k] for k in ("exact_match", "rouge_l", "json_valid")
    }
    report = (run.path / "report.html").read_text(encoding="utf-8")
    card = (run.path / "README.md").read_text(encoding="utf-8")
    shown = []
    for name, was, now in (
        ("exact match", f"{before['exact_match']:.1%}", f"{test['exact_match']:.1%}"),
        ("ROUGE-L F1", f"{before['rouge_l']:.3f}", f"{test['rouge_l']:.3f}"),
        ("valid JSON", f"{before['json_valid']:.1%}", f"{test['json_valid']:.1%}"),
    ):
        assert f"<td>{name}</td><td>{was}</td><td>{now}</td>" in report
        assert f"| {name} | {was} | {now} |" in card
        shown.append(f"{name} {now} (before: {was})")
    assert f"all {test['count']} held-out prompts" in report
    assert f"greedy answers to {test['count']} test prompts: {', '.join(shown)}" in printed

    # Chinese prose answers to the same prompts: ROUGE-L and exact match, no JSON rate
    zh = chats(lambda label: f"这段话讲的是{ZH_TOPICS[label]}。", make_rows(3, seed=3))
    metrics = tunesmith.evaluate(run.path, write_jsonl(tmp_path / "zh.jsonl", zh))
    assert metrics["answered"] == len(zh) and 0 <= metrics["rouge_l"] <= 1
    assert "json_valid" not in metrics and "exact_match" in metrics
    assert "valid JSON" not in run.task.report.card_details(metrics)
