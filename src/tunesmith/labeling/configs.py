"""Label Studio's side of a task's answers: the labelling config (XML), an answer as a
pre-annotation, and how unsure the answer is.

The task names its kind of answer (`Task.label_studio_control`): "choice" (one label: text or
image classification), "choices" (a label set: multi-label), "spans" (entities with character
offsets: NER). Label Studio counts a text's characters as the browser does, in UTF-16 code
units; Python counts code points. They agree for Chinese and every other character of the
Basic Multilingual Plane, and differ by one for each emoji or rare CJK character (outside it)
before a span: offsets are converted both ways, so spans survive the round trip exactly.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from tunesmith.errors import TunesmithError

FROM = "label"  # the control's name: annotations come back under it


def control(task) -> str:
    kind = task.label_studio_control
    if kind is None:
        raise TunesmithError(
            f"{task.name} runs have no Label Studio labelling tasks in tunesmith",
            where="tunesmith label",
            fix="use a classification, multi-label or NER run",
        )
    return kind


def input_name(task) -> str:
    return "image" if task.input_kind == "image" else "text"


def label_config(task, labels: list[str]) -> str:
    """The labelling config: the input, and one control holding the run's labels."""
    kind, source = control(task), input_name(task)
    shown = (
        '<Image name="image" value="$image"/>'
        if source == "image"
        else '<Text name="text" value="$text"/>'
    )
    options = "".join(
        f"<{'Label' if kind == 'spans' else 'Choice'} value={quoteattr(x)}/>" for x in labels
    )
    if kind == "spans":
        body = f'<Labels name="{FROM}" toName="{source}">{options}</Labels>'
    else:
        choice = "multiple" if kind == "choices" else "single"
        body = f'<Choices name="{FROM}" toName="{source}" choice="{choice}">{options}</Choices>'
    return f"<View>{body}{shown}</View>"


def result(task, answer: dict) -> list[dict]:
    """An answer (as Model.predict gives it) as a Label Studio annotation result."""
    kind, source = control(task), input_name(task)
    if kind == "spans":
        return [
            {
                "from_name": FROM,
                "to_name": source,
                "type": "labels",
                "value": {
                    "start": utf16(answer["text"], e["start"]),
                    "end": utf16(answer["text"], e["end"]),
                    "text": e["text"],
                    "labels": [e["type"]],
                },
                "score": float(e["score"]),
            }
            for e in answer["entities"]
        ]
    chosen = answer["labels"] if kind == "choices" else [answer["label"]]
    if not chosen:
        return []
    return [{"from_name": FROM, "to_name": source, "type": "choices", "value": {"choices": chosen}}]


def uncertainty(task, answer: dict) -> float:
    """0 (sure) to 1 (a coin toss). One label: one minus the margin between the two likeliest
    labels. A label set: the label closest to its decision, |2p - 1|. Spans: the least sure
    entity's mean tag probability (no entity found: as sure as its least sure word can be
    told, which predict does not give, so 0.5)."""
    kind = control(task)
    if kind == "spans":
        scores = [e["score"] for e in answer["entities"]]
        return 1.0 - min(scores) if scores else 0.5
    probs = sorted(answer["scores"].values(), reverse=True)
    if kind == "choices":
        return 1.0 - min(abs(2 * p - 1) for p in probs)
    return 1.0 - (probs[0] - (probs[1] if len(probs) > 1 else 0.0))


def prediction(task, answer: dict, version: str) -> dict:
    """A pre-annotation: the result, the model's version, and its confidence as LS's `score`."""
    return {
        "model_version": version,
        "score": round(1.0 - uncertainty(task, answer), 6),
        "result": result(task, answer),
    }


def utf16(text: str, index: int) -> int:
    """A code-point offset into `text` as Label Studio's (UTF-16) offset."""
    return index + sum(ord(c) > 0xFFFF for c in text[:index])


def from_utf16(text: str, units: int) -> int:
    """Label Studio's (UTF-16) offset into `text` as a code-point offset."""
    count = 0
    for i, char in enumerate(text):
        if count >= units:
            return i
        count += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def spans_from_label_studio(text: str, results: list[dict]) -> list[dict]:
    """An annotation's results with span offsets in code points (Python's, tunesmith's)."""
    out = []
    for r in results:
        value = r.get("value") or {}
        if r.get("type") == "labels" and "start" in value:
            start, end = from_utf16(text, value["start"]), from_utf16(text, value["end"])
            r = r | {"value": value | {"start": start, "end": end, "text": text[start:end]}}
        out.append(r)
    return out
