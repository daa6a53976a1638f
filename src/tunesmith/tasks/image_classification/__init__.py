"""Image classification: one label per image, torchvision or Hugging Face image models."""

from tunesmith.tasks.image_classification.task import (
    ImageClassification,
    describe_image,
    image_column,
    image_paths,
    looks_like_image_column,
)

__all__ = [
    "ImageClassification",
    "describe_image",
    "image_column",
    "image_paths",
    "looks_like_image_column",
]
