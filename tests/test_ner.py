"""NER: data formats, tag schemes, sub-word alignment, windows, exact offsets, end to end."""

import json

import pytest
from conftest import fast_settings, make_ner_sentences, write_conll

import tunesmith
from tunesmith.config import TrainConfig
from tunesmith.data.conll import to_bio
from tunesmith.data.readers import read_table
from tunesmith.errors import TunesmithError
from tunesmith.tasks import get
from tunesmith.tasks.ner import spans_to_words

NER = get("ner")


def test_reads_conll_with_tabs_spaces_docstart_and_blank_lines(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- O\n\nApple B-ORG\nopened\tO\n \t\nBerlin  B-LOC\n\n\n")
    table = read_table(path)
    assert table["tokens"].tolist() == [["Apple", "opened"], ["Berlin"]]
    assert table["tags"].tolist() == [["B-ORG", "O"], ["B-LOC"]]
    (tmp_path / "x.conll").write_text("just some prose\nwith no tags at all\n")
    with pytest.raises(TunesmithError, match="not CoNLL"):
        read_table(tmp_path / "x.conll")
    # a .txt file of prose is plain text (for generation): one row per paragraph
    (tmp_path / "x.txt").write_text("just some prose\nwith no tags\n\n\nA second one.\n")
    assert read_table(tmp_path / "x.txt")["text"].tolist() == [
        "just some prose\nwith no tags",
        "A second one.",
    ]


@pytest.mark.parametrize(
    "tags,bio,repairs",
    [
        (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"], 2),  # IOB1
        (["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"], ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC"], 0),
        (["B-PER", "I-LOC"], ["B-PER", "B-LOC"], 1),  # I- of another type starts an entity
        (["B-ORG", "M-ORG", "E-ORG", "S-LOC"], ["B-ORG", "I-ORG", "I-ORG", "B-LOC"], 0),  # BMES
    ],
)
def test_tag_schemes_become_bio(tags, bio, repairs):
    assert to_bio(tags) == (bio, repairs)


def test_character_spans_map_to_words_exactly_in_english_and_chinese():
    text = "Apple  opened a store in  Berlin."
    words, offsets, tags, cut = spans_to_words(
        text, [{"start": 0, "end": 5, "label": "ORG"}, {"start": 26, "end": 32, "label": "LOC"}]
    )
    assert [text[s:e] for s, e in offsets] == words
    assert dict(zip(words, tags, strict=True))["Berlin"] == "B-LOC" and cut == 0
    zh = "张三在北京工作"
    words, offsets, tags, cut = spans_to_words(zh, [[0, 2, "PER"], [3, 5, "LOC"]])
    assert words == list(zh) and tags[:5] == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]


def test_first_subword_carries_the_tag_and_long_sentences_become_windows(tiny_model_dir, capsys):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    words = ["alice", "met", "schwarzenegger"] + ["in", "the"] * 20 + ["paris"]
    tags = ["B-PER", "O", "B-PER"] + ["O"] * 40 + ["B-LOC"]
    examples = NER.prepare(_table([(words, tags), (["paris"], ["B-LOC"])]), "t.jsonl", {})
    labels = NER.label_names(examples)
    data = NER.encode(examples, tokenizer, labels, TrainConfig(max_length=16), training=True)
    assert len(data) > 4  # 44 words do not fit in 16 tokens: overlapping windows
    assert "NER: 1 of 2 training sentences over 16 tokens" in capsys.readouterr().err
    # a WordPiece tokenizer reads pre-split English words exactly as before
    same = tokenizer(
        list(examples.frame["input"]),
        is_split_into_words=True,
        truncation=True,
        max_length=16,
        stride=4,
        return_overflowing_tokens=True,
    )
    assert data["input_ids"] == same["input_ids"]
    first = data[0]
    pieces = tokenizer.convert_ids_to_tokens(first["input_ids"])
    assert pieces[3:6] == ["schwarz", "##en", "##egger"]
    assert first["labels"][3] == labels.index("B-PER") and first["labels"][4:6] == [-100, -100]
    last = data[len(data) - 1]
    assert labels.index("B-LOC") in last["labels"]  # the end of the sentence is not lost
    every = NER.encode(
        examples, tokenizer, labels, TrainConfig(max_length=16, subword_labels="all")
    )
    assert every[0]["labels"][3:6] == [labels.index(t) for t in ("B-PER", "I-PER", "I-PER")]


@pytest.mark.parametrize(
    "words,text",
    [
        (["Apple", "opened", "in", "Berlin", "."], "Apple opened in Berlin ."),  # as before
        (["I", "a", "m"], "I a m"),
        (list("1997年张三在北京"), "1997年张三在北京"),  # Chinese CoNLL, a character a line
        (["我", "用", "iPhone", "拍", "了", "北京", "。"], "我用iPhone拍了北京。"),
        (["New", "York", "的", "人口"], "New York的人口"),
        (["“", "你好", "”", "，", "she", "said"], "“你好”，she said"),
    ],
)
def test_words_join_into_their_running_text_with_exact_offsets(words, text):
    from tunesmith.data.words import join_words

    joined, offsets = join_words(words)
    assert joined == text
    assert [joined[s:e] for s, e in offsets] == words


def _table(sentences):
    import pandas as pd

    return pd.DataFrame([{"tokens": t, "tags": g} for t, g in sentences])


@pytest.fixture(scope="module")
def ner_run(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner")
    data = write_conll(folder / "train.conll", make_ner_sentences(160))
    model = tunesmith.train(data, **fast_settings(tiny_model_dir, folder / "run"))
    return model


def test_ner_detected_trained_and_scored_per_entity_type(ner_run):
    assert ner_run.manifest["task"] == "ner"
    test = ner_run.metrics["test"]
    assert set(test["per_class"]) == {"PER", "LOC"}
    assert test["f1"] >= 0.8, test
    assert (ner_run.path / "report.html").read_text().count("entity F1") >= 1


def test_predict_gives_exact_offsets_in_english_and_chinese(ner_run):
    text = "yesterday  alice   went to  new york"
    answer = ner_run.predict(text)
    for entity in answer["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    assert ("PER", "alice") in {(e["type"], e["text"]) for e in answer["entities"]}
    zh = "李四去了上海"
    found = ner_run.predict(zh)["entities"]
    assert all(zh[e["start"] : e["end"]] == e["text"] for e in found)
    assert {(e["type"], e["text"]) for e in found} >= {("PER", "李四")}


def test_long_input_is_tagged_to_its_last_word(ner_run):
    words = ["met"] * 300 + ["paris"]
    answer = ner_run.predict(" ".join(words))
    assert len(answer["tags"]) == 301


def test_plain_transformers_pipeline_loads_the_ner_run(ner_run):
    from transformers import pipeline

    tagger = pipeline(
        "token-classification", model=str(ner_run.path), aggregation_strategy="first", device="cpu"
    )
    groups = tagger("alice visited berlin")
    assert {g["entity_group"] for g in groups} <= {"PER", "LOC"} and groups


def test_jsonl_text_with_spans_trains(tiny_model_dir, tmp_path):
    rows = []
    for tokens, tags in make_ner_sentences(80, seed=3):
        joiner = "" if all(len(t) == 1 and ord(t) > 0x3000 for t in tokens) else " "
        text, spans = "", []
        for token, tag in zip(tokens, tags, strict=True):
            if text:
                text += joiner
            start = len(text)
            text += token
            if tag.startswith("B-"):
                spans.append({"start": start, "end": len(text), "label": tag[2:]})
            elif tag.startswith("I-"):
                spans[-1]["end"] = len(text)
        rows.append({"text": text, "entities": spans})
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    model = tunesmith.train(path, **fast_settings(tiny_model_dir, tmp_path / "run", epochs=2))
    assert model.manifest["task"] == "ner"
    assert model.manifest["columns"] == {"text": "text", "label": "entities"}


def test_ner_data_errors_name_the_sentence(tmp_path, capsys):
    from tunesmith.cli import main

    path = tmp_path / "bad.jsonl"
    path.write_text('{"tokens": ["a", "b"], "tags": ["O"]}\n')
    assert main(["train", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "bad.jsonl, record 1: 2 tokens but 1 tags" in capsys.readouterr().err
    none = write_conll(tmp_path / "o.conll", [(["a", "b"], ["O", "O"])] * 5)
    assert main(["train", str(none), "--task", "ner", "--out", str(tmp_path / "r")]) == 2
    assert "every tag is O" in capsys.readouterr().err


def _ls_span(start, end, text, label):
    return {
        "type": "labels",
        "from_name": "label",
        "to_name": "text",
        "value": {"start": start, "end": end, "text": text, "labels": [label]},
    }


def test_label_studio_ner_export_with_chinese_text_trains(tiny_model_dir, tmp_path):
    tasks = []
    for tokens, tags in make_ner_sentences(120, seed=4):
        chinese = all(len(t) == 1 and ord(t) > 0x3000 for t in tokens)
        text, result = "", []
        for token, tag in zip(tokens, tags, strict=True):
            text += "" if chinese or not text else " "
            start = len(text)
            text += token
            if tag.startswith("B-"):
                result.append(_ls_span(start, len(text), token, tag[2:]))
            elif tag.startswith("I-"):
                result[-1]["value"]["end"] = len(text)
        cancelled = {"was_cancelled": True, "result": []}
        tasks.append(
            {
                "id": len(tasks),
                "data": {"text": text},
                "annotations": [{"result": result}, cancelled],
            }
        )
    path = tmp_path / "project-1-export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    table = read_table(path)
    assert table.loc[3, "entities"][0]["label"] == "PER"  # a Chinese sentence
    model = tunesmith.train(path, **fast_settings(tiny_model_dir, tmp_path / "run", epochs=2))
    assert model.manifest["task"] == "ner"


def test_label_studio_choices_take_the_majority_vote_with_agreement(tmp_path):
    def annotation(choice):
        return {"result": [{"type": "choices", "value": {"choices": [choice]}}]}

    tasks = [
        {
            "data": {"text": "great"},
            "annotations": [annotation("pos"), annotation("neg"), annotation("pos")],
        },
        {"data": {"text": "awful"}, "annotations": [annotation("neg")]},
        {"data": {"text": "meh"}, "annotations": []},
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    table = read_table(path)
    assert table["label"].tolist() == ["pos", "neg"]  # "meh" has no annotation: skipped
    assert table["annotators"].tolist() == [3, 1]
    assert table["agreement"].round(2).tolist() == [0.67, 1.0]


def test_balanced_class_weights_for_ner_only_when_asked(tiny_model_dir):
    from datasets import Dataset

    train = Dataset.from_dict({"labels": [[-100, 0, 0, 0, 1, -100], [-100, 0, 0, 2, -100]]})
    assert NER.class_weights(train, 3, "auto") is None
    weights = NER.class_weights(train, 3, "balanced")
    assert weights[1] > weights[0] and weights[2] > weights[0]
    import torch

    loss = NER.loss_function(weights)
    logits = torch.zeros(1, 3, 3)
    value = loss({"logits": logits}, torch.tensor([[-100, 0, 1]]))
    assert torch.isclose(value, torch.log(torch.tensor(3.0)))  # uniform logits: log(3)


def test_ner_evaluate_and_predict_file_through_the_cli(ner_run, tmp_path, capsys):
    import pandas as pd

    from tunesmith.cli import main

    more = write_conll(tmp_path / "more.conll", make_ner_sentences(20, seed=8))
    assert main(["evaluate", str(ner_run.path), "--data", str(more)]) == 0
    assert "entity F1" in capsys.readouterr().out
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["alice visited berlin", "张三去了北京"]}).to_csv(texts, index=False)
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(ner_run.path), "--input", str(texts), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["alice visited berlin", "张三去了北京"]
    for row in rows:
        for entity in row["entities"]:  # a real list in JSONL, JSON text in CSV
            assert row["text"][entity["start"] : entity["end"]] == entity["text"]
