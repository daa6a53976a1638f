"""The OpenAI-compatible API of a generation run, through the official `openai` client against a
live `tunesmith serve` on loopback: whole and streamed answers agree with `tunesmith predict`,
Chinese streams whole characters, stop sequences, a queue of concurrent streams, disconnects,
the API key, OpenAI-shaped errors. And the decoding underneath, with a byte-level tokenizer."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest
from conftest import CHINESE, make_rows

import tunesmith
from tunesmith.cli import main
from tunesmith.tasks.generation.decoding import Pieces

KEY = "s3cret-key"
ZH = {"sport": "体育", "business": "财经", "tech": "科技"}


@pytest.fixture(scope="module")
def run(tiny_llama_dir, tmp_path_factory):
    """A tiny full fine-tune whose answers are Chinese: three bytes (tokens) a character."""
    folder = tmp_path_factory.mktemp("openai-run")
    chats = [
        {
            "messages": [
                {"role": "user", "content": f"Topic of: {row['text']}"},
                {"role": "assistant", "content": f"主题是{ZH[row['label']]}。"},
            ]
        }
        for row in make_rows(10)
    ]
    data = folder / "chats.jsonl"
    data.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in chats), "utf-8")
    train = {"epochs": 3, "learning_rate": 5e-3, "batch_size": 4, "max_length": 48}
    train |= {"lora": False, "precision": "fp32"}
    import torch

    # A model this small gains nothing from a second thread, and on a busy machine the threads
    # wait on each other: 14 s to train here with one, 59 s with two (load average 11).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = tunesmith.train(
            data, model=str(tiny_llama_dir), out=str(folder / "run"), train=train
        )
    finally:
        torch.set_num_threads(threads)
    return model.root


@pytest.fixture(scope="module")
def server(run):
    """`tunesmith serve RUN --api-key KEY` on a free loopback port, stopped afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "tunesmith", "serve", str(run), "--port", str(port)]
    command += ["--api-key", KEY, "--precision", "fp32"]  # fp32: as `tunesmith predict`
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(1200):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/health").status_code == 200:
                    break
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
    log = process.stderr.read()
    assert "Traceback" not in log and "generation failed" not in log, log


@pytest.fixture(scope="module")
def local(run):
    return tunesmith.load(run)  # the Python API, beside the server


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=120)


def ask(client, prompt: str, **options):
    """The whole answer, and the streamed one: its text pieces, finish reason and usage."""
    messages = [{"role": "user", "content": prompt}]
    whole = client.chat.completions.create(model="run", messages=messages, **options)
    chunks = list(
        client.chat.completions.create(
            model="run",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **options,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices]
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    return whole, [p for p in pieces if p], finish, chunks[-1].usage


def health(server) -> dict:
    return httpx.get(server + "/health").json()["generations"]


def test_streamed_whole_and_predict_agree(client, run, local, capsys):
    prompt = "Topic of: goal match team"
    whole, pieces, finish, usage = ask(client, prompt, max_tokens=24, temperature=0)
    answer = whole.choices[0].message.content
    assert "".join(pieces) == answer
    assert finish == [whole.choices[0].finish_reason]
    assert usage.model_dump() == whole.usage.model_dump()
    assert 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert main(["predict", str(run), "--prompt", prompt, "--max-new-tokens", "24"]) == 0
    assert capsys.readouterr().out.strip() == answer
    [model] = client.models.list().data
    assert model.id == run.name
    # completions: the text continued as it is, streamed and whole alike
    text = client.completions.create(model="run", prompt="Topic of:", max_tokens=16)
    streamed = client.completions.create(
        model="run", prompt="Topic of:", max_tokens=16, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == text.choices[0].text
    raw = local.predict("Topic of:", max_new_tokens=16, raw=True)["text"]
    assert text.choices[0].text == raw
    assert text.usage.prompt_tokens < whole.usage.prompt_tokens  # no chat template around it


def test_chinese_prompt_streams_whole_characters(client):
    whole, pieces, _, _ = ask(client, "主题：股市球赛，今天的比赛", max_tokens=30)
    answer = whole.choices[0].message.content
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer)  # the model wrote Chinese
    assert "".join(pieces) == answer
    assert not any("\ufffd" in piece for piece in pieces)


def test_stop_sequences_end_the_answer_and_are_not_returned(client, local):
    whole, _, _, _ = ask(client, "Topic of: shares bank", max_tokens=20)
    answer = whole.choices[0].message.content
    assert len(answer) >= 2
    stop = answer[1:3]
    cut, pieces, finish, usage = ask(client, "Topic of: shares bank", max_tokens=20, stop=[stop])
    assert cut.choices[0].message.content == "".join(pieces) == answer[: answer.index(stop)]
    assert cut.choices[0].finish_reason == "stop" and finish == ["stop"]
    assert usage.completion_tokens < 20
    same, _, _, _ = ask(client, "Topic of: shares bank", max_tokens=20, stop="never seen")
    assert same.choices[0].message.content == answer
    batched = local.predict(  # the Python API's batched path stops alike
        ["Topic of: shares bank", "Topic of: goal"], max_new_tokens=20, stop=stop
    )
    assert batched[0]["text"] == answer[: answer.index(stop)]


def test_concurrent_streams_queue_and_all_complete(client, server):
    before = health(server)["finished"]
    prompts = [f"Topic of: {row['text']}" for row in make_rows(1, seed=4)]
    expected = [ask(client, p, max_tokens=12)[0].choices[0].message.content for p in prompts]
    results = [None] * len(prompts)

    def stream(i):
        chunks = client.chat.completions.create(
            model="run",
            messages=[{"role": "user", "content": prompts[i]}],
            max_tokens=12,
            stream=True,
        )
        results[i] = "".join(c.choices[0].delta.content or "" for c in chunks)

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected
    state = health(server)
    assert state["finished"] == before + 3 * len(prompts) and state["queued"] == 0


def test_a_disconnected_stream_stops_its_generation(client, server):
    prompt = [{"role": "user", "content": "Topic of: data chip"}]
    whole = client.chat.completions.create(model="run", messages=prompt, max_tokens=150)
    assert whole.choices[0].finish_reason == "length"  # it would write all 150 tokens
    cancelled = health(server)["cancelled"]
    stream = client.chat.completions.create(
        model="run", messages=prompt, max_tokens=150, stream=True
    )
    next(iter(stream))  # the first chunk: generation has started
    stream.close()
    for _ in range(600):
        state = health(server)
        if state["cancelled"] > cancelled and state["running"] == 0:
            break
        time.sleep(0.05)
    assert state["cancelled"] == cancelled + 1
    assert state["last"]["finish_reason"] == "cancelled"
    assert state["last"]["completion_tokens"] < 150
    after = client.chat.completions.create(model="run", messages=prompt, max_tokens=8)
    assert after.usage.completion_tokens == 8  # the queue is free


def test_wrong_api_key_is_refused(server):
    wrong = openai.OpenAI(base_url=server + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="run", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert httpx.post(server + "/v1/completions", json={"prompt": "hi"}).status_code == 401
    assert httpx.get(server + "/health").status_code == 200


@pytest.mark.parametrize(
    "options,param,words",
    [
        ({"temperature": 3}, "temperature", "less than or equal to 2"),
        ({"messages": []}, "messages", "at least 1"),
        ({"n": 2}, "n", "n must be 1"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "robot"),
        ({"messages": [{"role": "user", "content": "长" * 300}]}, "messages", "at most 256"),
    ],
)
def test_bad_bodies_get_openai_errors(client, options, param, words):
    body = {"model": "run", "messages": [{"role": "user", "content": "hi"}]} | options
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(**body)
    error = raised.value.body
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and words in error["message"]


def test_invalid_json_gets_an_openai_error(server):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    response = httpx.post(server + "/v1/completions", content=b"{bad", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the body is not valid JSON"


def tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


def feed(tok, ids: list[int], stops=()) -> tuple[list[str], Pieces]:
    import torch

    pieces: list[str] = []
    streamer = Pieces(tok, pieces.append, list(stops))
    streamer.put(torch.tensor([[0]]))  # the prompt comes first
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    return pieces, streamer


def test_pieces_hold_back_half_characters_and_stop_prefixes(tiny_llama_dir):
    tok = tokenizer(tiny_llama_dir)
    rng = random.Random(3)
    text = "".join(rng.choice(CHINESE) for _ in range(12)) + " 股市 goal。\n上海"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text)  # characters are split over byte tokens
    pieces, _ = feed(tok, ids)
    assert "".join(pieces) == text and not any("\ufffd" in p for p in pieces)
    pieces, _ = feed(tok, ids[:-1])  # cut inside the last character: it is left out
    assert "".join(pieces) == text[:-1]
    stop = text[5:7]  # a stop sequence over several tokens is never shown, even in part
    pieces, streamer = feed(tok, ids, stops=["zz", stop])
    assert "".join(pieces) == text[: text.index(stop)] and streamer.stopped
