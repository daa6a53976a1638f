"""Reproducible runs: the same data, settings and seed give the same split, weights and test
metrics on the CPU; `tunesmith replay` checks a run that way; `--train.seeds N` measures how
much of a difference the seed alone makes."""

import hashlib
import json

import pandas as pd
import pytest
from conftest import fast_settings, make_rows, write_images

import tunesmith
from tunesmith.cli import main


def _settings(model_dir, out):
    # one epoch; no label-issue search (a quick model of its own, and not what is compared)
    return fast_settings(model_dir, out, epochs=1) | {"data": {"label_issues": False}}


def _flags(model_dir) -> list[str]:
    settings = _settings(model_dir, "unused")
    return ["--model", settings["model"], "--no-label-issues"] + [
        f"--train.{key}={value}" for key, value in settings["train"].items()
    ]


@pytest.fixture(scope="module")
def twice(tiny_model_dir, tmp_path_factory):
    """The same rows in two files (fingerprints hash content, not names), trained alike."""
    folder = tmp_path_factory.mktemp("reproducible")
    rows = pd.DataFrame(make_rows(20))
    runs = []
    for name in ("a", "b"):
        rows.to_csv(folder / f"{name}.csv", index=False)
        runs.append(
            tunesmith.train(folder / f"{name}.csv", **_settings(tiny_model_dir, folder / name))
        )
    return folder, runs


def _read(run, name):
    return json.loads((run.path / name).read_text())


def test_same_seed_gives_the_same_split_weights_and_test_metrics(twice):
    _, (a, b) = twice
    assert _read(a, "splits.json") == _read(b, "splits.json")
    assert a.metrics["test"] == b.metrics["test"]
    losses = [[v["eval_loss"] for v in run.metrics["validation"]] for run in (a, b)]
    assert losses[0] == losses[1]  # full float precision, not just rounded metrics
    weights = [hashlib.sha256((r.path / "model.safetensors").read_bytes()).digest() for r in (a, b)]
    assert weights[0] == weights[1]
    environment = a.manifest["environment"]
    assert environment["libraries"]["torch"] and environment["device"] == "cpu"


def test_image_augmentation_follows_the_seed(tmp_path):
    """Random crops, flips and colour jitter draw from torch's generator, which the Trainer
    seeds (transformers.set_seed): the same seed, the same augmented images."""
    from types import SimpleNamespace

    import torch
    from transformers import set_seed

    from tunesmith.data.image_dataset import ImageDataset

    paths = sorted(str(p) for p in write_images(tmp_path, per_class=2).rglob("*.png"))
    prep = SimpleNamespace(size=32, resize=36, mean=[0.5] * 3, std=[0.5] * 3)
    images = ImageDataset(paths, [0] * len(paths), prep, training=True, augment="trivial")

    def epoch(seed):
        set_seed(seed)
        return torch.stack([images[i]["pixel_values"] for i in range(len(images))])

    assert torch.equal(epoch(42), epoch(42))
    assert not torch.equal(epoch(42), epoch(43))


def test_replay_matches_and_exits_0(twice, capsys):
    folder, (a, _) = twice
    assert main(["replay", str(a.path), "--out", str(folder / "a-again")]) == 0
    out = capsys.readouterr().out
    assert "Split (train/val/test rows): match" in out
    assert "the replay matches the original exactly" in out
    assert "macro F1" in out and "difference" in out
    assert (folder / "a-again" / "tunesmith.json").is_file()


def test_replay_refuses_changed_data_naming_the_file(twice, capsys):
    folder, (_, b) = twice
    data = folder / "b.csv"
    with data.open("a") as handle:
        handle.write("goal match team win,sport\n")  # one more row: another fingerprint
    assert main(["replay", str(b.path)]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and "--allow-changed-data" in err
    assert not (folder / "b-replay").exists()  # refused before anything was written

    assert main(["replay", str(b.path), "--allow-changed-data"]) == 1
    out = capsys.readouterr().out
    assert "Split (train/val/test rows): DIFFERENT" in out
    assert f"the data changed: {data}" in out
    assert (folder / "b-replay" / "tunesmith.json").is_file()


def test_seeds_report_mean_and_spread_and_keep_the_first_seed(twice, tiny_model_dir, capsys):
    folder, (a, _) = twice
    out = folder / "seeds"
    argv = ["train", str(folder / "a.csv"), "--out", str(out), *_flags(tiny_model_dir)]
    assert main([*argv, "--train.seeds", "2"]) == 0
    err = capsys.readouterr().err
    assert "Across 2 seeds (42-43, same split" in err
    run = tunesmith.load(out)
    seeds = run.metrics["seeds"]
    assert seeds["seeds"] == [42, 43] and seeds["kept"] == 42
    headline = run.task.report.headline(run.metrics["test"])
    assert set(seeds["summary"]) == set(headline)
    for name, spread in seeds["summary"].items():
        values = [s[name] for s in seeds["per_seed"]]
        assert spread["min"] == min(values) and spread["max"] == max(values)
        assert spread["mean"] == pytest.approx(sum(values) / 2)
        assert spread["std"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    # the run kept is the first seed's: the very model a run without --train.seeds trains
    assert run.metrics["test"] == a.metrics["test"]
    assert _read(run, "splits.json") == _read(a, "splits.json")
    assert "Seeds: how much is luck" in (out / "report.html").read_text()
    # nothing of the other seed is left, and the manifest lists every file (--overwrite rules)
    assert not list(folder.glob("seeds*/**/seed-43*")) and not (out / "checkpoints").exists()
    listed = set(run.manifest["files"]) | {"tunesmith.json"}
    assert {p.name for p in out.iterdir()} == listed
