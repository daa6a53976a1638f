"""Trainer callbacks: a progress bar without log dumps, one readable line per epoch, the curve
as JSON lines (progress.jsonl, which the studio draws live), and the meter of the training
steps behind the throughput figures (training/throughput.py)."""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import contextmanager

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


class ProgressLog(TrainerCallback):
    """Appends one JSON line per event to `path` (progress.jsonl in the run's folder), flushed
    as written: `begin` (step, max_steps, epochs, the task's headline metrics), `log` per
    logging step (step, epoch, loss, learning_rate, seconds since begin), `eval` per validation
    (every eval_ metric), `end`. A resumed run appends a new `begin` at the step it resumes
    from."""

    def __init__(self, path, metrics: tuple[str, ...] = ()):
        self.path, self.metrics = path, list(metrics)  # the task's headline metrics, for `begin`
        self.file, self.started = None, time.perf_counter()

    def write(self, event: str, state, **values) -> None:
        if self.file is None or not state.is_world_process_zero:
            return
        line = {"event": event, "step": state.global_step, "epoch": state.epoch, **values}
        self.file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.file.flush()

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            try:  # a record for people: never a reason for training to stop
                self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed at end)
            except OSError:
                return
            self.started = time.perf_counter()
            epochs = args.num_train_epochs
            self.write(
                "begin", state, max_steps=state.max_steps, epochs=epochs, metrics=self.metrics
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:  # the training loss; validation comes through on_evaluate
            seconds = round(time.perf_counter() - self.started, 2)
            rate = _number(logs.get("learning_rate"))
            loss = _number(logs["loss"])
            self.write("log", state, loss=loss, learning_rate=rate, seconds=seconds)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        values = {k: v for k, v in (metrics or {}).items() if k.startswith("eval_")}
        self.write("eval", state, metrics=_plain(values))

    def on_train_end(self, args, state, control, **kwargs):
        self.write("end", state, seconds=round(time.perf_counter() - self.started, 2))
        if self.file is not None:
            self.file.close()
            self.file = None


def _plain(values: dict) -> dict:
    """Numbers as JSON numbers (a metric may be a numpy or torch scalar); others dropped."""
    return {key: number for key, value in values.items() if (number := _number(value)) is not None}


def _number(value) -> float | None:
    """A float JSON can carry (a browser's JSON.parse refuses NaN), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Meter(TrainerCallback):
    """What the training steps did, for training/throughput.py: their seconds (validation and
    checkpoint saving excluded), the tokens of the batches (the attention mask's real tokens,
    not padding) where the task counts them, and the FLOPs of one token or one example,
    counted on the first step by PyTorch's FlopCounterMode (matrix products, forward and
    backward, as this model trains: frozen layers, LoRA, CNN or transformer alike)."""

    def __init__(self, units: tuple[str, ...], rows: int):
        self.unit, self.counts_tokens, self.rows = units[0], "tokens" in units, rows
        self.seconds, self.since = 0.0, None
        self.tokens = 0  # a tensor on the batches' device once counting: no sync per step
        self.flops_per_unit: float | None = None  # per token, or per example without tokens
        self.probed, self.epochs, self.processes = False, 0.0, 1
        self.first_epoch = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.first_epoch, self.processes = state.epoch or 0.0, args.world_size
        self.resume()

    def on_train_end(self, args, state, control, **kwargs):
        self.pause()
        self.epochs = (state.epoch or 0.0) - self.first_epoch

    def pause(self) -> None:
        if self.since is not None:
            _sync()
            self.seconds += time.perf_counter() - self.since
            self.since = None

    def resume(self) -> None:
        _sync()
        self.since = time.perf_counter()

    @contextmanager
    def paused(self):
        running = self.since is not None
        self.pause()
        try:
            yield
        finally:
            if running:
                self.resume()

    def count(self, inputs) -> None:
        if self.counts_tokens:
            mask = inputs.get("attention_mask")
            self.tokens = self.tokens + (
                mask.sum() if mask is not None else inputs["input_ids"].numel()
            )

    def calibrate(self, flops: int, inputs) -> None:
        """FLOPs of the first batch per token position (padding included: it was computed) or
        per example; throughput.py multiplies it by the real tokens or examples."""
        self.probed = True
        units = inputs["input_ids"].numel() if self.counts_tokens else len(inputs["labels"])
        self.flops_per_unit = flops / units if flops and units else None


def _sync() -> None:
    """Wait for the GPU's queued work, so a clock read means the steps before it are done."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def metered(trainer_class, units: tuple[str, ...]):
    """The Trainer with a Meter (`trainer.meter`): every training batch counted, the first one's
    FLOPs measured, and the clock stopped while it validates, saves or restores the best epoch."""

    class Metered(trainer_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.meter = Meter(units, len(self.train_dataset))
            self.add_callback(self.meter)

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.meter.count(inputs)
            if self.meter.probed or self.args.torch_compile:  # compiled graphs: not counted
                return super().training_step(model, inputs, num_items_in_batch)
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                loss = super().training_step(model, inputs, num_items_in_batch)
            self.meter.calibrate(counter.get_total_flops(), inputs)
            return loss

        def evaluate(self, *args, **kwargs):
            with self.meter.paused():
                return super().evaluate(*args, **kwargs)

        def _save_checkpoint(self, *args, **kwargs):
            with self.meter.paused():
                return super()._save_checkpoint(*args, **kwargs)

        def _load_best_model(self, *args, **kwargs):
            with self.meter.paused():
                return super()._load_best_model(*args, **kwargs)

    return Metered
