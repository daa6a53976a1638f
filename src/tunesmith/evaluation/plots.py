"""PNG plots people would rather look at than read: confusion matrix, learning curves."""

from __future__ import annotations

from pathlib import Path

# Fonts with Chinese glyphs on Linux, Windows and macOS, tried after DejaVu Sans so that
# Chinese labels render instead of empty boxes wherever one of them is installed.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    plt.rcParams["font.family"] = ["DejaVu Sans", *(f for f in CJK_FONTS if f in installed)]
    return plt


def confusion_matrix(metrics: dict, out_dir: Path, accuracy_name: str = "accuracy") -> Path:
    """Rows: true class; columns: predicted; colour by row share, cells show counts."""
    import numpy as np

    plt = _pyplot()
    labels, counts = metrics["labels"], np.array(metrics["confusion_matrix"])
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    color="white" if shares[i, j] > 0.5 else "black",
                    fontsize=8,
                )
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_title(f"Confusion matrix ({accuracy_name} {metrics['accuracy']:.3f})")
    fig.tight_layout()
    path = out_dir / "confusion_matrix.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def per_class_f1(metrics: dict, out_dir: Path, title: str) -> Path:
    """Horizontal bars: test F1 per class (or label), its support beside each bar."""
    plt = _pyplot()
    names = list(metrics["per_class"])
    scores = [metrics["per_class"][n]["f1"] for n in names]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(names) + 1.2)))
    ax.barh(range(len(names)), scores, color="#4c78a8")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    for i, n in enumerate(names):
        support = metrics["per_class"][n]["support"]
        ax.text(min(scores[i], 1.0) + 0.01, i, f"{scores[i]:.2f} (n={support})", va="center")
    ax.set_xlabel("F1")
    ax.set_title(title)
    fig.tight_layout()
    path = out_dir / "f1_per_label.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(history: list[dict], out_dir: Path, metrics: tuple[str, ...]) -> Path:
    """Training loss per logging step, validation loss and metric per epoch."""
    plt = _pyplot()
    train = [(h["epoch"], h["loss"]) for h in history if "loss" in h]
    val = [h for h in history if "eval_loss" in h]
    shown = [f"eval_{m}" for m in metrics if val and f"eval_{m}" in val[0]]
    fig, axes = plt.subplots(1, 2 if metrics else 1, figsize=(10 if metrics else 6, 4))
    left = axes[0] if metrics else axes
    if train:
        left.plot(*zip(*train, strict=True), label="train loss", alpha=0.8)
    if val:
        left.plot([h["epoch"] for h in val], [h["eval_loss"] for h in val], "o-", label="val loss")
    left.set_xlabel("epoch")
    left.set_title("Loss")
    left.legend()
    if metrics:  # a second panel for the validation metrics
        right = axes[1]
        for key in shown:
            right.plot([h["epoch"] for h in val], [h[key] for h in val], "o-", label=key[5:])
        right.set_xlabel("epoch")
        right.set_title("Validation")
        right.set_ylim(0, 1.02)
        if shown:
            right.legend()
    fig.tight_layout()
    path = out_dir / "learning_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def image_gallery(mistakes: list[dict], out_dir: Path, limit: int = 12) -> Path:
    """The most confident mistakes on the test images, with the true and predicted labels."""
    from tunesmith.data.images import open_rgb

    plt = _pyplot()
    shown = mistakes[:limit]
    cols = min(4, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, mistake in zip(axes.flat, shown, strict=False):
        image = open_rgb(mistake["input"])
        image.thumbnail((256, 256))
        ax.imshow(image)
        ax.set_title(
            f"true {mistake['label']}\npredicted {mistake['predicted']} ({mistake['score']:.2f})",
            fontsize=9,
        )
    fig.tight_layout()
    path = out_dir / "mistakes.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def search_history(rows: list[dict], metric: str, out_dir: Path) -> Path:
    """Hyperparameter search: each trial's validation score and the best so far; the score
    against the learning rate (the setting that matters most)."""
    plt = _pyplot()
    done = [r for r in rows if r["value"] is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if done:
        left.plot([r["trial"] for r in done], [r["value"] for r in done], "o", label="trial")
        best, line = None, []
        pick = min if metric == "loss" else max
        for r in done:
            best = r["value"] if best is None else pick(best, r["value"])
            line.append(best)
        left.step([r["trial"] for r in done], line, where="post", label="best so far")
        left.legend()
        rated = [r for r in done if "learning_rate" in r]
        right.scatter([r["learning_rate"] for r in rated], [r["value"] for r in rated])
        right.set_xscale("log")
    pruned = [r["trial"] for r in rows if r["state"] == "pruned"]
    title = f"Trials ({len(pruned)} pruned)" if pruned else "Trials"
    left.set(xlabel="trial", ylabel=f"validation {metric}", title=title)
    right.set(xlabel="learning rate", ylabel=f"validation {metric}", title="Score by learning rate")
    fig.tight_layout()
    path = out_dir / "search.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
