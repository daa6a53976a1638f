"""Files that are wrong in ways a reader must survive: image paths that lead out of the data
folder, FIFOs and devices, oversized files, very wide headers and NUL bytes. No model needed."""

import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import write_images

from tunesmith.data import images
from tunesmith.data.readers import read_table
from tunesmith.errors import TunesmithError
from tunesmith.tasks import get


def data_with_escapes(tmp_path: Path) -> tuple[Path, list[str]]:
    """data/photos/<colour>/*.png inside, outside/secret.png beside data/; the values a table
    would give for the good images, and three ways out: `..`, an absolute path, a symlink."""
    photos = write_images(tmp_path / "data" / "photos", per_class=3)
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    (photos / "red" / "0.png").rename(secret)
    os.symlink(secret, photos / "red" / "link.png")
    inside = [str(p.relative_to(tmp_path / "data")) for p in sorted(photos.glob("*/[12].png"))]
    escapes = ["../outside/secret.png", str(secret), "photos/red/link.png"]
    return tmp_path / "data", inside + escapes


def label_studio(values: list[str], labels: list[str]) -> list[dict]:
    return [
        {
            "data": {"image": value},
            "annotations": [{"result": [{"type": "choices", "value": {"choices": [label]}}]}],
        }
        for value, label in zip(values, labels, strict=True)
    ]


@pytest.mark.parametrize("task", ["image-classification", "image-text"])
@pytest.mark.parametrize("form", ["csv", "jsonl", "label studio"])
def test_image_paths_that_lead_out_of_the_data_folder_are_dropped_and_named(tmp_path, form, task):
    folder, values = data_with_escapes(tmp_path)
    labels = [Path(v).parent.name for v in values]
    if form == "csv":
        source = folder / "labels.csv"
        pd.DataFrame({"image": values, "label": labels}).to_csv(source, index=False)
    elif form == "jsonl":
        source = folder / "labels.jsonl"
        pd.DataFrame({"image": values, "label": labels}).to_json(
            source, orient="records", lines=True
        )
    else:
        source = folder / "export.json"
        source.write_text(json.dumps(label_studio(values, labels)))
    examples = get(task).prepare(read_table(source), str(source), {})
    used = [Path(p) for p in examples.frame["input"]]
    assert len(used) == 6
    assert all(p.is_relative_to(folder.resolve()) for p in used), used
    note = next(n for n in examples.notes if "outside the data folder" in n)
    assert note.startswith("Dropped 3 image(s): outside the data folder"), note
    assert "column 'image': ../outside/secret.png" in note  # the first such row, as written
    assert "copy the images under" in note


def test_label_studio_local_files_are_found_by_their_d_parameter(tmp_path):
    root = write_images(tmp_path / "photos", per_class=2)
    values = [f"/data/local-files/?d=photos/{p.parent.name}/{p.name}" for p in root.glob("*/*")]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(label_studio(values, [v.split("/")[-2] for v in values])))
    examples = get("image-classification").prepare(read_table(export), str(export), {})
    assert len(examples) == 6 and not examples.notes


@pytest.fixture()
def fifo(tmp_path):
    """A FIFO named like an image. Should anything open it for reading, a writer answers with
    a few bytes and hangs up, so a regression fails the test instead of hanging it."""
    path = tmp_path / "data" / "pipe.png"
    path.parent.mkdir(exist_ok=True)
    os.mkfifo(path)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # succeeds once a reader waits
            except OSError:
                stop.wait(0.01)
                continue
            os.write(fd, b"not an image")
            os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()


def test_a_fifo_among_the_images_is_refused_without_being_opened(fifo):
    write_images(fifo.parent / "photos", per_class=1)
    paths = [str(fifo)] + [str(p) for p in sorted((fifo.parent / "photos").glob("*/*"))]
    scan = images.scan_images(paths)
    assert scan.keep == [1, 2, 3]
    assert scan.dropped == {"not a regular file": [0]}


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_devices_are_refused(device):
    with pytest.raises(TunesmithError, match="not a regular file") as caught:
        if device == "/dev/null":  # safe to run before the fix, where it was "unreadable"
            images.open_rgb(device)
        elif hasattr(images, "read_image_bytes"):  # before the fix this read would never end
            images.read_image_bytes(device)
    assert caught.value.where == device


def test_files_over_the_byte_cap_are_not_read(tmp_path, monkeypatch):
    write_images(tmp_path, per_class=1, size=64)
    monkeypatch.setattr(images, "MAX_BYTES", 1_000)
    with pytest.raises(TunesmithError, match="larger than 0.001 MB"):
        images.open_rgb(tmp_path / "red" / "0.png")


def test_images_over_the_pixel_cap_are_refused_before_decoding(tmp_path):
    from PIL import Image

    Image.new("1", (10_000, 6_000)).save(tmp_path / "huge.png")  # 60 MP, a small file
    with pytest.raises(TunesmithError, match="larger than 50,000,000 pixels"):
        images.open_rgb(tmp_path / "huge.png")


def test_a_200000_column_header_is_refused_at_once_naming_the_delimiter(tmp_path):
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(200_000))
    path.write_text(header + "\n" + ",".join("x" * 200_000) + "\n")
    with pytest.raises(TunesmithError, match="200,000 columns at ','") as caught:
        read_table(path)
    assert "wide.csv, line 1" in str(caught.value)
    assert "--data.delimiter" in str(caught.value)


def test_a_wide_json_table_is_refused_before_pandas_builds_it(tmp_path):
    path = tmp_path / "wide.jsonl"
    path.write_text(json.dumps({f"k{i}": "v" for i in range(200_000)}) + "\n")
    with pytest.raises(TunesmithError, match="200,000 different fields"):
        read_table(path)


def test_a_repeated_column_name_in_a_wide_header_is_named(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        ",".join([f"c{i}" for i in range(5_000)] + ["c7"]) + "\n" + "x," * 5_000 + "x\n"
    )
    with pytest.raises(TunesmithError, match="'c7' more than once"):
        read_table(path)


def rows_with_nul_on_line(line: int, total: int = 3_000) -> bytes:
    rows = [f"row number {i},{'ab'[i % 2]}" for i in range(total)]
    rows[line - 2] = rows[line - 2].replace("number", "num\0ber")
    return ("text,label\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("line", [2, 2_500])  # inside the first 8 KB, and far past it
@pytest.mark.parametrize("encoding", [None, "utf-8"])
def test_a_nul_byte_anywhere_is_reported_with_its_line(tmp_path, line, encoding):
    path = tmp_path / "d.csv"
    path.write_bytes(rows_with_nul_on_line(line))
    with pytest.raises(TunesmithError, match=f"d.csv, line {line}: a NUL byte") as caught:
        read_table(path, options=SimpleNamespace(encoding=encoding))
    assert "binary file or damaged text" in str(caught.value)


def test_utf16_without_a_byte_order_mark_suggests_the_encoding(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\nhello there,a\nbye now,b\n".encode("utf-16-le"))
    with pytest.raises(TunesmithError, match="--data.encoding utf-16-le"):
        read_table(path)
    table = read_table(path, options=SimpleNamespace(encoding="utf-16-le"))
    assert table.to_dict("list") == {"text": ["hello there", "bye now"], "label": ["a", "b"]}
