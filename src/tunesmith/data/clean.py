"""Text cleaning that is safe to apply to training and prediction alike."""

from __future__ import annotations

import re
import unicodedata

SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation to their usual forms, as Chinese input
    methods and Excel exports produce them), then runs of whitespace to one space."""
    return SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()
