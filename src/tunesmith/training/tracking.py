"""`--train.report_to`: experiment tracking through the Trainer's own integrations.

TensorBoard (the default) writes its event files into the run folder, `RUN/tensorboard`, so
`tensorboard --logdir runs/` shows every run's curves, live while one trains (it is built in
`runs/NAME.unfinished/`) and afterwards; they are part of the finished run and listed in its
manifest like any file tunesmith writes. The other seeds of `--train.seeds` and the trials of
`tunesmith tune` log into their scratch folders, deleted with them. MLflow and wandb
log where their own environment variables point (MLFLOW_TRACKING_URI, WANDB_MODE=offline ...),
named after the run folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tunesmith.config import TrainConfig
from tunesmith.errors import TunesmithError
from tunesmith.run_dir import UNFINISHED

# integration -> (the module the Trainer's callback imports, what to install for it)
PACKAGES = {
    "tensorboard": ("tensorboard", "pip install tensorboard"),
    "mlflow": ("mlflow", "pip install mlflow-skinny (or the full mlflow)"),
    "wandb": ("wandb", "pip install wandb"),
}


def integrations(cfg: TrainConfig) -> list[str]:
    """The Trainer's `report_to`: [] for none."""
    return [name for name in cfg.report_to.split(",") if name != "none"]


def check_installed(cfg: TrainConfig) -> None:
    """Before any data is read: an integration whose package is missing is a one-line error
    naming the flag and the install command (the Trainer would fail only once training starts)."""
    for name in integrations(cfg):
        module, install = PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise TunesmithError(
                f"{name} is not installed",
                where=f"--train.report_to {cfg.report_to}",
                fix=f"{install}, or choose another tracker (--train.report_to none turns "
                "tracking off)",
            )


def log_dir(checkpoints: Path) -> Path:
    """Where TensorBoard writes for a Trainer whose checkpoints go to `checkpoints`: the run's
    tensorboard/, beside checkpoints/ (deleted when the run is published). A seed's or search
    trial's scratch folder keeps its own logs, deleted with it, as everything of it is."""
    checkpoints = Path(checkpoints)
    if checkpoints.name == "checkpoints":
        return checkpoints.parent / "tensorboard"
    return checkpoints / "tensorboard"


def run_name(checkpoints: Path) -> str:
    """The name MLflow and wandb show: the run folder's ("bbc"; a seed's "bbc/seed-43")."""
    checkpoints = Path(checkpoints)
    if checkpoints.name == "checkpoints":
        return checkpoints.parent.name.removesuffix(UNFINISHED)
    owner = checkpoints.parent
    if owner.name == "checkpoints":
        owner = owner.parent
    return f"{owner.name.removesuffix(UNFINISHED)}/{checkpoints.name}"


def place_logs(trainer, checkpoints: Path) -> None:
    """Point the Trainer's TensorBoard callback (when --train.report_to has it) at log_dir(),
    and say where to look (once, for the run itself: not for each seed or trial)."""
    from transformers.integrations import TensorBoardCallback

    from tunesmith.console import info

    said = Path(checkpoints).name != "checkpoints"
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(log_dir(checkpoints))
            if not said:
                info(
                    f"TensorBoard: `tensorboard --logdir {log_dir(checkpoints).parent.parent}` "
                    "shows the curves as they come."
                )
    if "mlflow" in trainer.args.report_to and not said:
        import mlflow

        info(f"MLflow: logging to {mlflow.get_tracking_uri()} as {trainer.args.run_name!r}.")
