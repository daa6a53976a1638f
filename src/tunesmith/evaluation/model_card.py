"""README.md model card in the run directory, in the Hugging Face model-card format."""

from __future__ import annotations

from pathlib import Path


def write_model_card(
    path: Path, *, task: str, base_model: str, labels: list[str], metrics: dict, summary: dict
) -> Path:
    rows = "\n".join(
        f"| {n} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for n, m in metrics["per_class"].items()
    )
    facts = "\n".join(f"- **{k}**: {v}" for k, v in summary.items())
    text = f"""---
library_name: transformers
pipeline_tag: {task}
base_model: {base_model}
tags: [tunesmith]
---

# Fine-tuned {task} model

Fine-tuned with [tunesmith](https://github.com/) from `{base_model}` on {len(labels)} classes:
{", ".join(f"`{label}`" for label in labels)}.

## Test results
Held-out test split of {metrics["count"]} examples, never used for training or model selection.

| metric | value |
|---|---|
| accuracy | {metrics["accuracy"]:.4f} |
| macro precision | {metrics["precision_macro"]:.4f} |
| macro recall | {metrics["recall_macro"]:.4f} |
| macro F1 | {metrics["f1_macro"]:.4f} |
| weighted F1 | {metrics["f1_weighted"]:.4f} |

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

## Training
{facts}

## Use it
With transformers alone:
```python
from transformers import pipeline
classify = pipeline("{task}", model="path/to/this/folder")
classify("your text here")
```
With tunesmith:
```python
import tunesmith
model = tunesmith.load("path/to/this/folder")
model.predict(["your text here"])
```
See `report.html` beside this file for plots and the model's most confident mistakes.
"""
    path.write_text(text, encoding="utf-8")
    return path
