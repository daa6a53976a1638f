"""NER results for people: entity scores, confusions between types, answers as spans."""

from __future__ import annotations

from tunesmith.tasks.report import Report


class EntityReport(Report):
    def headline(self, metrics):
        return {
            "entity F1 (micro)": metrics["f1"],
            "entity precision": metrics["precision"],
            "entity recall": metrics["recall"],
            "entity F1 (macro)": metrics["f1_macro"],
            "token accuracy": metrics["accuracy"],
        }

    def describe(self, metrics):
        from tunesmith.evaluation.classification import per_class_table

        return (
            f"  entity F1 {metrics['f1']:.4f}   precision {metrics['precision']:.4f}   "
            f"recall {metrics['recall']:.4f}   token accuracy {metrics['accuracy']:.4f}   "
            f"({metrics['entities']} entities in {metrics['count']} sentences)\n"
            + per_class_table(metrics["per_class"], "type")
        )

    def mistakes(self, predictions, examples, limit=10):
        from tunesmith.tasks.ner.task import entities

        rows = []
        for prediction, (_, example) in zip(predictions, examples.frame.iterrows(), strict=True):
            gold = entities(
                example["label"], [1.0] * len(example["label"]), example["text"], example["offsets"]
            )
            as_text = [f"{e['type']}: {e['text']}" for e in prediction["entities"]]
            if [(e["type"], e["start"], e["end"]) for e in gold] != [
                (e["type"], e["start"], e["end"]) for e in prediction["entities"]
            ]:
                scores = [e["score"] for e in prediction["entities"]] or [0.0]
                rows.append(
                    {
                        "row": example["row"],
                        "input": example["text"],
                        "label": "; ".join(f"{e['type']}: {e['text']}" for e in gold),
                        "predicted": "; ".join(as_text),
                        "score": max(scores),
                    }
                )
        return sorted(rows, key=lambda r: -r["score"])[:limit]

    def plots(self, metrics, history, out_dir):
        from tunesmith.evaluation import plots

        out = {
            "Confusion between entity types (tokens, test)": plots.confusion_matrix(
                metrics, out_dir, "token accuracy"
            )
        }
        if history:
            out["Learning curves"] = plots.learning_curves(
                history, out_dir, self.task.epoch_metrics
            )
        return out

    def format_answer(self, answer):
        found = [
            f"{e['type']}:{e['text']!r}[{e['start']}:{e['end']}]({e['score']:.2f})"
            for e in answer["entities"]
        ]
        return "  ".join(found) or "(no entities)"

    def answer_columns(self, answer):
        return {"entities": answer["entities"]}
