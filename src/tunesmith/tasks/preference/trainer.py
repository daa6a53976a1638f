"""TRL's DPOTrainer and KTOTrainer as the shared training path builds them (training/trainer.py
asks `Task.trainer`): same defaults, callbacks and metering as any run, plus TRL's settings."""

from __future__ import annotations

from dataclasses import fields

BETA = 0.1  # TRL's default: how far the tuned model may move from the reference


def trainer_parts(method: str, cfg, labels: list[bool] | None = None) -> tuple[type, type, dict]:
    """(trainer class, a builder of its arguments, {}) for "dpo" or "kto"; `labels`: KTO's
    good/bad flags of the training rows."""
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    trainer, arguments = (DPOTrainer, DPOConfig) if method == "dpo" else (KTOTrainer, KTOConfig)
    settings = {"beta": BETA, "max_length": cfg.max_length, "disable_dropout": True}
    if method == "kto":  # its KL term pairs each row with its neighbour in a fixed order
        settings["train_sampling_strategy"] = "sequential"
        good = sum(labels or [])
        if labels and 0 < good < len(labels):  # the KTO paper: good and bad weigh alike
            settings["desirable_weight"] = round((len(labels) - good) / good, 4)
    if not cfg.gradient_checkpointing:  # TRL turns it on by default; tunesmith's default is off
        names = {f.name for f in fields(arguments)}
        off = "activation_checkpointing" if "activation_checkpointing" in names else None
        settings[off or "gradient_checkpointing"] = False

    def build(**shared):  # TRL's settings over the shared ones
        return arguments(**(shared | settings))

    return _fresh_reference(trainer), build, {}


def _fresh_reference(trainer_class):
    """The trainer, its reference the model with the adapters switched off. Given a model that
    already has (fresh, zero-effect) LoRA adapters, TRL copies them into a second adapter
    "ref", which would be saved in the run beside the real one; the model without adapters is
    the same reference."""

    class FreshReference(trainer_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            configs = getattr(self.model, "peft_config", {})
            if "ref" in configs:
                self.model.delete_adapter("ref")
                self.model.set_adapter("default")

    FreshReference.__name__ = trainer_class.__name__
    return FreshReference
