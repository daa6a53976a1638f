"""`make demo-generation`: teach the real SmolLM2-135M-Instruct (offline, LoRA, CPU) to answer in
one fixed format, and show that it does where the base model does not.

The example builds its own instruction set from real BBC News articles: the instruction asks for
the article's topic and headline as JSON; the answer is {"topic": ..., "headline": ...} from the
article's folder and first line. The same as typing:
    tunesmith train bbc_instructions.jsonl --task generation --model smollm2-135m --out runs/gen
    tunesmith predict runs/gen --prompt "..."
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from tunesmith import packaged
from tunesmith.cli import main as tunesmith

INSTRUCTION = "Give the topic and the headline of this news article as JSON."
WORDS = 45  # of each article's body, so the examples stay short for a CPU
PER_TOPIC = 70  # 350 records: 280 train, 35 val, 35 test
OUT = "runs/generation-demo"


def build_records(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for folder in sorted(p for p in packaged.bbc_news().iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.txt"))
        for file in rng.sample(files, PER_TOPIC):
            lines = [x.strip() for x in file.read_text(encoding="latin-1").splitlines()]
            lines = [x for x in lines if x]
            body = " ".join(" ".join(lines[1:]).split()[:WORDS])
            answer = json.dumps({"topic": folder.name, "headline": lines[0]})
            records.append({"instruction": INSTRUCTION, "input": body, "output": answer})
    rng.shuffle(records)
    return records


def follows_format(text: str) -> dict | None:
    """The answer as a dict if it is exactly the asked-for JSON, else None."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and set(value) == {"topic", "headline"} else None


def compare(model, records: list[dict]) -> tuple[float, float]:
    """Share of answers in the format, and share with the right topic."""
    prompts = [f"{r['instruction']}\n\n{r['input']}" for r in records]
    answers = [a["text"] for a in model.predict(prompts, max_new_tokens=48)]
    parsed = [follows_format(a) for a in answers]
    right = [
        p is not None and p["topic"] == json.loads(r["output"])["topic"]
        for p, r in zip(parsed, records, strict=True)
    ]
    return sum(p is not None for p in parsed) / len(records), sum(right) / len(records)


def main() -> int:
    from transformers import AutoModelForCausalLM

    import tunesmith as ts
    from tunesmith.models.loading import resolve

    data = Path("runs/bbc_instructions.jsonl")
    data.parent.mkdir(exist_ok=True)
    records = build_records()
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    print(f"Built {len(records)} instruction records from BBC News in {data}.")
    started = time.perf_counter()
    args = ["train", str(data), "--task", "generation", "--model", "smollm2-135m", "--out", OUT]
    code = tunesmith(
        [
            *args,
            "--train.max_length",
            "160",
            "--train.batch_size",
            "8",
            "--train.epochs",
            "2",
            "--overwrite",
        ]
    )
    if code:
        return code
    minutes = (time.perf_counter() - started) / 60
    tuned = ts.load(OUT)
    test_rows = json.loads(Path(OUT, "splits.json").read_text())["test"]
    held_out = [records[i] for i in test_rows]
    base = ts.load(OUT)  # the same prompting path, with the untouched base weights swapped in
    base.model = AutoModelForCausalLM.from_pretrained(resolve("smollm2-135m")[0])
    print(f"\nAsked for JSON on {len(held_out)} held-out articles (greedy answers):")
    for name, model in (("base SmolLM2-135M-Instruct", base), ("fine-tuned with LoRA", tuned)):
        fmt, topic = compare(model, held_out)
        print(f"  {name:28} in the format {fmt:6.1%}   right topic {topic:6.1%}")
    test = tuned.metrics["test"]
    print(
        f"Test perplexity {test['before']['perplexity']:.2f} before, {test['perplexity']:.2f} "
        f"after; trained in {minutes:.1f} min on this machine. Report: "
        f"{Path(OUT, 'report.html').resolve()}"
    )
    prompt = f"{INSTRUCTION}\n\n{held_out[0]['input']}"
    print(f"\n$ tunesmith predict {OUT} --prompt {json.dumps(prompt[:70] + '...')}")
    sys.stdout.flush()
    return tunesmith(["predict", OUT, "--prompt", prompt, "--max-new-tokens", "48"])


if __name__ == "__main__":
    raise SystemExit(main())
