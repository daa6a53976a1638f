"""Preference feedback: the service's thumbs and better answers as DPO pairs or KTO rows.

A client sends what generation runs take (a better answer as `label`, or a thumbs up or down
on the model's answer sent as `predicted`); here a thumbs-down trains too. At `retrain`:
- a DPO run pairs a better answer with the model's own answer (chosen = the better one,
  rejected = the model's), and a thumbs-up with a thumbs-down on the same prompt;
- a KTO run takes each rated answer as a row: a better answer is good, the model's answer it
  replaces bad, a thumbs-up good, a thumbs-down bad.
What cannot make a pair (a lone rating in a DPO run) is counted, not trained on."""

from __future__ import annotations

import json

from tunesmith.tasks.feedback import Correction
from tunesmith.tasks.generation.feedback import AnswerFeedback


def _chat(prompt) -> list[dict]:
    return list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


def _answer(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


class PreferenceFeedback(AnswerFeedback):
    label_help = (
        'a better answer (text) with the model\'s own answer as "predicted" (a preference '
        'pair), or "rating": "up" or "down" with the model\'s answer as "predicted"'
    )

    def check(self, input, label, predicted, rating):
        correction = super().check(input, label, predicted, rating)
        return Correction(correction.label, correction.predicted, trains=True)  # downs too

    def records(self, rows: list[dict], live, keep_file) -> tuple[list[dict], int]:
        """Stored corrections ({input, label, predicted}) as pool records, and how many could
        not be used (DPO: no pair)."""
        dpo = "rejected" in live.manifest["columns"]
        good: dict[str, list] = {}
        bad: dict[str, list] = {}
        out: list[dict] = []
        for row in rows:
            given = row["input"]
            prompt = _chat(json.loads(given) if given.startswith("[") else given)
            key = json.dumps(prompt, ensure_ascii=False)
            label, predicted = row["label"], row["predicted"]
            if label is not None and predicted and label != predicted and dpo:
                out.append(
                    {"prompt": prompt, "chosen": _answer(label), "rejected": _answer(predicted)}
                )
                continue
            if label is not None:
                good.setdefault(key, []).append((prompt, label))
            if predicted and predicted != label:
                bad.setdefault(key, []).append((prompt, predicted))
        if not dpo:
            for flag, found in ((True, good), (False, bad)):
                out += [
                    {"prompt": p, "completion": _answer(a), "label": flag}
                    for group in found.values()
                    for p, a in group
                ]
            return out, 0
        unused = 0
        for key in set(good) | set(bad):
            ups, downs = good.get(key, []), bad.get(key, [])
            pairs = min(len(ups), len(downs))
            unused += len(ups) + len(downs) - 2 * pairs
            if pairs:  # the latest of each, paired
                out += [
                    {"prompt": up[0], "chosen": _answer(up[1]), "rejected": _answer(down[1])}
                    for up, down in zip(ups[-pairs:], downs[-pairs:], strict=True)
                ]
        return out, unused

    def pool_record(self, row, keep_file):
        record = {"prompt": list(row["input"])}
        if "chosen" in row and isinstance(row.get("chosen"), list):
            return record | {"chosen": list(row["chosen"]), "rejected": list(row["rejected"])}
        return record | {"completion": list(row["completion"]), "label": bool(row["desirable"])}

    def keys(self, frame):
        return [str(k) for k in frame["key"]]
