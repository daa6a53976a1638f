"""The end of a run: test the best model once, write metrics, plots, report, card, manifest."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tunesmith import __version__
from tunesmith.config import RunConfig
from tunesmith.console import info
from tunesmith.run_dir import CONFIG, RunDir, write_json
from tunesmith.training.environment import environment


def finish_run(
    run: RunDir,
    cfg: RunConfig,
    data,
    prepared,
    trainer,
    train_seconds: float,
    baseline=None,
    extras: dict | None = None,
    other_seeds: list[dict] | None = None,
) -> Path:
    """`data` is a PreparedData and `prepared` a PreparedModel (training/pipeline.py);
    `baseline` what the task measured before training (tasks/base.py `baseline`);
    `other_seeds` the test metrics of --train.seeds' other seeds (training/seeds.py)."""
    from tunesmith.evaluation.model_card import write_model_card
    from tunesmith.evaluation.report import throughput_section, write_report
    from tunesmith.training.throughput import describe, summarise

    work = run.unfinished  # everything is written here; publish() moves it to run.path
    task, test = data.task, data.splits["test"]
    metrics, predictions = task.test(
        trainer.model,
        prepared.processor,
        test,
        data.labels,
        cfg.train.max_length,
        cfg.train.eval_batch_size,
        baseline,
    )
    history = trainer.state.log_history
    mistakes = task.report.mistakes(predictions, test)
    sections = task.report.report_sections(metrics, mistakes)
    comparison = None
    if cfg.train.teacher:
        from tunesmith.training.distillation import compare, report_section

        comparison = compare(cfg.train.teacher, trainer.model, prepared.processor, data, cfg)
        sections.append(report_section(comparison, work.path))
    speed = summarise(trainer.meter, prepared.precision)  # the training steps alone
    sections.append(("Throughput", throughput_section(speed)))
    extras = extras or {}
    sections += extras.get("sections", [])
    seeds = None
    if other_seeds:
        from tunesmith.training import seeds as seeding

        seeds = seeding.spread(task, cfg.train.seed, metrics, other_seeds)
        sections.append(seeding.report_section(seeds))
    write_json(
        work / "metrics.json",
        {
            "test": metrics,
            "validation": [h for h in history if "eval_loss" in h],
            "best_validation": best_entry(history, trainer.state.best_metric),
            "train_seconds": round(train_seconds, 1),
            "throughput": speed,
            "processes": trainer.args.world_size,
            "steps": trainer.state.global_step,
            "epochs_run": trainer.state.epoch,
            **({"distillation": comparison} if comparison else {}),
            **({"seeds": seeds} if seeds else {}),
            **extras.get("metrics", {}),
        },
    )
    plots = task.report.plots(metrics, history, work.path) | task.report.mistake_gallery(
        mistakes, work.path
    )
    plots |= extras.get("plots", {})
    sizes = "/".join(str(len(data.splits[name])) for name in ("train", "val", "test"))
    summary = {
        "base model": prepared.description,
        "data": cfg.data.path,
        "rows (train/val/test)": sizes,
        "trainable parameters": f"{prepared.counts['trainable']:,} of "
        f"{prepared.counts['total']:,} ({prepared.trains})",
        "epochs run": f"{trainer.state.epoch:g} of {cfg.train.epochs:g}",
        "best epoch (restored)": _best_epoch(history, cfg.train.metric, trainer.state.best_metric),
        "learning rate": f"{cfg.train.learning_rate:g}",
        "precision": prepared.precision,
        "processes": f"{trainer.args.world_size} ({trainer.args.parallel_mode.value})",
        "training time": f"{train_seconds:.0f} s",
        "throughput": describe(speed),
        "tunesmith": __version__,
    }
    if cfg.train.lora and cfg.train.merge:
        from tunesmith.training.lora import save_merged

        save_merged(trainer.model, prepared.processor, work.path / "merged")
        info(f"Merged model (plain transformers): {run.path / 'merged'}")
    write_report(
        work / "report.html",
        title=f"{task.name}: {Path(cfg.data.path).name}",
        summary=summary,
        sections=sections,
        plots=plots,
        notes=data.notes,
        headline=task.report.headline(metrics),
        config_yaml=(work / CONFIG).read_text(encoding="utf-8"),
    )
    write_model_card(
        work / "README.md",
        task=task.name,
        pipeline_tag=task.pipeline_tag,
        base_model=cfg.model,
        labels=data.labels,
        metrics=metrics,
        details=task.report.card_details(metrics),
        headline=task.report.headline(metrics),
        summary=summary,
        usage=task.report.plain_usage(work.path),
    )
    run.publish(  # the manifest, last, then the move to --out: only now is the run finished
        {
            "tunesmith_version": __version__,
            "task": task.name,
            "labels": data.labels,
            "columns": test.columns,
            "max_length": cfg.train.max_length,
            "base_model": cfg.model,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "test": task.report.headline(metrics),
            "environment": environment(),  # what `tunesmith replay` compares against
        }
    )
    info(f"Test results:\n{task.report.describe(metrics)}")
    if seeds:
        info(seeding.describe(seeds))
    info(f"Throughput: {describe(speed)} (training steps only; report.html says how measured).")
    info(f"Report: {run / 'report.html'}")
    return run.path


def best_entry(history: list[dict], best: float | None) -> dict:
    """The validation results of the epoch whose weights were kept (by `selection`, the metric
    with a loss tie-break, or by loss)."""
    for entry in history:
        if best is not None and best in (entry.get("eval_selection"), entry.get("eval_loss")):
            return {
                k.removeprefix("eval_"): v
                for k, v in entry.items()
                if k.startswith("eval_") or k == "epoch"
            }
    return {}


def _best_epoch(history: list[dict], metric: str, best: float | None) -> str:
    """`epoch 2, validation f1_macro 0.9812`: the epoch whose weights were kept."""
    entry = best_entry(history, best)
    if not entry or metric not in entry:
        return "n/a"
    return f"epoch {entry['epoch']:g}, validation {metric} {entry[metric]:.4f}"
