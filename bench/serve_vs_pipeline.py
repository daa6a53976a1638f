"""A bounded load run on loopback: `tunesmith serve` (PyTorch and ONNX int8 backends) against
the in-process loop a user would write instead (`transformers.pipeline` called once per text),
side by side in one run. Each side answers the same texts; the load stops by itself.

    make bench-serve                               # trains a quick BBC run first (~1 minute)
    python bench/serve_vs_pipeline.py --run runs/bbc-demo --requests 400 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def texts_from_bbc(count: int) -> list[str]:
    """Short requests: the first two sentences of BBC News articles."""
    from tunesmith.packaged import bbc_news

    files = sorted(bbc_news().glob("*/*.txt"))
    out = []
    for file in files[:: max(1, len(files) // count)][:count]:
        body = " ".join(file.read_text(encoding="latin-1").split())
        out.append(". ".join(body.split(". ")[:2])[:400])
    return out


def quick_run(scratch: Path) -> Path:
    import tunesmith
    from tunesmith.packaged import bbc_news

    data = scratch / "bbc"
    for topic in sorted(p for p in bbc_news().iterdir() if p.is_dir()):
        (data / topic.name).mkdir(parents=True)
        for article in sorted(topic.glob("*.txt"))[:60]:
            shutil.copy(article, data / topic.name / article.name)
    model = tunesmith.train(data, model="minilm-l6", out=str(scratch / "run"), train={"epochs": 2})
    return model.path


def percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def run_pipeline(run: Path, texts: list[str]) -> dict:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(run), device="cpu")
    classify(texts[0])  # load and warm up outside the clock
    latencies, labels = [], []
    started = time.perf_counter()
    for text in texts:
        t = time.perf_counter()
        labels.append(classify(text, truncation=True, max_length=128)[0]["label"])
        latencies.append(time.perf_counter() - t)
    seconds = time.perf_counter() - started
    return {"rps": len(texts) / seconds, "errors": 0, **percentiles(latencies), "labels": labels}


async def load(url: str, texts: list[str], concurrency: int) -> dict:
    import httpx

    queue = list(enumerate(texts))
    latencies, errors, labels = [], 0, [None] * len(texts)
    async with httpx.AsyncClient(timeout=60) as client:

        async def worker():
            nonlocal errors
            while queue:
                i, text = queue.pop()
                t = time.perf_counter()
                try:
                    r = await client.post(f"{url}/v1/predict", json={"inputs": [text]})
                    r.raise_for_status()
                    labels[i] = r.json()["outputs"][0]["label"]
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "rps": len(texts) / seconds,
        "errors": errors,
        **percentiles(latencies),
        "labels": labels,
    }


def run_server(run: Path, backend: str, texts: list[str], concurrency: int) -> dict:
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tunesmith", "serve", str(run), "--port", str(port)]
    server = subprocess.Popen([*command, "--backend", backend], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(load(url, texts[:concurrency], concurrency))  # warm up
        return asyncio.run(load(url, texts, concurrency))
    finally:
        server.terminate()
        server.wait(timeout=30)


def bf16_accuracy(run: Path) -> dict:
    """The served default on a bf16 CPU: PyTorch under bf16 autocast, on the run's test split."""
    import tunesmith
    from tunesmith.export.onnx import test_examples

    model = tunesmith.load(run, precision="bf16")
    test = test_examples(model)
    answers = model.predict(list(test.frame["input"]))
    right = sum(a["label"] == t for a, t in zip(answers, test.frame["label"], strict=True))
    return {"accuracy": round(right / len(test), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained text-classification run (default: train one)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-serve-"))
    try:
        run = Path(args.run) if args.run else quick_run(scratch)
        from tunesmith.export.onnx import export_onnx

        parity = export_onnx(run, int8=True)["backends"]
        parity["pytorch bf16"] = bf16_accuracy(run)
        texts = texts_from_bbc(args.requests)
        rows = {
            "transformers.pipeline loop": run_pipeline(run, texts),
            "tunesmith serve (pytorch, auto: bf16 here)": run_server(
                run, "pytorch", texts, args.concurrency
            ),
            "tunesmith serve (onnx int8)": run_server(run, "onnx", texts, args.concurrency),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = rows["transformers.pipeline loop"]
    print(f"\n{len(texts)} requests of one text each, concurrency {args.concurrency}, loopback")
    print("| run | requests/s | p50 ms | p95 ms | p99 ms | errors | throughput ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {r['errors']} | {r['rps'] / base['rps']:.2f}x |"
        )
    int8 = rows["tunesmith serve (onnx int8)"]["labels"]
    agree = sum(a == b for a, b in zip(base["labels"], int8, strict=True))
    fp32, int8_accuracy = parity["pytorch"]["test accuracy"], parity["onnx int8"]["test accuracy"]
    print(
        f"\nTest split accuracy: pytorch fp32 {fp32:.4f}, bf16 "
        f"{parity['pytorch bf16']['accuracy']:.4f}, onnx int8 {int8_accuracy:.4f}"
        f"; int8 agrees with the pipeline on {agree}/{len(texts)} requests."
    )
    out = Path(__file__).parent / "results" / "serve_vs_pipeline.json"
    out.parent.mkdir(exist_ok=True)
    for r in rows.values():
        r.pop("labels")
    out.write_text(json.dumps({"rows": rows, "parity": parity}, indent=2))


if __name__ == "__main__":
    main()
