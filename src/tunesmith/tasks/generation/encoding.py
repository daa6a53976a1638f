"""Token-level work for generation: chat rendering with answer-only labels, packing, loss and
perplexity, and text generation (batched or streamed; decoding.py turns tokens into text).

Labels are -100 (ignored by the loss) on prompt tokens, so the model learns to answer, not to
repeat questions; the rendered text comes from the model's own chat template.
"""

from __future__ import annotations

import math
from typing import Any

IGNORE = -100

# For models without a chat template (GPT-2 and other base models): a plain, readable layout.
# The end-of-text token after each answer teaches the model where to stop.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}### User:\n{{ m['content'] }}\n\n"
    "{% else %}### Assistant:\n{{ m['content'] }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)


def prepare_tokenizer(tokenizer) -> None:
    """A pad token (the end-of-text token where the model has none) and a chat template."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_TEMPLATE


def is_chat(tokenizer) -> bool:
    """Whether this run learned from chat/instruction data (so string prompts become a user
    turn) or from plain text (so prompts are continued)."""
    return getattr(tokenizer, "tunesmith_chat", True)


def render(tokenizer, messages: list[dict], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )


def answer_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]] | None]:
    """The rendered chat and the character spans of the assistant's answers (each with its
    end-of-turn marker), or None when the template does not render prefixes as prefixes."""
    full = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], generation_prompt=True)
        upto = render(tokenizer, messages[: i + 1])
        if not (upto.startswith(before) and full.startswith(upto)):
            return full, None
        spans.append((len(before), len(upto)))
    return full, spans


def encode_chats(tokenizer, chats: list[list[dict]], max_length: int) -> tuple[dict, dict]:
    """input_ids and labels (answers only) per chat; counts of what was cut or dropped."""
    ids, labels = [], []
    counts = {"truncated": 0, "no_answer_left": 0, "unmasked": 0}
    for messages in chats:
        text, spans = answer_spans(tokenizer, messages)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        row_ids = enc["input_ids"]
        if spans is None:  # template rewrites earlier turns: learn the whole chat
            counts["unmasked"] += 1
            row_labels = list(row_ids)
        else:
            row_labels = [
                token if any(end > a and start < b for a, b in spans) else IGNORE
                for token, (start, end) in zip(row_ids, enc["offset_mapping"], strict=True)
            ]
        if len(row_ids) > max_length:
            counts["truncated"] += 1
            row_ids, row_labels = row_ids[:max_length], row_labels[:max_length]
        if all(label == IGNORE for label in row_labels[1:]):
            counts["no_answer_left"] += 1
            continue
        ids.append(row_ids)
        labels.append(row_labels)
    return {"input_ids": ids, "labels": labels}, counts


def encode_texts(tokenizer, texts: list[str], max_length: int) -> dict:
    """Plain text: every document then an end-of-text token, concatenated and cut into blocks of
    `max_length` tokens (no padding wasted); the model learns every token."""
    stream: list[int] = []
    eos = tokenizer.eos_token_id
    for row in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(row)
        if eos is not None:
            stream.append(eos)
    blocks = [stream[i : i + max_length] for i in range(0, len(stream), max_length)]
    blocks = [b for b in blocks if len(b) > 1]
    return {"input_ids": blocks, "labels": [list(b) for b in blocks]}


def pack(columns: dict, max_length: int) -> dict:
    """Put whole examples together into blocks of up to `max_length` tokens, in order: fewer,
    fuller batches. Examples in a block attend to each other (the usual simple packing)."""
    ids, labels = [], []
    for row_ids, row_labels in zip(columns["input_ids"], columns["labels"], strict=True):
        if ids and len(ids[-1]) + len(row_ids) <= max_length:
            ids[-1] = ids[-1] + row_ids
            labels[-1] = labels[-1] + row_labels
        else:
            ids.append(list(row_ids))
            labels.append(list(row_labels))
    return {"input_ids": ids, "labels": labels}


def example_losses(model, dataset, collator, batch_size: int = 8) -> tuple[list, list]:
    """Per encoded example: the summed cross-entropy over its learned (non-ignored) tokens,
    and how many there are."""
    import torch
    import torch.nn.functional as F

    model.eval()
    sums, counts = [], []
    features = [{k: dataset[i][k] for k in ("input_ids", "labels")} for i in range(len(dataset))]
    with torch.inference_mode():
        for start in range(0, len(features), batch_size):
            batch = collator(features[start : start + batch_size])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            logits = logits.logits[:, :-1].float()
            target = batch["labels"][:, 1:]
            losses = F.cross_entropy(
                logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="none"
            )
            sums += losses.sum(dim=1).tolist()
            counts += (target != IGNORE).sum(dim=1).tolist()
    return sums, counts


def token_loss(model, dataset, collator, batch_size: int = 8) -> dict:
    """Mean cross-entropy per learned (non-ignored) token and its perplexity."""
    sums, counts = example_losses(model, dataset, collator, batch_size)
    total, count = sum(sums), int(sum(counts))
    loss = total / max(1, count)
    return {
        "loss": round(loss, 4),
        "perplexity": round(math.exp(min(loss, 50)), 3),
        "tokens": count,
    }


def prompt_text(tokenizer, prompt: Any, raw: bool = False) -> str:
    """What the model continues: a chat (or a string made a user turn, for chat runs) rendered
    with the generation prompt, or plain text (and any string when `raw`) as it is."""
    if isinstance(prompt, str) and (raw or not is_chat(tokenizer)):
        return prompt
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    return render(tokenizer, messages, generation_prompt=True)


def generation_kwargs(tokenizer, options: dict) -> dict:
    temperature = float(options.get("temperature") or 0)
    kwargs = {
        "max_new_tokens": int(options.get("max_new_tokens") or 128),
        "pad_token_id": tokenizer.pad_token_id,
        "do_sample": temperature > 0,
    }
    if temperature > 0:
        kwargs |= {"temperature": temperature, "top_p": float(options.get("top_p") or 1.0)}
    else:  # greedy: say so, so that sampling settings in generation_config.json do not warn
        kwargs |= {"temperature": None, "top_p": None, "top_k": None}
    return kwargs


def generate(model, tokenizer, prompts: list, batch_size: int = 8, **options) -> list[str]:
    """Answers for `prompts`, batched with left padding, in input order. `stop`: a text or list
    of texts that end an answer (not returned); `cancel`: a threading.Event that stops it."""
    import torch

    from tunesmith.tasks.generation.decoding import StopTexts, cut_at_stop, stop_list, tidy

    stops, cancel = stop_list(options.get("stop")), options.get("cancel")
    texts = [prompt_text(tokenizer, p, options.get("raw", False)) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[str] = [""] * len(texts)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                enc = tokenizer(
                    [texts[i] for i in batch],
                    return_tensors="pt",
                    padding=True,
                    add_special_tokens=False,
                ).to(model.device)
                if "seed" in options and options["seed"] is not None:
                    torch.manual_seed(int(options["seed"]))
                width = enc["input_ids"].shape[1]
                extra = {}
                if stops or cancel is not None:
                    extra["stopping_criteria"] = [StopTexts(tokenizer, width, stops, cancel)]
                kwargs = generation_kwargs(tokenizer, options)
                generated = model.generate(**enc, **kwargs, **extra)
                for i, row in zip(batch, generated[:, width:], strict=True):
                    text = tokenizer.decode(row, skip_special_tokens=True)
                    out[i] = tidy(cut_at_stop(text, stops)[0])
    finally:
        tokenizer.padding_side = side
    return out


def stream(model, tokenizer, prompt, **options):
    """The answer to one prompt piece by piece as the model writes it: a TextStream (iterate
    it; then `finish_reason` and `usage`). Options as generate()'s, and `context`: a context
    manager factory the model runs under (the caller's autocast), in its own thread."""
    from tunesmith.errors import TunesmithError
    from tunesmith.tasks.generation.decoding import TextStream

    text = prompt_text(tokenizer, prompt, options.get("raw", False))
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    kwargs = generation_kwargs(tokenizer, options)
    size, limit = enc["input_ids"].shape[1], context_size(model)
    if limit is not None:  # past its positions a model writes nonsense or fails
        if size >= limit:
            raise TunesmithError(
                f"the prompt has {size} tokens; this model reads at most {limit}",
                where="prompt",
                fix="shorten the prompt (or the chat: drop early turns)",
            )
        kwargs["max_new_tokens"] = min(kwargs["max_new_tokens"], limit - size)
    model.eval()
    return TextStream(
        model,
        tokenizer,
        enc,
        kwargs,
        stops=options.get("stop"),
        seed=options.get("seed"),
        cancel=options.get("cancel"),
        context=options.get("context"),
    )


def context_size(model) -> int | None:
    """How many positions the model reads (prompt and answer together), when it says."""
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)
