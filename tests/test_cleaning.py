"""Cleaning: each step counted and switchable, training and prediction clean alike."""

import pandas as pd

from tunesmith.config import DataConfig
from tunesmith.data.clean import clean_text, clean_texts, drop_duplicates, merge_label_spellings

MESSY = [
    "<p>Great&nbsp;<b>film</b></p>",
    "a < b &amp; c",
    "ＡＢＣ１２３，好！  ok",
    "zero\u200bwidth\ttab\n\nline",
    "&#x4e2d;文 &lt;3",
    "fish & chips;",
    "\u202eevil\u202c bidi",
]


def test_column_cleaning_matches_single_text_cleaning_and_counts_each_step():
    cleaned, notes = clean_texts(pd.Series(MESSY))
    assert cleaned.tolist() == [clean_text(t) for t in MESSY]
    assert cleaned.tolist()[:3] == ["Great film", "a < b & c", "ABC123,好! ok"]
    assert cleaned.tolist()[4:] == ["中文 <3", "fish & chips;", "evil bidi"]
    assert any("HTML" in n and "3 text(s)" in n for n in notes), notes


def test_each_step_can_be_switched_off():
    off = DataConfig(strip_html=False, unicode_nfkc=False, strip_control=False)
    cleaned, notes = clean_texts(pd.Series(MESSY[:1] + MESSY[2:3]), off)
    assert cleaned.tolist() == ["<p>Great&nbsp;<b>film</b></p>", "ＡＢＣ１２３，好！ ok"]
    assert clean_text(MESSY[0], off) == MESSY[0]


def test_label_spellings_merge_into_the_most_common_with_a_note():
    labels, notes = merge_label_spellings(pd.Series([" Positive", "positive", "positive", "neg"]))
    assert labels.tolist() == ["positive", "positive", "positive", "neg"]
    assert notes == [
        "Merged label spellings 'positive', ' Positive' into 'positive' (1 row(s) relabelled)."
    ]


def test_duplicates_keep_one_and_conflicts_drop_all_unless_switched_off():
    frame = pd.DataFrame(
        {"input": ["a", "a", "b", "b", "c"], "label": ["x", "x", "x", "y", "y"], "row": range(5)}
    )
    kept, notes = drop_duplicates(frame)
    assert kept["row"].tolist() == [0, 4] and len(notes) == 2
    kept, _ = drop_duplicates(frame, DataConfig(drop_conflicts=False, drop_duplicates=False))
    assert len(kept) == 5


def test_training_cleaning_settings_apply_at_prediction(tiny_model_dir, tmp_path):
    from conftest import fast_settings, make_rows

    import tunesmith

    rows = make_rows(12)
    rows[0]["text"] = "<b>" + rows[0]["text"] + "</b>"
    data = tmp_path / "d.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    settings = fast_settings(tiny_model_dir, tmp_path / "run", epochs=1)
    model = tunesmith.train(data, **settings)
    assert model.data_options.strip_html
    text = rows[1]["text"]
    same = model.predict([text, f"<i>{text}</i>\u200b"])
    assert same[0]["scores"] == same[1]["scores"]  # tags and zero-width chars cleaned away
    assert (model.path / "data_report.json").is_file()


def test_arrow_column_cleaning_equals_python_on_random_messy_text(monkeypatch):
    """The column path runs RE2 in Arrow, the single-text path Python's re: same answers."""
    import random

    from tunesmith.data.clean import CONTROL_RANGES, SPACE_RANGES

    rng = random.Random(0)
    specials = [chr(c) for a, b in CONTROL_RANGES + SPACE_RANGES for c in range(a, b + 1)]
    pieces = specials + list("ab <>/&;#xé中文ＡＢ１，！") + ["<b>", "</p>", "&#20013;", "<!--"]
    pieces += ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&nbsp;", "&amp;lt;", "&copy;", "&amp"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    cleaned, notes = clean_texts(pd.Series(texts))
    assert cleaned.tolist() == [clean_text(t) for t in texts]
    monkeypatch.setattr("tunesmith.data.clean.CHUNK", 7)  # chunked: same texts, same counts
    chunked, chunked_notes = clean_texts(pd.Series(texts))
    assert chunked.tolist() == cleaned.tolist() and chunked_notes == notes
