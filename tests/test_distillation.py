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
