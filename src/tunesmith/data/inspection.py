"""`tunesmith inspect`: read, clean and diagnose a dataset exactly as `train` would, plus what
the chosen model's tokenizer makes of it, without training anything."""

from __future__ import annotations

from tunesmith import tasks
from tunesmith.config import RunConfig
from tunesmith.console import info
from tunesmith.data.doctor import Finding, diagnose
from tunesmith.data.readers import read_splits, read_table


def read_examples(cfg: RunConfig, flag: str = "--data.path"):
    """The data as `train` and `inspect` see it: (task, raw training table, its examples, the
    user's own val/test examples). Sets `cfg.task` when the data decides it."""
    options = cfg.data
    tables = read_splits(options.path, flag, options)
    sources = {name: f"{options.path} ({name} split)" for name in tables}
    sources["train"] = options.path
    for split, path in (("val", options.val_file), ("test", options.test_file)):
        if path:
            tables[split] = read_table(path, f"--data.{split}_file", options)
            sources[split] = path
    if cfg.task is None:
        cfg.task = tasks.detect(tables["train"])
        info(f"Task: {cfg.task} (detected from the data; set it with --task).")
    task = tasks.get(cfg.task)
    columns = {
        "text": options.text_column,
        "image": options.image_column,
        "label": options.label_column,
    }
    main = task.prepare(tables["train"], options.path, columns, options)
    # The main file's columns, so that detection cannot pick different ones in val/test.
    given = {
        split: task.prepare(tables[split], sources[split], main.columns, options)
        for split in ("val", "test")
        if split in tables
    }
    return task, tables["train"], main, given


def inspect_data(cfg: RunConfig) -> dict:
    options = cfg.data
    task, table, examples, held_out = read_examples(cfg, "inspect DATA")
    report = {"source": options.path, "rows_read": len(table)}
    texts = task.texts(examples)
    if not texts:  # images
        report |= diagnose(task, examples, held_out, options, table, cfg.train.seed)
        report["held_out"] = {split: len(ex) for split, ex in held_out.items()}
        report["model"] = cfg.model or task.default_model
        return report
    from tunesmith.models.vocabulary import chinese_share, choose_model

    model = cfg.model or choose_model(task, texts)  # its embeddings help the label check
    report |= diagnose(task, examples, held_out, options, table, cfg.train.seed, model)
    report["held_out"] = {split: len(ex) for split, ex in held_out.items()}
    report["chinese_share"] = round(chinese_share(texts), 3)
    report["model"] = model
    report["tokens"] = _tokens(report["model"], texts, cfg.train.max_length, report["findings"])
    return report


def _tokens(model: str, texts: list[str], max_length: int, findings: list[dict]) -> dict:
    """Token length percentiles against `max_length`, and the unknown-token share."""
    from dataclasses import asdict

    import numpy as np
    from transformers import AutoTokenizer

    from tunesmith.console import quiet_libraries
    from tunesmith.models.loading import load_or_explain, resolve
    from tunesmith.models.vocabulary import CHINESE_MODEL, WARN_SHARE

    quiet_libraries()
    source, _ = resolve(model)
    tokenizer = load_or_explain(AutoTokenizer, source, model)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    lengths = np.array([len(row) + tokenizer.num_special_tokens_to_add() for row in ids] or [0])
    total = int(lengths.sum()) or 1
    unknown = sum(row.count(tokenizer.unk_token_id) for row in ids) / total
    cut = float((lengths > max_length).mean())
    out = {
        "sampled_texts": len(texts),
        "max_length": max_length,
        "truncated_share": round(cut, 4),
        "unknown_share": round(unknown, 4),
    }
    out |= {q: int(np.percentile(lengths, p)) for q, p in (("p50", 50), ("p90", 90), ("p99", 99))}
    out["max"] = int(lengths.max())
    if cut > 0.1:
        longer = min(512, int(np.percentile(lengths, 90)))
        findings.append(
            asdict(
                Finding(
                    "truncation",
                    "warning",
                    f"{cut:.0%} of texts are longer than {max_length} tokens and will be cut "
                    f"(90% fit in {int(np.percentile(lengths, 90))})",
                    f"--train.max_length {longer} keeps more of each text (slower)",
                    setting={"train.max_length": longer},
                )
            )
        )
    if unknown > WARN_SHARE:
        findings.append(
            asdict(
                Finding(
                    "vocabulary",
                    "warning",
                    f"model {model} cannot read {unknown:.0%} of the tokens (unknown token)",
                    f"--model {CHINESE_MODEL} (multilingual) or --train.extend_vocab",
                    setting={"train.extend_vocab": True},
                )
            )
        )
    return out
