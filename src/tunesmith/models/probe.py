"""A measured training probe: a few real optimiser steps of one model on synthetic inputs of
the right shape, timed. Run in its own process (`python -m tunesmith.models.probe ...`), so its
peak memory is the model's alone; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time


def probe(model_name: str, task_name: str, batch: int, length: int, steps: int = 3) -> dict:
    import torch

    from tunesmith import tasks
    from tunesmith.config import TrainConfig
    from tunesmith.console import quiet_libraries
    from tunesmith.models.loading import resolve
    from tunesmith.training.precision import resolve_precision

    quiet_libraries()
    task = tasks.get(task_name)
    source, _ = resolve(model_name)
    model, processor = task.load_model(source, ["a", "b"], model_name)
    if task.default_lora:
        from tunesmith.training.lora import apply_lora

        model = apply_lora(model, TrainConfig(), task.lora_settings(model))
    model.train()
    inputs = task.probe_batch(model, processor, batch, length)
    loss_function = task.loss_function(None)  # as the Trainer computes it (no class weights)
    labels = inputs.pop("labels") if loss_function else None
    precision = resolve_precision("auto")
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    times = []
    for _ in range(steps + 1):  # the first step warms up (allocations, kernels)
        started = time.perf_counter()
        with autocast:
            outputs = model(**inputs)
            loss = loss_function(outputs, labels) if loss_function else outputs["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    import resource

    return {
        "model": model_name,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "seconds_per_step": round(sorted(times[1:])[len(times[1:]) // 2], 3),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in trainable),
        "precision": precision,
        "batch": batch,
        "length": length,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(probe(args.model, args.task, args.batch, args.length, args.steps)))


if __name__ == "__main__":
    main()
