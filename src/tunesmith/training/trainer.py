"""Build the transformers Trainer every task trains on, with tunesmith's defaults.

Defaults that make CPU training fast without costing accuracy: dynamic padding (the task's
collator), length-grouped batches, bf16 autocast where the hardware has it. Multi-GPU and
multi-node runs come from the same Trainer under `accelerate launch` / `torchrun`.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config import TrainConfig


def default_learning_rate(num_parameters: int) -> float:
    """Smaller models tolerate (and need) larger steps. `num_parameters`: without embeddings."""
    if num_parameters < 50_000_000:
        return 5e-5
    if num_parameters < 200_000_000:
        return 3e-5
    return 2e-5


def balanced_weights(label_ids: list[int], num_labels: int, mode: str):
    """Balanced loss weights (n / (k * count)) as a tensor, or None when not wanted."""
    import torch

    counts = torch.bincount(torch.tensor(label_ids), minlength=num_labels).float()
    if mode == "none" or (mode == "auto" and counts.max() < 3 * counts.clamp(min=1).min()):
        return None
    return counts.sum() / (num_labels * counts.clamp(min=1))


PROGRESS = "progress.jsonl"  # the curve as JSON lines in the run (callbacks.ProgressLog)
TIEBREAK = 1e-4  # below one example's worth of F1 on validation sets under 10,000 examples


def with_loss_tiebreak(compute, metric: str):
    """Add `selection` = the metric minus a tiny multiple of the validation cross-entropy
    (binary cross-entropy for multi-hot targets)."""
    import numpy as np

    def wrapped(eval_pred) -> dict[str, float]:
        out = compute(eval_pred)
        if metric != "loss":
            logits = np.asarray(eval_pred.predictions, dtype=np.float64)
            labels = np.asarray(eval_pred.label_ids)
            if labels.shape == logits.shape:  # multi-hot targets (multi-label): binary CE
                loss = float(np.mean(np.logaddexp(0, logits) - logits * labels))
            else:
                keep = labels != -100
                logits, labels = logits[keep], labels[keep]
                shifted = logits - logits.max(-1, keepdims=True)
                log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
                loss = (
                    float(-log_probs[np.arange(len(labels)), labels].mean()) if labels.size else 0
                )
            out["selection"] = out[metric] - TIEBREAK * min(loss, 10.0)
        return out

    return wrapped


def _checkpointing(enabled: bool) -> dict:
    """TrainingArguments for gradient checkpointing, under the name this transformers uses
    (5.2x renamed it activation checkpointing); non-reentrant, which works with LoRA's frozen
    inputs."""
    if not enabled:
        return {}
    from dataclasses import fields

    from transformers import TrainingArguments

    name = "activation_checkpointing"
    if name not in {f.name for f in fields(TrainingArguments)}:
        name = "gradient_checkpointing"
    return {name: True, f"{name}_kwargs": {"use_reentrant": False}}


def _with_checkpoint_renaming(trainer_class):
    """The Trainer, reading checkpoints of renamed-weight models (ViT) back whole on --resume
    and for the best epoch (training/checkpoints.py says why)."""
    from tunesmith.training import checkpoints

    class RunTrainer(trainer_class):
        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            target = model if model is not None else self.model
            if self._plain() and checkpoints.renamed(target, resume_from_checkpoint):
                return checkpoints.restore(target, resume_from_checkpoint)
            return super()._load_from_checkpoint(resume_from_checkpoint, model)

        def _load_best_model(self):
            best = self.state.best_model_checkpoint
            if best and self._plain() and checkpoints.renamed(self.model, best):
                return checkpoints.restore(self.model, best)
            return super()._load_best_model()

        def _plain(self) -> bool:  # DeepSpeed and FSDP checkpoints load their own way
            return not (self.is_deepspeed_enabled or self.is_fsdp_enabled)

    return RunTrainer


def build_trainer(
    task,
    prepared,
    encoded: dict,
    cfg: TrainConfig,
    labels: list[str],
    checkpoint_dir: Path,
    weights=None,
    loss=None,
    collator=None,
):
    """A Trainer for `prepared` (a PreparedModel) on `encoded` train/val datasets; `loss` and
    `collator` replace the task's loss function and batch builder (distillation)."""
    import torch
    from transformers import (
        EarlyStoppingCallback,
        ProgressCallback,
        Trainer,
        TrainingArguments,
    )

    from tunesmith.training import tracking
    from tunesmith.training.callbacks import EpochLine, ProgressLog, QuietProgress, metered
    from tunesmith.training.processes import is_main

    steps_per_epoch = max(1, -(-len(encoded["train"]) // (cfg.batch_size * cfg.grad_accum)))
    # Epochs are chosen by the validation metric, ties broken by validation loss: on easy data
    # F1 reaches 1.0 early, and without the tie-break training stopped while still improving.
    select = "loss" if cfg.metric == "loss" else "selection"
    higher_is_better = select != "loss"
    own = task.trainer(cfg, encoded)  # a trainer of the task's own (TRL's), or None
    trainer_class, arguments, settings = own or (Trainer, TrainingArguments, {})
    args = arguments(
        output_dir=str(checkpoint_dir),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup,  # a float below 1 is a share of all steps
        lr_scheduler_type="linear",
        optim="adamw_torch_fused",  # one kernel per step: 10% faster steps than adamw_torch on CPU
        train_sampling_strategy="group_by_length" if task.group_by_length else "random",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=select,
        greater_is_better=higher_is_better,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 10),
        bf16=prepared.precision == "bf16",
        fp16=prepared.precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=tracking.integrations(cfg),  # --train.report_to (training/tracking.py)
        run_name=tracking.run_name(checkpoint_dir),
        disable_tqdm=False,  # our progress bar, even when library logging is quiet
        dataloader_num_workers=0,
        label_names=["labels"],  # every task's batches carry `labels` (image-text: caption ids)
        # several processes (torchrun): frozen weights need no gradient sync, and searching the
        # graph for unused parameters each step only costs time
        ddp_find_unused_parameters=False,
        save_only_model=False,  # optimizer state too, so --resume continues exactly
        **_checkpointing(cfg.gradient_checkpointing),
        **({"deepspeed": cfg.deepspeed} if cfg.deepspeed else {}),
        **({"fsdp": cfg.fsdp} if cfg.fsdp else {}),
        **settings,
    )
    callbacks = [EpochLine(cfg.epochs, task.epoch_metrics)]
    if is_main():  # the curve as it comes, in the run's folder (the studio draws it)
        callbacks.append(ProgressLog(Path(checkpoint_dir).parent / PROGRESS, task.epoch_metrics))
    if cfg.early_stopping:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping))
    compute = task.validation_metrics(labels)  # None: validation loss only
    optimizer = None
    groups = task.parameter_groups(prepared.model, cfg)
    if groups:  # the Trainer schedules every group's own learning rate alike
        optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True)
    # a task's own trainer computes its own loss
    extra = {} if own else {"compute_loss_func": loss or task.loss_function(weights)}
    trainer = _with_checkpoint_renaming(metered(trainer_class, task.throughput_unit))(
        model=prepared.model,
        optimizers=(optimizer, None),
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["val"],
        processing_class=prepared.processor,
        data_collator=collator or task.collator(prepared.processor),
        compute_metrics=None if compute is None else with_loss_tiebreak(compute, cfg.metric),
        callbacks=callbacks,
        **extra,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress())
    tracking.place_logs(trainer, checkpoint_dir)
    return trainer
