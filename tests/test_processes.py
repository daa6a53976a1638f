"""`tunesmith train` under torchrun with 2 processes on the CPU (DDP over gloo): one run."""

import json
import os
import subprocess
import sys

import pandas as pd
from conftest import make_rows


def test_two_processes_train_one_run(tiny_model_dir, tmp_path):
    data = tmp_path / "rows.csv"
    pd.DataFrame(make_rows(60)).to_csv(data, index=False)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", "29533",
        "-m", "tunesmith.cli", "train", str(data), "--model", str(tiny_model_dir),
        "--out", str(out), "--train.epochs", "2", "--train.precision", "fp32",
        "--train.freeze", "none", "--train.learning_rate", "1e-3",
    ]  # fmt: skip
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Finished:") == 1  # the main process reports, once
    assert done.stderr.count("Rows: 144 train") == 1  # and only it talks
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2
    # 144 rows, 16 per process, 2 processes: 5 optimiser steps an epoch (one process: 9)
    assert metrics["steps"] == 10 and metrics["epochs_run"] == 2
    assert (out / "tunesmith.json").is_file() and not (out / "checkpoints").exists()
