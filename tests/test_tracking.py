"""Throughput in metrics.json, the report and the last line; --train.report_to through the
Trainer's integrations: TensorBoard event files in the run, MLflow's local store, and a missing
package refused before anything is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_images

from tunesmith.cli import main
from tunesmith.config import build_config
from tunesmith.errors import TunesmithError
from tunesmith.training import throughput, tracking

FAST = ["--train.learning_rate", "1e-3", "--train.precision", "fp32", "--train.freeze", "none"]


def train(data: Path, model: Path, out: Path, *flags: str) -> int:
    return main(["train", str(data), "--model", str(model), "--out", str(out), *FAST, *flags])


def scalars(folder: Path) -> dict[str, list[float]]:
    """Every scalar in the TensorBoard event files under `folder`, read with TensorBoard's own
    reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[float]] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend(e.value for e in accumulator.Scalars(tag))
    return found


def test_text_run_measures_throughput_and_writes_tensorboard(
    tiny_model_dir, toy_csv, tmp_path, capsys
):
    out = tmp_path / "run"
    assert (
        train(toy_csv, tiny_model_dir, out, "--train.epochs", "2", "--train.max_length", "32") == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    speed = metrics["throughput"]
    rows = len(json.loads((out / "splits.json").read_text())["train"])
    assert speed["unit"] == "examples" and speed["examples"] == rows * metrics["epochs_run"]
    assert 0 < speed["seconds"] <= metrics["train_seconds"]  # validation and saving excluded
    # every text is [CLS] + at least one word + [SEP], at most 32 tokens; padding not counted
    assert 3 * speed["examples"] <= speed["tokens"] <= 32 * speed["examples"]
    assert speed["tokens_per_second"] >= speed["examples_per_second"] > 0
    assert speed["flops_per_token"] > 0
    if throughput.estimated_peak("fp32") is not None:
        assert 0 < speed["share_of_peak"] <= 1 and speed["peak_basis"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Throughput</h2>" in page and "tokens a second" in page
    printed = capsys.readouterr()
    last = printed.out.strip().splitlines()[-1]
    assert last.startswith(f"Finished: {out}") and "examples/s" in last and "tokens/s" in last
    assert f"tensorboard --logdir {tmp_path}" in printed.err  # where to watch, said once

    logged = scalars(out / "tensorboard")
    steps = metrics["validation"]
    assert len(logged["train/loss"]) >= metrics["epochs_run"]  # logged ~10 times an epoch
    assert len(logged["eval/loss"]) == len(steps)
    assert logged["eval/loss"] == pytest.approx([h["eval_loss"] for h in steps], rel=1e-5)
    manifest = json.loads((out / "tunesmith.json").read_text())
    assert "tensorboard" in manifest["files"] and "checkpoints" not in manifest["files"]


def test_image_run_counts_images_without_tokens(tiny_vit_dir, tmp_path, capsys):
    photos = write_images(tmp_path / "photos", per_class=10, size=32)
    out = tmp_path / "run"
    assert train(photos, tiny_vit_dir, out, "--train.epochs", "1", "--train.report_to", "none") == 0
    speed = json.loads((out / "metrics.json").read_text())["throughput"]
    assert speed["unit"] == "images" and "tokens" not in speed and speed["examples"] > 0
    assert speed["examples_per_second"] > 0 and speed["flops_per_example"] > 0
    if throughput.estimated_peak("fp32") is not None:
        assert 0 < speed["share_of_peak"] <= 1
    assert not (out / "tensorboard").exists()  # --train.report_to none: no tracking
    assert "images/s" in capsys.readouterr().out.strip().splitlines()[-1]
    assert "images a second" in (out / "report.html").read_text(encoding="utf-8")


def test_mlflow_logs_into_a_local_store(tiny_model_dir, toy_csv, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # MLflow's default kind of store, here local
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tunesmith-test")
    out = tmp_path / "中文 run"
    flags = ["--train.epochs", "1", "--train.max_length", "32", "--train.report_to", "mlflow"]
    assert train(toy_csv, tiny_model_dir, out, *flags) == 0
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("tunesmith-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "中文 run"
    assert {"loss", "eval_loss", "train_runtime"} <= set(run.data.metrics)
    assert run.data.params["learning_rate"] == "0.001"
    assert not (out / "tensorboard").exists()


def test_a_missing_tracker_is_refused_before_any_work(toy_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(tracking.PACKAGES, "wandb", ("no_such_module_here", "pip install wandb"))
    out = tmp_path / "run"
    code = main(["train", str(toy_csv), "--out", str(out), "--train.report_to", "wandb"])
    err = capsys.readouterr().err
    assert code == 2 and "--train.report_to wandb" in err and "pip install wandb" in err
    assert not out.exists() and not (tmp_path / "run.unfinished").exists()


def test_report_to_is_validated_and_normalised():
    assert build_config({"train": {"report_to": "TensorBoard, mlflow"}}).train.report_to == (
        "tensorboard,mlflow"
    )
    assert build_config({"train": {"report_to": ["wandb", "wandb"]}}).train.report_to == "wandb"
    for bad in ("tensorbord", "none,mlflow", ""):
        with pytest.raises(TunesmithError, match="--train.report_to"):
            build_config({"train": {"report_to": bad}})


def test_tensorboard_logs_stay_out_of_deleted_folders():
    run = Path("runs/bbc.unfinished")
    assert tracking.log_dir(run / "checkpoints") == run / "tensorboard"
    seed = run / "checkpoints" / "seed-43"  # deleted after the seed: nothing of it is kept
    assert tracking.log_dir(seed) == seed / "tensorboard"
    assert tracking.run_name(seed) == "bbc/seed-43"
    assert tracking.run_name(run / "checkpoints") == "bbc"


def test_cpu_peak_follows_the_instruction_set(monkeypatch):
    zen4 = {
        "vendor_id": "AuthenticAMD",
        "cpu family": "25",
        "flags": "avx2 fma avx512f avx512_bf16",
    }
    intel = {"vendor_id": "GenuineIntel", "cpu family": "6", "flags": "avx2 fma avx512f amx_bf16"}
    monkeypatch.setattr(throughput, "_cpuinfo", lambda: zen4)
    assert throughput._cpu_per_cycle("bf16")[0] == 2 * throughput._cpu_per_cycle("fp32")[0] == 64
    monkeypatch.setattr(throughput, "_cpuinfo", lambda: intel)
    assert (
        throughput._cpu_per_cycle("fp32")[0] == 64 and throughput._cpu_per_cycle("bf16")[0] == 1024
    )
    monkeypatch.setattr(throughput, "_cpuinfo", lambda: {"flags": "neon"})
    assert throughput._cpu_per_cycle("fp32") is None
    line = throughput.describe(
        {
            "unit": "examples",
            "examples_per_second": 212.4,
            "tokens_per_second": 41234.0,
            "share_of_peak": 0.183,
        }
    )
    assert line == "212 examples/s, 41k tokens/s, ~18% of estimated peak"


def test_gpu_peak_is_the_datasheet_figure_of_the_named_device(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100 PCIe")
    flops, basis = throughput.estimated_peak("bf16", processes=2)
    assert flops == 2 * 756e12 and basis.startswith("2 x NVIDIA H100 PCIe: 756 bf16")
    assert throughput.estimated_peak("fp32")[0] == 51e12  # fp32 without TF32: CUDA cores
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Some Future GPU")
    assert throughput.estimated_peak("bf16") is None  # unknown: no share, not a guess
