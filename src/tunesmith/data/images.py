"""Image files: finding them, opening them safely, and the checks the data doctor runs on them.

Opening is safe for files from anywhere: only regular files, at most MAX_BYTES read and
MAX_PIXELS decoded, and (given the data folder) nothing outside it. Checks: unreadable, missing
or truncated files, files outside the data folder and decompression bombs are dropped (with
counts and the first row named); non-RGB modes are converted; exact duplicates (same bytes)
dropped like duplicate texts; near duplicates (perceptual difference hash), images smaller than
the model's input and very blurry images (variance of the Laplacian) are flagged, not dropped.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.data.image_paths import is_inside
from tunesmith.errors import TunesmithError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # larger images are refused: a decompression bomb, or a scan to shrink
MAX_BYTES = 100 * 10**6  # larger files are not read: no photo needs it, /dev/zero would not end
SHRINK = "shrink it (models see a few hundred pixels a side), or remove it"
# Variance of the Laplacian below this (on a grey copy at most 256 px) is "very blurry": the usual
# threshold of 100 for 8-bit images. Measured: sharp textile photos 3,900 to 5,600; a noise
# texture blurred with a Gaussian of radius 8 about 1.
BLUR_VARIANCE = 100.0


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


class UnusableImage(TunesmithError):
    """An image file that cannot be used; `reason` groups them in notes ("truncated", ...)."""

    def __init__(self, path: str | Path, reason: str, fix: str):
        super().__init__(reason, where=str(path), fix=fix)
        self.reason = reason


def read_image_bytes(path: str | Path, root: Path | None = None) -> bytes:
    """The file's bytes, read only when it is safe to: inside `root` (when given), a regular
    file (a FIFO would block the open, a device like /dev/zero never ends) and at most
    MAX_BYTES long (checked again while reading, for files that grow or misstate their size)."""
    if root is not None and not is_inside(path, root):
        raise UnusableImage(
            path,
            "outside the data folder",
            f"copy the images under {root} and write their paths relative to it",
        )
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UnusableImage(path, "not a regular file", "point to an image file")
        # O_NONBLOCK: should the file have become a FIFO since the stat, opening it won't hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise UnusableImage(path, "missing", "check the path and the file") from None
    except OSError as exc:
        raise UnusableImage(path, "unreadable", f"check the file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnusableImage(path, "not a regular file", "point to an image file")
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UnusableImage(path, f"larger than {MAX_BYTES / 10**6:g} MB", SHRINK)
    return data


def decode_rgb(data: bytes, path: str | Path) -> tuple:
    """(the image as RGB, fully decoded so truncation shows here and not mid-training, the
    file's own mode). Images over MAX_PIXELS are refused before their pixels are decoded."""
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    too_large = UnusableImage(path, f"larger than {MAX_PIXELS:,} pixels", SHRINK)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise too_large
                image.load()
                rgb = image.convert("RGB") if image.mode != "RGB" else image.copy()
                return rgb, image.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except UnusableImage:
        raise
    except Exception as exc:  # not an image, truncated, or a decoder's own failure
        reason = "truncated" if "truncated" in str(exc).lower() else "unreadable"
        raise UnusableImage(path, reason, "re-save the image, or remove it") from None


def open_rgb(path: str | Path, root: Path | None = None):
    """The image as RGB, opened safely (see `read_image_bytes`); UnusableImage says why not."""
    return decode_rgb(read_image_bytes(path, root), path)[0]


@dataclass
class ImageScan:
    """What `scan_images` found: row positions to keep, and notes and findings about the rest."""

    keep: list[int] = field(default_factory=list)
    dropped: dict[str, list[int]] = field(default_factory=dict)  # reason -> positions
    fixes: dict[str, str] = field(default_factory=dict)  # reason -> what to do about it
    converted: int = 0  # non-RGB images (converted on load)
    small: list[int] = field(default_factory=list)
    blurry: list[int] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)  # perceptual hash per kept image
    digests: list[str] = field(default_factory=list)  # sha1 of the bytes per kept image

    def notes(self, describe: Callable[[int], str]) -> list[str]:
        """One note per reason images were dropped, naming the first by `describe(position)`."""
        return [
            f"Dropped {len(positions)} image(s): {reason} (first: {describe(positions[0])}); "
            f"{self.fixes[reason]}."
            for reason, positions in self.dropped.items()
        ]


def scan_images(paths: list[str], root: Path | None = None, min_side: int = 32) -> ImageScan:
    """Open every image once (inside `root`, when given): sort out what cannot be used,
    measure what can."""
    scan = ImageScan()
    for position, path in enumerate(paths):
        try:
            data = read_image_bytes(path, root)
            image, mode = decode_rgb(data, path)
        except UnusableImage as problem:
            scan.dropped.setdefault(problem.reason, []).append(position)
            scan.fixes[problem.reason] = problem.fix
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
