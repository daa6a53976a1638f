"""README.md model card in the run directory, in the Hugging Face model-card format."""

from __future__ import annotations

from pathlib import Path


def library_name(run_dir: Path) -> str:
    """What loads the saved model: peft (adapters), plain PyTorch (torchvision networks and
    assembled dual encoders, rebuilt from a JSON file), or transformers."""
    if (run_dir / "adapter_config.json").is_file():
        return "peft"
    if (run_dir / "dual_encoder.json").is_file():
        return "pytorch"
    image = run_dir / "image_model.json"
    if image.is_file() and '"architecture": ""' not in image.read_text(encoding="utf-8"):
        return "pytorch"
    return "transformers"


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
library_name: {library_name(path.parent)}
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
