"""A bounded load run on loopback: `tunesmith serve` (PyTorch and ONNX int8 backends) against
the in-process loop a user would write instead (`transformers.pipeline` called once per text),
side by side in one run. Each side answers the same texts; the load stops by itself.

Each backend also gets its ceiling: the predictor `serve` loads, called in-process with the
batch sizes the service's batcher formed under that load (no HTTP, JSON or event loop). The
served throughput is shown as a share of it, with where the CPU went: the server, the load
generator (it shares the machine) and anything else running.

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


PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


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
    """`concurrency` clients sending one text at a time over keep-alive connections, as real
    clients do. The load generator is aiohttp, the cheapest honest client at hand (about
    0.2 ms of CPU a request against httpx's 1.3 ms): it shares the CPU with the server, so
    its own CPU time is measured and reported."""
    import aiohttp

    queue = list(enumerate(texts))
    latencies, errors, labels = [], 0, [None] * len(texts)
    connections = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connections) as client:

        async def worker():
            nonlocal errors
            while queue:
                i, text = queue.pop()
                t = time.perf_counter()
                try:
                    async with client.post(f"{url}/v1/predict", json={"inputs": [text]}) as r:
                        r.raise_for_status()
                        labels[i] = (await r.json())["outputs"][0]["label"]
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - t)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "rps": len(texts) / seconds,
        "errors": errors,
        **percentiles(latencies),
        "seconds": seconds,
        "client_cpu_s": cpu,
        "labels": labels,
    }


def busy_seconds() -> float:
    """CPU time the whole machine spent busy so far (Linux /proc/stat): what runs beside the
    bench shows as busy time that neither the server nor the load generator used."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
            try:  # up, and its start-up parity check over HTTP done (it would share the CPU)
                info = httpx.get(f"{url}/v1/model").json()
                http = ((info.get("parity") or {}).get("backends") or {}).get("http", {})
                if http.get("url") == url:  # this server's row, not the last one's
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        asyncio.run(load(url, texts[:concurrency], concurrency))  # warm up
        before = httpx.get(f"{url}/health").json()["batch_sizes"]
        server_cpu, busy = cpu_seconds(server.pid), busy_seconds()
        row = asyncio.run(load(url, texts, concurrency))
        row["server_cpu_s"] = cpu_seconds(server.pid) - server_cpu
        row["other_cpu_s"] = busy_seconds() - busy - row["server_cpu_s"] - row["client_cpu_s"]
        after = httpx.get(f"{url}/health").json()["batch_sizes"]
        # The batches this load formed, to replay in-process for the ceiling.
        row["batch_sizes"] = {
            k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)
        }
        return row
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_ceiling(run: Path, backend: str, texts: list[str], sizes: dict[str, int]) -> dict:
    """The served model's ceiling: the same predictor the service loads (`serve`'s backend and
    precision, every core to torch), called in-process with the batches the batcher formed
    under the served load, with no HTTP, JSON or event loop."""
    import torch

    import tunesmith

    torch.set_num_threads(os.cpu_count() or 1)
    model = tunesmith.load(run, backend, "auto")
    batches = [
        int(k) for k, n in sorted(sizes.items(), key=lambda kv: int(kv[0])) for _ in range(n)
    ]
    model.predict(texts[: max(batches)])  # warm up outside the clock
    latencies, labels, at = [], [], 0
    started, cpu, busy = time.perf_counter(), time.process_time(), busy_seconds()
    for size in batches:
        t = time.perf_counter()
        labels += [a["label"] for a in model.predict(texts[at : at + size])]
        latencies.append(time.perf_counter() - t)
        at += size
    seconds = time.perf_counter() - started
    other = busy_seconds() - busy - (time.process_time() - cpu)
    return {
        "other_cpu_s": other,
        "rps": at / seconds,
        "errors": 0,
        **percentiles(latencies),
        "seconds": seconds,
        "labels": labels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained text-classification run (default: train one)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backends", default="pytorch,onnx", help="comma-separated")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-serve-"))
    names = {"pytorch": "pytorch, auto: bf16 here", "onnx": "onnx int8"}
    try:
        run = Path(args.run) if args.run else quick_run(scratch)
        from tunesmith.export.onnx import export_onnx

        parity = export_onnx(run, int8=True)["backends"]  # every form on the test split
        texts = texts_from_bbc(args.requests)
        rows = {"transformers.pipeline loop": run_pipeline(run, texts)}
        for backend in args.backends.split(","):
            served = run_server(run, backend, texts, args.concurrency)
            ceiling = run_ceiling(run, backend, texts, served["batch_sizes"])
            served["ceiling_rps"] = ceiling["rps"]
            rows[f"in-process batched ceiling ({names[backend]})"] = ceiling
            rows[f"tunesmith serve ({names[backend]})"] = served
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = rows["transformers.pipeline loop"]
    print(f"\n{len(texts)} requests of one text each, concurrency {args.concurrency}, loopback")
    print("| run | requests/s | p50 ms | p95 ms | p99 ms | errors | vs pipeline | of ceiling |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        share = f"{r['rps'] / r['ceiling_rps']:.0%}" if "ceiling_rps" in r else ""
        # A batch's latency is not a request's: the ceiling has throughput only.
        ms = ["-"] * 3 if "ceiling" in name else [f"{r[k]:.0f}" for k in PERCENTILES]
        print(
            f"| {name} | {r['rps']:.1f} | {' | '.join(ms)} | {r['errors']} | "
            f"{r['rps'] / base['rps']:.2f}x | {share} |"
        )
    cores = os.cpu_count() or 1
    print(f"\nWhere the CPU went during each served load ({cores} cores):")
    for name, r in rows.items():
        if "ceiling_rps" not in r:
            continue
        # The server had the cores less what the load generator used: its throughput per
        # core-second left to it, against the ceiling's (which had every core to itself).
        left = r["seconds"] * cores - r["client_cpu_s"]
        fair = r["rps"] * r["seconds"] * cores / left
        sizes = r["batch_sizes"]
        mean = sum(int(k) * n for k, n in sizes.items()) / max(1, sum(sizes.values()))
        print(
            f"  {name}: {r['seconds']:.2f} s; load generator {r['client_cpu_s']:.2f} CPU s "
            f"({1000 * r['client_cpu_s'] / len(texts):.2f} ms a request), server "
            f"{r['server_cpu_s']:.2f} CPU s, other processes {r['other_cpu_s']:.2f} CPU s; "
            f"mean batch {mean:.1f}; without the load generator's CPU: {fair:.1f} requests/s, "
            f"{fair / r['ceiling_rps']:.0%} of the ceiling"
        )
    int8 = rows.get("tunesmith serve (onnx int8)", {}).get("labels")
    agree = sum(a == b for a, b in zip(base["labels"], int8 or [], strict=False))
    accuracy = ", ".join(
        f"{form} {row['test accuracy']:.4f}" for form, row in parity.items() if form != "http"
    )
    print(
        f"\nTest split accuracy: {accuracy}"
        + (f"; int8 agrees with the pipeline on {agree}/{len(texts)} requests." if int8 else ".")
    )
    out = Path(__file__).parent / "results" / "serve_vs_pipeline.json"
    out.parent.mkdir(exist_ok=True)
    for r in rows.values():
        r.pop("labels")
    out.write_text(json.dumps({"rows": rows, "parity": parity}, indent=2))


if __name__ == "__main__":
    main()
