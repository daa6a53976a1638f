"""Real pretrained weights on real data: MiniLM-L6 (packaged) on a slice of BBC News, offline."""

from pathlib import Path

import pytest

import tunesmith
from tunesmith.packaged import bbc_news

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bbc_slice(tmp_path_factory) -> Path:
    """20 articles per topic, copied at test time (the text is not ours to commit)."""
    source = bbc_news()  # installed by `make test`
    target = tmp_path_factory.mktemp("bbc")
    for topic in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / topic.name).mkdir()
        for article in sorted(topic.glob("*.txt"))[:20]:
            (target / topic.name / article.name).write_bytes(article.read_bytes())
    return target


def test_minilm_fine_tunes_on_bbc_and_reloads_in_plain_transformers(bbc_slice, tmp_path):
    from transformers import pipeline

    from tunesmith.models.catalog import CATALOG

    assert CATALOG["minilm-l6"].local_dir() is not None  # packaged weights, no download
    model = tunesmith.train(
        bbc_slice,
        model="minilm-l6",
        out=str(tmp_path / "run"),
        train={"epochs": 3, "max_length": 64, "learning_rate": 1e-4, "early_stopping": 0},
        data={"val_size": 0.15, "test_size": 0.15},
    )
    test = model.metrics["test"]
    assert test["count"] == 15
    assert test["accuracy"] >= 0.6, test  # 5 topics: chance is 0.2
    text = "The striker scored twice as the club won the league match on Saturday."
    ours = model.predict(text)
    plain = pipeline("text-classification", model=str(model.path), device="cpu")(text)[0]
    assert plain["label"] == ours["label"]
    assert abs(plain["score"] - ours["score"]) < 1e-4
