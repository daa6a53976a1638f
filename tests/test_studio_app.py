"""The studio's frame: pages in both languages, the language switch, the login that guards
any address but loopback, and names from URLs kept inside the workspace."""

import json

import pytest
from fastapi.testclient import TestClient

from tunesmith.errors import TunesmithError
from tunesmith.studio import i18n
from tunesmith.studio.app import create_app
from tunesmith.studio.server import run_studio
from tunesmith.studio.workspace import Workspace, inside, safe_name


def test_home_in_english_and_chinese(tmp_path):
    client = TestClient(create_app(tmp_path))
    english = client.get("/", headers={"accept-language": "en-GB,en"})
    assert english.status_code == 200 and "Train a model on your own data" in english.text
    chinese = client.get("/?lang=zh")
    assert "用你自己的数据训练模型" in chinese.text and 'lang="zh-CN"' in chinese.text
    assert client.cookies.get("lang") == "zh"  # the switch is remembered
    assert "用你自己的数据训练模型" in client.get("/").text
    browser_zh = TestClient(create_app(tmp_path)).get("/", headers={"accept-language": "zh-CN"})
    assert "数据" in browser_zh.text


def test_every_key_has_both_languages():
    english, chinese = i18n.catalog("en"), i18n.catalog("zh")
    assert set(english) == set(chinese), set(english) ^ set(chinese)
    for key, text in english.items():  # the same {placeholders} in both
        assert sorted(_fields(text)) == sorted(_fields(chinese[key])), key
    for path in (i18n.LOCALES / "zh").glob("*.json"):  # a Chinese string reads as Chinese
        for key, text in json.loads(path.read_text(encoding="utf-8")).items():
            if any(c.isalpha() for c in text) and not text.isascii():
                continue
            assert text == english[key], f"{path.name}: {key} is not translated"


def _fields(text):
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def test_key_guards_the_studio(tmp_path):
    client = TestClient(create_app(tmp_path, api_key="s3cret"), follow_redirects=False)
    assert client.get("/").status_code == 303  # to the login page
    assert client.get("/static/studio.css").status_code == 200  # the login page needs it
    assert client.post("/login", data={"key": "nope", "next": "/"}).status_code == 401
    signed = client.post("/login", data={"key": "s3cret", "next": "//evil.example"})
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    assert "s3cret" not in signed.headers["set-cookie"]  # a digest, never the key
    assert client.get("/").status_code == 200
    other = TestClient(create_app(tmp_path, api_key="s3cret"), follow_redirects=False)
    assert other.get("/", headers={"x-api-key": "s3cret"}).status_code == 200


def test_other_address_needs_a_key(tmp_path):
    with pytest.raises(TunesmithError, match="--api-key"):
        run_studio(str(tmp_path), host="0.0.0.0", port=7860, api_key=None)


def test_names_stay_inside_the_workspace(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.run("评论") == workspace.runs / "评论"
    for bad in ("../x", "/etc", "", "a/../../x"):
        with pytest.raises(Exception, match="no such item"):
            inside(workspace.runs, bad)
    assert safe_name("../../评论 数据.csv") == "评论 数据.csv"
    assert safe_name("a\\b/c:d.csv") == "c_d.csv"
    assert safe_name("..") == "data"


def test_every_task_and_row_place_reads_in_both_languages():
    from tunesmith import tasks
    from tunesmith.studio.rendering import place, task_name

    for name in tasks.names():  # a new task needs its name in both languages
        assert task_name("en", name) != name, name
        assert not task_name("zh", name).isascii(), name
    assert place("zh", "评论.csv, line 7") == "评论.csv 第 7 行"
    assert place("zh", "a.xlsx, sheet row 3") == "a.xlsx 工作表第 3 行"
    assert place("en", "评论.csv, line 7") == "评论.csv, line 7"
    assert place("zh", "photos/red/1.png") == "photos/red/1.png"


def test_other_sites_and_odd_names_are_refused_with_a_page(tmp_path):
    loopback = TestClient(create_app(tmp_path, hosts={"127.0.0.1"}), base_url="http://127.0.0.1")
    assert loopback.get("/").status_code == 200
    rebound = loopback.get("/", headers={"host": "attacker.example"})  # DNS rebinding
    assert rebound.status_code == 403
    client = TestClient(create_app(tmp_path), follow_redirects=False)
    posted = client.post("/data/point", data={"path": "/"}, headers={"origin": "http://evil.test"})
    assert posted.status_code == 403  # a form on another site cannot act here
    assert (
        client.post(
            "/data/point", data={"path": "/"}, headers={"sec-fetch-site": "cross-site"}
        ).status_code
        == 403
    )
    missing = client.get("/runs/%00", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "nothing at this address" in missing.text
    assert client.get("/data/nope", headers={"accept": "application/json"}).json()["detail"]
    page = client.get("/runs/compare?run=a&run=b&lang=zh", headers={"accept": "text/html"}).text
    assert 'href="/runs/compare?run=a&amp;run=b&amp;lang=en"' in page  # the switch keeps the query
    assert client.post("/login", data={"key": "x"}).status_code == 303  # no key: nothing to do
    guarded = TestClient(create_app(tmp_path, api_key="k"), follow_redirects=False)
    assert guarded.get("/runs/compare?run=a&run=b").headers["location"] == (
        "/login?next=%2Fruns%2Fcompare%3Frun%3Da%26run%3Db"
    )
