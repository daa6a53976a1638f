"""`--train.seeds N`: the run trained again with seeds seed+1 ... seed+N-1, so a user with
little data sees how much of a difference between two runs is luck.

Only training randomness changes between seeds (the new head's starting weights, the order of
batches, dropout, augmentation): the split and the data doctor keep `--train.seed`, so every
seed is tested on the same test rows. The run kept is the first seed's, the very model that
`--train.seeds 1` trains: its numbers stay comparable with a run without seeds and with its
replay, and none is picked for looking lucky. The other seeds are trained, tested and dropped;
their checkpoints live under the unfinished run's checkpoints/ folder, deleted after each seed,
so nothing is left in --out.
"""

from __future__ import annotations

import gc
import math
import shutil
from dataclasses import replace
from pathlib import Path

from tunesmith.console import info


def other_seeds(data, cfg, work, baseline, main: bool) -> list[dict]:
    """Train and test each extra seed on `data`'s split with `cfg`'s resolved settings:
    [{"seed": 43, "test": metrics}, ...] in the main process ([] in the others, which only
    join the training under torchrun)."""
    from tunesmith.training.pipeline import build_run_trainer, prepare_model

    task, results = data.task, []
    count = cfg.train.seeds
    for seed in range(cfg.train.seed + 1, cfg.train.seed + count):
        info(
            f"Seed {seed} ({seed - cfg.train.seed + 1} of {count}): the same split, trained "
            "again to measure how much the seed changes the test metrics."
        )
        seeded = cfg.model_copy(deep=True)
        seeded.train.seed = seed
        # its own notes list: the notes loading a model adds are in the report once already
        prepared = prepare_model(replace(data, notes=list(data.notes)), seeded)
        scratch = Path(work.checkpoints) / f"seed-{seed}"  # deleted with checkpoints/ at publish
        trainer = build_run_trainer(data, prepared, seeded, scratch)
        try:
            trainer.train()
            if main:
                scratch.mkdir(parents=True, exist_ok=True)
                task.calibrate(
                    trainer.model,
                    prepared.processor,
                    data.splits["val"],
                    data.labels,
                    seeded.train,
                    scratch,
                )
                model = trainer.model
                if seeded.train.lora and not task.keeps_adapters:
                    model = model.merge_and_unload()  # tested merged, as the kept run is
                metrics, _ = task.test(
                    model,
                    prepared.processor,
                    data.splits["test"],
                    data.labels,
                    seeded.train.max_length,
                    seeded.train.eval_batch_size,
                    baseline,
                )
                results.append({"seed": seed, "test": metrics})
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            del trainer, prepared
            gc.collect()
    return results


def spread(task, seed: int, metrics: dict, others: list[dict]) -> dict:
    """metrics.json's `seeds`: each seed's headline test metrics and, per metric, the mean,
    sample standard deviation (n-1), min and max across seeds."""
    per_seed = [{"seed": seed, **_numbers(task.report.headline(metrics))}]
    per_seed += [{"seed": o["seed"], **_numbers(task.report.headline(o["test"]))} for o in others]
    names = [name for name in per_seed[0] if name != "seed"]
    summary = {}
    for name in names:
        values = [run[name] for run in per_seed if name in run]
        mean = sum(values) / len(values)
        variance = sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)
        summary[name] = {
            "mean": mean,
            "std": math.sqrt(variance),
            "min": min(values),
            "max": max(values),
        }
    return {
        "seeds": [run["seed"] for run in per_seed],
        "kept": seed,
        "split_seed": seed,
        "per_seed": per_seed,
        "summary": summary,
    }


def _numbers(headline: dict) -> dict[str, float]:
    return {k: float(v) for k, v in headline.items() if isinstance(v, (int, float))}


def describe(result: dict) -> str:
    """The spread for the terminal: one line per headline metric."""
    seeds = result["seeds"]
    lines = [
        f"Across {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}, same split; the run kept is seed "
        f"{result['kept']}'s):"
    ]
    for name, s in result["summary"].items():
        lines.append(
            f"  {name:<24} mean {s['mean']:.4f}  std {s['std']:.4f}  "
            f"min {s['min']:.4f}  max {s['max']:.4f}"
        )
    lines.append(
        "  A difference between two runs within this spread may be the seed alone, not a "
        "better model or setting."
    )
    return "\n".join(lines)


def report_section(result: dict) -> tuple[str, str]:
    """(title, HTML) for report.html: per metric, mean, std, min, max and every seed's value."""
    from tunesmith.evaluation.report import table

    seeds = result["seeds"]
    rows = []
    for name, s in result["summary"].items():
        values = [run.get(name) for run in result["per_seed"]]
        rows.append(
            [name, *(f"{s[k]:.4f}" for k in ("mean", "std", "min", "max"))]
            + ["" if v is None else f"{v:.4f}" for v in values]
        )
    header = ["test metric", "mean", "std", "min", "max", *(f"seed {s}" for s in seeds)]
    body = table(header, rows)
    body += (
        f"<p class='muted'>The same data, split and settings trained with {len(seeds)} seeds; "
        "only training randomness changes (initial head weights, batch order, dropout, "
        f"augmentation), and all are tested on the same test rows. This run is seed "
        f"{result['kept']}'s (the first), not the best. std is the sample standard deviation "
        "(n-1). A difference between two runs within this spread may be luck.</p>"
    )
    return ("Seeds: how much is luck", body)
