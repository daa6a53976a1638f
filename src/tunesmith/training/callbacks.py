"""Trainer callbacks: a progress bar without log dumps, and one readable line per epoch."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm
from transformers import ProgressCallback, TrainerCallback


class QuietProgress(ProgressCallback):
    """The Trainer's tqdm bar, minus its raw dict of logs after every logging step."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        pass  # validation is short; a second, nested bar only garbles the terminal


class EpochLine(TrainerCallback):
    """`epoch 2/3  train loss 0.412  val loss 0.305  accuracy 0.931  f1_macro 0.925  (41 s)`."""

    def __init__(self, total_epochs: float, metrics: tuple[str, ...]):
        self.total = total_epochs
        self.keys = ("eval_loss", *(f"eval_{m}" for m in metrics))
        self.losses: list[float] = []
        self.started = time.perf_counter()

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.losses, self.started = [], time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        parts = [f"epoch {round(state.epoch or 0)}/{self.total:g}"]
        if self.losses:
            parts.append(f"train loss {sum(self.losses) / len(self.losses):.3f}")
        for key in self.keys:
            if key in metrics:
                parts.append(
                    f"{key.removeprefix('eval_').replace('loss', 'val loss')} {metrics[key]:.3f}"
                )
        parts.append(f"({time.perf_counter() - self.started:.0f} s)")
        tqdm.write("  " + "  ".join(parts), file=sys.stderr)  # above the bar, not inside it
