"""Text embeddings for search (--task embedding) with the tiny random BERT: reading pairs and
triplets, query groups in one split, the ranking metrics and loss, train -> load -> predict /
search / evaluate through the API and the CLI, /v1/embeddings, Chinese pairs."""

from __future__ import annotations

import json
import math
import random

import pandas as pd
import pytest
import torch
from conftest import FILLER, PEOPLE, PLACES, TOPICS, fast_settings

import tunesmith
from tunesmith import tasks
from tunesmith.errors import TunesmithError
from tunesmith.tasks.embedding.metrics import ranking_metrics
from tunesmith.tasks.embedding.training import ranking_loss


def make_pairs(seed: int = 0) -> list[dict]:
    """One pair per (person, place, topic): the query names them, the passage tells of them
    among filler, so the passage is findable by its words; queries repeat with a second
    passage for a third of them."""
    rng = random.Random(seed)
    rows = []
    for person in PEOPLE:
        for place in PLACES:
            topic = rng.choice(list(TOPICS))
            words = TOPICS[topic].split()
            query = f"{person} {place} {rng.choice(words)}"
            body = [person, place, *rng.sample(words, 3), *rng.sample(FILLER, 4)]
            rng.shuffle(body)
            rows.append({"question": query, "answer": " ".join(body)})
            if rng.random() < 0.33:
                rows.append({"question": query, "answer": f"{place} {person} {words[0]} news"})
    return rows


@pytest.fixture()
def pairs_csv(tmp_path):
    path = tmp_path / "pairs.csv"
    pd.DataFrame(make_pairs()).to_csv(path, index=False)
    return path


def test_reads_pairs_and_triplets(tmp_path):
    task = tasks.get("embedding")
    table = pd.DataFrame(
        {"Question": ["a", "b", "", "c"], "answer": ["x", "y", "z", " "], "other": [1, 2, 3, 4]}
    )
    pairs = task.prepare(table, "p.csv", {"text": None, "label": None})
    assert pairs.columns == {"text": "Question", "label": "answer", "negative": ""}
    assert list(pairs.frame["input"]) == ["a", "b"] and list(pairs.frame["row"]) == [0, 1]
    assert "Dropped 2 row(s) with an empty query or passage." in pairs.notes

    path = tmp_path / "triplets.jsonl"
    rows = [
        {"anchor": "q1", "positive": "p1", "hard_negative": "n1"},
        {"anchor": "q2", "positive": "p2", "hard_negative": "p1"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    from tunesmith.data.readers import read_table

    triplets = task.prepare(read_table(path), str(path), {"text": None, "label": None})
    assert triplets.columns["negative"] == "hard_negative"
    assert list(triplets.frame["negative"]) == ["n1", "p1"]
    test = triplets.subset([1])  # a split still searches the whole corpus, negatives included
    from tunesmith.tasks.embedding.data import corpus_of

    assert corpus_of(test) == ["p1", "p2", "n1"]
    overrides = task.prepare(
        pd.DataFrame({"t": ["q"], "b": ["p"]}), "x.csv", {"text": "t", "label": "b"}
    )
    assert overrides.columns["text"] == "t"
    with pytest.raises(TunesmithError, match="no query and passage columns"):
        task.prepare(pd.DataFrame({"foo": ["a"], "bar": ["b"]}), "x.csv", {})


def test_query_rows_stay_in_one_split(pairs_csv, tmp_path):
    from tunesmith.api import resolve_config
    from tunesmith.training.pipeline import prepare_data

    cfg = resolve_config(str(pairs_csv), overrides={"task": "embedding"})
    data = prepare_data(cfg)
    seen = {name: set(split.frame["input"]) for name, split in data.splits.items()}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["val"]
    assert not seen["val"] & seen["test"]
    assert sum(len(s) for s in data.splits.values()) == len(make_pairs())


def test_ranking_metrics_by_hand():
    # query 0: relevant {2} at rank 2; query 1: relevant {0, 5} at ranks 1 and 4; query 2: none
    top = [[1, 2, 3], [0, 3, 4, 5], [1, 2, 3]]
    got = ranking_metrics(top, [{2}, {0, 5}, {9}])
    assert got["recall@1"] == round((0 + 0.5 + 0) / 3, 4)
    assert got["recall@5"] == round((1 + 1 + 0) / 3, 4)
    assert got["MRR@10"] == round((1 / 2 + 1 + 0) / 3, 4)
    ideal_two = 1 + 1 / math.log2(3)
    ndcg = (1 / math.log2(3)) + (1 + 1 / math.log2(5)) / ideal_two
    assert got["nDCG@10"] == round(ndcg / 3, 4)


def _batch(vectors, meta):
    """Loss inputs for unit vectors as one-token texts: `meta` rows are (text id, role, row)."""
    hidden = torch.tensor(vectors, dtype=torch.float).unsqueeze(1)
    mask = torch.ones(len(vectors), 1, dtype=torch.long)
    return {"last_hidden_state": hidden}, torch.cat([torch.tensor(meta), mask], dim=1)


def test_loss_does_not_push_away_copies_of_the_answer():
    a, b = [1.0, 0.0], [0.0, 1.0]
    # two queries with the same passage text: each sees the other's copy, which must not count
    outputs, labels = _batch([a, a, a, a], [[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]])
    assert ranking_loss(outputs, labels).item() < 1e-6
    # the same vectors under different text ids: the copy is a negative, loss log 2
    outputs, labels = _batch([a, a, a, a], [[0, 0, 0], [2, 0, 1], [1, 1, 0], [3, 1, 1]])
    assert ranking_loss(outputs, labels).item() == pytest.approx(math.log(2), abs=1e-4)
    # one query text with two passages (two rows): neither passage is the other's negative
    outputs, labels = _batch([a, a, a, a], [[0, 0, 0], [0, 0, 1], [1, 1, 0], [2, 1, 1]])
    assert ranking_loss(outputs, labels).item() < 1e-6
    # a hard negative (role 2) is an extra column: far from the query it costs nothing,
    # as close as the passage it halves the passage's share
    outputs, labels = _batch([a, a, b], [[0, 0, 0], [1, 1, 0], [2, 2, 0]])
    assert ranking_loss(outputs, labels).item() < 1e-6
    outputs, labels = _batch([a, a, a], [[0, 0, 0], [1, 1, 0], [2, 2, 0]])
    assert ranking_loss(outputs, labels).item() == pytest.approx(math.log(2), abs=1e-4)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("embedding")
    data = folder / "pairs.csv"
    pd.DataFrame(make_pairs()).to_csv(data, index=False)
    settings = fast_settings(tiny_model_dir, folder / "run", epochs=6, batch_size=16)
    return tunesmith.train(data, task="embedding", **settings), data


def test_train_load_predict_search_evaluate(run, tmp_path):
    model, data = run
    test = model.metrics["test"]
    assert test["corpus"] == len({r["answer"] for r in make_pairs()})  # the whole corpus
    assert test["before"]["queries"] == test["queries"] > 0
    assert test["nDCG@10"] > test["before"]["nDCG@10"]  # fine-tuning helped
    for name in ("modules.json", "1_Pooling/config.json", "config_sentence_transformers.json"):
        assert (model.path / name).is_file(), name
    pooling = json.loads((model.path / "1_Pooling/config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and pooling["word_embedding_dimension"] == 64

    from transformers import AutoModel

    assert AutoModel.from_pretrained(model.path).config.hidden_size == 64
    loaded = tunesmith.load(model.path)
    answers = loaded.predict(["alice paris goal", "bob berlin market"])
    assert [len(a["embedding"]) for a in answers] == [64, 64]
    assert math.isclose(sum(x * x for x in answers[0]["embedding"]), 1.0, rel_tol=1e-4)
    corpus = [r["answer"] for r in make_pairs()][:20]
    hits = loaded.search(make_pairs()[3]["question"], corpus, 5)
    assert len(hits) == 5 and hits[0]["score"] >= hits[-1]["score"]
    assert hits[0]["passage"] in corpus

    from tunesmith.cli import main

    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join(corpus), encoding="utf-8")
    args = ["predict", str(model.path), "--query", "alice paris goal", "--corpus"]
    assert main([*args, str(corpus_file), "--top-k", "3"]) == 0
    table = tmp_path / "corpus.csv"
    pd.DataFrame({"id": range(20), "passage": corpus}).to_csv(table, index=False)
    assert main([*args, str(table), "--top-k", "3", "--json"]) == 0
    assert main(["predict", str(model.path), "--text", "alice paris goal"]) == 0
    out = tmp_path / "embedded.csv"
    assert main(["predict", str(model.path), "--input", str(data), "--output", str(out)]) == 0
    embedded = pd.read_csv(out)
    assert len(json.loads(embedded["embedding"][0])) == 64 and len(embedded) == len(make_pairs())
    metrics_file = tmp_path / "metrics.json"
    assert (
        main(["evaluate", str(model.path), "--data", str(data), "--output", str(metrics_file)]) == 0
    )
    evaluated = json.loads(metrics_file.read_text())
    assert evaluated["queries"] == len({r["question"] for r in make_pairs()})
    assert tunesmith.evaluate(model.path, data)["recall@10"] == evaluated["recall@10"]


def test_onnx_export_parity_predict_search_and_serving(run, capsys):
    from fastapi.testclient import TestClient

    from tunesmith.cli import main
    from tunesmith.serving.app import create_app

    model, _ = run
    export = ["export", str(model.path), "--format", "onnx", "--int8", "--max-drop", "100"]
    assert main(export) == 0  # tiny model: int8 kept whatever it loses, to test it is served
    assert "Parity on the run's test split" in capsys.readouterr().err
    backends = json.loads((model.path / "parity.json").read_text())["backends"]
    pytorch, fp32, int8 = backends["pytorch fp32"], backends["onnx fp32"], backends["onnx int8"]
    assert fp32["max_embedding_difference"] < 1e-4
    assert fp32["recall@1"] == pytorch["recall@1"] and fp32["MRR@10"] == pytorch["MRR@10"]
    assert abs(int8["recall@1"] - pytorch["recall@1"]) <= 0.2  # tiny model: a rough bound

    assert tunesmith.load(model.path, backend="onnx").backend == "onnx int8"
    (model.path / "onnx" / "model.int8.onnx").unlink()  # the fp32 file is served then
    onnx = tunesmith.load(model.path, backend="onnx")
    assert onnx.backend == "onnx fp32"
    texts = ["alice paris goal", "bob berlin market and more words here", "carol"]
    got, want = onnx.predict(texts), tunesmith.load(model.path).predict(texts)
    for a, b in zip(got, want, strict=True):
        assert a["tokens"] == b["tokens"]
        assert a["embedding"] == pytest.approx(b["embedding"], abs=1e-4)
    corpus = [r["answer"] for r in make_pairs()][:20]
    query = make_pairs()[3]["question"]
    hits, expected = onnx.search(query, corpus, 3), model.search(query, corpus, 3)
    assert hits[0]["index"] == expected[0]["index"]
    assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in expected], abs=1e-4)
    with TestClient(create_app(model.path, model=onnx)) as client:
        served = client.post("/v1/embeddings", json={"input": texts, "model": "m"}).json()
    assert served["data"][0]["embedding"] == pytest.approx(got[0]["embedding"], abs=1e-5)


def test_cli_search_prints_ranked_passages(run, tmp_path, capsys):
    from tunesmith.cli import main

    model, _ = run
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("alice paris goal match\nbob berlin shares\n\ncarol tokyo phone\n", "utf-8")
    args = ["predict", str(model.path), "--query", "alice paris", "--corpus", str(corpus)]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].endswith("\talice paris goal match")
    scores = [float(line.split("\t")[0]) for line in lines]
    assert scores == sorted(scores, reverse=True)
    assert main(["predict", str(model.path), "--query", "x", "--corpus", "nope.txt"]) == 2


def test_openai_embeddings_endpoint(run):
    from openai import OpenAI
    from test_serving import serving

    from tunesmith.serving.app import create_app

    model, _ = run
    texts = ["alice paris goal", "bob berlin market", "carol tokyo phone"]
    expected = [a["embedding"] for a in tunesmith.load(model.path).predict(texts)]
    with serving(create_app(model.path, max_wait_ms=20)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        got = client.embeddings.create(input=texts, model="tunesmith")
        assert [d.index for d in got.data] == [0, 1, 2]
        for d, want in zip(got.data, expected, strict=True):
            assert d.embedding == pytest.approx(want, abs=1e-5)
        assert got.usage.prompt_tokens == got.usage.total_tokens > 0
        one = client.embeddings.create(input="alice paris goal", model="tunesmith")
        assert len(one.data) == 1 and one.data[0].embedding == pytest.approx(expected[0], abs=1e-5)
        import httpx

        empty = httpx.post(f"{url}/v1/embeddings", json={"input": [], "model": "m"}, timeout=30)
        assert empty.status_code == 422


def test_chinese_pairs(tmp_path, tiny_model_dir):
    from tunesmith.models.vocabulary import choose_model
    from tunesmith.tasks.embedding.model import prompts_for

    people, places = ["张三", "李四", "王五"], ["北京", "上海", "广州"]
    rows = [
        {"query": f"{p}{c}", "passage": f"{p}在{c}了 股 市 {i}"}
        for i in range(4)
        for p in people
        for c in places
    ]
    task = tasks.get("embedding")
    examples = task.prepare(pd.DataFrame(rows), "zh.csv", {})
    assert choose_model(task, task.texts(examples)) == "multilingual-e5-small"
    assert prompts_for("multilingual-e5-small") == {"query": "query: ", "passage": "passage: "}
    path = tmp_path / "zh.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    settings = fast_settings(tiny_model_dir, tmp_path / "run", epochs=2)
    model = tunesmith.train(path, task="embedding", **settings)
    assert model.metrics["test"]["corpus"] == len(rows)
    assert len(model.predict("张三北京")["embedding"]) == 64
