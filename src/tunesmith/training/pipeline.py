"""One training run from data file to finished run directory, for any registered task."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from tunesmith import __version__, tasks
from tunesmith.config import RunConfig
from tunesmith.console import info
from tunesmith.data.fingerprint import fingerprint
from tunesmith.data.readers import read_table
from tunesmith.data.split import stratified_split
from tunesmith.errors import TunesmithError
from tunesmith.models.loading import resolve
from tunesmith.run_dir import CONFIG, RunDir, write_atomic, write_json
from tunesmith.tasks import Examples, Task


def default_out(data_path: str) -> str:
    return str(Path("runs") / (Path(data_path).stem or "run"))


def load_examples(task: Task, cfg: RunConfig) -> dict[str, Examples | None]:
    """Read the main file and any user-supplied val/test files into task examples."""
    columns = {"text": cfg.data.text_column, "label": cfg.data.label_column}
    main = task.prepare(read_table(cfg.data.path), cfg.data.path, columns, cfg.data.min_chars)
    for note in main.notes:
        info(note)
    extra: dict[str, Examples | None] = {"val": None, "test": None}
    for split, path in (("val", cfg.data.val_file), ("test", cfg.data.test_file)):
        if path:
            # The same columns as the main file, so a detection cannot pick different ones.
            extra[split] = task.prepare(
                read_table(path, f"--data.{split}_file"), path, main.columns, cfg.data.min_chars
            )
    return {"all": main, **extra}


def make_splits(examples: dict[str, Examples | None], cfg: RunConfig) -> dict[str, Examples]:
    main = examples["all"]
    index = stratified_split(
        list(main.frame["label"]),
        cfg.data.val_size,
        cfg.data.test_size,
        cfg.train.seed,
        need_val=examples["val"] is None,
        need_test=examples["test"] is None,
        source=main.source,
    )
    return {
        "train": main.subset(index["train"]),
        "val": examples["val"] or main.subset(index["val"]),
        "test": examples["test"] or main.subset(index["test"]),
    }


def run_training(cfg: RunConfig, *, resume: bool = False, overwrite: bool = False) -> Path:
    if not cfg.data.path:
        raise TunesmithError(
            "no training data given",
            where="tunesmith train",
            fix="pass a data file or folder: `tunesmith train reviews.csv`",
        )
    task = tasks.get(cfg.task or tasks.DEFAULT)
    cfg.task = task.name
    cfg.out = cfg.out or default_out(cfg.data.path)
    model_source, model_desc = resolve(cfg.model)

    # Everything that can fail on bad input happens before the run directory is touched.
    examples = load_examples(task, cfg)
    labels = task.label_names(examples["all"])
    splits = make_splits(examples, cfg)
    prints = {
        name: fingerprint(p)
        for name, p in (
            ("data", cfg.data.path),
            ("val_file", cfg.data.val_file),
            ("test_file", cfg.data.test_file),
        )
        if p
    }
    run = RunDir(cfg.out)
    if resume:
        _check_same_data(run, prints)

    from transformers import set_seed

    from tunesmith.console import quiet_libraries
    from tunesmith.training.freezing import apply_freezing, resolve_freeze
    from tunesmith.training.precision import fastest_attention, resolve_precision
    from tunesmith.training.trainer import build_trainer, class_weights, default_learning_rate

    quiet_libraries()
    set_seed(cfg.train.seed)  # before the model, so the new head starts the same every time
    model, processor = task.load_model(model_source, labels, cfg.model)
    freeze_note = " (auto: small data)" if cfg.train.freeze == "auto" else ""
    cfg.train.freeze = resolve_freeze(cfg.train.freeze, len(splits["train"]))
    counts = apply_freezing(model, cfg.train.freeze)
    limit = getattr(processor, "model_max_length", None)
    if isinstance(limit, int) and limit < cfg.train.max_length:
        info(f"Max length lowered from {cfg.train.max_length} to {limit}, the model's limit.")
        cfg.train.max_length = limit
    if cfg.train.learning_rate is None:
        cfg.train.learning_rate = default_learning_rate(counts["total"])
    precision = resolve_precision(cfg.train.precision)
    attention = fastest_attention(precision)
    if attention:
        model.set_attn_implementation(attention)
    run.prepare(resume=resume, overwrite=overwrite)  # only now: bad input leaves nothing behind
    write_atomic(
        run / CONFIG, yaml.safe_dump(cfg.model_dump(), sort_keys=False, allow_unicode=True)
    )
    write_json(
        run / "splits.json",
        {
            "fingerprints": prints,
            "labels": labels,
            **{name: [int(r) for r in ex.frame["row"]] for name, ex in splits.items()},
        },
    )

    info(f"Task: {task.name}. Model: {model_desc}.")
    info(
        f"{counts['trainable'] / 1e6:.1f}M of {counts['total'] / 1e6:.1f}M parameters trainable"
        f" (frozen: {cfg.train.freeze}{freeze_note}); new head for {len(labels)} classes: "
        f"{', '.join(labels[:10])}{' ...' if len(labels) > 10 else ''}."
    )
    info(
        f"Rows: {len(splits['train'])} train, {len(splits['val'])} val, {len(splits['test'])} "
        f"test. lr {cfg.train.learning_rate:g}, batch {cfg.train.batch_size}, "
        f"{cfg.train.epochs:g} epochs, {precision}, max length {cfg.train.max_length}."
    )

    encoded = {
        name: task.encode(ex, processor, labels, cfg.train.max_length)
        for name, ex in splits.items()
        if name != "test"
    }
    weights = class_weights(encoded["train"]["labels"], len(labels), cfg.train.class_weights)
    if weights is not None:
        info(
            "Classes are imbalanced: the loss weighs rare classes up "
            "(--train.class_weights none turns this off)."
        )
    trainer = build_trainer(
        task,
        model,
        processor,
        encoded["train"],
        encoded["val"],
        cfg.train,
        labels,
        run.checkpoints,
        precision,
        cfg.train.learning_rate,
        weights,
    )
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=_last_checkpoint(run) if resume else None)
    train_seconds = time.perf_counter() - started
    trainer.save_model(str(run.path))
    return _evaluate_and_finish(
        task,
        trainer,
        processor,
        splits["test"],
        labels,
        cfg,
        run,
        model_desc,
        precision,
        counts,
        train_seconds,
        examples["all"].notes,
    )


def _last_checkpoint(run: RunDir) -> str | None:
    """The newest checkpoint to resume from; None (start over) if the crash came before one."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(run.checkpoints)) if run.checkpoints.is_dir() else None
    info(f"Resuming from {last}." if last else "No checkpoint was saved yet: starting over.")
    return last


def _check_same_data(run: RunDir, prints: dict) -> None:
    import json

    saved = run / "splits.json"
    if saved.is_file() and json.loads(saved.read_text())["fingerprints"] != prints:
        raise TunesmithError(
            "the data changed since this run started",
            where=str(run.path),
            fix="resume with the original data, or start over with --overwrite",
        )


def _evaluate_and_finish(
    task,
    trainer,
    processor,
    test: Examples,
    labels,
    cfg: RunConfig,
    run: RunDir,
    model_desc,
    precision,
    counts,
    train_seconds,
    notes: list[str],
) -> Path:
    from tunesmith.evaluation.model_card import write_model_card
    from tunesmith.evaluation.report import write_report

    predictions = task.predict(
        trainer.model,
        processor,
        list(test.frame["input"]),
        labels,
        cfg.train.max_length,
        cfg.train.eval_batch_size,
    )
    metrics = task.score(predictions, test, labels)
    history = trainer.state.log_history
    write_json(
        run / "metrics.json",
        {
            "test": metrics,
            "validation": [h for h in history if "eval_loss" in h],
            "best_validation": {cfg.train.metric: trainer.state.best_metric},
            "train_seconds": round(train_seconds, 1),
            "epochs_run": trainer.state.epoch,
        },
    )
    plots = task.plots(metrics, history, run.path)
    summary = {
        "base model": model_desc,
        "data": cfg.data.path,
        "rows (train/val/test)": f"{trainer.train_dataset.num_rows}/"
        f"{trainer.eval_dataset.num_rows}/{len(test)}",
        "trainable parameters": f"{counts['trainable']:,} of {counts['total']:,}",
        "epochs run": f"{trainer.state.epoch:g} of {cfg.train.epochs:g}",
        "learning rate": f"{cfg.train.learning_rate:g}",
        "precision": precision,
        "training time": f"{train_seconds:.0f} s",
        "tunesmith": __version__,
    }
    frame = test.frame.assign(
        predicted=[p["label"] for p in predictions], score=[p["score"] for p in predictions]
    )
    mistakes = frame[frame["predicted"] != frame["label"]].sort_values("score", ascending=False)
    write_report(
        run / "report.html",
        title=f"{task.name}: {Path(cfg.data.path).name}",
        summary=summary,
        metrics=metrics,
        plots=plots,
        notes=notes,
        mistakes=mistakes.head(10).to_dict("records"),
        config_yaml=(run / CONFIG).read_text(encoding="utf-8"),
    )
    write_model_card(
        run / "README.md",
        task=task.name,
        base_model=cfg.model,
        labels=labels,
        metrics=metrics,
        summary=summary,
    )
    run.finish(
        {
            "tunesmith_version": __version__,
            "task": task.name,
            "labels": labels,
            "columns": test.columns,
            "max_length": cfg.train.max_length,
            "base_model": cfg.model,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "test": {k: metrics[k] for k in ("accuracy", "f1_macro", "f1_weighted")},
        }
    )
    info(f"Test results:\n{task.describe(metrics)}")
    info(f"Report: {run / 'report.html'}")
    return run.path
