"""The studio's job queue: real `tunesmith` commands in their own process, one at a time; live
progress (progress.jsonl, pushed as Server-Sent Events); cancel, resume; a studio restart."""

import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pandas as pd
import pytest
import yaml
from conftest import fast_settings, make_rows
from fastapi.testclient import TestClient
from markupsafe import escape

from tunesmith.errors import TunesmithError
from tunesmith.studio import job_process
from tunesmith.studio.app import create_app
from tunesmith.studio.job_process import started_at
from tunesmith.studio.jobs import Job, JobQueue
from tunesmith.studio.progress import summary
from tunesmith.studio.workspace import Workspace


def wait_for(queue, job_id, states, limit=300):
    deadline = time.monotonic() + limit  # a deadline against hanging, not a timing check
    while queue.get(job_id).state not in states:
        assert time.monotonic() < deadline, (queue.get(job_id), log_of(queue, job_id))
        time.sleep(0.2)
    return queue.get(job_id)


def log_of(queue, job_id):
    return (queue.job_folder(job_id) / "log.txt").read_text(encoding="utf-8", errors="replace")


def events(client, job_id, last=None, after=None):
    headers = {"last-event-id": str(last)} if last is not None else {}
    query = f"?after={after}" if after is not None else ""
    with client.stream("GET", f"/jobs/{job_id}/events{query}", headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


@pytest.fixture()
def training(tmp_path, tiny_model_dir):
    """A workspace with a CSV and a YAML config of quick settings: (folder, csv, config)."""
    data = tmp_path / "评论.csv"
    pd.DataFrame(make_rows(10)).to_csv(data, index=False)
    settings = fast_settings(tiny_model_dir, tmp_path, epochs=4, early_stopping=0, report_to="none")
    del settings["out"]
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return tmp_path, data, config


def test_training_cancelled_resumed_and_streamed(training):
    """One real training through the queue under a Chinese run name: cancelled after its first
    epoch (its process group gone), resumed with `train --resume` to the end; its curve in the
    run's progress.jsonl and pushed to the page; the job page links the finished run."""
    root, data, config = training
    app = create_app(root)
    with TestClient(app) as client:
        queue = app.state.jobs
        run = "runs/评论"
        command = ["train", str(data), "--config", str(config), "--out", run]
        first = queue.submit(command, kind="train", title="评论分类", run=run)
        checkpoints = root / "runs" / "评论.unfinished" / "checkpoints"
        deadline = time.monotonic() + 300
        while not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
            assert time.monotonic() < deadline, log_of(queue, first.id)
            time.sleep(0.1)
        assert client.post(f"/jobs/{first.id}/cancel").status_code == 200  # redirected
        stopped = wait_for(queue, first.id, ("cancelled", "done"))
        assert stopped.state == "cancelled", log_of(queue, first.id)
        with pytest.raises(ProcessLookupError):  # nothing of it left running
            os.killpg(stopped.pid, 0)
        page = client.get(f"/jobs/{first.id}?lang=zh").text
        assert 'data-state="cancelled"' in page and 'id="job-resume"' in page and "继续训练" in page

        resumed = client.post(f"/jobs/{first.id}/resume", follow_redirects=False)
        second_id = resumed.headers["location"].rsplit("/", 1)[1]
        second = queue.get(second_id)
        assert second.command == ["train", "--resume", "--out", run]
        assert wait_for(queue, second_id, ("done", "failed", "interrupted")).state == "done", (
            log_of(queue, second_id)
        )
        assert "Resuming from" in log_of(queue, second_id)

        finished = root / "runs" / "评论"
        lines = [json.loads(x) for x in (finished / "progress.jsonl").read_text().splitlines()]
        kinds = [line["event"] for line in lines]
        assert kinds[0] == "begin" and kinds[-1] == "end" and kinds.count("begin") == 2
        assert {"log", "eval"} <= set(kinds)
        assert lines[0]["metrics"] == ["accuracy", "f1_macro"]  # the task's headline metrics
        again = kinds.index("begin", 1)  # the resumed part: steps go on from its checkpoint
        steps = [line["step"] for line in lines[again:]]
        assert steps == sorted(steps) and lines[again]["step"] > 0
        assert lines[again]["max_steps"] == steps[-1]
        evals = [line for line in lines if line["event"] == "eval"]
        assert all("eval_loss" in e["metrics"] and "eval_accuracy" in e["metrics"] for e in evals)
        manifest = json.loads((finished / "tunesmith.json").read_text(encoding="utf-8"))
        assert "progress.jsonl" in manifest["files"]

        pushed = events(client, second_id)
        progress_events = [data for name, data in pushed if name == "progress"]
        assert progress_events == lines  # every line once, in order
        assert pushed[-1][0] == "end" and pushed[-1][1]["state"] == "done"
        assert pushed[-1][1]["run_link"] == "/runs/" + quote("评论")
        assert any(name == "log" and data["lines"] for name, data in pushed)
        rest = events(client, second_id, last=len(lines) - 2)  # a reconnecting browser
        assert [d for n, d in rest if n == "progress"] == lines[-2:]
        # a page that came with the first lines asks for the rest; a reconnect's id wins
        rest = events(client, second_id, after=len(lines) - 3)
        assert [d for n, d in rest if n == "progress"] == lines[-3:]
        rest = events(client, second_id, last=len(lines) - 1, after=1)
        assert [d for n, d in rest if n == "progress"] == lines[-1:]

        page = client.get(f"/jobs/{second_id}").text
        assert 'id="job-state" class="state state-done" data-state="done"' in page
        total = lines[-1]["step"]  # drawn before any script runs: the bar full, every epoch
        assert f'data-step="{total}" data-total="{total}"' in page
        assert page.count('<tr data-epoch="') == 4
        embedded = page.split('id="job-events">', 1)[1].split("</script>", 1)[0]
        assert json.loads(embedded) == lines  # the script draws them all at once
        last_line = job_process.log_tail(queue.job_folder(second_id))[-1]
        assert str(escape(last_line)) in page  # the log is there before any script runs
        assert 'id="job-run-link"' in page and f'href="/runs/{quote("评论")}"' in page
        listing = client.get("/jobs?lang=zh").text
        assert f'data-job-id="{second_id}" data-state="done"' in listing and "已完成" in listing


def test_jobs_run_one_after_another_and_a_failure_says_why(tmp_path):
    app = create_app(tmp_path)
    queue = app.state.jobs
    first = queue.submit(["train", "--help"], kind="train", title="one")
    # a user error the CLI finds before importing torch (quick): named, with its fix
    second = queue.submit(["studio", "--port", "0"], kind="train", title="two")
    third = queue.submit(["--help"], kind="other", title="three")
    queue.cancel(third.id)  # waiting: it just leaves the queue
    with TestClient(app) as client:
        listing = client.get("/jobs").text
        assert 'id="jobs-queued"' in listing
        wait_for(queue, second.id, ("done", "failed"))
        one, two = queue.get(first.id), queue.get(second.id)
        assert one.state == "done" and one.returncode == 0
        assert two.started >= one.ended  # never together
        assert two.state == "failed" and two.returncode == 2
        assert "--port" in two.error and "Fix:" in two.error and two.error.startswith("error: ")
        assert queue.get(third.id).state == "cancelled" and queue.get(third.id).started is None
        page = client.get(f"/jobs/{second.id}").text
        assert 'data-state="failed"' in page and 'id="job-error"' in page
        assert 'id="job-resume"' not in page  # no unfinished run to resume
        saved = json.loads((queue.job_folder(second.id) / "job.json").read_text())
        assert saved["state"] == "failed" and saved["command"] == ["studio", "--port", "0"]
        assert client.get("/jobs/nope").status_code == 400


def test_a_restarted_studio_finds_its_jobs_again(tmp_path):
    """A job whose process died while the studio was away is interrupted; one whose process
    still runs is watched again until it ends; a waiting one runs."""
    workspace = Workspace(tmp_path)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    dead = subprocess.Popen(sleeper)
    dead_created = started_at(dead.pid)
    dead.kill()
    dead.wait()
    live = subprocess.Popen(sleeper, start_new_session=True)
    found = (("a-dead", dead, dead_created), ("b-live", live, started_at(live.pid)))
    for job_id, process, created in found:
        job = Job(job_id, "train", job_id, ["train"], state="running", started=time.time())
        job.pid, job.pid_created = process.pid, created
        (workspace.jobs / job_id).mkdir()
        (workspace.jobs / job_id / "job.json").write_text(json.dumps(job.__dict__))
    queue = JobQueue(workspace, poll=0.1)
    other = JobQueue(workspace)
    other.start()  # a studio already runs this workspace's jobs: no second one beside it
    with pytest.raises(TunesmithError, match="another tunesmith studio"):
        queue.start()
    other.stop()
    assert queue.get("a-dead").state == "interrupted"
    assert queue.get("b-live").state == "running"
    waiting = queue.submit(["--help"], kind="other", title="后来的任务")
    queue.start()
    try:
        time.sleep(0.5)
        assert queue.get(waiting.id).state == "queued"  # the found job still runs
        os.killpg(live.pid, signal.SIGKILL)
        live.wait()
        assert wait_for(queue, "b-live", ("interrupted",)).returncode is None
        assert wait_for(queue, waiting.id, ("done",)).returncode == 0
    finally:
        queue.stop()


def test_the_page_summary_of_a_resumed_early_stopped_curve():
    def line(event, step, **values):
        return {"event": event, "step": step, "epoch": step / 10, **values}

    def evaluation(step, loss):
        return line("eval", step, metrics={"eval_loss": loss, "eval_accuracy": 0.5})

    events = [
        line("begin", 0, max_steps=40, metrics=["accuracy"]),
        line("log", 5, loss=1.1),
        evaluation(10, 1.0),
        evaluation(20, 0.9),  # then stopped; resumed from the checkpoint at step 10
        line("begin", 10, max_steps=40, metrics=["accuracy"]),
        evaluation(20, 0.8),
        line("end", 20),  # early stopping
    ]
    shown = summary(events)
    assert (shown["step"], shown["total"], shown["share"]) == (20, 20, 1.0)
    assert shown["names"] == ["loss", "accuracy"]
    assert shown["rows"] == [["1", "1.0000", "0.5000"], ["2", "0.8000", "0.5000"]]
    assert summary([line("log", 3, loss=1.0)]) is None  # no begin: nothing to draw yet


def test_a_job_gets_its_secret_in_its_environment_only_when_it_starts(tmp_path, monkeypatch):
    """A labelling job names the token saved for its own address; it is read when the job
    starts (connecting elsewhere meanwhile changes nothing) and stays out of job.json."""
    launched = {}

    def launch(folder, command, cwd, secrets):
        launched[command[0]] = secrets
        return subprocess.Popen([sys.executable, "-c", ""])

    monkeypatch.setattr(job_process, "launch", launch)
    app = create_app(tmp_path)
    workspace, queue = app.state.workspace, app.state.jobs
    workspace.save_secrets(**{"token http://a": "secret-a"})
    env = {"LABEL_STUDIO_API_KEY": "token http://a"}
    job = queue.submit(["label", "--url", "http://a"], kind="label", title="t", secret_env=env)
    workspace.save_secrets(**{"token http://b": "secret-b"})  # another server, connected later
    assert os.stat(workspace.secrets).st_mode & 0o077 == 0  # the owner's only
    with TestClient(app):
        assert wait_for(queue, job.id, ("done", "failed")).state == "done"
    assert launched["label"] == {"LABEL_STUDIO_API_KEY": "secret-a"}
    saved = (queue.job_folder(job.id) / "job.json").read_text()
    assert "secret-a" not in saved and "token http://a" in saved  # the name, not the value
