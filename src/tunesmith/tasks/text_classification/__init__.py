"""Text classification: one label per text (tasks/single_label.py holds what it shares with
image classification)."""

from tunesmith.tasks.text_classification.task import TextClassification

__all__ = ["TextClassification"]
