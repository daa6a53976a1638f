"""How much the model likes an answer: the summed log-probability of its tokens after the
prompt, rendered by the model's chat template as TRL renders it for training. Before and after
training on the held-out split give the report's preference figures; the model before training
is DPO's and KTO's reference, so the two together give TRL's implicit rewards,
beta * (log p_tuned - log p_reference), row by row."""

from __future__ import annotations

from tunesmith.tasks.generation import encoding as lm


def answer_logps(model, tokenizer, prompts: list, answers: list, max_length: int):
    """Per (prompt, answer): the answer's summed log-probability, and its token count."""
    from transformers import DataCollatorForSeq2Seq

    rows = []
    for prompt, answer in zip(prompts, answers, strict=True):
        before = lm.render(tokenizer, prompt, generation_prompt=True) if prompt else ""
        head = tokenizer(before, add_special_tokens=False)["input_ids"]
        ids = tokenizer(lm.render(tokenizer, [*prompt, *answer]), add_special_tokens=False)
        ids = ids["input_ids"]
        shared = next(
            (i for i, (a, b) in enumerate(zip(head, ids, strict=False)) if a != b), len(head)
        )
        shared = min(shared, len(ids) - 1, max_length - 1)  # at least one answer token scored
        ids = ids[:max_length]
        rows.append({"input_ids": ids, "labels": [lm.IGNORE] * shared + ids[shared:]})
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=lm.IGNORE, padding=True)
    side, tokenizer.padding_side = tokenizer.padding_side, "right"  # positions as in training
    try:
        sums, counts = lm.example_losses(model, rows, collator)
    finally:
        tokenizer.padding_side = side
    return [-s for s in sums], counts


def measure(model, tokenizer, examples, max_length: int) -> dict:
    """Per-row log-probabilities of the answers in `examples` (pairs: chosen and rejected;
    thumbs: the completion), JSON-ready (the baseline is saved)."""
    frame = examples.frame
    prompts = list(frame["input"])
    if "chosen" in frame:
        chosen, _ = answer_logps(model, tokenizer, prompts, list(frame["chosen"]), max_length)
        rejected, _ = answer_logps(model, tokenizer, prompts, list(frame["rejected"]), max_length)
        return {"chosen": chosen, "rejected": rejected}
    logps, counts = answer_logps(model, tokenizer, prompts, list(frame["completion"]), max_length)
    return {"completion": logps, "tokens": counts}


def pair_figures(logps: dict) -> dict:
    """How often the chosen answer is the likelier one, and the mean log-probability margin."""
    margins = [c - r for c, r in zip(logps["chosen"], logps["rejected"], strict=True)]
    return {
        "accuracy": round(sum(m > 0 for m in margins) / max(1, len(margins)), 4),
        "margin": round(sum(margins) / max(1, len(margins)), 4),
    }


def thumbs_figures(logps: dict, desirable: list[bool]) -> dict:
    """How often a desirable completion scores above an undesirable one (ROC AUC over all such
    pairs, by log-probability per token, so length does not decide), and the per-token
    log-probability of each kind."""
    from sklearn.metrics import roc_auc_score

    per_token = [s / max(1, n) for s, n in zip(logps["completion"], logps["tokens"], strict=True)]
    good = [p for p, d in zip(per_token, desirable, strict=True) if d]
    bad = [p for p, d in zip(per_token, desirable, strict=True) if not d]
    both = good and bad
    return {
        "accuracy": round(float(roc_auc_score(desirable, per_token)), 4) if both else None,
        "desirable_logp": round(sum(good) / max(1, len(good)), 4),
        "undesirable_logp": round(sum(bad) / max(1, len(bad)), 4),
        "margin": round(sum(good) / max(1, len(good)) - sum(bad) / max(1, len(bad)), 4),
    }


def rewards(before: dict, after: dict, beta: float, desirable: list[bool] | None = None) -> dict:
    """TRL's implicit rewards on the held-out rows, beta * (log p_after - log p_before): pairs
    as DPOTrainer logs them (rewards/accuracies, rewards/margins), thumbs as KTOTrainer does
    (the mean reward of desirable and of undesirable completions, and their difference)."""
    if desirable is None:
        chosen = [beta * (a - b) for a, b in zip(after["chosen"], before["chosen"], strict=True)]
        rejected = [
            beta * (a - b) for a, b in zip(after["rejected"], before["rejected"], strict=True)
        ]
        margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
        return {
            "reward_accuracy": round(sum(m > 0 for m in margins) / max(1, len(margins)), 4),
            "reward_margin": round(sum(margins) / max(1, len(margins)), 4),
        }
    reward = [
        beta * (a - b) for a, b in zip(after["completion"], before["completion"], strict=True)
    ]
    good = [r for r, d in zip(reward, desirable, strict=True) if d]
    bad = [r for r, d in zip(reward, desirable, strict=True) if not d]
    mean_good, mean_bad = sum(good) / max(1, len(good)), sum(bad) / max(1, len(bad))
    return {
        "reward_desirable": round(mean_good, 4),
        "reward_undesirable": round(mean_bad, 4),
        "reward_margin": round(mean_good - mean_bad, 4),
    }
