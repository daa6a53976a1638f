"""Distillation: a small student learns from a trained teacher's softened outputs.

The teacher (a finished run) answers the training split once, before training; its answers
travel with the hard labels in each batch (`labels` = [label, teacher targets...], per input
or per token), so no teacher runs during training. What the targets are and how the loss mixes
them with the hard labels is the task's (a `Distiller` from `Task.distiller()`, kept in the
task's package); this module loads and checks the teacher, attaches its targets, and puts
teacher and student side by side in the report. Validation and test use the plain labels, so
the student is measured like any other model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tunesmith.errors import TunesmithError
from tunesmith.run_dir import CONFIG, RunDir


class Distiller:
    """What a task that distils supplies. `student` is the default --student (smaller than the
    task's usual teacher). Subclasses give `targets` and `loss`; the loss tells training batches
    (labels packed with the teacher's targets) from validation ones (plain labels)."""

    def __init__(self, student: str):
        self.student = student

    def targets(self, teacher, processor, examples, dataset, labels: list[str], cfg) -> list:
        """The new `labels` value of each row of the encoded training `dataset`: the hard label
        with the teacher's targets beside it. `teacher` is the loaded run (tunesmith.api.Model),
        `processor` the student's, `labels` the student's label order."""
        raise NotImplementedError

    def loss(self, temperature: float, alpha: float, class_weights):
        """A `compute_loss_func`: alpha x soft loss (at temperature T) + (1 - alpha) x hard."""
        raise NotImplementedError

    def attach(self, dataset, packed: list):
        """The training dataset with `packed` as its labels (a datasets.Dataset by default)."""
        return dataset.remove_columns("labels").add_column("labels", packed)

    def collator(self, collator):
        """The batch builder for packed labels (default: the task's own handles them)."""
        return collator


def teacher_answers(teacher, examples) -> list[dict]:
    """The teacher run's answers to the training rows' raw inputs, through its own
    preprocessing: a student of another family (another tokenizer) learns from them too."""
    return teacher.predict(list(examples.frame["input"]), batch_size=64)


class SoftmaxDistiller(Distiller):
    """One label per input (text and image classification): the teacher's class probabilities,
    kept as log-probabilities, softened in the loss (log_softmax(log p / T) = softmax(z / T))."""

    def targets(self, teacher, processor, examples, dataset, labels, cfg):
        import numpy as np

        answers = teacher_answers(teacher, examples)
        probs = np.array([[a["scores"][name] for name in labels] for a in answers])
        log_probs = np.log(np.clip(probs, 1e-9, 1.0)).tolist()
        index = {name: i for i, name in enumerate(labels)}
        hard = [index[x] for x in examples.frame["label"]]
        return [[float(y), *row] for y, row in zip(hard, log_probs, strict=True)]

    def loss(self, temperature, alpha, class_weights):
        return distillation_loss(temperature, alpha, class_weights)


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


def _refusal(task, where: str) -> TunesmithError:
    from tunesmith import tasks

    why, instead = task.distill_refusal
    able = [name for name in tasks.names() if tasks.get(name).distiller() is not None]
    return TunesmithError(
        f"a {task.name} run cannot be a teacher: {why} (distillation covers {', '.join(able)})",
        where=where,
        fix=instead,
    )


def default_student(teacher: str | Path) -> str:
    """The --student when none is named: the teacher's task's small model."""
    from tunesmith import tasks

    task = tasks.get(RunDir(teacher).manifest()["task"])
    distiller = task.distiller()
    if distiller is None:
        raise _refusal(task, f"--teacher {teacher}")
    return distiller.student


def teacher_config(teacher: str | Path) -> dict:
    """The settings a student starts from: the teacher's task and data (same columns, same
    cleaning, same seed, hence the same split), with nothing of its training."""
    run = RunDir(teacher)
    manifest = run.manifest()  # a clear error when it is not a finished run
    from tunesmith import tasks

    task = tasks.get(manifest["task"])
    if task.distiller() is None:
        raise _refusal(task, f"--teacher {teacher}")
    saved = yaml.safe_load((run.path / CONFIG).read_text(encoding="utf-8")) or {}
    train = saved.get("train") or {}
    return {
        "task": manifest["task"],
        "data": saved.get("data") or {},
        "train": {"seed": train.get("seed", 42), "max_length": train.get("max_length", 128)},
    }


def attach_teacher(cfg, data, train_dataset, class_weights, processor):
    """(training dataset with the teacher's targets beside each label, the loss, a wrapper for
    the task's collator) for the student whose processor is `processor`."""
    from tunesmith.api import load
    from tunesmith.console import info

    task, where = data.task, f"--teacher {cfg.train.teacher}"
    distiller = task.distiller()
    if distiller is None:
        raise _refusal(task, where)
    teacher = load(cfg.train.teacher)
    if teacher.task is not task:  # --task named another task than the teacher's
        raise TunesmithError(
            f"the teacher is a {teacher.task.name} run, the student a {task.name} one",
            where=where,
            fix="leave --task unset: the student takes the teacher's task",
        )
    if sorted(teacher.labels) != sorted(data.labels):
        raise TunesmithError(
            f"the teacher knows {task.label_noun} {teacher.labels}, the data has {data.labels}",
            where=where,
            fix="distil on the data the teacher was trained on (the default)",
        )
    started = time.perf_counter()
    examples = data.splits["train"]
    packed = distiller.targets(teacher, processor, examples, train_dataset, data.labels, cfg.train)
    info(
        f"Teacher {cfg.train.teacher} answered the {len(examples)} training rows once "
        f"({time.perf_counter() - started:.0f} s); T={cfg.train.distill_temperature:g}, "
        f"alpha={cfg.train.distill_alpha:g}."
    )
    loss = distiller.loss(cfg.train.distill_temperature, cfg.train.distill_alpha, class_weights)
    return distiller.attach(train_dataset, packed), loss, distiller.collator


def compare(teacher_dir: str, student_model: Any, processor: Any, data, cfg) -> dict:
    """Teacher and student side by side on the student's test split: parameters, size on
    disk, time per example (predicting and scoring, same batch size, after a warm-up) and the
    task's own test metrics."""
    import torch

    from tunesmith.api import load

    task, test = data.task, data.splits["test"]
    inputs = list(test.frame["input"])
    teacher = load(teacher_dir)
    rows = {}
    for name, model, proc, labels, length, folder in (
        ("teacher", teacher.model, teacher.processor, teacher.labels, teacher.max_length, teacher),
        ("student", student_model, processor, data.labels, cfg.train.max_length, None),
    ):
        task.predict(model, proc, inputs[:16], labels, length, 32)  # warm-up
        started = time.perf_counter()
        metrics, _ = task.test(model, proc, test, labels, length, 32)
        seconds = time.perf_counter() - started
        scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        rows[name] = {
            **scalars,  # e.g. accuracy, f1_macro; NER's f1, precision, recall
            "model": str(folder.path if folder else "this run"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "ms_per_example": round(1000 * seconds / max(1, len(inputs)), 3),
            "headline": task.report.headline(metrics),
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
    ]
    rows += [
        [name, f"{value:.4f}", f"{student['headline'][name]:.4f}"]
        for name, value in teacher["headline"].items()
    ]
    body = table(["", f"teacher ({teacher['model']})", "student (this run)"], rows)
    body += (
        f"<p class='muted'>Both on this run's test split, {comparison['threads']} CPU "
        f"thread(s); the student answers {speedup:.1f}x as fast.</p>"
    )
    return "Teacher and student", body
