"""Multi-label metrics (scikit-learn) and the per-label thresholds tuned on the validation split."""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5  # for a label the validation split does not have


def multi_hot(label_sets, labels: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    out = np.zeros((len(label_sets), len(labels)), dtype=np.int64)
    for row, names in enumerate(label_sets):
        for name in names:
            if name in index:
                out[row, index[name]] = 1
    return out


def sigmoid(logits) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def tune_thresholds(probs: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Per label, the threshold that maximises that label's F1 on validation (candidates: the
    midpoints between its sorted scores); 0.5 where the label has no validation row."""
    out = {}
    for j, name in enumerate(labels):
        positives = int(truth[:, j].sum())
        if positives == 0:
            out[name] = DEFAULT_THRESHOLD
            continue
        order = np.argsort(-probs[:, j])
        scores, hits = probs[order, j], truth[order, j]
        true_pos = np.cumsum(hits)  # predicting the top k+1 rows positive
        f1 = 2 * true_pos / (np.arange(1, len(scores) + 1) + positives)
        # only cut where the next score differs, so the threshold separates exactly k+1 rows
        cuts = np.flatnonzero(np.append(scores[:-1] > scores[1:], True))
        k = cuts[np.argmax(f1[cuts])]
        below = scores[k + 1] if k + 1 < len(scores) else 0.0
        out[name] = float((scores[k] + below) / 2)
    return out


def apply_thresholds(probs: np.ndarray, labels: list[str], thresholds: dict | None) -> np.ndarray:
    cut = np.array([(thresholds or {}).get(n, DEFAULT_THRESHOLD) for n in labels])
    return (probs >= cut).astype(np.int64)


def summary(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Micro/macro F1, subset accuracy and Hamming loss: the per-epoch validation numbers."""
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss

    return {
        "f1_micro": float(f1_score(truth, predicted, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "subset_accuracy": float(accuracy_score(truth, predicted)),
        "hamming_loss": float(hamming_loss(truth, predicted)),
    }


def full_metrics(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """The summary, micro/macro/weighted precision and recall, and per-label scores."""
    from sklearn.metrics import precision_recall_fscore_support

    out: dict = summary(truth, predicted) | {"count": len(truth), "labels": list(labels)}
    for average in ("micro", "macro", "weighted", "samples"):
        p, r, f, _ = precision_recall_fscore_support(
            truth, predicted, average=average, zero_division=0
        )
        out |= {f"precision_{average}": float(p), f"recall_{average}": float(r)}
        out[f"f1_{average}"] = float(f)
    from tunesmith.evaluation.classification import per_class

    scores = precision_recall_fscore_support(truth, predicted, average=None, zero_division=0)
    out["per_class"] = per_class(scores, labels)
    out["rows_without_label"] = int((truth.sum(axis=1) == 0).sum())
    return out


def validation_metrics(labels: list[str]):
    """A `compute_metrics` for the Trainer: sigmoid scores cut at 0.5 (thresholds are tuned once,
    after training, on the best epoch's model)."""

    def compute(eval_pred) -> dict[str, float]:
        probs = sigmoid(eval_pred.predictions)
        return summary(np.asarray(eval_pred.label_ids).astype(np.int64), (probs >= 0.5) * 1)

    return compute
