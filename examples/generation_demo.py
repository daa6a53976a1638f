"""`make demo-generation`: teach the real SmolLM2-135M-Instruct (offline, LoRA, CPU) to answer in
one fixed format, and show that it does where the base model does not.

The example builds its own instruction set from real BBC News articles: the instruction asks for
the article's topic and headline as JSON; the answer is {"topic": ..., "headline": ...} from the
article's folder and first line. The same as typing:
    tunesmith train bbc_instructions.jsonl --task generation --model smollm2-135m --out runs/gen
    tunesmith predict runs/gen --prompt "..."
    tunesmith serve runs/gen      # then any OpenAI client: /v1/chat/completions, streamed
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
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
    code = tunesmith(["predict", OUT, "--prompt", prompt, "--max-new-tokens", "48"])
    return code or stream_from_server(f"{INSTRUCTION}\n\n{held_out[1]['input']}")


def stream_from_server(prompt: str) -> int:
    """`tunesmith serve` the run and stream one answer through OpenAI's own client."""
    import httpx
    from openai import OpenAI

    with socket.socket() as probe:  # a free port on this machine
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    print(f"\n$ tunesmith serve {OUT} --port {port}")
    server = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "serve", OUT, "--port", str(port)],
        env=os.environ | {"TOKENIZERS_PARALLELISM": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while server.poll() is None:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        if server.poll() is not None:
            return server.returncode
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")  # no --api-key: any key
        print(f"Streaming from POST {url}/v1/chat/completions (the openai package):")
        stream = client.chat.completions.create(
            model="generation-demo",
            messages=[{"role": "user", "content": prompt}],
            max_tokens=48,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
            if chunk.usage:
                print(
                    f"\n({chunk.usage.prompt_tokens} prompt tokens, "
                    f"{chunk.usage.completion_tokens} answer tokens)"
                )
    finally:
        server.terminate()
        server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
