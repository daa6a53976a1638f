"""Generation results for people: perplexity and answer scores before and after, samples."""

from __future__ import annotations

import html
from pathlib import Path

from tunesmith.tasks.generation.answer_metrics import MAX_NEW_TOKENS, SLACK
from tunesmith.tasks.report import Report

SAMPLE_TOKENS = 64  # greedy tokens per sample answer in the report
# Answer scores (tasks/generation/answer_metrics.py): key, name for people, how it is shown
ANSWER_SCORES = (
    ("exact_match", "exact match", "{:.1%}"),
    ("rouge_l", "ROUGE-L F1", "{:.3f}"),
    ("json_valid", "valid JSON", "{:.1%}"),
)


class GenerationReport(Report):
    def headline(self, metrics):
        out = {"test perplexity": metrics["perplexity"]}
        if "before" in metrics:
            out["perplexity before fine-tuning"] = metrics["before"]["perplexity"]
        out["test loss"] = metrics["loss"]
        out |= {f"test {name}": metrics[key] for key, name, _ in ANSWER_SCORES if key in metrics}
        return out

    def mistakes(self, predictions, examples, limit=10):
        return []  # sample generations take their place in the report

    def report_sections(self, metrics, mistakes):
        from tunesmith.evaluation.report import table

        before = metrics.get("before")
        rows = [["loss per answer token", _num(before, "loss"), f"{metrics['loss']:.4f}"]]
        rows.append(["perplexity", _num(before, "perplexity"), f"{metrics['perplexity']:.3f}"])
        scores = table(["test split", "before fine-tuning", "after"], rows)
        scores += (
            f"<p class='muted'>Over {metrics['tokens']:,} answer tokens of {metrics['count']} "
            "held-out examples; for chat and instruction data the loss covers only the answers, "
            "not the prompts. Lower is better.</p>"
        )
        if answers := answer_rows(metrics):
            scores += table(["answers to held-out prompts", "before fine-tuning", "after"], answers)
            scores += f"<p class='muted'>{html.escape(answers_note(metrics))}</p>"
        return [
            ("Before and after fine-tuning", scores),
            sample_section(metrics["samples"], "data"),
        ]

    def card_details(self, metrics):
        before = metrics.get("before") or {}
        return (
            "| test split | before | after |\n|---|---|---|\n"
            f"| loss per answer token | {before.get('loss', 'n/a')} | {metrics['loss']} |\n"
            f"| perplexity | {before.get('perplexity', 'n/a')} | {metrics['perplexity']} |"
            + "".join(f"\n| {name} | {was} | {now} |" for name, was, now in answer_rows(metrics))
            + (f"\n\n{answers_note(metrics)}" if "rouge_l" in metrics else "")
        )

    def plain_usage(self, run_dir):
        run_dir = Path(run_dir)
        merged = (
            "\nThe adapters merged into the base model (`--train.merge`), with transformers alone:"
            '\n```python\nfrom transformers import pipeline\ngenerate = pipeline("text-generation",'
            ' model="path/to/this/folder/merged")\n```'
            if (run_dir / "merged").is_dir()
            else ""
        )
        if (run_dir / "adapter_config.json").is_file():
            return f"""LoRA adapters on the base model, with transformers and peft:
```python
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer
model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
```{merged}"""
        return super().plain_usage(run_dir)

    def plots(self, metrics, history, out_dir: Path):
        from tunesmith.evaluation import plots

        return {"Learning curves": plots.learning_curves(history, out_dir, ())} if history else {}

    def format_answer(self, answer):
        return answer["text"]

    def answer_columns(self, answer):
        return {"generated": answer["text"]}

    def describe(self, metrics):
        before = metrics.get("before")
        was = f" (before fine-tuning: {before['perplexity']:.2f})" if before else ""
        lines = [f"  test perplexity {metrics['perplexity']:.2f}{was}, loss {metrics['loss']:.4f}"]
        if answers := answer_rows(metrics):
            scores = ", ".join(f"{name} {now} (before: {was})" for name, was, now in answers)
            lines.append(f"  greedy answers to {metrics['answered']} test prompts: {scores}")
        return "\n".join(lines + sample_lines(metrics["samples"]))


def sample_lines(samples: list[dict]) -> list[str]:
    """Two held-out prompts with their answers before and after, for the terminal."""
    lines = []
    for sample in samples[:2]:
        lines.append(f"  prompt: {sample['prompt'][-120:]!r}")
        if "before" in sample:
            lines.append(f"    before: {sample['before'][:160]!r}")
        lines.append(f"    after:  {sample['answer'][:160]!r}")
    return lines


def sample_section(samples: list[dict], reference: str) -> tuple[str, str]:
    """The report section of greedy answers to held-out prompts: the answer in the data
    (labelled `reference`), before and after."""
    from tunesmith.evaluation.report import table

    body = "".join(
        f"<h3>Prompt</h3><pre>{html.escape(s['prompt'])}</pre>"
        + table(
            ["", "answer"],
            [
                [reference, s["reference"]],
                ["before", s.get("before", "n/a")],
                ["after", s["answer"]],
            ],
        )
        for s in samples
    )
    return f"Sample generations (greedy, up to {SAMPLE_TOKENS} tokens)", body


def answer_rows(metrics: dict) -> list[list[str]]:
    """[name, before, after] for each answer score measured (none for plain-text runs)."""
    before = metrics.get("before") or {}
    return [
        [name, shown.format(before[key]) if key in before else "n/a", shown.format(metrics[key])]
        for key, name, shown in ANSWER_SCORES
        if key in metrics
    ]


def answers_note(metrics: dict) -> str:
    """How the answer scores were measured, in words."""
    count, answered, limit = metrics["count"], metrics["answered"], metrics["answer_tokens"]
    which = f"the first {answered} of {count}" if answered < count else f"all {count}"
    longest = "the longest answer in the data" + (
        f" plus {SLACK}" if limit < MAX_NEW_TOKENS else f" plus {SLACK}, at most {MAX_NEW_TOKENS}"
    )
    note = (
        f"Greedy answers to {which} held-out prompts, up to {limit} new tokens ({longest}). "
        "Exact match: the answer is the data's answer, white space aside. ROUGE-L F1: how many "
        "words the answer and the data's answer share in the same order, against both lengths "
        "(Chinese and Japanese counted by character); 1 is identical, 0 nothing in common."
    )
    if "json_valid" in metrics:
        note += " Valid JSON: answers that parse as a JSON object or array (the data's do)."
    return note + " Higher is better."


def _num(values: dict | None, key: str) -> str:
    return f"{values[key]:.4f}" if values else "n/a"
