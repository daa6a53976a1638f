"""Training settings that only fail deep inside the Trainer, checked before anything is read or
written: a validation metric the task does not measure, FSDP options, a DeepSpeed config."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.config import RunConfig, TrainConfig
from tunesmith.errors import TunesmithError


def check_settings(cfg: TrainConfig) -> None:
    """--train.deepspeed and --train.fsdp, checked by transformers itself, now; the
    --train.report_to trackers installed."""
    from tunesmith.training.tracking import check_installed

    check_installed(cfg)
    if cfg.deepspeed:
        _check_deepspeed_file(cfg.deepspeed)
    if not (cfg.deepspeed or cfg.fsdp):
        return
    from transformers import TrainingArguments

    flag = "--train.deepspeed" if cfg.deepspeed else "--train.fsdp"
    value = cfg.deepspeed or cfg.fsdp
    try:
        TrainingArguments(
            output_dir="unused",
            report_to="none",
            **({"deepspeed": cfg.deepspeed} if cfg.deepspeed else {}),
            **({"fsdp": cfg.fsdp} if cfg.fsdp else {}),
        )
    except Exception as exc:  # the library's own words say what is wrong
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = (
            "pip install deepspeed"
            if "deepspeed" in message.lower() and "not found" in message.lower()
            else "see the transformers documentation of this setting"
        )
        if cfg.fsdp and not cfg.deepspeed:
            from transformers.trainer_utils import FSDPOption

            fix = "use words from: " + " ".join(o.value for o in FSDPOption)
        raise TunesmithError(f"{message}", where=f"{flag} {value}", fix=fix) from None


def _check_deepspeed_file(path: str) -> None:
    where = f"--train.deepspeed {path}"
    if not Path(path).is_file():
        raise TunesmithError(
            "DeepSpeed config file not found", where=where, fix="pass the path of a JSON file"
        )
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TunesmithError(
            f"not a JSON file ({exc})", where=where, fix="fix the DeepSpeed config's JSON"
        ) from None
    if not isinstance(loaded, dict):
        raise TunesmithError(
            "a DeepSpeed config is a JSON object",
            where=where,
            fix='start it with {"zero_optimization": ...}',
        )


def check_task_settings(task, cfg: RunConfig) -> None:
    """Settings the task does not read, and a --train.metric it does not measure, are errors
    (all of them at once), not silently ignored."""
    from tunesmith import tasks

    problems = []
    metric = cfg.train.metric
    if metric not in ("auto", "loss") and metric not in task.selection_metrics:
        choices = ", ".join([*task.selection_metrics, "loss"])
        problems.append(
            f"--train.metric {metric}: {task.name} does not measure {metric!r} on the "
            f"validation split (use one of: {choices})"
        )
    specific = {name for other in tasks.names() for name in tasks.get(other).settings}
    for name in sorted(specific - set(task.settings)):
        group, field = name.split(".")
        section = getattr(cfg, group)
        if getattr(section, field) != type(section).model_fields[field].default:
            readers = [other for other in tasks.names() if name in tasks.get(other).settings]
            problems.append(f"--{name}: only {', '.join(readers)} use it, not {task.name}")
    if problems:
        raise TunesmithError(
            "settings that do not apply: " + "; ".join(problems),
            where=f"--task {task.name}",
            fix="remove those settings, or choose the task they belong to with --task",
        )
