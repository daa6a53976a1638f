"""The task contract, continued: `tune`, `--resume` and torchrun, for every registered task.

Parametrized over test_task_contract.CASES, so a newly registered task is tested by these too.
Tiny data and one-epoch trainings keep the whole file around a minute on 2 CPU cores; the
torchrun check is one launch whose processes train every task in turn (tests/ddp_tasks.py), as
one launch per task would cost the start-up of two interpreters with torch seven times over.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_task_contract import CASES

import tunesmith
from tunesmith import tasks
from tunesmith.cli import main
from tunesmith.training import trainer as trainer_module

SHORT = {"precision": "fp32", "max_length": 32, "batch_size": 16}


def sample_input(name: str, folder: Path) -> str:
    sample = CASES[name][2]
    return str(folder / sample) if tasks.get(name).input_kind == "image" else sample


def answers_one(run: Path, name: str, folder: Path) -> None:
    answers = tunesmith.load(run).predict([sample_input(name, folder)])
    assert len(answers) == 1 and isinstance(answers[0], dict) and answers[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_tune_for_every_task(name, tmp_path, request):
    build, fixture, _ = CASES[name]
    data = build(tmp_path)
    out = tmp_path / "run"
    flags = ["--task", name, "--model", str(request.getfixturevalue(fixture)), "--out", str(out)]
    flags += ["--train.epochs", "1", *(f for k, v in SHORT.items() for f in (f"--train.{k}", v))]
    assert main(["tune", str(data), "--trials", "2", *map(str, flags)]) == 0
    trials = json.loads((tmp_path / "run.tune" / "trials.json").read_text())
    assert [t["state"] for t in trials] == ["complete", "complete"]
    task = tasks.get(name)
    assert all("learning_rate" in t for t in trials)
    assert all(t["freeze"] in task.search_freeze for t in trials if "freeze" in t)  # its own
    best = json.loads((out / "metrics.json").read_text())["search"]["best"]
    pick = min if task.metric == "loss" else max
    value = pick(t["value"] for t in trials)
    assert any(t["value"] == value and best.items() <= t.items() for t in trials)
    answers_one(out, name, tmp_path)


class Crash(Exception):
    pass


@pytest.mark.parametrize("name", sorted(CASES))
def test_resume_for_every_task(name, tmp_path, request, monkeypatch):
    """As tests/test_resume.py does for text: a power cut after the first checkpoint, then
    --resume from the saved configuration alone."""
    from transformers import TrainerCallback

    def crash(self, args, state, control, **kwargs):
        raise Crash("simulated power cut")

    real_build = trainer_module.build_trainer

    def crashing_build(*args, **kwargs):
        built = real_build(*args, **kwargs)
        built.add_callback(type("CrashAfterSave", (TrainerCallback,), {"on_save": crash})())
        return built

    build, fixture, _ = CASES[name]
    data = build(tmp_path)
    out = tmp_path / "run"
    model = str(request.getfixturevalue(fixture))
    settings = {"task": name, "model": model, "out": str(out)}
    settings["train"] = {"epochs": 2, "early_stopping": 0, **SHORT}
    monkeypatch.setattr(trainer_module, "build_trainer", crashing_build)
    with pytest.raises(Crash):
        tunesmith.train(data, **settings)
    monkeypatch.undo()
    assert list((tmp_path / "run.unfinished" / "checkpoints").glob("checkpoint-*"))

    resumed = tunesmith.train(resume=True, out=str(out))
    assert resumed.metrics["epochs_run"] == 2
    assert [h["epoch"] for h in resumed.metrics["validation"]] == [1, 2]
    assert not (tmp_path / "run.unfinished").exists()
    answers_one(out, name, tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_every_task(tmp_path, request):
    """One torchrun launch (2 processes, gloo on the CPU); each process trains every task's
    run in turn through the CLI, and each run must come out finished and loadable."""
    jobs = []
    for name, (build, fixture, _) in sorted(CASES.items()):
        folder = tmp_path / name
        folder.mkdir()
        data = build(folder)
        model = str(request.getfixturevalue(fixture))
        command = ["train", str(data), "--task", name, "--model", model]
        command += ["--out", str(folder / "run"), "--train.epochs", "1"]
        command += ["--train.freeze", "none"]  # every weight trains: DDP syncs them all
        command += [f for k, v in SHORT.items() for f in (f"--train.{k}", str(v))]
        jobs.append(command)
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps(jobs))
    helper = Path(__file__).with_name("ddp_tasks.py")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        str(helper), str(spec),
    ]  # fmt: skip
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=480)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.count("Finished:") == len(CASES)  # the main process reports, once each
    for name in sorted(CASES):
        run = tmp_path / name / "run"
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["processes"] == 2, name
        assert (
            not (run / "checkpoints").exists() and not (tmp_path / name / "run.unfinished").exists()
        )
        answers_one(run, name, tmp_path / name)
