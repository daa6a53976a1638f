"""`tunesmith tune`: hyperparameter search with Optuna, then the best settings trained for real.

Trials are scored on the validation split only (the test split stays untouched until the final
run); each epoch's validation score is reported to Optuna, whose median pruner stops trials
that fall behind. The study lives in `<out>.tune/study.db` (SQLite), so an interrupted search
resumes where it stopped; `--trials` is the total wanted, not a number to add.
"""

from __future__ import annotations

import gc
import json
import re
import shutil
import time
from pathlib import Path

from transformers import TrainerCallback

from tunesmith.config import RunConfig
from tunesmith.console import info
from tunesmith.errors import TunesmithError

SEARCHED = ("learning_rate", "batch_size", "epochs", "warmup", "weight_decay", "freeze")


def parse_duration(text: str | None, flag: str = "--timeout") -> float | None:
    """'30m', '1h', '90s' or plain seconds -> seconds."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text).lower())
    if not match:
        raise TunesmithError(
            f"not a duration: {text!r}", where=flag, fix="write it like 90s, 30m or 2h"
        )
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def suggest(trial, cfg: RunConfig, task) -> dict:
    """One point of the search space, by task and by LoRA (adapters want larger steps).
    Settings the user gave (flags, config file) stay fixed."""
    lora = cfg.train.lora if cfg.train.lora is not None else task.default_lora
    low, high = (5e-5, 2e-3) if lora else task.search_learning_rates
    freeze = list(task.search_freeze)
    space = {
        "learning_rate": lambda n: trial.suggest_float(n, low, high, log=True),
        "batch_size": lambda n: trial.suggest_categorical(n, [8, 16, 32]),
        "epochs": lambda n: trial.suggest_int(n, 2, 6),
        "warmup": lambda n: trial.suggest_float(n, 0.0, 0.2),
        "weight_decay": lambda n: trial.suggest_float(n, 0.0, 0.1),
        "freeze": lambda n: trial.suggest_categorical(n, freeze),
    }
    if lora:
        del space["freeze"]
    fixed = cfg.train.model_fields_set
    return {name: pick(name) for name, pick in space.items() if name not in fixed}


class ReportToOptuna(TrainerCallback):
    """Each epoch's validation score goes to the trial; a pruned trial stops training."""

    def __init__(self, trial, metric: str):
        self.trial, self.key, self.pruned = trial, f"eval_{metric}", False

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics and self.key in metrics:
            self.trial.report(float(metrics[self.key]), step=round(state.epoch or 0))
            if self.trial.should_prune():
                self.pruned = control.should_training_stop = True


def tune(cfg: RunConfig, trials: int, timeout: float | None, overwrite: bool = False) -> Path:
    import optuna

    from tunesmith.run_dir import RunDir
    from tunesmith.training.pipeline import default_out, prepare_data, run_training
    from tunesmith.training.settings import check_settings, check_task_settings

    if not cfg.data.path:
        raise TunesmithError(
            "no training data given", where="tunesmith tune", fix="tunesmith tune reviews.csv"
        )
    cfg.out = cfg.out or default_out(cfg.data.path)
    RunDir(cfg.out).check(resume=False, overwrite=overwrite)  # the final run will fit there
    check_settings(cfg.train)
    folder = Path(f"{str(cfg.out).rstrip('/')}.tune")
    folder.mkdir(parents=True, exist_ok=True)
    data = prepare_data(cfg)  # once: every trial trains on the same split
    task = data.task
    check_task_settings(task, cfg)  # now, not after the last trial
    metric = cfg.train.metric if cfg.train.metric != "auto" else task.metric
    direction = "minimize" if metric == "loss" else "maximize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=f"sqlite:///{(folder / 'study.db').resolve()}",
        study_name="tunesmith",
        direction=direction,
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=cfg.train.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    done = sum(t.state.is_finished() for t in study.trials)
    left = max(0, trials - done)
    info(
        f"Search: {left} trial(s) to run ({done} done in {folder / 'study.db'}), scored by "
        f"validation {metric}; the test split is used once, by the final run."
    )
    if left:
        study.optimize(
            lambda trial: _trial(trial, cfg, data, metric, folder),
            n_trials=left,
            timeout=timeout,  # no gc_after_trial: _trial collects once, after the trainer goes
        )
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise TunesmithError(
            "no trial finished",
            where="--timeout",
            fix="allow more time (--timeout) or more trials (--trials)",
        )
    best = study.best_trial
    info(f"Best trial {best.number}: validation {metric} {best.value:.4f} with {best.params}.")
    final = cfg.model_copy(deep=True)
    for name, value in best.params.items():
        setattr(final.train, name, value)
    extras = _extras(study, metric, folder)
    return run_training(final, overwrite=overwrite, extras=extras)


def _trial(trial, cfg: RunConfig, data, metric: str, folder: Path) -> float:
    import optuna

    from tunesmith.training.finish import best_entry
    from tunesmith.training.pipeline import build_run_trainer, prepare_model

    trial_cfg = cfg.model_copy(deep=True)
    for name, value in suggest(trial, trial_cfg, data.task).items():
        setattr(trial_cfg.train, name, value)
    info(f"Trial {trial.number}: {trial.params}")
    started = time.perf_counter()
    prepared = prepare_model(data, trial_cfg)
    checkpoints = folder / f"trial-{trial.number}"
    trainer = build_run_trainer(data, prepared, trial_cfg, checkpoints)
    reporter = ReportToOptuna(trial, metric)
    trainer.add_callback(reporter)
    try:
        trainer.train()
        entry = best_entry(trainer.state.log_history, trainer.state.best_metric)
    finally:
        shutil.rmtree(checkpoints, ignore_errors=True)
        del trainer, prepared
        gc.collect()
    trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
    if reporter.pruned:
        raise optuna.TrialPruned()
    return float(entry[metric])


def _extras(study, metric: str, folder: Path) -> dict:
    """The search for the final run's report: a table, a plot, and metrics.json's `search`."""
    from tunesmith.evaluation.plots import search_history
    from tunesmith.evaluation.report import table

    rows = [
        {
            "trial": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "seconds": t.user_attrs.get("seconds"),
            **t.params,
        }
        for t in study.trials
    ]
    (folder / "trials.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    names = [n for n in SEARCHED if any(n in r for r in rows)]
    body = table(
        ["trial", "state", f"validation {metric}", *names],
        [
            [
                r["trial"],
                r["state"],
                "" if r["value"] is None else f"{r['value']:.4f}",
                *(_fmt(r.get(n)) for n in names),
            ]
            for r in rows
        ],
    )
    body += (
        f"<p class='muted'>Optuna TPE sampler, median pruner; study in {folder / 'study.db'}. "
        "The best trial's settings trained this run.</p>"
    )
    plot = search_history(rows, metric, folder)
    return {
        "sections": [("Hyperparameter search", body)],
        "plots": {"Hyperparameter search": plot},
        "metrics": {"search": {"best": study.best_trial.params, "trials": rows}},
    }


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)
