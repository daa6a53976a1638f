"""Image files: finding them, opening them safely, and the checks the data doctor runs on them.

Checks: unreadable or truncated files and decompression bombs are dropped (with counts and the
first file named); non-RGB modes are converted; exact duplicates (same bytes) dropped like
duplicate texts; near duplicates (perceptual difference hash), images smaller than the model's
input and very blurry images (variance of the Laplacian) are flagged, not dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # larger images are refused: a decompression bomb, or a scan to shrink
# Variance of the Laplacian below this (on a grey copy at most 256 px) is "very blurry": the usual
# threshold of 100 for 8-bit images. Measured: sharp textile photos 3,900 to 5,600; a noise
# texture blurred with a Gaussian of radius 8 about 1.
BLUR_VARIANCE = 100.0


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def open_rgb(path: str | Path):
    """The image as RGB, fully decoded (so truncation shows here, not mid-training)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with Image.open(path) as image:
        image.load()
        return image.convert("RGB") if image.mode != "RGB" else image.copy()


@dataclass
class ImageScan:
    """What `scan_images` found: row positions to keep, and notes and findings about the rest."""

    keep: list[int] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # reason -> files
    converted: int = 0  # non-RGB images (converted on load)
    small: list[int] = field(default_factory=list)
    blurry: list[int] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)  # perceptual hash per kept image
    digests: list[str] = field(default_factory=list)  # sha1 of the bytes per kept image


def scan_images(paths: list[str], min_side: int = 32) -> ImageScan:
    """Open every image once: sort out what cannot be used, measure what can."""
    import warnings

    from PIL import Image

    scan = ImageScan()
    for position, path in enumerate(paths):
        try:
            data = Path(path).read_bytes()
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = open_rgb(path)
                with Image.open(path) as raw:
                    mode = raw.mode
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            scan.dropped.setdefault(f"larger than {MAX_PIXELS:,} pixels", []).append(path)
            continue
        except OSError as exc:  # unreadable, truncated, not an image, missing
            reason = "truncated" if "truncated" in str(exc).lower() else "unreadable"
            scan.dropped.setdefault(reason, []).append(path)
            continue
        scan.keep.append(position)
        scan.converted += mode != "RGB"
        scan.sizes.append(image.size)
        scan.digests.append(hashlib.sha1(data).hexdigest())
        grey = image.convert("L")
        scan.hashes.append(difference_hash(grey))
        if min(image.size) < min_side:
            scan.small.append(position)
        if laplacian_variance(grey) < BLUR_VARIANCE:
            scan.blurry.append(position)
    return scan


def laplacian_variance(grey) -> float:
    """Sharpness: variance of the 4-neighbour Laplacian of a grey copy at most 256 px."""
    import numpy as np

    small = grey.copy()
    small.thumbnail((256, 256))
    a = np.asarray(small, dtype=np.float32)
    if min(a.shape) < 3:
        return 0.0
    lap = a[1:-1, :-2] + a[1:-1, 2:] + a[:-2, 1:-1] + a[2:, 1:-1] - 4 * a[1:-1, 1:-1]
    return float(lap.var())


def difference_hash(grey) -> int:
    """64-bit dHash: is each pixel brighter than its right neighbour, on a 9x8 thumbnail."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(grey.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    bits = 0
    for brighter in (pixels[:, :-1] > pixels[:, 1:]).flatten().tolist():
        bits = (bits << 1) | brighter
    return bits


def near_duplicate_hashes(hashes: list[int], max_distance: int = 4) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, whose hashes differ in at most `max_distance` of 64 bits."""
    import numpy as np

    if len(hashes) < 2:
        return []
    values = np.array(hashes[:5_000], dtype=np.uint64)  # pairwise: a sample of large sets
    pairs = []
    for i in range(len(values) - 1):
        diff = values[i + 1 :] ^ values[i]
        distance = np.unpackbits(diff.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        pairs += [(i, i + 1 + int(j)) for j in np.nonzero(distance <= max_distance)[0]]
    return pairs
