"""Distillation: the loss, and a student trained from a teacher run, compared in the report."""

import json

import pytest
import torch
from conftest import fast_settings

import tunesmith
from tunesmith.cli import main
from tunesmith.training.distillation import distillation_loss


def test_loss_mixes_soft_and_hard_targets():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    teacher = torch.log_softmax(torch.tensor([[1.0, 1.0, -2.0], [0.0, 3.0, 0.0]]), -1)
    hard = torch.tensor([0.0, 1.0])
    labels = torch.cat([hard[:, None], teacher], 1)
    outputs = {"logits": logits}
    ce = torch.nn.functional.cross_entropy(logits, hard.long())
    assert torch.isclose(distillation_loss(2.0, 0.0)(outputs, labels), ce)
    soft_only = distillation_loss(2.0, 1.0)(outputs, labels)
    assert soft_only > 0
    same = torch.cat([hard[:, None], torch.log_softmax(logits, -1)], 1)
    assert distillation_loss(2.0, 1.0)(outputs, same).abs() < 1e-6  # student = teacher
    mixed = distillation_loss(2.0, 0.5)(outputs, labels)
    assert torch.isclose(mixed, 0.5 * soft_only + 0.5 * ce)
    assert torch.isclose(distillation_loss(2.0, 0.5)(outputs, hard.long()), ce)  # validation


@pytest.fixture(scope="module")
def teacher(tiny_model_dir, tmp_path_factory):
    import pandas as pd
    from conftest import make_rows

    folder = tmp_path_factory.mktemp("teacher")
    pd.DataFrame(make_rows(60)).to_csv(folder / "rows.csv", index=False)
    return tunesmith.train(
        folder / "rows.csv", **fast_settings(tiny_model_dir, folder / "run")
    ).path


def test_distill_trains_a_student_on_the_teachers_split_and_compares(
    teacher, tiny_model_dir, tmp_path
):
    out = tmp_path / "student"
    flags = ["--train.epochs", "8", "--train.learning_rate", "1e-3", "--train.freeze", "none"]
    code = main(
        [
            "distill",
            "--teacher",
            str(teacher),
            "--student",
            str(tiny_model_dir),
            "--out",
            str(out),
            *flags,
        ]
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.6
    side = metrics["distillation"]
    assert (
        side["teacher"]["accuracy"]
        == json.loads((teacher / "metrics.json").read_text())["test"]["accuracy"]
    )
    assert side["student"]["ms_per_example"] > 0 and side["teacher"]["parameters"] > 0
    assert (
        json.loads((out / "splits.json").read_text())["test"]
        == json.loads((teacher / "splits.json").read_text())["test"]
    )
    config = (out / "run_config.yaml").read_text()
    assert f"teacher: {teacher}" in config and "distill_temperature: 2.0" in config
    assert "Teacher and student" in (out / "report.html").read_text()


def test_distill_refuses_a_teacher_that_is_not_a_finished_classifier(tmp_path, capsys):
    assert main(["distill", "--teacher", str(tmp_path)]) == 2
    assert "not a finished tunesmith run" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_an_all_sport_teacher_pulls_an_alpha_1_student_to_sport(
    teacher, tiny_model_dir, tmp_path, monkeypatch
):
    """With alpha 1 only the teacher's answers train the student: a teacher that says `sport`
    to everything (the data is a third sport) makes a student that says sport."""
    from tunesmith.training import distillation

    def sporty(run, examples):
        scores = {"sport": 0.98, "business": 0.01, "tech": 0.01}
        return [{"scores": scores} for _ in range(len(examples))]

    monkeypatch.setattr(distillation, "teacher_answers", sporty)
    out = tmp_path / "student"
    flags = ["--train.epochs", "3", "--train.learning_rate", "1e-3", "--train.freeze", "none"]
    code = main(
        ["distill", "--teacher", str(teacher), "--student", str(tiny_model_dir), "--out", str(out)]
        + ["--alpha", "1", "--train.max_length", "32", *flags]
    )
    assert code == 0
    answers = tunesmith.load(out).predict(["goal match team", "shares market profit", "chip app"])
    assert [a["label"] for a in answers] == ["sport"] * 3


# --- NER: token-level ------------------------------------------------------------------------


def _ner_teacher(model_dir, labels):
    """A loaded-run stand-in: a tiny token classifier whose label order differs from the
    student's (the targets must come back in the student's order)."""
    from types import SimpleNamespace

    from tunesmith import tasks

    order = list(reversed(labels))
    model, tokenizer = tasks.get("ner").load_model(str(model_dir), order, str(model_dir))
    return SimpleNamespace(model=model.eval(), processor=tokenizer, labels=order, max_length=32)


def test_ner_targets_are_the_teachers_tag_distributions_per_token(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer, BertTokenizerFast

    from tunesmith import tasks
    from tunesmith.config import TrainConfig
    from tunesmith.tasks.ner.distillation import TokenDistiller

    task = tasks.get("ner")
    sentences = [
        (["alice", "met", "schwarzenegger", "in", "paris"], ["B-PER", "O", "B-PER", "O", "B-LOC"])
    ]
    examples = task.prepare(pd_table(sentences), "t.jsonl", {})
    labels = task.label_names(examples)
    cfg = TrainConfig(max_length=32)
    student = AutoTokenizer.from_pretrained(tiny_model_dir)
    dataset = task.encode(examples, student, labels, cfg)
    teacher = _ner_teacher(tiny_model_dir, labels)
    distiller = TokenDistiller(task, "unused")

    # the same tokenizer: the teacher reads the student's own windows, every labelled token
    packed = distiller.targets(teacher, student, examples, dataset, labels, cfg)[0]
    hard = dataset["labels"][0]
    assert [row[0] for row in packed] == hard
    assert [row[1] for row in packed] == [float(y != -100) for y in hard]
    ids = torch.tensor([dataset["input_ids"][0]])
    logits = teacher.model(input_ids=ids).logits[0]
    order = [teacher.labels.index(name) for name in labels]
    expected = torch.log_softmax(logits[:, order], -1)
    assert torch.allclose(torch.tensor([row[2:] for row in packed]), expected, atol=1e-5)

    # another tokenizer (other ids, "schwarzenegger" one piece): aligned by words, first pieces
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "in", "schwarzenegger"]
    vocab += ["met", "alice"]
    other = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, model_max_length=64)
    teacher.processor = other
    packed = distiller.targets(teacher, student, examples, dataset, labels, cfg)[0]
    pieces = student.convert_ids_to_tokens(dataset["input_ids"][0])
    with_target = [p for p, row in zip(pieces, packed, strict=True) if row[1]]
    assert with_target == ["alice", "met", "schwarz", "in", "paris"]  # not ##en, ##egger
    word_ids = other(["alice", "met", "schwarzenegger", "in", "paris"], is_split_into_words=True)
    logits = teacher.model(input_ids=torch.tensor([word_ids["input_ids"]])).logits[0]
    expected = torch.log_softmax(logits[:, order], -1)[1:6]  # after [CLS], one piece a word
    got = torch.tensor([row[2:] for row in packed if row[1]])
    assert torch.allclose(got, expected, atol=1e-5)


def pd_table(sentences):
    import pandas as pd

    return pd.DataFrame([{"tokens": t, "tags": g} for t, g in sentences])


def test_token_loss_is_kl_where_labelled_and_cross_entropy_otherwise():
    from tunesmith.tasks.ner.distillation import token_distillation_loss

    logits = torch.randn(2, 4, 3)
    hard = torch.tensor([[-100, 0, 2, -100], [-100, 1, -100, -100]])
    teacher = torch.log_softmax(torch.randn(2, 4, 3), -1)
    has = (hard != -100).float()
    packed = torch.cat([hard[..., None].float(), has[..., None], teacher], -1)
    outputs = {"logits": logits}
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), hard.flatten(), ignore_index=-100)
    assert torch.isclose(token_distillation_loss(2.0, 0.0)(outputs, packed), ce)
    assert torch.isclose(token_distillation_loss(2.0, 0.5)(outputs, hard), ce)  # validation
    soft = token_distillation_loss(2.0, 1.0)(outputs, packed)
    relabelled = packed.clone()
    relabelled[..., 0] = torch.where(hard != -100, (hard + 1) % 3, hard).float()
    assert torch.isclose(token_distillation_loss(2.0, 1.0)(outputs, relabelled), soft)
    same = torch.cat([hard[..., None].float(), has[..., None], torch.log_softmax(logits, -1)], -1)
    same[0, 0, 2:] = 50.0  # an unlabelled token's target is never looked at
    assert token_distillation_loss(2.0, 1.0)(outputs, same).abs() < 1e-6


@pytest.fixture(scope="module")
def ner_teacher(tiny_model_dir, tmp_path_factory):
    from conftest import make_ner_sentences, write_conll

    folder = tmp_path_factory.mktemp("ner-teacher")
    data = write_conll(folder / "train.conll", make_ner_sentences(60))
    return tunesmith.train(data, **fast_settings(tiny_model_dir, folder / "run", epochs=2)).path


def test_ner_distils_per_token_and_reports_entity_scores(ner_teacher, tiny_model_dir, tmp_path):
    out = tmp_path / "student"
    code = main(
        ["distill", "--teacher", str(ner_teacher), "--student", str(tiny_model_dir)]
        + ["--out", str(out), "--train.epochs", "1", "--train.max_length", "32"]
    )
    assert code == 0
    side = json.loads((out / "metrics.json").read_text())["distillation"]
    teacher_f1 = json.loads((ner_teacher / "metrics.json").read_text())["test"]["f1"]
    assert side["teacher"]["headline"]["entity F1 (micro)"] == teacher_f1
    assert set(side["student"]["headline"]) == set(side["teacher"]["headline"])
    assert f"teacher: {ner_teacher}" in (out / "run_config.yaml").read_text()
    report = (out / "report.html").read_text()
    assert "Teacher and student" in report and "entity F1 (micro)" in report


# --- multi-label and images: per input -------------------------------------------------------


def test_sigmoid_loss_is_a_bernoulli_kl_mixed_with_bce():
    from tunesmith.tasks.multi_label.distillation import sigmoid_distillation_loss

    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -3.0]])
    hard = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    teacher = torch.tensor([[-2.0, 3.0, 0.0], [1.0, 1.0, 1.0]])
    outputs = {"logits": logits}
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, hard)
    packed = torch.cat([hard, teacher], 1)
    assert torch.isclose(sigmoid_distillation_loss(2.0, 0.0)(outputs, packed), bce)
    assert torch.isclose(sigmoid_distillation_loss(2.0, 0.5)(outputs, hard), bce)  # validation
    assert sigmoid_distillation_loss(2.0, 1.0)(outputs, packed) > 0.1
    same = torch.cat([1 - hard, logits], 1)  # hard labels ignored at alpha 1
    assert sigmoid_distillation_loss(2.0, 1.0)(outputs, same).abs() < 1e-6


def test_multi_label_student_of_another_tokenizer_learns_from_a_teacher(tiny_model_dir, tmp_path):
    """Per-input targets come from the teacher's answers to the raw texts, so a student whose
    tokenizer differs from the teacher's (here: a different vocabulary order) is fine."""
    import random

    import pandas as pd
    from conftest import FILLER, TOPICS
    from transformers import AutoTokenizer, BertConfig, BertModel, BertTokenizerFast

    rng = random.Random(0)
    rows = []
    for _ in range(90):
        chosen = sorted(rng.sample(list(TOPICS), rng.choice([1, 1, 2])))
        words = [rng.choice(TOPICS[t].split()) for t in chosen for _ in range(3)]
        rows.append({"text": " ".join(words + rng.sample(FILLER, 2)), "labels": ";".join(chosen)})
    pd.DataFrame(rows).to_csv(tmp_path / "sets.csv", index=False)
    teacher = tunesmith.train(
        tmp_path / "sets.csv",
        task="multi-label",
        **fast_settings(tiny_model_dir, tmp_path / "teacher", epochs=2),
    ).path
    # the teacher's words in reverse order: every id differs; a smaller (1-layer) BERT
    words = list(AutoTokenizer.from_pretrained(tiny_model_dir).get_vocab())
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += sorted((w for w in words if w not in tokens), reverse=True)
    student_dir = tmp_path / "other-bert"
    BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}).save_pretrained(student_dir)
    config = BertConfig(
        vocab_size=len(tokens),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(student_dir)
    out = tmp_path / "student"
    code = main(
        ["distill", "--teacher", str(teacher), "--student", str(student_dir), "--out", str(out)]
        + ["--train.epochs", "1", "--train.max_length", "32"]
    )
    assert code == 0
    side = json.loads((out / "metrics.json").read_text())["distillation"]
    assert "micro F1" in " ".join(side["teacher"]["headline"])
    assert side["student"]["parameters"] < side["teacher"]["parameters"]


def test_image_classifier_distils_per_image(tiny_vit_dir, tmp_path):
    from conftest import write_images

    root = write_images(tmp_path / "photos", per_class=10, size=32)
    settings = fast_settings(tiny_vit_dir, tmp_path / "teacher", epochs=1, max_length=32)
    settings["train"]["freeze"] = "none"
    teacher = tunesmith.train(root, **settings).path
    out = tmp_path / "student"
    code = main(
        ["distill", "--teacher", str(teacher), "--student", str(tiny_vit_dir), "--out", str(out)]
        + ["--train.epochs", "1", "--train.freeze", "none"]
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (
        metrics["distillation"]["teacher"]["accuracy"]
        == json.loads((teacher / "metrics.json").read_text())["test"]["accuracy"]
    )
    assert "Teacher and student" in (out / "report.html").read_text()


# --- refused tasks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task,reason",
    [
        ("generation", "distribution over its whole vocabulary"),
        ("embedding", "similarities within each batch"),
        ("image-text", "image-caption contrast"),
    ],
)
def test_tasks_that_cannot_teach_are_refused_with_the_reason(task, reason, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "tunesmith.json").write_text(json.dumps({"task": task, "labels": []}))
    assert main(["distill", "--teacher", str(run), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert reason in err and "train the smaller" in err and f"--task {task}" in err
    covered = err.split("distillation covers ")[1].split(")")[0].split(", ")
    assert sorted(covered) == ["image-classification", "multi-label", "ner", "text-classification"]
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "s").exists()
