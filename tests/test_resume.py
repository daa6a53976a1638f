"""A crashed run never looks finished, and --resume finishes it from its last checkpoint."""

import pytest
from conftest import fast_settings

import tunesmith
from tunesmith import tasks
from tunesmith.errors import TunesmithError
from tunesmith.training import trainer as trainer_module


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", ["on_save", "on_step_end"])  # after / before a checkpoint
def test_interrupted_run_resumes_to_the_end(
    tiny_model_dir, tmp_path, toy_csv, monkeypatch, crash_at
):
    from transformers import TrainerCallback

    def crash(self, args, state, control, **kwargs):
        raise Crash("simulated power cut")

    CrashAfterFirstSave = type("Crash", (TrainerCallback,), {crash_at: crash})

    real_build = trainer_module.build_trainer

    def crashing_build(*args, **kwargs):
        built = real_build(*args, **kwargs)
        built.add_callback(CrashAfterFirstSave())
        return built

    out = tmp_path / "run"
    settings = fast_settings(tiny_model_dir, out, epochs=3, early_stopping=0)
    monkeypatch.setattr(trainer_module, "build_trainer", crashing_build)
    with pytest.raises(Crash):
        tunesmith.train(toy_csv, **settings)
    monkeypatch.undo()

    building = tmp_path / "run.unfinished"  # a run is built beside --out until it finishes
    saved = list((building / "checkpoints").glob("checkpoint-*"))
    assert bool(saved) == (crash_at == "on_save")
    assert not out.exists()
    with pytest.raises(TunesmithError, match="--resume"):
        tunesmith.load(out)
    with pytest.raises(TunesmithError, match="unfinished run"):
        tunesmith.train(toy_csv, **settings)  # neither --resume nor --overwrite

    model = tunesmith.train(resume=True, out=str(out))  # the saved config is enough
    assert model.metrics["epochs_run"] == 3
    assert [h["epoch"] for h in model.metrics["validation"]] == [1, 2, 3]
    assert not (out / "checkpoints").exists() and not building.exists()


def test_finished_run_is_not_overwritten_without_asking(
    tiny_model_dir, tmp_path, toy_csv, monkeypatch
):
    out = tmp_path / "run"
    tunesmith.train(toy_csv, **fast_settings(tiny_model_dir, out, epochs=1))

    def no_loading(*args, **kwargs):
        raise AssertionError("an existing run must be refused before any model is loaded")

    with monkeypatch.context() as patch:
        patch.setattr(tasks.get("text-classification"), "load_model", no_loading)
        with pytest.raises(TunesmithError, match="--overwrite"):
            tunesmith.train(toy_csv, **fast_settings(tiny_model_dir, out, epochs=1))
    with pytest.raises(TunesmithError, match="already finished"):
        tunesmith.train(resume=True, out=str(out))
    assert (
        tunesmith.train(
            toy_csv, overwrite=True, **fast_settings(tiny_model_dir, out, epochs=1)
        ).path
        == out
    )


def test_checkpoints_of_renamed_weights_load_whole(tiny_vit_dir, tiny_model_dir, tmp_path):
    """transformers 5 saves ViT's weights under their old names and its Trainer reads them back
    non-strictly, skipping the body; --resume and the best epoch must get every weight."""
    import torch
    from transformers import AutoModel, ViTForImageClassification

    from tunesmith.training import checkpoints

    trained = ViTForImageClassification.from_pretrained(tiny_vit_dir)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    trained.save_pretrained(tmp_path / "checkpoint-1")
    model = ViTForImageClassification.from_pretrained(tiny_vit_dir)
    assert checkpoints.renamed(model, tmp_path / "checkpoint-1")
    checkpoints.restore(model, tmp_path / "checkpoint-1")
    for (name, p), q in zip(model.named_parameters(), trained.parameters(), strict=True):
        assert torch.equal(p, q), name
    bert = AutoModel.from_pretrained(tiny_model_dir)  # same names: the Trainer's own loading
    assert not checkpoints.renamed(bert, tiny_model_dir)
