"""Preference data in TRL's two shapes, read into one frame.

- pairs (DPO): `prompt` / `chosen` / `rejected`; the prompt a string or a chat of {role,
  content} messages, each answer a string or a list of assistant messages. Without a prompt
  column, chosen and rejected are whole chats and their shared beginning is the prompt (TRL's
  "implicit prompt");
- thumbs (KTO): `prompt` / `completion` / `label`, the label true (a good answer) or false.

Each row becomes chat messages (a string prompt is a user turn, a string answer an assistant
turn), so the model's own chat template renders them, as generation's data.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from tunesmith.data.conversations import ROLES
from tunesmith.data.readers import describe_row
from tunesmith.errors import TunesmithError

PROMPT = ("prompt", "instruction", "question", "query")
COMPLETION = ("completion", "response", "answer", "output")
TRUE = {"true", "1", "yes", "up", "good", "desirable", "1.0"}
FALSE = {"false", "0", "no", "down", "bad", "undesirable", "0.0"}


def _lower(table: pd.DataFrame) -> dict[str, str]:
    return {str(c).lower(): c for c in table.columns}


def _is_flag(values: pd.Series) -> bool:
    return all(isinstance(v, bool) or str(v).strip().lower() in TRUE | FALSE for v in values)


def preference_kind(table: pd.DataFrame, flags: bool = True) -> str | None:
    """ "pairs" (chosen and rejected columns), "thumbs" (a prompt, a completion and a true/false
    label), or None: not preference data (task detection asks this before generation's).
    `flags`: the labels must look true/false (detection); reading names a bad one's row."""
    lower = _lower(table)
    if "chosen" in lower and "rejected" in lower:
        return "pairs"
    prompt = any(c in lower for c in PROMPT)
    completion = any(c in lower for c in COMPLETION)
    if (
        prompt
        and completion
        and "label" in lower
        and (not flags or _is_flag(table[lower["label"]].head(50)))
    ):
        return "thumbs"
    return None


def read_preferences(table: pd.DataFrame, source: str) -> tuple[pd.DataFrame, dict, str]:
    """(frame, columns, kind): `input` is the prompt as messages; pairs add `chosen` and
    `rejected`, thumbs `completion` and `desirable` (bool), all as assistant messages. Bad rows
    stop with the file and row named."""
    kind = preference_kind(table, flags=False)
    if kind is None:
        raise TunesmithError(
            "no preference columns: pairs need chosen and rejected, thumbs need prompt, "
            "completion and a true/false label",
            where=source,
            fix='write {"prompt": ..., "chosen": ..., "rejected": ...} (DPO) or {"prompt": ..., '
            '"completion": ..., "label": true|false} (KTO)',
        )
    lower = _lower(table)
    prompt = next((lower[c] for c in PROMPT if c in lower), None)
    if kind == "pairs":
        columns = {"chosen": lower["chosen"], "rejected": lower["rejected"]}
    else:
        columns = {"completion": next(lower[c] for c in COMPLETION if c in lower)}
        columns["label"] = lower["label"]
    if prompt is not None:
        columns = {"prompt": prompt, **columns}
    rows = [_row(table, i, columns, source, kind) for i in range(len(table))]
    frame = pd.DataFrame(rows)
    frame["row"] = table.index
    frame["key"] = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows]
    return frame, columns, kind


def _row(table, i: int, columns: dict, source: str, kind: str) -> dict:
    where = describe_row(source, i)
    prompt = (
        _messages(table[columns["prompt"]].iloc[i], where, columns["prompt"], "user")
        if ("prompt" in columns)
        else None
    )
    if kind == "thumbs":
        answer = _answer(table, i, columns["completion"], where)
        return {
            "input": prompt or [],
            "completion": answer,
            "desirable": _flag(table, i, columns, where),
        }
    chosen = _answer(table, i, columns["chosen"], where)
    rejected = _answer(table, i, columns["rejected"], where)
    if prompt is None:  # whole chats: the shared beginning is the prompt
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    if chosen == rejected:
        raise TunesmithError(
            "the chosen and the rejected answer are the same, so there is no preference to learn",
            where=where,
            fix="give a worse answer as rejected, or remove the row",
        )
    if not prompt:
        raise TunesmithError(
            "no prompt: the answers share no beginning and there is no prompt column",
            where=where,
            fix="add a prompt column (a string or a chat of {role, content} messages)",
        )
    return {"input": prompt, "chosen": chosen, "rejected": rejected}


def _missing(value) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _answer(table, i: int, column: str, where: str) -> list[dict]:
    value = table[column].iloc[i]
    if _missing(value):
        raise TunesmithError(
            f"no {column!r} answer",
            where=f"{where}, column {column!r}",
            fix=f"give every row a {column} answer (a string, or a list of assistant messages), "
            "or remove the row",
        )
    return _messages(value, where, column, "assistant")


def _messages(value, where: str, column: str, role: str) -> list[dict]:
    """A string as one message of `role`; a list of {role, content} (or ShareGPT) messages."""
    if isinstance(value, str):
        if not value.strip():
            raise TunesmithError(
                f"{column!r} is empty", where=where, fix="fill it or remove the row"
            )
        return [{"role": role, "content": value}]
    if not isinstance(value, list) or not value:
        raise TunesmithError(
            f"{column!r} is not text or a list of messages (got {str(value)[:60]!r})",
            where=f"{where}, column {column!r}",
            fix='write a string, or messages [{"role": ..., "content": ...}]',
        )
    out = []
    for message in value:
        got = message.get("role", message.get("from")) if isinstance(message, dict) else None
        text = message.get("content", message.get("value")) if isinstance(message, dict) else None
        if str(got).lower() not in ROLES or not isinstance(text, str):
            raise TunesmithError(
                f"{column!r} holds something that is not a chat message: {str(message)[:80]!r}",
                where=f"{where}, column {column!r}",
                fix='write each message as {"role": "user"|"assistant"|"system", "content": "..."}',
            )
        out.append({"role": ROLES[str(got).lower()], "content": text})
    return out


def _flag(table, i: int, columns: dict, where: str) -> bool:
    value = table[columns["label"]].iloc[i]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise TunesmithError(
        f"label {value!r} is not true or false",
        where=f"{where}, column {columns['label']!r}",
        fix="label each completion true (a good answer) or false (a bad one)",
    )
