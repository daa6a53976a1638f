"""The studio's whole path in real headless Chromium, as a user walks it: upload a CSV that has
a duplicate row, see the doctor's finding, train, watch the progress reach the end, train a
second run, compare the two, try a prediction, export. Once in English, once in Chinese (a
Chinese file name and Chinese labels). `tunesmith studio` runs as its own process, as a user
starts it; screenshots of each step go to test-artifacts/."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_rows

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LANGUAGES = {
    "en": {"file": "reviews.csv", "labels": {}, "nav": "Data", "duplicates": "repeat"},
    "zh": {
        "file": "评论.csv",
        "labels": {"sport": "体育", "business": "财经", "tech": "科技"},
        "nav": "数据",
        "duplicates": "重复",
    },
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_studio(workspace: Path):
    port = _free_port()
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "tunesmith", "studio", "--dir", str(workspace)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/static/studio.css", timeout=1)
            return process, url
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the studio did not start:\n{process.communicate()[0]}")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_whole_path_in_the_browser(lang, browser, tmp_path, tiny_model_dir):
    words = LANGUAGES[lang]
    rows = pd.DataFrame(make_rows(40))
    rows["label"] = rows["label"].map(lambda label: words["labels"].get(label, label))
    rows = pd.concat([rows, rows.iloc[[3]]], ignore_index=True)  # one duplicate row
    data = tmp_path / words["file"]
    rows.to_csv(data, index=False)
    workspace = tmp_path / "workspace"
    process, url = _start_studio(workspace)
    page = browser.new_page()
    page.set_default_timeout(120_000)  # two test processes share 2 cores: pages can be slow
    shots = ARTIFACTS / f"studio-{lang}"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        _walk(page, url, lang, words, data, tiny_model_dir, shots)
    except Exception:  # what the page showed, and what the studio said, to see why
        page.screenshot(path=str(shots / "failed.png"), full_page=True)
        process.terminate()
        print(process.communicate(timeout=30)[0][-5000:])
        raise
    finally:
        page.close()
        process.terminate()
        process.wait(timeout=30)


def _walk(page, url, lang, words, data, model_dir, shots):
    page.goto(f"{url}/?lang={lang}")
    page.click("header nav a[href='/data']")
    assert page.inner_text("header nav a.here") == words["nav"]
    page.set_input_files("#upload-input", str(data))
    page.click("#upload-button")  # the page answers at once; the doctor's findings follow
    finding = page.wait_for_selector("#findings [data-check='duplicates']")
    assert words["duplicates"] in finding.inner_text()
    assert data.name in finding.inner_text()  # the finding names the file and row
    assert data.name in page.inner_text("#dataset-name")
    page.screenshot(path=str(shots / "1-data.png"), full_page=True)

    page.click("#to-settings")
    page.wait_for_selector("#settings-form")
    settings = page.url
    page.screenshot(path=str(shots / "2-settings.png"), full_page=True)
    first = _train(page, "first", model_dir, epochs="8", shot=shots / "3-training-done.png")
    page.goto(settings)
    _train(page, "second", model_dir, epochs="2")

    page.goto(f"{url}/runs")
    for name in ("first", "second"):
        page.check(f".compare-pick[data-run='{name}']")
    page.click("#compare-button")
    table = page.wait_for_selector("#compare-table")
    assert {"first", "second"} <= set(page.locator("#compare-table thead th").all_inner_texts()), (
        table.inner_text()
    )
    assert page.locator("#compare-settings tr[data-setting='train.epochs']").count() == 1
    assert page.locator("#compare-settings tr[data-setting='train.learning_rate']").count() == 0
    page.screenshot(path=str(shots / "4-compare.png"), full_page=True)

    page.goto(f"{url}/runs/{first}/try")
    page.fill("#try-input", "goal match team striker")
    page.click("#try-button")
    label = page.wait_for_selector("#try-label", timeout=60_000).get_attribute("data-label")
    assert label == words["labels"].get("sport", "sport")  # the first run learned the topics
    page.screenshot(path=str(shots / "5-try.png"), full_page=True)

    page.goto(f"{url}/runs/{first}/deploy")
    page.click("#export-onnx")
    _wait_done(page)
    page.goto(f"{url}/runs/{first}/deploy")
    parity = page.wait_for_selector("#parity-table")
    assert "onnx" in parity.inner_text().lower()
    page.screenshot(path=str(shots / "6-export.png"), full_page=True)


def _train(page, name: str, model_dir: Path, epochs: str, shot: Path | None = None) -> str:
    page.wait_for_selector("#settings-form")
    page.fill("#model-text", str(model_dir))
    page.fill("#run-name", name)
    page.fill("#field-train-epochs", epochs)
    page.fill("#field-train-learning_rate", "0.001")
    page.fill("#field-train-batch_size", "16")
    page.fill("#field-train-max_length", "32")
    if not page.is_visible("#field-train-freeze"):
        page.click("#advanced summary")
    page.select_option("#field-train-precision", "fp32")
    page.fill("#field-train-freeze", "none")
    page.click("#train-submit")
    page.wait_for_selector("#job")
    _wait_done(page)
    step, total = (
        page.get_attribute("#job-progress", "data-step"),
        page.get_attribute("#job-progress", "data-total"),
    )
    assert int(total) > 0 and step == total, (step, total)  # the bar at its end
    assert page.locator("#job-epochs tbody tr").count() == int(epochs)  # every epoch validated
    assert page.locator("#job-chart-loss polyline").count() == 2  # training and validation loss
    if shot:
        page.screenshot(path=str(shot), full_page=True)
    page.click("#job-run-link")
    page.wait_for_selector("#headline-table")
    return name


def _wait_done(page) -> None:
    page.wait_for_selector("#job[data-ended='true']", timeout=240_000)
    # The page reloads itself when the job ends; load it once more ourselves, so nothing
    # below reads an element the reload is replacing.
    page.goto(page.url)
    assert page.get_attribute("#job", "data-ended") == "true"
    assert page.get_attribute("#job", "data-state") == "done", page.inner_text("#job")
