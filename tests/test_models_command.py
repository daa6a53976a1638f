"""`tunesmith models`: the catalog, measured probes, estimates and the recommendation."""

import json

import pandas as pd
import pytest
from conftest import make_rows
from test_task_contract import CASES

from tunesmith.cli import main
from tunesmith.models import advice


def test_catalog_lists_every_model_with_offline_state(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"minilm-l6", "minilm-l3", "smollm2-135m", "mobilenet-v2"} <= set(rows)
    assert rows["smollm2-135m"]["tasks"] == "generation, preference"
    assert all(r["offline"] == "yes" for r in rows.values())  # make installs them all


def test_english_before_multilingual_unless_chinese():
    english = advice.candidates("text-classification")
    assert (
        english.index("minilm-l6")
        < english.index("minilm-l3")
        < english.index("multilingual-e5-small")
    )
    assert advice.candidates("text-classification", chinese=True)[0] == "multilingual-e5-small"


def test_probe_measures_and_recommends_within_budget(tiny_model_dir, tmp_path, monkeypatch):
    data = tmp_path / "rows.csv"
    pd.DataFrame(make_rows(40)).to_csv(data, index=False)
    monkeypatch.setattr(advice, "candidates", lambda task, chinese=False: [str(tiny_model_dir)])
    report = advice.advise("text-classification", str(data), budget_minutes=60, batch=8)
    result = report["results"][0]
    assert result["seconds_per_step"] > 0 and result["peak_mb"] > 100
    assert result["parameters"] > 50_000 and report["basis"].startswith(str(data))
    steps = -(-120 * 0.8 // 8)  # 120 rows, 80% train, batch 8
    assert abs(result["minutes_per_epoch"] - steps * result["seconds_per_step"] * 1.15 / 60) < 1e-9
    assert report["recommended"] == str(tiny_model_dir)
    tight = advice.recommend(report["results"], budget_minutes=1e-9)
    assert tight[0] == str(tiny_model_dir) and "none fits" in tight[1]


@pytest.mark.parametrize("name", sorted(CASES))
def test_probe_takes_a_training_step_for_every_task(name, request):
    """`tunesmith models --task T` runs this probe per model (in its own process, as
    test_probe_measures_and_recommends_within_budget checks): it asks the task for a batch and
    takes the loss as training does (the embedding encoder has no loss of its own; image-text
    needs images and captions)."""
    from tunesmith.models.probe import probe

    model = request.getfixturevalue(CASES[name][1])
    result = probe(str(model), name, batch=4, length=16, steps=1)
    assert result["seconds_per_step"] > 0 and result["trainable"] > 0


def test_a_task_without_catalog_models_is_measured_on_its_default():
    assert advice.candidates("image-text") == ["mobilenet-v2+minilm-l6"]


def test_bad_budget_names_the_flag(capsys):
    assert main(["models", "--task", "ner", "--budget", "soon"]) == 2
    assert "--budget" in capsys.readouterr().err


def test_a_run_that_may_not_fit_warns_with_the_fix(tiny_llama_dir, monkeypatch, capsys):
    from transformers import AutoModelForCausalLM

    from tunesmith.config import TrainConfig
    from tunesmith.training import memory

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    total = sum(p.numel() for p in model.parameters())
    counts = {"total": total, "trainable": total}
    need = memory.estimate_bytes(model, counts, 16, 128, "fp32")
    assert need > total * 16  # weights, gradients, AdamW, plus activations and logits
    assert memory.estimate_bytes(model, counts, 32, 128, "fp32") > need  # bigger batch, more
    monkeypatch.setattr(memory, "available_bytes", lambda: (need, "memory available"))
    memory.check_fits(model, counts, TrainConfig(batch_size=16), "fp32", "generation")
    err = capsys.readouterr().err
    assert "may not fit in memory" in err and "--train.batch_size 8 --train.grad_accum 2" in err
    monkeypatch.setattr(memory, "available_bytes", lambda: (need * 10, "memory available"))
    memory.check_fits(model, counts, TrainConfig(batch_size=16), "fp32", "generation")
    assert "may not fit" not in capsys.readouterr().err
