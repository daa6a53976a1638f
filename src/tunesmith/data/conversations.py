"""Generation data in its three shapes, turned into one: plain text, or chat messages.

- chat: a column of message lists, OpenAI (`role`/`content`) or ShareGPT (`from`/`value`,
  roles human/gpt) shaped;
- instruction: Alpaca's `instruction` / `input` / `output` columns (or prompt/response,
  question/answer), made into a user turn and an assistant turn;
- text: a column of plain text (or a .txt file, or a folder of them), packed into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tunesmith.data.readers import describe_row
from tunesmith.errors import TunesmithError

CHAT_COLUMNS = ("messages", "conversations", "conversation", "chat", "dialogue")
PROMPT_COLUMNS = ("instruction", "prompt", "question", "query")
ANSWER_COLUMNS = ("output", "response", "answer", "completion", "chosen")
TEXT_COLUMNS = ("text", "content", "body", "document")
ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "system": "system",
}


@dataclass
class Shape:
    kind: str  # chat | instruction | text
    columns: dict[str, str]  # role -> source column


def detect_shape(table: pd.DataFrame, source: str, text_column: str | None = None) -> Shape:
    """Which of the three shapes `table` has, by its columns (and their first values)."""
    lower = {str(c).lower(): c for c in table.columns}
    if text_column:
        if text_column not in table:
            raise TunesmithError(
                f"no column {text_column!r} (columns: {', '.join(map(str, table.columns))})",
                where=f"--data.text_column {text_column}",
                fix="name one of the columns above",
            )
        kind = "chat" if _is_chat(table[text_column]) else "text"
        return Shape(kind, {"messages" if kind == "chat" else "text": text_column})
    for name in table.columns:
        if _is_chat(table[name]) and (str(name).lower() in CHAT_COLUMNS or len(table.columns) == 1):
            return Shape("chat", {"messages": name})
    prompt = next((lower[c] for c in PROMPT_COLUMNS if c in lower), None)
    answer = next((lower[c] for c in ANSWER_COLUMNS if c in lower), None)
    if prompt and answer:
        columns = {"instruction": prompt, "output": answer}
        if "input" in lower:
            columns["input"] = lower["input"]
        if "system" in lower:
            columns["system"] = lower["system"]
        return Shape("instruction", columns)
    chat = [c for c in table.columns if _is_chat(table[c])]
    if chat:
        return Shape("chat", {"messages": chat[0]})
    text = next((lower[c] for c in TEXT_COLUMNS if c in lower), None)
    strings = [c for c in table.columns if table[c].map(lambda v: isinstance(v, str)).all()]
    if text is None and strings:  # the column with the most text
        text = max(strings, key=lambda c: table[c].str.len().sum())
    if text is None:
        raise TunesmithError(
            "cannot tell what to train on: no chat column (messages), no instruction/output "
            "columns and no text column",
            where=source,
            fix='use chat records {"messages": [{"role": "user", "content": ...}, {"role": '
            '"assistant", ...}]}, instruction records {"instruction", "input", "output"}, or a '
            "text column (--data.text_column)",
        )
    return Shape("text", {"text": text})


def looks_like_generation(table: pd.DataFrame) -> bool:
    """Chat message lists, instruction and answer columns, or nothing but text (a .txt file, a
    folder of notes): the signs of generation data (task detection)."""
    lower = {str(c).lower() for c in table.columns}
    if lower <= {"text", "file"}:
        return True
    if any(c in lower for c in PROMPT_COLUMNS) and any(c in lower for c in ANSWER_COLUMNS):
        return True
    return any(_is_chat(table[c].head(5)) for c in table.columns)


def _is_chat(values: pd.Series) -> bool:
    first = next((v for v in values if isinstance(v, list) and v), None)
    return first is not None and all(
        isinstance(m, dict) and ("role" in m or "from" in m) for m in first
    )


def to_examples(table: pd.DataFrame, shape: Shape, source: str) -> tuple[list, list[str]]:
    """One input per row: a list of {"role", "content"} messages (chat, instruction) or a string
    (text); and notes on what was dropped. Malformed chats stop with the row named."""
    notes: list[str] = []
    if shape.kind == "text":
        texts = table[shape.columns["text"]].map(lambda v: v if isinstance(v, str) else str(v))
        return list(texts), notes
    if shape.kind == "instruction":
        rows = [_instruction(table, i, shape.columns) for i in range(len(table))]
    else:
        column = shape.columns["messages"]
        rows = [_messages(v, source, i, column) for i, v in enumerate(table[column])]
    return rows, notes


def _instruction(table: pd.DataFrame, i: int, columns: dict[str, str]) -> list[dict] | None:
    def cell(role: str) -> str:
        value = table[columns[role]].iloc[i] if role in columns else ""
        return "" if value is None else str(value).strip()

    prompt, extra, answer = cell("instruction"), cell("input"), cell("output")
    if not prompt or not answer:
        return None
    messages = [{"role": "system", "content": cell("system")}] if cell("system") else []
    user = f"{prompt}\n\n{extra}" if extra else prompt
    return [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def _messages(value, source: str, i: int, column: str, need_answer: bool = True):
    if not isinstance(value, list) or not value:
        return None
    out = []
    for turn, message in enumerate(value):
        role = message.get("role", message.get("from")) if isinstance(message, dict) else None
        content = (
            message.get("content", message.get("value")) if isinstance(message, dict) else None
        )
        if str(role).lower() not in ROLES or not isinstance(content, str):
            raise TunesmithError(
                f"message {turn + 1} is not a chat message with a known role and text content "
                f"(got {str(message)[:80]!r})",
                where=f"{describe_row(source, i)}, column {column!r}",
                fix='write each message as {"role": "user"|"assistant"|"system", "content": '
                '"..."} (or ShareGPT {"from": "human"|"gpt", "value": "..."})',
            )
        out.append({"role": ROLES[str(role).lower()], "content": content})
    if need_answer and not any(m["role"] == "assistant" and m["content"].strip() for m in out):
        return None  # nothing to learn from; counted and reported by the caller
    return out


def prompt_and_reference(example) -> tuple[object, str]:
    """What to ask the model (all but the last answer) and the answer the data gives."""
    if isinstance(example, str):  # plain text: continue the first half
        words = example.split()
        half = max(1, len(words) // 2)
        return " ".join(words[:half]), " ".join(words[half:])
    last = max(i for i, m in enumerate(example) if m["role"] == "assistant")
    return example[:last], example[last]["content"]


def flatten(example) -> str:
    """One string for duplicate checks and vocabulary statistics."""
    if isinstance(example, str):
        return example
    return "\n".join(f"{m['role']}: {m['content']}" for m in example)


def prompts_from_table(table: pd.DataFrame, source: str, text_column: str | None = None):
    """Prompts to answer from a file (`predict --input`): chats (answered after their last
    user turn), instruction records (built as in training; any output column is ignored), or
    a column of plain prompts. Returns (the column described, prompts)."""
    lower = {str(c).lower(): c for c in table.columns}
    prompt = next((lower[c] for c in PROMPT_COLUMNS if c in lower), None)
    if prompt and not text_column:
        extra = lower.get("input")
        prompts = [
            f"{p}\n\n{e}".strip() if extra else str(p)
            for p, e in zip(
                table[prompt], table[extra] if extra else [""] * len(table), strict=True
            )
        ]
        return prompt, prompts
    shape = detect_shape(table, source, text_column)
    if shape.kind == "chat":
        column = shape.columns["messages"]
        chats = [_messages(v, source, i, column) or [] for i, v in enumerate(table[column])]
        return column, [
            c[: max(i for i, m in enumerate(c) if m["role"] == "user") + 1] for c in chats
        ]
    column = shape.columns.get("text") or next(iter(shape.columns.values()))
    return column, [str(v) for v in table[column]]


def _up_to_last_question(chat: list[dict]) -> list[dict]:
    users = [i for i, m in enumerate(chat) if m["role"] == "user"]
    return chat[: users[-1] + 1] if users else chat
