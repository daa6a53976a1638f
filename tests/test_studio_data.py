"""The studio's data pages: upload (files, zips of class folders, a path on this machine), the
data doctor's findings with their rows and one-click fixes, and the settings form generated
from the config, its errors placed at their fields, a valid one queued as a training."""

import io
import json
import re
import time
import zipfile
from html.parser import HTMLParser
from urllib.parse import unquote

import pandas as pd
import pytest
import yaml
from conftest import make_rows, write_images
from fastapi.testclient import TestClient

from tunesmith.config import GROUPS, RunConfig
from tunesmith.studio import findings, i18n, settings_form
from tunesmith.studio.app import create_app

CHINESE_ROWS = [
    {"text": t, "label": label}
    for label, words in {"体育": "比赛 球队 进球 冠军", "科技": "手机 芯片 软件 电脑"}.items()
    for t in (f"{a}{b}" for a in words.split() for b in words.split())
]


def _client(tmp_path):
    app = create_app(tmp_path / "workspace")
    return app, TestClient(app, follow_redirects=False)


def _upload(app, client, name: str, content: bytes, settings: dict | None = None) -> str:
    response = client.post("/data/upload", files={"file": (name, io.BytesIO(content))})
    assert response.status_code == 303, response.text
    dataset_id = unquote(response.headers["location"].rsplit("/", 1)[1])
    if settings:  # as if chosen before: a tiny model, no cleanlab check (fast)
        findings.store_settings(app.state.workspace.uploads / dataset_id, settings)
    first = client.get(f"/data/{dataset_id}").text
    if 'id="data-problem"' not in first:  # the page answers at once while the doctor works
        assert 'id="doctor-running"' in first and 'http-equiv="refresh"' in first
    deadline = time.monotonic() + 120
    while 'id="doctor-running"' in client.get(f"/data/{dataset_id}").text:
        assert time.monotonic() < deadline, "the data doctor did not finish"
        time.sleep(0.1)
    return dataset_id


def _csv(rows) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode("utf-8")


def _fast(model_dir):
    return {"model": str(model_dir), "data.label_issues": False}


def _field_html(page: str, name: str) -> str:
    """The markup of one form field, up to the next field."""
    start = page.index(f'data-field="{name}"')
    following = page.find('data-field="', start + 1)
    return page[start : following if following > 0 else None]


def _finding_html(page: str, check: str) -> str:
    start = page.index(f'data-check="{check}"')
    following = page.find("data-check=", start + 1)
    return page[start : following if following > 0 else page.index('id="recheck"')]


class _Form(HTMLParser):
    """What a browser submits for the settings form as rendered (no JavaScript needed)."""

    def __init__(self):
        super().__init__()
        self.values, self._select, self._first = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.values.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select, self._first = a["name"], None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value", "")
            if "selected" in a:
                self.values.append((self._select, a.get("value", "")))
                self._select = None

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            self.values.append((self._select, self._first or ""))
            self._select = None


def _form_values(page: str) -> dict:
    form = page[page.index('id="settings-form"') :]
    parser = _Form()
    parser.feed(form[: form.index("</form>")])
    values: dict = {}
    for name, value in parser.values:
        values[name] = value  # the last of hidden "false" + checked "true", as the server reads
    return values


def test_duplicate_row_is_found_with_its_row_and_its_fix_applied(tmp_path, tiny_model_dir):
    app, client = _client(tmp_path)
    rows = make_rows(8)
    rows.append(dict(rows[3]))  # one exact duplicate, the last row
    dataset_id = _upload(app, client, "reviews.csv", _csv(rows), _fast(tiny_model_dir))
    page = client.get(f"/data/{dataset_id}").text
    duplicates = _finding_html(page, "duplicates")
    assert f"reviews.csv, line {len(rows) + 1}" in duplicates  # header is line 1
    assert "1 row(s) repeat an earlier text" in duplicates
    assert 'id="apply-duplicates"' in duplicates and "Training drops the 1 repeated" in duplicates
    assert 'id="preview"' in page and rows[0]["text"] in page
    applied = client.post(f"/data/{dataset_id}/fix", data={"check": "duplicates"})
    assert applied.status_code == 303
    folder = app.state.workspace.uploads / dataset_id
    assert findings.load_settings(folder)["data.drop_duplicates"] is True
    assert 'id="applied-duplicates"' in client.get(f"/data/{dataset_id}").text
    form = client.get(f"/data/{dataset_id}/train").text
    assert 'data-from-doctor="data.drop_duplicates"' in _field_html(form, "data.drop_duplicates")
    assert client.post(f"/data/{dataset_id}/fix", data={"check": "nope"}).status_code == 404


def test_findings_in_chinese_take_their_numbers_from_the_report():
    report = {"duplicates": 0, "conflicting_duplicates": 2, "labels": {"好评": 30, "差评": 5}}
    report |= {"imbalance_ratio": 6.0, "tokens": {"truncated_share": 0.25, "max_length": 128}}
    listed = [
        ("conflicting labels", "2 text(s) appear with different labels (5 rows)", {}),
        (
            "leakage into val",
            "3 val row(s) also appear in the training data",
            {"data.leakage": "drop"},
        ),
        (
            "truncation",
            "25% of texts ... 128 tokens ... (90% fit in 300)",
            {"train.max_length": 300},
        ),
        ("imbalance", "imbalanced labels (30 vs 5, ratio 6:1)", None),
        ("a new check", "said in English only", None),
    ]
    report["findings"] = [
        {"check": c, "severity": "warning", "message": m, "fix": "fix it", "rows": [], "setting": s}
        for c, m, s in listed
    ]
    t = i18n.translator("zh")
    shown = findings.shown(report["findings"], report, t, "zh", {"data.leakage": "drop"})
    by = {f["anchor"]: f for f in shown}
    assert by["conflicting_labels"]["text"] == "有 2 段文本被标了不同的标签（共 5 行）"
    assert by["leakage_into_val"]["text"].startswith("验证集中有 3 行也出现在训练数据里")
    assert by["leakage_into_val"]["applied"] is True
    assert by["truncation"]["applied"] is False
    assert by["truncation"]["applies"] == "训练时每段文本最多保留 300 个 token。"
    assert (
        "超过 128 个 token" in by["truncation"]["text"] and "300 个以内" in by["truncation"]["text"]
    )
    assert by["imbalance"]["text"] == "各类别数量相差较大（最多 30 行，最少 5 行，比例 6:1）"
    assert by["a_new_check"]["title"] == "a new check"  # no translation: the doctor's English
    assert by["a_new_check"]["text"] == "said in English only"


def test_every_config_field_has_a_label_in_both_languages_and_a_form_field(tmp_path):
    english, chinese = i18n.catalog("en"), i18n.catalog("zh")
    names = [f.name for f in settings_form.fields()]
    expected = [*RunConfig.model_fields]
    expected += [f"{g}.{n}" for g, model in GROUPS.items() for n in model.model_fields]
    assert sorted(names) == sorted(n for n in expected if n not in GROUPS)
    for name in names:  # a new config field fails here until it is translated
        for key in (f"settings.{name}", f"settings.{name}.help"):
            assert key in english and key in chinese, key
        group, _, field = name.rpartition(".")
        info = (GROUPS[group] if group else RunConfig).model_fields[field]
        assert english[f"settings.{name}.help"] == info.description, name  # the CLI's help
    app, client = _client(tmp_path)
    dataset_id = _upload(app, client, "d.csv", _csv(make_rows(4)), {"task": "text-classification"})
    for lang in ("en", "zh"):
        page = client.get(f"/data/{dataset_id}/train?lang={lang}").text
        for name in names:
            assert f'data-field="{name}"' in page, name
            label = i18n.translate(lang, f"settings.{name}")
            assert label in _field_html(page, name), (lang, name)
    assert 'id="model-select"' in page and 'id="model-text"' in page and 'id="run-name"' in page
    assert "训练轮数" in page and '<details id="advanced">' in page  # collapsed: nothing set
    findings.store_settings(app.state.workspace.uploads / dataset_id, {"data.leakage": "drop"})
    page = client.get(f"/data/{dataset_id}/train").text
    assert '<details id="advanced" open>' in page  # a fix set something in there
    assert '<option value="drop" selected>' in _field_html(page, "data.leakage")


def test_invalid_value_is_shown_at_its_field_and_nothing_is_queued(tmp_path):
    app, client = _client(tmp_path)
    dataset_id = _upload(app, client, "d.csv", _csv(make_rows(4)), {"task": "text-classification"})
    form = _form_values(client.get(f"/data/{dataset_id}/train").text)
    form |= {"train.epochs": "-1", "train.precision": "fp32"}
    response = client.post(f"/data/{dataset_id}/train?lang=zh", data=form)
    assert response.status_code == 400
    field = _field_html(response.text, "train.epochs")
    assert 'data-error-for="train.epochs"' in field and "训练轮数：必须大于 0" in field
    assert 'value="-1"' in field  # what was typed stays
    assert 'data-error-for="train.precision"' not in response.text
    assert app.state.jobs.ordered() == []
    english = client.post(f"/data/{dataset_id}/train?lang=en", data=form | {"data.val_size": "x"})
    assert "Validation share: must be a number" in _field_html(english.text, "data.val_size")
    assert "Epochs: must be greater than 0" in _field_html(english.text, "train.epochs")


def test_valid_settings_queue_one_training(tmp_path, tiny_model_dir):
    app, client = _client(tmp_path)
    dataset_id = _upload(
        app, client, "评论.csv", _csv(CHINESE_ROWS), {"task": "text-classification"}
    )
    untouched = _form_values(client.get(f"/data/{dataset_id}/train").text)
    assert untouched["run_name"] == "评论"  # the data's name
    changed, _ = settings_form.overrides(untouched)
    assert changed == {"task": "text-classification"}  # only the stored task: nothing else
    form = untouched | {"train.epochs": "2", "model_text": str(tiny_model_dir)}
    response = client.post(f"/data/{dataset_id}/train", data=form | {"run_name": "评论模型"})
    assert response.status_code == 303
    [job] = app.state.jobs.ordered()
    assert response.headers["location"] == f"/jobs/{job.id}"
    folder = app.state.workspace.uploads / dataset_id
    data_path = str(folder / "data" / "评论.csv")
    out = str(app.state.workspace.runs / "评论模型")
    assert job.command == [
        "train",
        data_path,
        "--config",
        str(folder / "config-1.yaml"),
        "--out",
        out,
    ]
    assert job.kind == "train" and job.run == out
    # its title is said in the reader's language, whichever language queued it
    assert "<h1>训练 评论模型 <span" in client.get(f"/jobs/{job.id}?lang=zh").text
    assert "<h1>Train 评论模型 <span" in client.get(f"/jobs/{job.id}?lang=en").text
    saved = yaml.safe_load((folder / "config-1.yaml").read_text(encoding="utf-8"))
    assert saved["train"]["epochs"] == 2 and saved["model"] == str(tiny_model_dir)
    assert saved["data"]["path"] == data_path and saved["train"]["max_length"] == 128
    queued = client.post(f"/data/{dataset_id}/train", data=form | {"run_name": "评论模型"})
    assert queued.status_code == 400 and "already exists" in _field_html(queued.text, "out")
    job.state = "failed"
    (app.state.workspace.runs / "评论模型").mkdir()  # a run of that name exists now
    again = client.post(f"/data/{dataset_id}/train", data=form | {"run_name": "评论模型"})
    assert again.status_code == 400 and "already exists" in _field_html(again.text, "out")
    assert len(app.state.jobs.ordered()) == 1 and not (folder / "config-2.yaml").exists()


def test_model_advice_is_queued_and_its_printed_json_shown(tmp_path):
    app, client = _client(tmp_path)
    dataset_id = _upload(app, client, "d.csv", _csv(make_rows(4)), {"task": "text-classification"})
    assert client.post(f"/data/{dataset_id}/advice").status_code == 303
    [job] = app.state.jobs.ordered()
    data_path = str(app.state.workspace.uploads / dataset_id / "data" / "d.csv")
    assert job.command == ["models", "--task", "text-classification", "--data", data_path, "--json"]
    assert 'id="advice-running"' in client.get(f"/data/{dataset_id}/train").text
    report = {"task": "text-classification", "basis": "d.csv: 8 rows", "epochs": 3}
    report |= {"budget_minutes": None, "recommended": "minilm-l6", "why": "the largest"}
    report["results"] = [
        {"model": "minilm-l6", "seconds_per_step": 0.5, "peak_mb": 900.0}
        | {"minutes_per_epoch": 0.1, "minutes": 0.3},
        {"model": "minilm-l3", "error": "out of memory"},
    ]
    log = f"$ tunesmith models\nProbing minilm-l6 ...\n{json.dumps(report, indent=2)}\n"
    (app.state.jobs.job_folder(job.id) / "log.txt").write_text(log, encoding="utf-8")
    job.state = "done"
    page = client.get(f"/data/{dataset_id}/train?lang=zh").text
    assert 'id="advice-table"' in page and 'data-model="minilm-l6"' in page
    assert "推荐：minilm-l6" in page and "失败：out of memory" in page


def test_chinese_file_name_and_labels_in_both_languages(tmp_path, tiny_model_dir):
    app, client = _client(tmp_path)
    rows = CHINESE_ROWS + [CHINESE_ROWS[0]]
    dataset_id = _upload(app, client, "评论 数据.csv", _csv(rows), _fast(tiny_model_dir))
    assert dataset_id.startswith("评论 数据-")
    english = client.get(f"/data/{dataset_id}?lang=en").text
    chinese = client.get(f"/data/{dataset_id}?lang=zh").text
    for page in (english, chinese):
        assert "评论 数据.csv" in page and 'data-label="体育"' in page and "比赛球队" in page
    assert f"评论 数据.csv, line {len(rows) + 1}" in english  # the duplicate's row, in words
    assert f"评论 数据.csv 第 {len(rows) + 1} 行" in chinese  # of each language
    assert "1 row(s) repeat an earlier text" in english
    assert "有 1 行与前面某行的文本完全相同" in chinese and "数据体检" in chinese
    assert "评论 数据" in client.get("/data?lang=zh").text


def _zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("bad", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt"])
def test_zip_that_escapes_its_folder_is_refused(tmp_path, bad):
    app, client = _client(tmp_path)
    archive = _zip({"ok/a.txt": "fine", bad: "escaped"})
    response = client.post("/data/upload", files={"file": ("x.zip", io.BytesIO(archive))})
    assert response.status_code == 400 and "outside its folder" in response.text
    assert "x.zip" in response.text and "with relative names" in response.text  # where, fix
    chinese = client.post("/data/upload?lang=zh", files={"file": ("x.zip", io.BytesIO(archive))})
    assert "会解压到文件夹之外" in chinese.text and "使用相对路径" in chinese.text
    assert list(app.state.workspace.uploads.iterdir()) == []  # nothing left behind
    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))


def test_zip_of_class_folders_shows_thumbnails_from_inside_only(tmp_path):
    app, client = _client(tmp_path)
    images = write_images(tmp_path / "photos", per_class=3, size=32)
    (images / "red").rename(images / "红色")
    members = {
        f"photos/{p.relative_to(images).as_posix()}": p.read_bytes() for p in images.rglob("*.png")
    }
    dataset_id = _upload(app, client, "照片.zip", _zip(members))
    folder = app.state.workspace.uploads / dataset_id
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["path"] == str(folder / "data" / "photos")  # past the wrapping folder
    page = client.get(f"/data/{dataset_id}?lang=zh").text
    assert "图片" in page and 'data-label="红色"' in page
    thumbs = re.findall(r'src="(/data/[^"]+/image\?path=[^"]+)"', page)
    assert thumbs and client.get(thumbs[0].replace("&amp;", "&")).status_code == 200
    escape = client.get(f"/data/{dataset_id}/image", params={"path": "../dataset.json"})
    assert escape.status_code == 404


def test_a_path_on_this_machine_is_recorded_not_copied(tmp_path):
    app, client = _client(tmp_path)
    data = tmp_path / "mine.csv"
    data.write_bytes(_csv(make_rows(4)))
    response = client.post("/data/point", data={"path": str(data)})
    assert response.status_code == 303
    folder = app.state.workspace.uploads / unquote(response.headers["location"].rsplit("/", 1)[1])
    assert [p.name for p in folder.iterdir()] == ["dataset.json"]
    assert json.loads((folder / "dataset.json").read_text())["path"] == str(data.resolve())
    missing = client.post("/data/point", data={"path": str(tmp_path / "nope.csv")})
    assert missing.status_code == 400 and "no such file or folder" in missing.text


def test_zip_from_windows_keeps_chinese_names(tmp_path):
    """Windows' zip tool writes GBK names without the UTF-8 flag; they stay Chinese."""
    from tunesmith.studio.uploads import extract

    archive = _zip({"abcd/1.txt": "很好", "efgh/1.txt": "很差"})  # 4 bytes: two GBK characters
    for placeholder, name in ((b"abcd/", "正面/"), (b"efgh/", "负面/")):
        archive = archive.replace(placeholder, name.encode("gbk"))
    (tmp_path / "w.zip").write_bytes(archive)
    extract(tmp_path / "w.zip", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["正面", "负面"]
    assert (tmp_path / "out" / "正面" / "1.txt").read_text(encoding="utf-8") == "很好"
