"""The settings form, generated from the typed config (`tunesmith.config`): one field per
config field, its kind from the type (a Literal is a select, a bool a checkbox, an optional
number empty for its default), its default shown, its label and help from
`locales/*/settings.json` keyed by the dotted name. So it cannot drift from the CLI's flags.
On submit only the fields the user changed become overrides, validated by `RunConfig` with
each error placed at the field its `loc` names."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from tunesmith.config import GROUPS, RunConfig, merge
from tunesmith.studio.i18n import catalog

# Shown first; the rest sits under "advanced" (collapsed unless something there is set).
COMMON = ("task", "model", "train.epochs", "train.learning_rate", "train.batch_size")
COMMON += ("train.max_length", "data.text_column", "data.label_column", "data.image_column")
COMMON += ("data.val_size", "data.test_size", "train.lora")
# Set by the page itself: the dataset is the data, the run name makes the output folder.
FIXED = ("data.path", "out")


@dataclass
class FormField:
    name: str  # dotted: train.epochs
    kind: str  # text | number | checkbox | select
    default: Any
    optional: bool
    choices: tuple[str, ...] = ()

    @property
    def common(self) -> bool:
        return self.name in COMMON


def fields() -> list[FormField]:
    out = []
    for name, info in RunConfig.model_fields.items():
        if name in GROUPS:
            for sub, sub_info in GROUPS[name].model_fields.items():
                out.append(_field(f"{name}.{sub}", sub_info))
        else:
            out.append(_field(name, info))
    return out


def _field(name: str, info) -> FormField:
    kinds = typing.get_args(info.annotation) if _is_union(info.annotation) else ()
    optional = type(None) in kinds
    base = next((k for k in kinds if k is not type(None)), info.annotation)
    default = info.default
    if typing.get_origin(base) is Literal:
        return FormField(name, "select", default, optional, tuple(typing.get_args(base)))
    if base is bool:  # a tri-state when unset means "the task decides"
        if optional:
            return FormField(name, "select", default, True, ("true", "false"))
        return FormField(name, "checkbox", default, False)
    if name == "task":
        from tunesmith import tasks

        return FormField(name, "select", default, True, tuple(tasks.names()))
    return FormField(name, "number" if base in (int, float) else "text", default, optional)


def _is_union(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def raw(value: Any) -> str:
    """A value as the form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def overrides(form: dict[str, str], settings: dict | None = None) -> tuple[dict, dict]:
    """(nested overrides of the fields that differ from their defaults, every submitted
    value as typed, for showing the form again). `form` maps dotted names to strings."""
    changed: dict = {}
    typed: dict = {}
    for field in fields():
        if field.name in FIXED or field.name not in form:
            continue
        value = form[field.name].strip()
        typed[field.name] = value
        if value == raw(field.default) or (value == "" and field.optional):
            continue
        group, _, key = field.name.rpartition(".")
        (changed.setdefault(group, {}) if group else changed)[key] = value
    return changed, typed


def validate(changed: dict, data_path: str, lang: str) -> tuple[RunConfig | None, dict]:
    """The config, or {field: message} (the key "" for errors no single field owns)."""
    try:
        return RunConfig.model_validate(merge(changed, {"data": {"path": data_path}})), {}
    except ValidationError as exc:
        names = {f.name for f in fields()}
        errors: dict[str, str] = {}
        for err in exc.errors():
            parts = [str(p) for p in err["loc"]]
            owner = next(
                (
                    ".".join(parts[:n])
                    for n in range(len(parts), 0, -1)
                    if ".".join(parts[:n]) in names
                ),
                "",
            )
            errors.setdefault(owner, _message(err, lang))
        return None, errors


def _message(err: dict, lang: str) -> str:
    key = f"settings.error.{err['type']}"
    text = catalog(lang).get(key) or catalog("en").get(key)
    context = {k: raw(v) for k, v in (err.get("ctx") or {}).items()}
    if text:
        try:
            return text.format(**context)
        except (KeyError, IndexError):
            pass
    return err["msg"].removeprefix("Value error, ")
