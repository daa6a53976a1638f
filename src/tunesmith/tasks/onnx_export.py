"""The ONNX piece of the task contract: what `tunesmith export --format onnx` writes for a
task, what parity compares, and what the ONNX backend hands back to the task's predict().

A task that exports holds one as `Task.onnx` (built for it); None means no ONNX export. This
base class exports a classifier's logits as model.onnx; tasks with other graphs (an encoder's
token vectors, two towers) subclass it in their own package's export.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesmith.tasks.base import Examples, Task


class OnnxExport:
    per_token = False  # logits per token (NER) rather than per input

    def __init__(self, task: Task):
        self.task = task

    def graphs(self, model: Any, processor: Any) -> dict:
        """What export writes: {file stem: tunesmith.export.onnx.Graph}."""
        from tunesmith.export.onnx import logits_graph

        return {"model": logits_graph(self.task, model, processor, self.per_token)}

    def parity_answers(self, model: Any, processor: Any, examples: Examples, labels, max_length):
        """What parity compares with PyTorch's, answer by answer: predictions on the examples'
        inputs (a task may answer {"embedding": [...]} rows instead)."""
        inputs = list(examples.frame["input"])
        return self.task.predict(model, processor, inputs, labels, max_length, 64)

    def model(self, sessions: dict, model: Any) -> Any:
        """What predict() gets for the ONNX backend, from {file stem: OnnxModule} (and the
        PyTorch `model` they replace, for constants such as CLIP's logit scale): something
        that looks like the PyTorch model to the task's own code."""
        return sessions["model"]


class TokenLogitsExport(OnnxExport):
    per_token = True
