"""One training run from data file to finished run directory, for any registered task."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tunesmith.config import RunConfig
from tunesmith.console import info
from tunesmith.data.columns import check_column
from tunesmith.data.doctor import diagnose
from tunesmith.data.doctor_report import write_reports
from tunesmith.data.fingerprint import fingerprint
from tunesmith.data.inspection import read_examples
from tunesmith.data.leakage import check_leakage, deduplicated
from tunesmith.data.readers import HUB_PREFIX
from tunesmith.data.split import stratified_split
from tunesmith.errors import TunesmithError
from tunesmith.models.catalog import CATALOG
from tunesmith.models.loading import resolve
from tunesmith.run_dir import CONFIG, RunDir, write_atomic, write_json
from tunesmith.tasks import Examples, Task
from tunesmith.training.processes import is_main
from tunesmith.training.settings import check_settings, check_task_settings


@dataclass
class PreparedData:
    """The data of a run, checked and split, before any model is loaded."""

    task: Task
    labels: list[str]
    splits: dict[str, Examples]  # train / val / test
    notes: list[str]  # what cleaning did, for the report
    fingerprints: dict[str, str]
    doctor: dict  # the data doctor's report (data/doctor.py), saved in the run


@dataclass
class PreparedModel:
    model: Any
    processor: Any
    description: str  # where the weights came from, for people
    counts: dict[str, int]  # total / trainable parameters
    precision: str  # bf16 / fp16 / fp32
    trains: str  # what learns, for people: "LoRA r=16 on all-linear" or "frozen: embeddings"


def default_out(data_path: str) -> str:
    return str(Path("runs") / (Path(data_path).stem or "run"))


def prepare_data(cfg: RunConfig) -> PreparedData:
    """Read the data (and any val/test files), pick the task, clean, de-duplicate, check for
    leakage, split.

    Sets `cfg.task` when the data decides it (lists of tokens/tags or spans mean NER).
    """
    options = cfg.data
    task, table, main, given = read_examples(cfg)
    doctor = diagnose(task, main, given, options, table, cfg.train.seed)
    doctor |= {"source": options.path, "rows_read": len(table)}
    main = deduplicated(main, options)
    given = {split: deduplicated(examples, options) for split, examples in given.items()}
    for note in main.notes:
        info(note)
    for finding in doctor["findings"]:
        if finding["severity"] == "warning":
            info(f"Data: {finding['message']}. Fix: {finding['fix']}")
    for split, examples in given.items():
        main = check_leakage(main, examples, split, options.leakage)
    labels = task.label_names(main)
    groups = task.split_groups(main)  # e.g. an image with several captions stays in one split
    if options.group_column:
        check_column(table, options.group_column, "--data.group_column", options.path)
        groups = table[options.group_column].iloc[main.frame["row"]]
    index = stratified_split(
        task.stratify_key(main),
        options.val_size,
        options.test_size,
        cfg.train.seed,
        need_val="val" not in given,
        need_test="test" not in given,
        source=main.source,
        rows=len(main),
        groups=groups,
    )
    splits = {name: given.get(name) or main.subset(index[name]) for name in index}
    files = {"data": options.path, "val_file": options.val_file, "test_file": options.test_file}
    prints = {
        name: fingerprint(path)
        for name, path in files.items()
        if path and not str(path).startswith(HUB_PREFIX)
    }
    return PreparedData(task, labels, splits, main.notes, prints, doctor)


def prepare_model(data: PreparedData, cfg: RunConfig) -> PreparedModel:
    """Load the pretrained model with a fresh head, then apply freezing, limits and speed-ups.

    Resolves the `auto` settings in `cfg` (freeze, learning rate, max length) in place, so the
    saved configuration says what was actually used.
    """
    import torch
    from transformers import set_seed

    from tunesmith.console import quiet_libraries
    from tunesmith.models.vocabulary import check_vocabulary, choose_model
    from tunesmith.training.precision import fastest_attention, resolve_precision

    texts = data.task.texts(data.splits["train"])
    if cfg.model is None:
        cfg.model = choose_model(data.task, texts) if texts else data.task.default_model
    source, description = resolve(cfg.model)
    quiet_libraries()
    set_seed(cfg.train.seed)  # before the model, so the new head starts the same every time
    model, processor = data.task.load_model(source, data.labels, cfg.model)
    if cfg.train.extend_vocab:
        from tunesmith.models.vocabulary import extend_vocabulary

        added = extend_vocabulary(processor, model, texts)
        info(
            f"Vocabulary extended by {len(added)} token(s) from the data: "
            f"{' '.join(added[:20])}{' ...' if len(added) > 20 else ''}"
        )
        data.notes.append(f"Vocabulary extended by {len(added)} token(s) (--train.extend_vocab).")
        if cfg.train.freeze == "auto":
            cfg.train.freeze = "none"  # the new embedding rows must learn
    auto_freeze = cfg.train.freeze == "auto"
    model, counts, trains = _what_trains(model, data, cfg)
    limit = getattr(processor, "model_max_length", None)
    if isinstance(limit, int) and limit < cfg.train.max_length:
        info(f"Max length lowered from {cfg.train.max_length} to {limit}, the model's limit.")
        cfg.train.max_length = limit
    shares = None
    if texts:
        shares = check_vocabulary(processor, texts, cfg.model, cfg.train.max_length, data.notes)
    if cfg.train.metric == "auto":
        cfg.train.metric = data.task.metric
    auto_batch = cfg.train.batch_size is None
    if auto_batch:
        cfg.train.batch_size = batch_size(data, cfg, shares)
    if cfg.train.learning_rate is None and cfg.train.lora:
        from tunesmith.training.lora import LORA_LEARNING_RATE

        cfg.train.learning_rate = data.task.lora_learning_rate or LORA_LEARNING_RATE
    elif cfg.train.learning_rate is None:
        cfg.train.learning_rate = data.task.default_learning_rate(model, counts)
        if auto_batch:  # a larger batch takes larger steps
            scaled = cfg.train.learning_rate * (cfg.train.batch_size / 16) ** 0.5
            cfg.train.learning_rate = float(f"{scaled:.2g}")
    if cfg.train.epochs is None:
        cfg.train.epochs = default_epochs(data.task, len(data.splits["train"]), cfg)
    precision = resolve_precision(cfg.train.precision)
    from tunesmith.training.memory import check_fits

    check_fits(model, counts, cfg.train, precision, data.task.name)
    attention = fastest_attention(precision)
    if not torch.cuda.is_available():  # PyTorch's CPU dropout was 18% of a step
        from tunesmith.training import fast_dropout

        fast_dropout.use_fast_dropout(model)
        if attention == "eager":
            attention = fast_dropout.register_attention()
    if attention and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(attention)
    info(f"Model: {description}.")
    head = (
        f"; new head for {len(data.labels)} labels: {', '.join(data.labels[:10])}"
        f"{' ...' if len(data.labels) > 10 else ''}"
        if data.labels and data.task.new_head
        else ""
    )
    by_size = auto_freeze and not cfg.train.lora and data.task.new_head
    chosen = ", chosen by data size" if by_size else ""
    info(
        f"{counts['trainable'] / 1e6:.1f}M of {counts['total'] / 1e6:.1f}M parameters trainable "
        f"({trains}{chosen}){head}."
    )
    return PreparedModel(model, processor, description, counts, precision, trains)


def _what_trains(model, data: PreparedData, cfg: RunConfig):
    """LoRA adapters (--train.lora, the default for generation) or freezing (--train.freeze):
    returns the model to train, its parameter counts and a description."""
    task = data.task
    if cfg.train.lora is None:
        cfg.train.lora = task.default_lora
    if not cfg.train.lora:
        cfg.train.freeze, counts = task.freeze(model, cfg.train.freeze, len(data.splits["train"]))
        if cfg.train.merge:
            info("--train.merge has no effect without LoRA: the run holds the whole model.")
        return model, counts, f"frozen: {cfg.train.freeze}"
    # raises where LoRA is not offered for this model; image-text reads freeze (which towers)
    settings = task.lora_settings(model, cfg.train.freeze)
    from tunesmith.training.lora import apply_lora, parameter_counts

    model = apply_lora(model, cfg.train, settings)
    return (
        model,
        parameter_counts(model),
        f"LoRA r={cfg.train.lora_rank} on {cfg.train.lora_targets}",
    )


SHORT_TEXT_TOKENS = 64


def batch_size(data: PreparedData, cfg: RunConfig, shares: dict | None) -> int:
    """16, or 32 for short texts where the data still gives MIN_STEPS updates.

    Measured (MiniLM-L6, bf16, 2 CPU cores, reviews of ~40 tokens): 16 short texts leave the
    CPU underfed; 32 at a time took 12% less time per example, and 64 no less than 32. Texts
    of 128 tokens fill it at 16. The learning rate grows with the square root of the batch.
    """
    rows = len(data.splits["train"]) * (cfg.train.epochs or data.task.default_epochs)
    short = shares is not None and shares["tokens"] <= SHORT_TEXT_TOKENS
    return 32 if short and rows >= 32 * MIN_STEPS * cfg.train.grad_accum else 16


MIN_STEPS = 100  # small datasets get more epochs, up to MAX_EPOCHS, to reach this many updates
MAX_EPOCHS = 10


def default_epochs(task: Task, train_rows: int, cfg: RunConfig) -> float:
    """The task's default epochs, raised on small data so training takes ~100 optimiser steps.

    Measured on the shipped Chinese reviews (168 training rows, 11 steps an epoch): after the
    default 3 epochs the model was right but unsure (scores ~0.37, loss 0.97).
    """
    import math

    steps = max(1, math.ceil(train_rows / (cfg.train.batch_size * cfg.train.grad_accum)))
    return max(task.default_epochs, min(MAX_EPOCHS, math.ceil(MIN_STEPS / steps)))


def run_training(
    cfg: RunConfig, *, resume: bool = False, overwrite: bool = False, extras: dict | None = None
) -> Path:
    """Train and finish one run. `extras` adds to the report: {"sections": [(title, html)],
    "plots": {title: png}, "metrics": {key: value}} (the hyperparameter search uses it)."""
    if resume and cfg.out:
        RunDir(cfg.out).check(resume=True, overwrite=False)  # before asking for data
    if not cfg.data.path:
        raise TunesmithError(
            "no training data given",
            where="tunesmith train",
            fix="pass a data file or folder: `tunesmith train reviews.csv`",
        )
    cfg.out = cfg.out or default_out(cfg.data.path)
    run = RunDir(cfg.out)
    work = run.unfinished  # built here, moved to --out when finished
    main = is_main()  # under torchrun/accelerate only the main process writes the run
    if main:
        run.check(resume=resume, overwrite=overwrite)  # an existing run refuses before any work
    if cfg.model:
        resolve(cfg.model)  # an unknown model name fails now, before any reading
    check_settings(cfg.train)

    # Everything that can fail on bad input happens before the run directory is touched.
    data = prepare_data(cfg)
    task = data.task
    check_task_settings(task, cfg)
    if resume:
        _check_same_data(work, data.fingerprints)
    prepared = prepare_model(data, cfg)
    if main:
        _start_run(run, cfg, data, resume, overwrite)

    from tunesmith.training.finish import finish_run

    trainer = build_run_trainer(data, prepared, cfg, work.checkpoints)
    baseline = _baseline(work, task, prepared, data, cfg, resume) if main else None
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=_last_checkpoint(work) if resume else None)
    train_seconds = time.perf_counter() - started
    others = []  # --train.seeds: every process trains them (collective under torchrun)
    if cfg.train.seeds > 1:
        from tunesmith.training.seeds import other_seeds

        others = other_seeds(data, cfg, work, baseline, main)
    if not main:
        trainer.save_model(str(work.path))  # collective under FSDP/DeepSpeed; writes nothing here
        return run.path
    task.calibrate(
        trainer.model, prepared.processor, data.splits["val"], data.labels, cfg.train, work.path
    )
    if cfg.train.lora and not task.keeps_adapters:
        from tunesmith.training.lora import save_merged_run

        save_merged_run(trainer, work.path)
    else:
        trainer.save_model(str(work.path))
    return finish_run(run, cfg, data, prepared, trainer, train_seconds, baseline, extras, others)


def build_run_trainer(data: PreparedData, prepared: PreparedModel, cfg: RunConfig, checkpoints):
    """Encode the train and val splits and build the Trainer (with class weights, and the
    teacher's answers when distilling); shared by `train` and each `tune` trial."""
    from tunesmith.training.trainer import build_trainer

    task = data.task
    sizes = {name: len(ex) for name, ex in data.splits.items()}
    size = (
        f"max length {cfg.train.max_length}"
        if task.input_kind == "text"
        else f"{prepared.processor.size}px input"
    )
    info(
        f"Rows: {sizes['train']} train, {sizes['val']} val, {sizes['test']} test. "
        f"lr {cfg.train.learning_rate:g}, batch {cfg.train.batch_size}, {cfg.train.epochs:g} "
        f"epochs, {prepared.precision}, {size}."
    )
    encoded = {
        name: task.encode(
            data.splits[name], prepared.processor, data.labels, cfg.train, name == "train"
        )
        for name in ("train", "val")
    }
    weights = task.class_weights(encoded["train"], len(data.labels), cfg.train.class_weights)
    if weights is not None:
        info(
            "Classes are imbalanced: the loss weighs rare classes up "
            "(--train.class_weights none turns this off)."
        )
    loss, collator = None, None
    if cfg.train.teacher:
        from tunesmith.training.distillation import attach_teacher

        encoded["train"], loss, wrap = attach_teacher(
            cfg, data, encoded["train"], weights, prepared.processor
        )
        collator = wrap(task.collator(prepared.processor))
    return build_trainer(
        task, prepared, encoded, cfg.train, data.labels, checkpoints, weights, loss, collator
    )


def _start_run(run: RunDir, cfg: RunConfig, data: PreparedData, resume: bool, overwrite: bool):
    """The run's folder with what is known before training: settings, splits, data report."""
    run = run.start(resume=resume, overwrite=overwrite)
    saved = yaml.safe_dump(_with_absolute_paths(cfg), sort_keys=False, allow_unicode=True)
    write_atomic(run / CONFIG, saved)
    rows = {name: [int(r) for r in ex.frame["row"]] for name, ex in data.splits.items()}
    write_json(
        run / "splits.json", {"fingerprints": data.fingerprints, "labels": data.labels, **rows}
    )
    write_reports(data.doctor, run.path)


def _with_absolute_paths(cfg: RunConfig) -> dict:
    """The config to save, its local paths made absolute: --resume, distill and retrain read it
    from any working directory."""
    values = cfg.model_dump()

    def absolute(value: str | None) -> str | None:
        if not value or str(value).startswith(HUB_PREFIX) or not Path(value).exists():
            return value
        return str(Path(value).expanduser().resolve())

    for key in ("path", "val_file", "test_file"):
        values["data"][key] = absolute(values["data"][key])
    values["train"]["teacher"] = absolute(values["train"]["teacher"])
    values["train"]["deepspeed"] = absolute(values["train"]["deepspeed"])
    if cfg.model and cfg.model.lower() not in CATALOG:  # a local folder or file, not a name
        values["model"] = absolute(cfg.model)
    return values


def _baseline(run: RunDir, task: Task, prepared: PreparedModel, data, cfg, resume: bool):
    """The untrained model measured on the test split (saved, so --resume keeps the real
    'before' numbers), for tasks that report before/after."""
    saved = run / "baseline.json"
    if resume and saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))
    started = time.perf_counter()
    baseline = task.baseline(prepared.model, prepared.processor, data.splits["test"], cfg.train)
    if baseline is not None:
        seconds = time.perf_counter() - started
        info(f"Measured the model before training on the test split ({seconds:.0f} s).")
        write_json(saved, baseline)
    return baseline


def _last_checkpoint(run: RunDir) -> str | None:
    """The newest complete checkpoint to resume from; None (start over) if the crash came
    before one. A checkpoint the crash cut short is deleted: the Trainer writes its state file
    last, so a checkpoint whose state does not read back is partial."""
    import re
    import shutil

    found = [
        p for p in run.checkpoints.glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name)
    ]
    for folder in sorted(found, key=lambda p: int(p.name.split("-")[1]), reverse=True):
        if _complete(folder):
            info(f"Resuming from {folder}.")
            return str(folder)
        info(f"Skipping {folder.name}: the crash cut it short (deleted).")
        shutil.rmtree(folder)
    info("No checkpoint was saved yet: starting over.")
    return None


def _complete(checkpoint: Path) -> bool:
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return f"checkpoint-{state.get('global_step')}" == checkpoint.name


def _check_same_data(run: RunDir, prints: dict) -> None:
    saved = run / "splits.json"
    if saved.is_file() and json.loads(saved.read_text())["fingerprints"] != prints:
        raise TunesmithError(
            "the data changed since this run started",
            where=str(run.path),
            fix="resume with the original data, or start over with --overwrite",
        )
