"""Multi-label text classification (`--task multi-label`): a set of labels per text."""

from tunesmith.tasks.multi_label.data import looks_like_label_lists
from tunesmith.tasks.multi_label.task import MultiLabel

__all__ = ["MultiLabel", "looks_like_label_lists"]
