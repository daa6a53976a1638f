"""Distillation: a small student learns from a trained teacher's softened outputs.

The teacher (a finished run) answers the training split once, before training; its outputs
travel with the hard labels in each batch (`labels` = [label, teacher log-probabilities...]),
so no teacher runs during training. The loss mixes the KL divergence between the softened
distributions (times T^2, Hinton et al.) with the usual cross-entropy on the hard labels.
Validation and test use the plain labels, so the student is measured like any other model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tunesmith.errors import TunesmithError
from tunesmith.run_dir import CONFIG, RunDir


def teacher_config(teacher: str | Path) -> dict:
    """The settings a student starts from: the teacher's task and data (same columns, same
    cleaning, same seed, hence the same split), with nothing of its training."""
    run = RunDir(teacher)
    manifest = run.manifest()  # a clear error when it is not a finished run
    from tunesmith import tasks

    if not tasks.get(manifest["task"]).distillable:
        distillable = [name for name in tasks.names() if tasks.get(name).distillable]
        raise TunesmithError(
            f"distillation covers {', '.join(distillable)} teachers, not {manifest['task']}",
            where=f"--teacher {teacher}",
            fix="pick a text classification run as the teacher",
        )
    saved = yaml.safe_load((run.path / CONFIG).read_text(encoding="utf-8")) or {}
    train = saved.get("train") or {}
    return {
        "task": manifest["task"],
        "data": saved.get("data") or {},
        "train": {"seed": train.get("seed", 42), "max_length": train.get("max_length", 128)},
    }


def attach_teacher(cfg, data, train_dataset, class_weights):
    """The training dataset with the teacher's outputs beside each label, and the loss."""
    import numpy as np

    from tunesmith.api import load
    from tunesmith.console import info

    teacher = load(cfg.train.teacher)
    if sorted(teacher.labels) != sorted(data.labels):
        raise TunesmithError(
            f"the teacher knows labels {teacher.labels}, the data has {data.labels}",
            where=f"--teacher {cfg.train.teacher}",
            fix="distil on the data the teacher was trained on (the default)",
        )
    started = time.perf_counter()
    answers = teacher.predict(list(data.splits["train"].frame["input"]), batch_size=64)
    probs = np.array([[a["scores"][name] for name in data.labels] for a in answers])
    log_probs = np.log(np.clip(probs, 1e-9, 1.0))
    info(
        f"Teacher {cfg.train.teacher} answered the {len(answers)} training rows once "
        f"({time.perf_counter() - started:.0f} s); T={cfg.train.distill_temperature:g}, "
        f"alpha={cfg.train.distill_alpha:g}."
    )
    hard = train_dataset["labels"]
    packed = [[float(y), *row] for y, row in zip(hard, log_probs.tolist(), strict=True)]
    train_dataset = train_dataset.remove_columns("labels").add_column("labels", packed)
    loss = distillation_loss(cfg.train.distill_temperature, cfg.train.distill_alpha, class_weights)
    return train_dataset, loss


def distillation_loss(temperature: float, alpha: float, class_weights=None):
    import torch.nn.functional as F

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        weight = None if class_weights is None else class_weights.to(logits.device)
        if labels.dim() == 1:  # validation: plain labels
            return F.cross_entropy(logits, labels.long(), weight=weight)
        hard, teacher = labels[:, 0].long(), labels[:, 1:].float()
        soft = F.kl_div(
            F.log_softmax(logits / temperature, -1),
            F.log_softmax(teacher / temperature, -1),
            log_target=True,
            reduction="batchmean",
        )
        return alpha * soft * temperature**2 + (1 - alpha) * F.cross_entropy(
            logits, hard, weight=weight
        )

    return loss


def compare(teacher_dir: str, student_model: Any, processor: Any, data, cfg) -> dict:
    """Teacher and student side by side on the student's test split: parameters, size on
    disk, time per example (same batch size, after a warm-up) and test metrics."""
    import torch

    from tunesmith.api import load

    task, test = data.task, data.splits["test"]
    texts = list(test.frame["input"])
    teacher = load(teacher_dir)
    rows = {}
    for name, model, proc, folder in (
        ("teacher", teacher.model, teacher.processor, teacher.path),
        ("student", student_model, processor, None),
    ):
        labels = data.labels
        task.predict(model, proc, texts[:16], labels, cfg.train.max_length, 32)  # warm-up
        started = time.perf_counter()
        answers = task.predict(model, proc, texts, labels, cfg.train.max_length, 32)
        seconds = time.perf_counter() - started
        metrics = task.score(answers, test, labels)
        rows[name] = {
            "model": str(folder or "this run"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "ms_per_example": round(1000 * seconds / max(1, len(texts)), 3),
            "accuracy": metrics["accuracy"],
            "f1_macro": metrics["f1_macro"],
        }
    rows["teacher"]["megabytes"] = _megabytes(teacher.path)
    rows["threads"] = torch.get_num_threads()
    return rows


def _megabytes(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 1e6, 1)


def report_section(comparison: dict, student_dir: Path) -> tuple[str, str]:
    from tunesmith.evaluation.report import table

    teacher, student = comparison["teacher"], comparison["student"]
    student["megabytes"] = _megabytes(student_dir)
    speedup = teacher["ms_per_example"] / max(student["ms_per_example"], 1e-9)
    rows = [
        ["parameters", f"{teacher['parameters']:,}", f"{student['parameters']:,}"],
        ["weights on disk (MB)", teacher["megabytes"], student["megabytes"]],
        ["ms per example (batch 32)", teacher["ms_per_example"], student["ms_per_example"]],
        ["test accuracy", f"{teacher['accuracy']:.4f}", f"{student['accuracy']:.4f}"],
        ["test macro-F1", f"{teacher['f1_macro']:.4f}", f"{student['f1_macro']:.4f}"],
    ]
    body = table(["", f"teacher ({teacher['model']})", "student (this run)"], rows)
    body += (
        f"<p class='muted'>Both on this run's test split, {comparison['threads']} CPU "
        f"thread(s); the student answers {speedup:.1f}x as fast.</p>"
    )
    return "Teacher and student", body
