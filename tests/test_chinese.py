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
