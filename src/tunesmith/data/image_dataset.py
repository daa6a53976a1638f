"""Images as model inputs: the model's own resize, crop and normalisation; augmentation for
training; decoded and resized images cached in memory, so epochs after the first do not decode
JPEGs again. Imported only when images are encoded (it imports torch)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from tunesmith.data.images import open_rgb

CACHE_BYTES = 3 * 1024**3  # cache decoded images while the set fits in this much memory


def transforms_for(prep, training: bool, augment: str = "basic"):
    """torchvision v2 transforms from uint8 CHW (already resized) to a normalised float tensor.

    Training: random resized crop, horizontal flip, colour jitter (and TrivialAugment or
    RandAugment when asked); evaluation: centre crop. Mean and std are the model's own."""
    from torchvision.transforms import v2

    if training and augment != "none":
        steps = [
            v2.RandomResizedCrop(prep.size, scale=(0.6, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(0.2, 0.2, 0.2),
        ]
        if augment == "trivial":
            steps.append(v2.TrivialAugmentWide())
        elif augment == "randaugment":
            steps.append(v2.RandAugment())
    else:
        steps = [v2.CenterCrop(prep.size)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(prep.mean, prep.std)]
    return v2.Compose(steps)


def decode(path, prep) -> torch.Tensor:
    """The image as uint8 CHW with its shorter side resized to `prep.resize`."""
    from torchvision.transforms.v2 import functional as TF

    image = TF.pil_to_tensor(open_rgb(path) if isinstance(path, str) else path.convert("RGB"))
    return TF.resize(image, prep.resize, antialias=True)


class ImageDataset(Dataset):
    def __init__(self, paths: list[str], labels: list[int], prep, training: bool, augment: str):
        self.paths, self.labels, self.prep = paths, labels, prep
        self.transform = transforms_for(prep, training, augment)
        bytes_each = 3 * prep.resize * prep.resize * 4 // 3  # aspect ratios vary a little
        self.cache: dict[int, torch.Tensor] | None = (
            {} if bytes_each * len(paths) <= CACHE_BYTES else None
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        image = self.cache.get(index) if self.cache is not None else None
        if image is None:
            image = decode(self.paths[index], self.prep)
            if self.cache is not None:
                self.cache[index] = image
        return {"pixel_values": self.transform(image), "labels": self.labels[index]}


def collate(batch: list[dict]) -> dict:
    pixels = torch.stack([b["pixel_values"] for b in batch])
    return {
        "pixel_values": pixels.contiguous(memory_format=torch.channels_last),
        "labels": torch.tensor([b["labels"] for b in batch]),
    }
