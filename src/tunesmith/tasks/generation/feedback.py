"""Generation feedback: a better answer to a prompt, or a thumbs up or down on the model's.

A better answer, and a thumbs-up on the model's own answer (sent as `predicted`), become
training examples; a thumbs-down without a better answer is kept but not trained on (it says
what not to answer, which plain fine-tuning cannot learn)."""

from __future__ import annotations

import json

from tunesmith.tasks.feedback import MAX_ANSWER_CHARS, AnswerShapedFeedback, Correction, short_text


class AnswerFeedback(AnswerShapedFeedback):
    takes_ratings = True
    label_help = (
        'a better answer (text), or "rating": "up" or "down" with the model\'s answer as '
        '"predicted"'
    )

    def check(self, input, label, predicted, rating):
        answer = short_text(predicted, "predicted", MAX_ANSWER_CHARS) if predicted else None
        if label is not None:
            return Correction(short_text(label, "label", MAX_ANSWER_CHARS), answer)
        if rating is None:
            raise ValueError(f"send {self.label_help}")
        if answer is None:
            raise ValueError("a rating needs the answer it rates as predicted")
        return Correction(answer if rating == "up" else None, answer, trains=rating == "up")

    def record(self, input, label, live, keep_file):
        prompt = json.loads(input) if input.startswith("[") else input
        if (
            isinstance(prompt, str) and "text" in live.manifest["columns"]
        ):  # a plain-text run: one continuation
            return {"text": prompt + label}
        chat = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        return {"messages": [*chat, {"role": "assistant", "content": label}]}

    def pool_record(self, row, keep_file):
        value = row["input"]
        return {"messages": list(value)} if isinstance(value, list) else {"text": value}

    def keys(self, frame):
        """A chat's prompt (all but its answer): a better answer replaces the older one."""
        return [
            json.dumps(x[:-1] if isinstance(x, list) else x, ensure_ascii=False)
            for x in frame["input"]
        ]
