"""The task registry. Tasks are registered here explicitly and checked as they register."""

from __future__ import annotations

import inspect

from tunesmith.data.conversations import looks_like_generation
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples, Task
from tunesmith.tasks.embedding import Embedding
from tunesmith.tasks.generation import CausalLM
from tunesmith.tasks.image_classification import ImageClassification, looks_like_image_column
from tunesmith.tasks.image_text import ImageText
from tunesmith.tasks.multi_label import MultiLabel, looks_like_label_lists
from tunesmith.tasks.ner import TokenClassification
from tunesmith.tasks.preference import Preference, preference_kind
from tunesmith.tasks.text_classification import TextClassification

__all__ = ["DEFAULT", "Examples", "Task", "get", "names", "register"]

DEFAULT = "text-classification"  # the task used when neither --task nor the data says otherwise

_TASKS: dict[str, Task] = {}


def register(task: Task) -> None:
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    missing = sorted(getattr(task, "__abstractmethods__", ()))
    if missing or inspect.isabstract(type(task)):
        raise ValueError(f"task {task.name!r} does not implement {missing}")
    _TASKS[task.name] = task


def get(name: str) -> Task:
    if name not in _TASKS:
        raise TunesmithError(
            f"unknown task {name!r}", where=f"--task {name}", fix=f"use one of: {', '.join(_TASKS)}"
        )
    return _TASKS[name]


def names() -> list[str]:
    return list(_TASKS)


def detect(table) -> str:
    """The task a table asks for: chosen/rejected or thumbs columns mean preference tuning;
    chat messages or instruction/output columns mean generation;
    lists of tokens/tags or entity spans mean NER; a column of image paths means image
    classification."""
    first = table.iloc[0] if len(table) else {}
    if preference_kind(table):  # chosen/rejected pairs, or prompt/completion/true-false thumbs
        return "preference"
    if looks_like_generation(table):
        return "generation"
    images = any(looks_like_image_column(table[c]) for c in table.columns)
    if looks_like_label_lists(table) and not images:  # one column of label lists, texts
        return "multi-label"
    if any(isinstance(first[c], list) for c in table.columns):
        return "ner"
    if images:
        return "image-classification"
    return DEFAULT


register(TextClassification())
register(TokenClassification())
register(ImageClassification())
register(CausalLM())
register(ImageText())
register(MultiLabel())
register(Embedding())
register(Preference())
