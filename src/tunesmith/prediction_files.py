"""Predictions for whole files, and printing answers at the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tunesmith.console import info
from tunesmith.data.columns import detect_text_column
from tunesmith.data.images import UnusableImage
from tunesmith.data.readers import read_table
from tunesmith.errors import TunesmithError
from tunesmith.run_dir import write_atomic


def predict_file(
    run_dir: str,
    input_path: str,
    output_path: str,
    text_column: str | None,
    overwrite: bool = False,
) -> Path:
    """Read `input_path`, predict every row, write rows + predicted_label + score."""
    from tunesmith.api import load

    output = Path(output_path)
    if output.resolve() == Path(input_path).resolve():
        raise TunesmithError(
            "--output is the input file and would overwrite it",
            where=f"--output {output}",
            fix="choose another output file",
        )
    if output.exists() and not overwrite:
        raise TunesmithError(
            "the output file exists",
            where=f"--output {output}",
            fix="choose another name, or pass --overwrite to replace it",
        )
    if output.suffix.lower() not in {".csv", ".jsonl"}:
        raise TunesmithError(
            "unsupported output type",
            where=f"--output {output}",
            fix="name the output .csv or .jsonl",
        )
    table = read_table(input_path, "--input")
    model = load(run_dir)
    skipped: dict[int, UnusableImage] = {}
    if model.task.input_kind == "image":
        from tunesmith.tasks.image_classification import image_column, image_paths

        saved = model.manifest["columns"].get("image")
        column = image_column(
            table, text_column or (saved if saved in table else None), input_path, "--text-column"
        )
        answers, skipped = predict_images(model, *image_paths(table, column, input_path))
    elif model.task.takes_prompts:
        from tunesmith.data.conversations import prompts_from_table

        column, prompts = prompts_from_table(table, str(input_path), text_column)
        answers = model.predict(prompts)
    else:
        saved = model.manifest["columns"]["text"]
        column = detect_text_column(table, input_path, text_column, saved)
        answers = model.predict(list(table[column].astype(str)))
    added = pd.DataFrame(
        [model.task.report.answer_columns(a) if a else {} for a in answers], index=table.index
    )
    if skipped:  # which rows have no answer, and why
        added["skipped"] = [skipped[i].reason if i in skipped else "" for i in range(len(table))]
    table = pd.concat([table, added], axis=1)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".csv":  # nested answers (NER entities) as JSON text
        nested = [c for c in added.columns if added[c].map(lambda v: isinstance(v, list)).any()]
        for column in nested:
            table[column] = table[column].map(lambda v: json.dumps(v, ensure_ascii=False))
        write_atomic(output, table.to_csv(index=False))
    else:
        write_atomic(output, table.to_json(orient="records", lines=True, force_ascii=False))
    done = len(table) - len(skipped)
    print(f"Wrote {done} predictions to {output} (input column {column!r}).")
    if skipped:
        info(
            f"Skipped {len(skipped)} image(s) that cannot be used: {_first(skipped)}; their rows "
            "have no prediction, and the 'skipped' column says why."
        )
    return output


CHUNK = 256  # images decoded at a time: a folder of any size predicts in bounded memory


def predict_images(
    model, paths: list[str], root: Path
) -> tuple[list[dict | None], dict[int, UnusableImage]]:
    """Answers for the images that can be used (None for the others), and why each other one
    cannot: opened as training opens them (regular files inside `root`, size and pixel caps)."""
    from tunesmith.data.images import open_rgb

    answers: list[dict | None] = [None] * len(paths)
    skipped: dict[int, UnusableImage] = {}
    for start in range(0, len(paths), CHUNK):
        images, positions = [], []
        for i in range(start, min(start + CHUNK, len(paths))):
            try:
                images.append(open_rgb(paths[i], root))
                positions.append(i)
            except UnusableImage as problem:
                skipped[i] = problem
        for i, answer in zip(positions, model.predict(images) if images else [], strict=True):
            answers[i] = answer
    if paths and len(skipped) == len(paths):
        raise TunesmithError(
            f"none of the {len(paths)} image(s) can be used: {_first(skipped)}",
            where=str(root),
            fix=next(iter(skipped.values())).fix,
        )
    return answers, skipped


def _first(skipped: dict[int, UnusableImage], show: int = 3) -> str:
    """The first few unusable images: file and reason."""
    named = [f"{p.where} ({p.reason})" for p in list(skipped.values())[:show]]
    more = f" and {len(skipped) - show} more" if len(skipped) > show else ""
    return ", ".join(named) + more


def print_answers(task, inputs: list[str], answers: list[dict], as_json: bool = False) -> None:
    for text, answer in zip(inputs, answers, strict=True):
        if as_json:
            print(json.dumps({"input": text, **answer}, ensure_ascii=False))
        else:
            if task.input_kind == "image":
                preview = Path(text).name
            else:
                preview = text if len(text) <= 60 else text[:57] + "..."
            print(f"{task.report.format_answer(answer)}\t{preview}")
