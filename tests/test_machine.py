"""`tunesmith doctor`: the machine report."""

import json

from tunesmith.cli import main


def test_doctor_reports_hardware_libraries_and_offline_models(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cpu"]["cores"] >= 1 and report["memory_gb"]["total"] > 0
    assert report["libraries"]["torch"] and report["libraries"]["tunesmith"]
    assert report["hub"] == {"offline_mode": True, "reachable": None}  # no network probe
    assert report["offline_models"]["minilm-l6"] is True  # installed by make test
    assert report["training_precision"] in {"bf16", "fp16", "fp32"}
    assert main(["doctor", "--no-network"]) == 0
    text = capsys.readouterr().out
    assert "Offline  models ready:" in text and "mobilenet-v2" in text
