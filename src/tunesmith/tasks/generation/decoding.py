"""Generated tokens -> text, as they come: pieces that never end in half a character, stop
sequences cut out (and never half shown), a flag that stops the model, and token counts.

Each step decodes the whole answer so far and sends what is new, so the pieces always join
into exactly the whole answer. Held back until the next token: a trailing "\\ufffd" (a byte-level
token can end inside a multi-byte character, such as a Chinese one), trailing whitespace (the
whole answer is stripped), and an ending that may be the start of a stop sequence.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

BROKEN = "\ufffd"  # what decoding writes for bytes that are not (yet) a whole character
_END = object()


def trim_end(text: str) -> str:
    """Without trailing whitespace and broken characters (cut by max_new_tokens mid-character)."""
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] == BROKEN):
        end -= 1
    return text[:end]


def tidy(text: str) -> str:
    """An answer as shown: stripped, never ending in a broken character."""
    return trim_end(text.lstrip())


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """`text` up to its first stop sequence (which is not returned), and whether one was found."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(found)], True) if found else (text, False)


def stop_prefix(text: str, stops: list[str]) -> int:
    """The length of the longest ending of `text` that begins a stop sequence."""
    return max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)


class Pieces:
    """A `generate()` streamer: `put` gets the prompt, then each new token; `on_text` gets the
    answer piece by piece. `stopped` turns true at a stop sequence (`Until` ends the loop)."""

    def __init__(self, tokenizer, on_text: Callable[[str], None], stops: list[str]):
        self.tokenizer, self.on_text, self.stops = tokenizer, on_text, stops
        self.ids: list[int] = []
        self.sent = ""
        self.prompt_seen = False
        self.stopped = False

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() passes the prompt first
            self.prompt_seen = True
            return
        self.ids.extend(value.reshape(-1).tolist())
        self._send(final=False)

    def end(self) -> None:
        self._send(final=True)

    def _send(self, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text, hit = cut_at_stop(text, self.stops)
        self.stopped = self.stopped or hit
        ready = text.lstrip()
        if not (final or hit):  # what the next token may still change
            ready = ready.rstrip(BROKEN)  # first: "他\ufffd" may yet become the stop "他国"
            ready = trim_end(ready[: len(ready) - stop_prefix(ready, self.stops)])
        else:
            ready = trim_end(ready)
        # A decoder that rewrites earlier text (rare) waits: what was sent cannot be taken back.
        if len(ready) > len(self.sent) and ready.startswith(self.sent):
            piece, self.sent = ready[len(self.sent) :], ready
            self.on_text(piece)


class Until(StoppingCriteria):
    """Ends generation (every row) once `done()` is true: a stop sequence seen, or the client
    gone (the server sets the cancel flag when a request is disconnected)."""

    def __init__(self, done: Callable[[], bool]):
        self.done = done

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.done(), device=input_ids.device)


class StopTexts(StoppingCriteria):
    """Batched generation: ends each row at a stop sequence in its new text (or all on cancel)."""

    def __init__(self, tokenizer, start: int, stops: list[str], cancel: threading.Event | None):
        self.tokenizer, self.start, self.stops, self.cancel = tokenizer, start, stops, cancel

    def __call__(self, input_ids, scores, **kwargs):
        if self.cancel is not None and self.cancel.is_set():
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if not self.stops:
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        texts = self.tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=True)
        hits = [any(s in text for s in self.stops) for text in texts]
        return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)


def stop_list(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else [s for s in (stop or []) if s]


class TextStream:
    """One answer, piece by piece as the model writes it (iterate it). Afterwards:
    `finish_reason` ("stop": end of turn or a stop sequence; "length": max_new_tokens reached;
    "cancelled") and `usage` (prompt, completion and total tokens). `close()` (or the
    `cancel` event) stops the model at its next token. The model runs in a thread of its own,
    started by `start()` or the first `next()`, under `context()` (the caller's autocast)."""

    def __init__(self, model, tokenizer, enc: dict, kwargs: dict, stops, seed, cancel, context):
        self.model, self.tokenizer, self.enc, self.kwargs = model, tokenizer, enc, kwargs
        self.seed, self.context = seed, context or contextlib.nullcontext
        self.cancel = cancel or threading.Event()
        self.pieces = Pieces(tokenizer, self._put, stop_list(stops))
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.finish_reason: str | None = None
        prompt = int(enc["input_ids"].shape[1])
        self.usage = {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt}

    def _put(self, piece: str) -> None:
        self.queue.put(piece)

    def start(self) -> TextStream:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="tunesmith-generate", daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        done = lambda: self.cancel.is_set() or self.pieces.stopped  # noqa: E731
        try:
            with torch.inference_mode(), self.context():
                if self.seed is not None:
                    torch.manual_seed(int(self.seed))
                self.model.generate(
                    **self.enc,
                    **self.kwargs,
                    streamer=self.pieces,
                    stopping_criteria=StoppingCriteriaList([Until(done)]),
                )
        except BaseException as exc:  # handed to the reader, in its thread
            self.error = exc
        finally:
            self._finish()
            self.queue.put(_END)

    def _finish(self) -> None:
        ids = self.pieces.ids
        eos = end_ids(self.model, self.tokenizer)
        if self.cancel.is_set() and not self.pieces.stopped:
            self.finish_reason = "cancelled"
        elif self.pieces.stopped or (ids and ids[-1] in eos):
            self.finish_reason = "stop"
        else:
            self.finish_reason = "length"
        self.usage["completion_tokens"] = len(ids)
        self.usage["total_tokens"] = self.usage["prompt_tokens"] + len(ids)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.start()
        item = self.queue.get()
        if item is _END:
            self.queue.put(_END)  # a later next() ends too
            self.thread.join()
            if self.error is not None:
                error, self.error = self.error, None
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        self.cancel.set()

    def __del__(self) -> None:  # a reader that walks away stops the model
        self.cancel.set()


def end_ids(model, tokenizer) -> set[int]:
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(ids if isinstance(ids, list) else [ids])
    return {i for i in ids | {tokenizer.eos_token_id} if i is not None}
