"""Classification metrics from scikit-learn, shaped for metrics.json and the report."""

from __future__ import annotations

PER_CLASS_EACH_EPOCH = 20  # above this many classes, per-class scores only at test time


def summary_metrics(y_true, y_pred, label_names: list[str]) -> dict[str, float]:
    """Validation metrics each epoch, as flat numbers the Trainer can log: accuracy, macro and
    weighted precision/recall/F1, and per-class F1 (`f1_class_<label>`) for up to 20 classes."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = list(range(len(label_names)))
    out = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        out |= {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
    if len(labels) <= PER_CLASS_EACH_EPOCH:
        _, _, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        out |= {f"f1_class_{name}": f[i] for i, name in enumerate(label_names)}
    return {k: float(v) for k, v in out.items()}


def full_metrics(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    """Accuracy, macro and weighted precision/recall/F1, per-class scores, confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    out: dict = {"accuracy": float(accuracy_score(y_true, y_pred)), "count": len(y_true)}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        out.update(
            {
                f"precision_{average}": float(p),
                f"recall_{average}": float(r),
                f"f1_{average}": float(f),
            }
        )
    scores = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out["per_class"] = per_class(scores, labels)
    out["labels"] = list(labels)
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return out


def per_class_table(per_class: dict, heading: str = "class") -> str:
    """Per-class precision/recall/F1/support as aligned text lines."""
    width = max([len(heading), *(len(n) for n in per_class)])
    lines = [f"  {heading:<{width}}  precision  recall     f1  support"]
    for name, m in per_class.items():
        lines.append(
            f"  {name:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  "
            f"{m['f1']:5.3f}  {m['support']:7d}"
        )
    return "\n".join(lines)


def format_metrics(metrics: dict) -> str:
    """A short human table of the headline numbers and per-class F1."""
    head = (
        f"  accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['f1_macro']:.4f}   "
        f"weighted-F1 {metrics['f1_weighted']:.4f}   ({metrics['count']} examples)"
    )
    return head + "\n" + per_class_table(metrics["per_class"])


def per_class(scores, labels: list[str]) -> dict:
    """sklearn's per-class (precision, recall, F1, support) arrays as {label: {...}}."""
    p, r, f, s = scores
    return {
        name: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, name in enumerate(labels)
    }
