"""Chinese as a first-class language: the multilingual model offline, vocabulary checks,
Chinese-first model choice."""

from pathlib import Path

import pytest

from tunesmith.models.vocabulary import chinese_share, coverage

EXAMPLE = Path(__file__).parents[1] / "examples" / "data" / "中文评论.csv"


def test_chinese_share_counts_ideographs_not_spaces():
    assert chinese_share(["今天 天气 很好"]) == 1.0
    assert chinese_share(["hello 世界"]) == pytest.approx(2 / 7)
    assert chinese_share([]) == 0.0


def test_coverage_counts_unknown_tokens_and_truncation(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    shares = coverage(tokenizer, ["goal match zzzz qqqq", "goal " * 40], max_length=16)
    assert shares["unknown"] == pytest.approx(2 / 44)  # 2 unknown words in 44 tokens
    assert shares["truncated"] == 0.5


def test_training_on_chinese_with_an_english_vocabulary_warns_with_the_fix(
    tiny_model_dir, tmp_path, capsys
):
    import pandas as pd
    from conftest import fast_settings

    import tunesmith

    rows = [
        {"text": "龘靐齉爩" * 3 + "齉" * i, "label": label}  # distinct: duplicates are dropped
        for label in ("a", "b")
        for i in range(15 * (label == "b"), 15 * (1 + (label == "b")))
    ]
    data = tmp_path / "zh.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    tunesmith.train(data, **fast_settings(tiny_model_dir, tmp_path / "run", epochs=1))
    err = capsys.readouterr().err
    assert "Warning: Vocabulary: 100.0% of tokens unknown" in err
    assert "Fix: --model multilingual-e5-small" in err


@pytest.fixture(scope="module")
def e5_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESMITH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.integration
def test_e5_converts_offline_and_embeds_chinese_sensibly(e5_cache):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tunesmith.models.catalog import CATALOG

    folder = CATALOG["multilingual-e5-small"].local_dir()
    assert (folder / "model.safetensors").is_file()
    model = AutoModel.from_pretrained(folder).eval()
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 384
    assert model.get_input_embeddings().weight.shape == (250037, 384)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.unk_token_id not in tokenizer("我在北京买了手机")["input_ids"]

    sentences = ["今天天气很好，阳光明媚。", "今天是个晴天，天气不错。", "股票市场今天大幅下跌。"]
    enc = tokenizer([f"query: {s}" for s in sentences], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1)
    vectors = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    related, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert related > 0.9 and related - unrelated > 0.05, (related, unrelated)


@pytest.mark.integration
def test_chinese_data_trains_on_the_multilingual_model_by_default(e5_cache, tmp_path, capsys):
    import tunesmith

    model = tunesmith.train(EXAMPLE, out=str(tmp_path / "run"))
    assert "using multilingual-e5-small" in capsys.readouterr().err
    assert model.manifest["base_model"] == "multilingual-e5-small"
    assert model.metrics["test"]["accuracy"] >= 0.9
    assert model.predict("快递太慢了，等了两个星期才到。")["label"] == "物流"


def test_extend_vocab_adds_unknown_characters_and_saves_a_plain_transformers_run(
    tiny_model_dir, tmp_path
):
    import pandas as pd
    from conftest import fast_settings
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import tunesmith

    rows = [
        {"text": f"{word}{word}的人{'的' * i}", "label": label}  # distinct: no duplicates
        for label, word in (("a", "龘"), ("b", "靐"))
        for i in range(60)
    ]
    data = tmp_path / "zh.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    settings = fast_settings(tiny_model_dir, tmp_path / "run", extend_vocab=True, early_stopping=0)
    settings["train"].pop("freeze")  # auto: extend_vocab must leave the embeddings trainable
    model = tunesmith.train(data, **settings)
    assert "Vocabulary: 0.0% of tokens unknown" in (model.path / "report.html").read_text()
    tokenizer = AutoTokenizer.from_pretrained(model.path)
    plain = AutoModelForSequenceClassification.from_pretrained(model.path)
    ids = tokenizer("龘靐", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids and len(ids) == 2
    assert plain.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert model.metrics["test"]["accuracy"] == 1.0  # the two classes differ only in 龘 / 靐


def test_tag_goes_on_the_character_not_on_a_bare_word_start_piece():
    from tunesmith.tasks.ner import first_pieces

    # XLM-R: <s> ▁ 赵 ▁ 敏 </s>  (word ids None 0 0 1 1 None); 6 is the id of "▁"
    assert first_pieces([None, 0, 0, 1, 1, None], [0, 6, 40, 6, 41, 2], space=6) == {0: 2, 1: 4}
    # WordPiece: the first piece is the word's own start
    assert first_pieces([None, 0, 0, 1, None], [2, 50, 51, 52, 3], space=None) == {0: 1, 1: 3}


def chinese_ner_sentences(n: int, seed: int = 1):
    import random

    rng = random.Random(seed)
    people = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"]
    places = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安"]
    verbs = ["昨天去了", "下周要去", "刚刚到达", "一直住在", "打算搬到"]
    sentences = []
    for _ in range(n):
        tokens, tags = [], []
        for word, kind in (
            (rng.choice(people), "PER"),
            (rng.choice(verbs), None),
            (rng.choice(places), "LOC"),
        ):
            for j, char in enumerate(word):
                tokens.append(char)
                tags.append("O" if kind is None else f"{'B' if j == 0 else 'I'}-{kind}")
        sentences.append((tokens, tags))
    return sentences


@pytest.mark.integration
def test_chinese_ner_trains_on_the_multilingual_model_by_default(e5_cache, tmp_path):
    from conftest import write_conll

    import tunesmith

    data = write_conll(tmp_path / "zh.conll", chinese_ner_sentences(300))
    model = tunesmith.train(data, out=str(tmp_path / "run"))
    assert model.manifest["base_model"] == "multilingual-e5-small"
    assert model.metrics["test"]["f1"] >= 0.9, model.metrics["test"]
    text = "黄强下周要去成都"
    found = {(e["type"], e["text"]) for e in model.predict(text)["entities"]}
    assert found == {("PER", "黄强"), ("LOC", "成都")}


def test_full_width_forms_are_normalised_in_training_and_prediction():
    import pandas as pd

    from tunesmith.data.clean import clean_text
    from tunesmith.tasks import get

    assert clean_text("ＡＢＣ１２３，好！  ok") == "ABC123,好! ok"
    task = get("text-classification")
    table = pd.DataFrame({"text": ["质量很好，推荐！", "Ｇｏｏｄ"], "label": ["a", "b"]})
    examples = task.prepare(table, "t.csv", {})
    assert list(examples.frame["input"]) == ["质量很好,推荐!", "Good"]
    assert any("Unicode NFKC (--data.unicode_nfkc): 2 text(s)" in n for n in examples.notes)


def test_extend_vocab_has_the_short_switch_too():
    from tunesmith.cli import _overrides, build_parser

    args = build_parser().parse_args(["train", "x.csv", "--extend-vocab"])
    assert _overrides(args) == {"train": {"extend_vocab": True}}


def test_chinese_captions_pick_a_chinese_text_tower_and_generation_warns(capsys):
    from tunesmith import tasks
    from tunesmith.models.catalog import CATALOG
    from tunesmith.models.vocabulary import CHINESE_MODEL, choose_model

    captions = ["一张红色条纹布料的照片", "一张蓝色格子布料的照片"] * 5
    image_text = tasks.get("image-text")
    chosen = choose_model(image_text, captions)
    assert CATALOG[CHINESE_MODEL].installed()  # it ships in requirements-assets.txt
    assert chosen == "mobilenet-v2+multilingual-e5-small"
    assert choose_model(image_text, ["a photo of red fabric"] * 10) == image_text.default_model

    generation = tasks.get("generation")
    assert choose_model(generation, captions) == generation.default_model
    assert "English-centred" in capsys.readouterr().err


def test_every_text_task_with_an_offline_chinese_model_picks_it():
    from tunesmith import tasks
    from tunesmith.models.vocabulary import CHINESE_MODEL

    for name in ("text-classification", "ner", "multi-label", "embedding"):
        assert tasks.get(name).chinese_model() == CHINESE_MODEL, name


# --- Chinese NER at its natural length (multilingual-e5-small's XLM-R tokenizer) ---------------


@pytest.fixture(scope="module", params=["packaged", "saved"])
def xlmr_tokenizer(request, tmp_path_factory):
    """multilingual-e5-small's tokenizer as packaged, and as a run saves and reloads it
    (transformers' XLM-R puts a WhitespaceSplit before the Metaspace)."""
    from transformers import AutoTokenizer, XLMRobertaTokenizerFast

    from tunesmith.packaged import package_path

    found = package_path("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(found), model_max_length=512)
    if request.param == "saved":
        folder = tmp_path_factory.mktemp("xlmr")
        tokenizer.save_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    return tokenizer


def _ner_examples(sentences):
    import pandas as pd

    from tunesmith.tasks import get

    task = get("ner")
    table = pd.DataFrame([{"tokens": t, "tags": g} for t, g in sentences])
    examples = task.prepare(table, "t.conll", {})
    return task, examples, task.label_names(examples)


def test_chinese_ner_reads_the_running_text_not_a_word_start_before_every_character(
    xlmr_tokenizer, capsys
):
    from tunesmith.config import TrainConfig

    chars = list("新华社北京三月五日电，国务院总理在人民大会堂作政府工作报告。")
    tags = ["B-ORG", "I-ORG", "I-ORG", "B-LOC", "I-LOC"] + ["O"] * 6
    tags += ["B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "B-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC"]
    tags += ["O"] * (len(chars) - len(tags))
    task, examples, labels = _ner_examples([(chars, tags)])
    assert examples.frame.loc[0, "text"] == "".join(chars)  # no spaces between characters
    data = task.encode(examples, xlmr_tokenizer, labels, TrainConfig(max_length=128), True)
    assert len(data) == 1
    ids = data[0]["input_ids"]
    pieces = xlmr_tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) <= len(chars) + 3, pieces  # was 2N + 2: a "▁" beside every character
    assert pieces.count("\u2581") <= 1, pieces  # a word start only where the sentence starts
    # every character keeps its own tag: no token spans two words, so no entity boundary is lost
    carried = [labels[y] for y in data[0]["labels"] if y != -100]
    assert carried == tags
    assert "NER: 0 of 1 training sentences over 128 tokens" in capsys.readouterr().err
    # the tokenizer the run saves is untouched: it still reads pre-split words its own way
    spaced = xlmr_tokenizer(["中", "国"], is_split_into_words=True)["input_ids"]
    assert len(spaced) > 4


def test_english_through_xlmr_reads_as_its_running_text(xlmr_tokenizer):
    from tunesmith.config import TrainConfig

    words = ["Apple", "opened", "a", "store", "in", "Berlin", "yesterday"]
    task, examples, labels = _ner_examples([(words, ["B-ORG"] + ["O"] * 4 + ["B-LOC", "O"])])
    text = examples.frame.loc[0, "text"]
    assert text == " ".join(words)
    data = task.encode(examples, xlmr_tokenizer, labels, TrainConfig(max_length=32))
    assert data[0]["input_ids"] == xlmr_tokenizer(text)["input_ids"]


class _Echo:
    """A stand-in token classifier that "knows" the tag of each token id: the ideal model, so
    the round trip words -> tokens -> tags -> character spans is tested by itself."""

    def __init__(self, tag_of_id: dict[int, int], num_labels: int):
        import torch

        self.tag_of_id, self.num_labels, self.device = tag_of_id, num_labels, torch.device("cpu")

    def eval(self):
        return self

    def __call__(self, input_ids, **_):
        from types import SimpleNamespace

        import torch

        tags = input_ids.clone().apply_(lambda i: self.tag_of_id.get(i, 0))
        return SimpleNamespace(logits=torch.nn.functional.one_hot(tags, self.num_labels) * 9.0)


def test_a_multi_character_token_carries_its_word_and_offsets_come_back_exact(xlmr_tokenizer):
    from tunesmith.config import TrainConfig

    # word-segmented Chinese CoNLL: "中国人民" is one word and one XLM-R piece
    words = ["中国人民", "解放军", "今天", "在", "北京", "举行", "阅兵", "。"]
    tags = ["B-ORG", "I-ORG", "O", "O", "B-LOC", "O", "O", "O"]
    task, examples, labels = _ner_examples([(words, tags)])
    text, offsets = examples.frame.loc[0, "text"], examples.frame.loc[0, "offsets"]
    assert text == "中国人民解放军今天在北京举行阅兵。"
    assert [text[s:e] for s, e in offsets] == words
    data = task.encode(examples, xlmr_tokenizer, labels, TrainConfig(max_length=64))
    ids, targets = data[0]["input_ids"], data[0]["labels"]
    pieces = xlmr_tokenizer.convert_ids_to_tokens(ids)
    assert "中国人民" in pieces and targets[pieces.index("中国人民")] == labels.index("B-ORG")
    echo = _Echo({i: y for i, y in zip(ids, targets, strict=True) if y > 0}, len(labels))
    answer = task.predict(echo, xlmr_tokenizer, [words], labels, 64)[0]
    assert answer["text"] == text and answer["tags"] == tags
    spans = [(e["type"], e["text"], e["start"], e["end"]) for e in answer["entities"]]
    assert spans == [("ORG", "中国人民解放军", 0, 7), ("LOC", "北京", 10, 12)]

    # raw text, one word per character, cut into windows: every character tagged, offsets exact
    raw = "  据报道，张伟昨天在北京见了王芳。" * 3
    chars = [c for c in raw if not c.isspace()]
    who = {"张": "B-PER", "伟": "I-PER", "王": "B-PER", "芳": "I-PER", "北": "B-LOC", "京": "I-LOC"}
    task, examples, labels = _ner_examples([(chars, [who.get(c, "O") for c in chars])])
    data = task.encode(examples, xlmr_tokenizer, labels, TrainConfig(max_length=16))
    assert len(data) > 3  # 50 characters do not fit in 16 tokens
    known = {i: y for row in data for i, y in zip(row["input_ids"], row["labels"], strict=True)}
    echo = _Echo({i: y for i, y in known.items() if y > 0}, len(labels))
    answer = task.predict(echo, xlmr_tokenizer, [raw], labels, 16)[0]
    found = [(e["type"], raw[e["start"] : e["end"]]) for e in answer["entities"]]
    assert found == [("PER", "张伟"), ("LOC", "北京"), ("PER", "王芳")] * 3
    assert all(raw[e["start"] : e["end"]] == e["text"] for e in answer["entities"])
