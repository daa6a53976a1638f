"""tunesmith train (defaults) vs the Trainer script a user would write instead, in one run.

Same model (MiniLM-L6, packaged), same data and split (BBC News), same epochs, learning rate
and batch size. The baseline does what the usual tutorial does: pad every text to 128 tokens,
train in fp32, evaluate each epoch. Prints wall time and test scores of each, and their ratio.

    make bench                       # full BBC News, 3 epochs (about 10 minutes on 2 cores)
    python bench/train_vs_trainer_script.py --per-class 40 --epochs 1   # a quick look
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


def bbc_folder(per_class: int | None, scratch: Path) -> Path:
    from tunesmith.packaged import bbc_news

    source = bbc_news()
    if not per_class:
        return source
    target = scratch / "bbc"
    for topic in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / topic.name).mkdir(parents=True)
        for article in sorted(topic.glob("*.txt"))[:per_class]:
            shutil.copy(article, target / topic.name / article.name)
    return target


def run_tunesmith(data: Path, out: Path, epochs: int, lr: float) -> dict:
    import tunesmith

    started = time.perf_counter()
    model = tunesmith.train(
        data, model="minilm-l6", out=str(out), train={"epochs": epochs, "learning_rate": lr}
    )
    seconds = time.perf_counter() - started
    test = model.metrics["test"]
    return {"seconds": seconds, "accuracy": test["accuracy"], "f1_macro": test["f1_macro"]}


def run_plain_trainer(data: Path, splits: dict, epochs: int, lr: float, scratch: Path) -> dict:
    """What a user writes by hand: the standard fine-tuning tutorial, nothing tuned."""
    import numpy as np
    from datasets import Dataset
    from sklearn.metrics import accuracy_score, f1_score
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
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
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(labels))

    def dataset(rows):
        part = table.iloc[rows]
        enc = tokenizer(list(part["text"]), padding="max_length", truncation=True, max_length=128)
        return Dataset.from_dict({**enc, "labels": [labels.index(x) for x in part["label"]]})

    def metrics(pred):
        return {"accuracy": accuracy_score(pred.label_ids, pred.predictions.argmax(-1))}

    args = TrainingArguments(
        output_dir=str(scratch / "plain"),
        learning_rate=lr,
        num_train_epochs=epochs,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        weight_decay=0.01,
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
    )
    trainer.train()
    out = trainer.predict(dataset(splits["test"]))
    predicted = np.asarray(out.predictions).argmax(-1)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "accuracy": float(accuracy_score(out.label_ids, predicted)),
        "f1_macro": float(f1_score(out.label_ids, predicted, average="macro")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="articles per topic (default: all 2,225 articles)",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    args = parser.parse_args()

    import torch

    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-"))
    try:
        data = bbc_folder(args.per_class, scratch)
        ours = run_tunesmith(data, scratch / "run", args.epochs, args.lr)
        splits = json.loads((scratch / "run" / "splits.json").read_text())
        plain = run_plain_trainer(data, splits, args.epochs, args.lr, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = [("plain Trainer script (pad 128, fp32)", plain), ("tunesmith train (defaults)", ours)]
    print(
        f"\nBBC News{f' ({args.per_class}/topic)' if args.per_class else ''}, MiniLM-L6, "
        f"{args.epochs} epochs, lr {args.lr:g}, batch 16 - {platform.processor() or 'cpu'}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| run | wall time (s) | test accuracy | test macro-F1 |")
    print("|---|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['seconds']:.0f} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} |")
    print(
        f"| **ratio tunesmith / plain** | **{ours['seconds'] / plain['seconds']:.2f}x** | "
        f"{ours['accuracy'] - plain['accuracy']:+.4f} | "
        f"{ours['f1_macro'] - plain['f1_macro']:+.4f} |"
    )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "train_vs_trainer_script.json").write_text(
        json.dumps({"args": vars(args), "tunesmith": ours, "plain_trainer": plain}, indent=2)
    )


if __name__ == "__main__":
    main()
