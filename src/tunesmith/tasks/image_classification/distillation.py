"""Image classification distils per image, like text classification: the teacher run's class
probabilities on each training image (through its own preprocessing, so any student family
works). They are computed once on the un-augmented image, while the student sees augmented
crops of it: the usual offline approximation, which keeps the teacher out of the training loop."""

from __future__ import annotations

import copy

from tunesmith.training.distillation import SoftmaxDistiller


class ImageDistiller(SoftmaxDistiller):
    def attach(self, dataset, packed):
        """An ImageDataset (not a datasets.Dataset): the same images, packed labels."""
        attached = copy.copy(dataset)  # shares the decoded-image cache
        attached.labels = packed
        return attached
