"""The Python API. The CLI (and later the REST service) are thin layers over these functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tunesmith.config import DataConfig, RunConfig, build_config, merge, read_yaml
from tunesmith.data.clean import clean_text
from tunesmith.run_dir import CONFIG, RunDir


def resolve_config(
    data: str | None = None,
    *,
    config: str | Path | dict | None = None,
    overrides: dict[str, Any] | None = None,
    source: str = "settings",
) -> RunConfig:
    """Defaults < config file (or dict) < explicit settings, validated all at once."""
    values: dict[str, Any] = {}
    if isinstance(config, dict):
        values = dict(config)
    elif config:
        values = read_yaml(config)
        source = f"{config} and flags"
    values = merge(values, overrides or {})
    if data:
        values = merge(values, {"data": {"path": str(data)}})
    return build_config(values, source)


def train(
    path: str | Path | None = None,
    /,
    *,
    config: str | Path | dict | None = None,
    resume: bool = False,
    overwrite: bool = False,
    **settings: Any,
) -> Model:
    """Fine-tune a model on the data at `path` and return it, loaded (`model.path` is the run).
    Under `torchrun` / `accelerate launch` only the main process returns it; the others None.

    `settings` are the config keys: `model="minilm-l6"`, `out="runs/x"`,
    `data={"text_column": "review"}`, `train={"epochs": 1, "learning_rate": 3e-5}`.
    With `resume=True` and only `out=...`, the run continues from its saved configuration.
    """
    from tunesmith.training.pipeline import run_training

    if isinstance(settings.get("data"), (str, Path)):  # train(data="bbc/") means the path
        path = settings.pop("data")
    if resume and settings.get("out") and path is None and config is None:
        RunDir(settings["out"]).check(resume=True, overwrite=overwrite)
        saved = RunDir(settings["out"]).unfinished / CONFIG
        if saved.is_file():
            config = yaml.safe_load(saved.read_text(encoding="utf-8"))
    cfg = resolve_config(str(path) if path else None, config=config, overrides=settings)
    run = run_training(cfg, resume=resume, overwrite=overwrite)
    from tunesmith.training.processes import is_main

    return load(run) if is_main() else None  # under torchrun, the main process reports


def load(run_dir: str | Path, backend: str = "pytorch", precision: str = "fp32") -> Model:
    """Load a finished run for prediction and evaluation; `backend="onnx"` runs the exported
    ONNX model (int8 when it was exported with --int8); `precision="bf16"` (or "auto": bf16
    where the CPU/GPU runs it natively) predicts under bf16 autocast, about 3x faster on such
    CPUs with probabilities a little different."""
    return Model(run_dir, backend, precision)


def evaluate(run_dir: str | Path, data: str | Path, **columns: str | None) -> dict:
    """Metrics of a finished run on new labelled data (same format as training data)."""
    return load(run_dir).evaluate(data, **columns)


class Model:
    """A fine-tuned model from a run directory: `predict` answers, `evaluate` scores."""

    def __init__(self, run_dir: str | Path, backend: str = "pytorch", precision: str = "fp32"):
        from tunesmith import tasks
        from tunesmith.console import quiet_libraries
        from tunesmith.feedback.versions import live_dir

        self.root = Path(run_dir)  # the run directory; `path` is its live version's folder
        self.run = RunDir(
            live_dir(run_dir) if (self.root / "tunesmith.json").is_file() else run_dir
        )
        self.path = self.run.path
        self.manifest = self.run.manifest()
        self.task = tasks.get(self.manifest["task"])
        self.labels: list[str] = self.manifest["labels"]
        self.max_length: int = self.manifest["max_length"]
        saved = yaml.safe_load((self.path / CONFIG).read_text(encoding="utf-8")) or {}
        self.data_options = DataConfig.model_validate(saved.get("data") or {})
        quiet_libraries()
        self.model, self.processor = _load_trained(self.task, self.path)
        self.backend = "pytorch"
        self.precision = "fp32"
        if backend == "onnx":
            self._use_onnx()
        elif precision != "fp32":
            self._use_precision(precision)

    def _use_precision(self, choice: str) -> None:
        from tunesmith.training.precision import fastest_attention, resolve_precision

        self.precision = resolve_precision(choice)
        attention = fastest_attention(self.precision)
        if attention and hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation(attention)
        self.backend = f"pytorch {self.precision}"

    def _use_onnx(self) -> None:
        from tunesmith.errors import TunesmithError
        from tunesmith.export.onnx import OnnxModule, onnx_files, onnx_folder

        backend, files = onnx_files(onnx_folder(self.path))  # int8 where it was exported
        if files:
            sessions = {stem: OnnxModule(path) for stem, path in files.items()}
            self.model, self.backend = self.task.onnx.model(sessions, self.model), backend
            return
        raise TunesmithError(
            "this run has no ONNX export",
            where=f"--backend onnx {self.path}",
            fix=f"run `tunesmith export {self.path} --format onnx --int8` first",
        )

    @property
    def metrics(self) -> dict:
        return json.loads((self.path / "metrics.json").read_text(encoding="utf-8"))

    def predict(self, inputs: Any | list, batch_size: int = 64, **options: Any) -> Any:
        """The answer (a dict) for one input, or a list of answers for a list of inputs.

        Image-text runs classify images zero-shot against `labels=[...]` (default: the run's).
        Generation takes prompts (strings, or chats as lists of {"role", "content"} messages)
        and `options`: max_new_tokens=128, temperature=0 (greedy; > 0 samples), top_p, seed,
        stop (a text or a list of texts that end the answer; not returned).
        """
        single = not isinstance(inputs, (list, tuple)) or (
            bool(inputs) and isinstance(inputs[0], dict)  # one chat
        )
        inputs = [inputs] if single else list(inputs)
        labels = options.pop("labels", None) or self.labels  # zero-shot: labels asked for now
        if self.task.cleans_inputs:
            inputs = [clean_text(x, self.data_options) for x in inputs]
        with self._autocast():
            answers = self.task.predict(
                self.model,
                self.processor,
                inputs,
                labels,
                self.max_length,
                batch_size,
                **options,
            )
        return answers[0] if single else answers

    def search(self, query: str, images: list[str], top_k: int = 10) -> list[dict]:
        """Image-text: the `images` closest to the words in `query`, best first."""
        self._needs("search", "search images", "train an image-text run (--task image-text)")
        return self.task.search(self.model, self.processor, query, list(images), top_k)

    def embed(self, *, images: list[str] | None = None, texts: list[str] | None = None):
        """Image-text: unit-length embeddings (a tensor, one row per input) of images or texts
        in the shared space, for your own index or similarity search."""
        from tunesmith.tasks.image_text import metrics as measure

        self._needs("search", "embed images and texts", "train an image-text run")
        if images is not None:
            return measure.embed_images(self.model, self.processor, list(images))
        return measure.embed_texts(self.model, self.processor, list(texts or []), self.max_length)

    def stream(self, prompt: Any, **options: Any):
        """Generation: the answer to one prompt piece by piece as the model writes it (iterate
        it; then `.finish_reason` and `.usage`). Options as predict's, and `stop` (a text or a
        list: ends the answer, not returned), `cancel` (a threading.Event: stops the model)."""
        self._needs("stream", "stream answers", "use predict()")
        # The model runs in a thread of its own: the autocast must be entered there.
        return self.task.stream(
            self.model, self.processor, prompt, context=self._autocast, **options
        )

    def _needs(self, method: str, what: str, fix: str) -> None:
        if not hasattr(self.task, method):
            from tunesmith.errors import TunesmithError

            raise TunesmithError(
                f"{self.task.name} models do not {what}", where=str(self.path), fix=fix
            )

    def _autocast(self):
        import contextlib

        if self.precision == "fp32":
            return contextlib.nullcontext()
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device, dtype=dtype)

    def evaluate(
        self, data: str | Path, text_column: str | None = None, label_column: str | None = None
    ) -> dict:
        from tunesmith.data.readers import read_table

        table = read_table(data, "--data", self.data_options)
        saved = self.manifest["columns"]
        # Prefer the training run's column names when the new file has them.
        columns = {role: name if name in table else None for role, name in saved.items()}
        given = {"text": text_column, "image": text_column, "label": label_column}
        columns |= {role: given[role] for role in columns if given.get(role)}
        examples = self.task.prepare(table, str(data), columns, self.data_options)
        self.task.check_labels(examples, self.labels)
        with self._autocast():
            metrics, _ = self.task.test(
                self.model, self.processor, examples, self.labels, self.max_length, 64
            )
        return metrics


def _load_trained(task, path: Path):
    import pickle

    from tunesmith.models.loading import unsafe_weights

    try:
        return task.load_trained(path)
    except pickle.UnpicklingError:
        raise unsafe_weights(str(path)) from None
