"""--overwrite deletes only what tunesmith wrote; a replaced run stays until the new one is
finished; settings that would fail deep in training fail before anything is written; a run
resumes from any directory and past a checkpoint cut short by `kill -9`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import fast_settings

import tunesmith
from tunesmith import tasks
from tunesmith.cli import main
from tunesmith.training import trainer as trainer_module


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def flags(model_dir: Path, out: Path, **train) -> list[str]:
    settings = fast_settings(model_dir, out, **train)
    args = ["--model", settings["model"], "--out", str(out)]
    for key, value in settings["train"].items():
        args += [f"--train.{key}", str(value)]
    return args


def test_overwrite_never_deletes_a_folder_that_only_looks_like_a_run(
    tiny_model_dir, tmp_path, toy_csv, capsys
):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / ".ssh").mkdir()
    (home / "Documents" / "thesis.txt").write_text("four years of work")
    (home / ".ssh" / "id_rsa").write_text("secret")
    (home / "run_config.yaml").write_text("model: mine\n")  # what fooled --overwrite before
    before = snapshot(home)
    assert main(["train", str(toy_csv), "--overwrite", *flags(tiny_model_dir, home)]) == 2
    assert "not a finished tunesmith run" in capsys.readouterr().err
    assert snapshot(home) == before
    assert not (tmp_path / "home.unfinished").exists()


def test_overwrite_refuses_a_run_holding_files_it_did_not_write(
    tiny_model_dir, tmp_path, toy_csv, capsys
):
    out = tmp_path / "run"
    tunesmith.train(toy_csv, **fast_settings(tiny_model_dir, out, epochs=1))
    listed = json.loads((out / "tunesmith.json").read_text())["files"]
    assert "model.safetensors" in listed and "run_config.yaml" in listed
    (out / "notes.txt").write_text("my notes on this model")
    before = snapshot(out)
    assert main(["train", str(toy_csv), "--overwrite", *flags(tiny_model_dir, out)]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "move those files" in err
    assert snapshot(out) == before


class Crash(Exception):
    pass


def test_replaced_run_survives_a_crash_and_resume_works_from_anywhere(
    tiny_model_dir, tmp_path, toy_csv, monkeypatch
):
    """--overwrite builds the new run beside the old one; the old model stays usable until the
    new one finishes. The saved config holds absolute paths, so --resume works from elsewhere."""
    from transformers import TrainerCallback

    work = tmp_path / "work"
    work.mkdir()
    (work / "data.csv").write_bytes(toy_csv.read_bytes())
    monkeypatch.chdir(work)
    settings = fast_settings(tiny_model_dir, Path("runs/r"), epochs=2, early_stopping=0)
    first = tunesmith.train("data.csv", **settings)
    old_manifest = (work / "runs/r/tunesmith.json").read_text()

    class CrashOnSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise Crash("power cut after the first checkpoint")

    real_build = trainer_module.build_trainer

    def crashing_build(*args, **kwargs):
        built = real_build(*args, **kwargs)
        built.add_callback(CrashOnSave())
        return built

    with monkeypatch.context() as patch:
        patch.setattr(trainer_module, "build_trainer", crashing_build)
        with pytest.raises(Crash):
            tunesmith.train("data.csv", overwrite=True, **settings)
    # The finished run is untouched and still answers; the new one waits beside it.
    assert (work / "runs/r/tunesmith.json").read_text() == old_manifest
    assert tunesmith.load("runs/r").predict(["goal match team"])[0]["label"] in first.labels
    assert list((work / "runs/r.unfinished/checkpoints").glob("checkpoint-*"))
    saved = (work / "runs/r.unfinished/run_config.yaml").read_text()
    assert str(work / "data.csv") in saved  # absolute, not "data.csv"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model = tunesmith.train(resume=True, out=str(work / "runs/r"))
    assert model.metrics["epochs_run"] == 2
    assert (work / "runs/r/tunesmith.json").read_text() != old_manifest
    assert sorted(p.name for p in (work / "runs").iterdir()) == ["r"]  # nothing left beside it


def test_resume_of_nothing_says_there_is_nothing_to_resume(tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no unfinished run to resume" in err and "no training data" not in err


@pytest.mark.parametrize(
    "setting, words",
    [
        (["--train.metric", "f1"], "does not measure 'f1'"),
        (["--train.fsdp", "bogus_shard"], "--train.fsdp bogus_shard"),
        (["--train.deepspeed", "missing.json"], "DeepSpeed config file not found"),
        (["--train.deepspeed", "BAD"], "not a JSON file"),
        (["--train.deepspeed", "OK"], "deepspeed"),  # not installed here: says so
    ],
)
def test_settings_that_fail_in_training_fail_before_anything_is_written(
    tiny_model_dir, tmp_path, toy_csv, capsys, monkeypatch, setting, words
):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "ok.json").write_text('{"zero_optimization": {"stage": 2}}')
    files = {"BAD": str(tmp_path / "bad.json"), "OK": str(tmp_path / "ok.json")}
    setting = [files.get(s, s) for s in setting]

    def no_loading(*args, **kwargs):
        raise AssertionError("a bad setting must be refused before any model is loaded")

    monkeypatch.setattr(tasks.get("text-classification"), "load_model", no_loading)
    out = tmp_path / "run"
    assert main(["train", str(toy_csv), *flags(tiny_model_dir, out), *setting]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "run.unfinished").exists()


CHILD = """
import pathlib, sys, time
from transformers import Trainer
import tunesmith
from conftest import fast_settings

real = Trainer._save_optimizer_and_scheduler
calls = []

def slow_save(self, output_dir):  # the second checkpoint: model written, optimizer not yet
    calls.append(output_dir)
    if len(calls) == 2:
        pathlib.Path(sys.argv[3]).write_text(output_dir)
        time.sleep(600)
    return real(self, output_dir)

Trainer._save_optimizer_and_scheduler = slow_save
tunesmith.train(sys.argv[1], **fast_settings(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[4]),
                epochs=3, early_stopping=0))
"""


def test_resume_skips_a_checkpoint_cut_short_by_kill_9(tiny_model_dir, tmp_path, toy_csv):
    out, flag = tmp_path / "run", tmp_path / "saving"
    paths = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(toy_csv), str(tiny_model_dir), str(flag), str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(1200):
            if flag.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert flag.exists(), child.stderr.read().decode()[-2000:]
        os.kill(child.pid, signal.SIGKILL)  # mid-checkpoint: weights written, state not
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    partial = Path(flag.read_text())
    assert (partial / "model.safetensors").exists() and not (
        partial / "trainer_state.json"
    ).exists()
    model = tunesmith.train(resume=True, out=str(out))
    assert model.metrics["epochs_run"] == 3
    assert [h["epoch"] for h in model.metrics["validation"]] == [1, 2, 3]


def test_distill_flags_reach_training(tiny_model_dir, tmp_path, toy_csv, monkeypatch):
    """--temperature and --alpha are the distillation settings, run from another folder than
    the teacher's data (the teacher's saved config holds absolute paths)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.csv").write_bytes(toy_csv.read_bytes())
    monkeypatch.chdir(work)
    tunesmith.train("data.csv", **fast_settings(tiny_model_dir, Path("teacher"), epochs=1))
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "distill",
            "--teacher",
            "work/teacher",
            "--student",
            str(tiny_model_dir),
            "--out",
            str(tmp_path / "student"),
            "--temperature",
            "4",
            "--alpha",
            "0.7",
            "--train.epochs",
            "1",
        ]
    )
    assert code == 0
    import yaml

    saved = yaml.safe_load((tmp_path / "student" / "run_config.yaml").read_text())
    assert saved["train"]["distill_temperature"] == 4 and saved["train"]["distill_alpha"] == 0.7


class Evil:
    def __reduce__(self):  # what a malicious pickle does: call something on load
        return (print, ("this ran while loading",))


def test_pickled_weights_with_code_are_refused_as_a_user_error(
    tiny_model_dir, tmp_path, toy_csv, capsys
):
    import shutil

    import torch

    evil = tmp_path / "evil-model"
    shutil.copytree(tiny_model_dir, evil)
    (evil / "model.safetensors").unlink()
    torch.save({"weights": Evil()}, evil / "pytorch_model.bin")
    assert main(["train", str(toy_csv), *flags(evil, tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "weights file was refused" in err and "--model" in err
    assert "weights_only=False" not in err and "tunesmith bug" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.unfinished").exists()

    run = tmp_path / "good"  # a finished run whose weights were swapped for a pickle
    tunesmith.train(toy_csv, **fast_settings(tiny_model_dir, run, epochs=1))
    (run / "model.safetensors").unlink()
    torch.save({"weights": Evil()}, run / "pytorch_model.bin")
    assert main(["predict", str(run), "--text", "goal match"]) == 2
    out, err = capsys.readouterr()
    assert "weights file was refused" in err and "this ran while loading" not in out + err


def test_inspect_never_overwrites_a_file_with_its_review_export(toy_csv, capsys):
    before = toy_csv.read_bytes()
    code = main(["inspect", str(toy_csv), "--export-label-studio", str(toy_csv)])
    assert code == 2 and "would be overwritten" in capsys.readouterr().err
    assert toy_csv.read_bytes() == before


def test_settings_of_another_task_are_errors_all_at_once(tiny_model_dir, tmp_path, toy_csv, capsys):
    out = tmp_path / "run"
    extra = ["--train.augment", "trivial", "--packing", "--train.metric", "f1"]
    assert main(["train", str(toy_csv), *flags(tiny_model_dir, out), *extra]) == 2
    err = capsys.readouterr().err
    assert "--train.augment: only image-classification, image-text use it" in err
    assert "--train.packing: only generation use" in err and "--train.metric f1" in err
    assert not out.exists() and not (tmp_path / "run.unfinished").exists()


def test_a_run_from_before_file_lists_is_not_overwritten(tiny_model_dir, tmp_path, toy_csv, capsys):
    out = tmp_path / "run"
    tunesmith.train(toy_csv, **fast_settings(tiny_model_dir, out, epochs=1))
    manifest = json.loads((out / "tunesmith.json").read_text())
    del manifest["files"]  # as an older tunesmith wrote it
    (out / "tunesmith.json").write_text(json.dumps(manifest))
    before = snapshot(out)
    assert main(["train", str(toy_csv), "--overwrite", *flags(tiny_model_dir, out)]) == 2
    err = capsys.readouterr().err
    assert "older tunesmith" in err and f"rm -r {out}" in err
    assert snapshot(out) == before
