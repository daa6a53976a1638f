"""Image-text (CLIP-style): a dual encoder trained contrastively; zero-shot answers and search."""

from tunesmith.tasks.image_text.task import ImageText

__all__ = ["ImageText"]
