"""README.md model card in the run directory, in the Hugging Face model-card format."""

from __future__ import annotations

from pathlib import Path


def write_model_card(
    path: Path,
    *,
    task: str,
    pipeline_tag: str,
    base_model: str,
    labels: list[str],
    metrics: dict,
    details: str,
    headline: dict[str, float],
    summary: dict,
    usage: str,
) -> Path:
    scores = "\n".join(f"| {name} | {value:.4f} |" for name, value in headline.items())
    about = f" on {len(labels)} labels: " + ", ".join(f"`{x}`" for x in labels) if labels else ""
    facts = "\n".join(f"- **{k}**: {v}" for k, v in summary.items())
    text = f"""---
library_name: transformers
pipeline_tag: {pipeline_tag}
base_model: {base_model}
tags: [tunesmith]
---

# Fine-tuned {task} model

Fine-tuned with [tunesmith](https://github.com/) from `{base_model}`{about}.

## Test results
Held-out test split of {metrics["count"]} examples, never used for training or model selection.

| metric | value |
|---|---|
{scores}

{details}

## Training
{facts}

## Use it
{usage}

With tunesmith:
```python
import tunesmith
model = tunesmith.load("path/to/this/folder")
model.predict(["your input here"])
```
See `report.html` beside this file for plots and examples.
"""
    path.write_text(text, encoding="utf-8")
    return path
