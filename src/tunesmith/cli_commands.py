"""What each `tunesmith` command does: thin handlers over tunesmith.api and the modules behind
it. The parser (its flags and help) lives in cli.py; heavy imports happen inside handlers, so
`tunesmith --help` never imports torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunesmith.cli import _overrides
from tunesmith.errors import TunesmithError


def cmd_train(args: argparse.Namespace) -> int:
    from tunesmith.api import train

    overrides = _overrides(args)
    model = train(
        args.data, config=args.config, resume=args.resume, overwrite=args.overwrite, **overrides
    )
    if model is not None:  # None: a helper process under torchrun
        from tunesmith.training.throughput import finished_line

        print(f"Finished: {model.path}{finished_line(model.path)}")
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from tunesmith.api import train
    from tunesmith.config import merge
    from tunesmith.training.distillation import default_student, teacher_config

    base = teacher_config(args.teacher)  # refuses a task that cannot teach, saying why
    student = args.student or default_student(args.teacher)
    overrides = _overrides(args)
    settings = {"teacher": args.teacher}
    if args.temperature is not None:  # the short flags say the same as --train.distill_*
        settings["distill_temperature"] = args.temperature
    if args.alpha is not None:
        settings["distill_alpha"] = args.alpha
    overrides = merge(overrides, {"model": student, "train": settings})
    name = Path(student.rstrip("/")).name  # a folder or hub id: its last part
    overrides.setdefault("out", f"{str(Path(args.teacher)).rstrip('/')}-{name}")
    model = train(args.data, config=base, overwrite=args.overwrite, **overrides)
    if model is not None:
        print(f"Finished: {model.path}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from tunesmith.api import load, resolve_config
    from tunesmith.training.search import parse_duration, tune

    if args.trials < 1:
        raise TunesmithError(
            f"--trials must be at least 1 (got {args.trials})", where="--trials", fix="--trials 20"
        )
    timeout = parse_duration(args.timeout)
    cfg = resolve_config(args.data, config=args.config, overrides=_overrides(args))
    path = tune(cfg, args.trials, timeout, overwrite=args.overwrite)
    print(f"Finished: {load(path).path}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from tunesmith.training.replay import format_replay, replay

    result = replay(
        args.run,
        args.out,
        data=args.data,
        allow_changed_data=args.allow_changed_data,
        overwrite=args.overwrite,
    )
    print(format_replay(result))
    return 0 if result.identical else 1  # like diff: 1 means "they differ"


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from tunesmith.api import resolve_config
    from tunesmith.data.doctor_report import export_label_studio, format_text, write_reports
    from tunesmith.data.inspection import inspect_data

    overrides = _overrides(args) | {"train": {"max_length": args.max_length}}
    cfg = resolve_config(args.data, overrides=overrides)
    if args.export_label_studio and Path(args.export_label_studio).exists():
        raise TunesmithError(  # it could be the data itself: never overwrite a user's file
            "the file exists and would be overwritten",
            where=f"--export-label-studio {args.export_label_studio}",
            fix="name a new file (or delete this one first)",
        )
    report = inspect_data(cfg)
    folder = Path(args.report or Path("runs") / f"{Path(args.data).stem or 'data'}-data-report")
    written = write_reports(report, folder)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_text(report))
        print(f"Report: {written[1]}")
    if args.export_label_studio:
        count = export_label_studio(report, Path(args.export_label_studio))
        print(f"{count} row(s) to review written to {args.export_label_studio}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tunesmith.api import load
    from tunesmith.run_dir import write_json

    model = load(args.run)
    metrics = model.evaluate(args.data, args.text_column, args.label_column)
    print(model.task.report.describe(metrics))
    if args.output:
        write_json(Path(args.output), metrics)
        print(f"Metrics written to {args.output}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from tunesmith.prediction_files import predict_file, print_answers

    if args.input:
        if not args.output:
            raise TunesmithError(
                "--input needs --output", where="--output", fix="add --output predictions.csv"
            )
        predict_file(args.run, args.input, args.output, args.text_column, args.overwrite)
        return 0
    from tunesmith.api import load

    model = load(args.run)
    if args.prompt:
        return _generate(model, args)
    if args.query:
        return _search(model, args)
    inputs = args.text or [str(Path(p).resolve()) for p in args.image]
    options = {"labels": _labels(args.labels)} if args.labels else {}
    print_answers(model.task, inputs, model.predict(inputs, **options), as_json=args.json)
    return 0


def _labels(text: str) -> list[str]:
    labels = [x.strip() for x in text.split(",") if x.strip()]
    if len(labels) < 2:
        raise TunesmithError(
            f"zero-shot needs at least two labels, got {labels}",
            where=f"--labels {text}",
            fix='separate them with commas: --labels "cat,dog,car"',
        )
    return labels


def _search(model, args: argparse.Namespace) -> int:
    """The --images (image-text) or --corpus passages (text embeddings) closest to --query,
    best first."""
    import json

    if model.task.embeds_text:
        if not args.corpus:
            raise TunesmithError(
                "--query needs passages to search",
                where="--corpus",
                fix="pass --corpus FILE: a text file, one passage a line, or a CSV",
            )
        for hit in model.search(args.query, model.task.read_corpus(args.corpus), args.top_k):
            print(json.dumps(hit, ensure_ascii=False) if args.json else _hit_line(hit))
        return 0
    if not args.images or not Path(args.images).is_dir():
        raise TunesmithError(
            "--query needs a folder of images to search",
            where=f"--images {args.images}",
            fix="pass --images FOLDER",
        )
    from tunesmith.data.images import is_image

    folder = Path(args.images)
    images = sorted(str(p.resolve()) for p in folder.rglob("*") if p.is_file() and is_image(p))
    if not images:
        raise TunesmithError(
            "no images in the folder", where=f"--images {folder}", fix="check the folder"
        )
    for hit in model.search(args.query, images, args.top_k):
        print(json.dumps(hit) if args.json else f"{hit['score']:.4f}\t{hit['image']}")
    return 0


def _hit_line(hit: dict) -> str:
    passage = " ".join(hit["passage"].split())
    return f"{hit['score']:.4f}\t{passage if len(passage) <= 100 else passage[:97] + '...'}"


def _generate(model, args: argparse.Namespace) -> int:
    """Stream each prompt's answer to the terminal (or print JSON lines with --json)."""
    import json

    if not model.task.takes_prompts:
        raise TunesmithError(
            f"--prompt is for generation runs; {args.run} is {model.task.name}",
            where="--prompt",
            fix="use --text (or --image) for this run",
        )
    if args.max_new_tokens < 1 or args.temperature < 0 or not 0 < args.top_p <= 1:
        raise TunesmithError(
            f"bad generation settings: --max-new-tokens {args.max_new_tokens}, --temperature "
            f"{args.temperature}, --top-p {args.top_p}",
            where="--max-new-tokens / --temperature / --top-p",
            fix="use --max-new-tokens >= 1, --temperature >= 0, 0 < --top-p <= 1",
        )
    options = {
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "seed": args.seed,
    }
    for prompt in args.prompt:
        if args.json:
            answer = model.predict(prompt, **options)
            print(json.dumps({"prompt": prompt, **answer}, ensure_ascii=False), flush=True)
            continue
        for piece in model.stream(prompt, **options):
            print(piece, end="", flush=True)
        print(flush=True)
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from tunesmith.api import load
    from tunesmith.feedback.store import FeedbackStore, db_path

    if not db_path(args.run).is_file():
        print(f"No feedback yet for {args.run} (the service writes {db_path(args.run)}).")
        return 0
    store = FeedbackStore(args.run)
    corrections = store.corrections()
    logged, ratings = store.count("prediction"), store.count("rating")
    store.close()
    model = load(args.run)
    print(
        f"{len(corrections)} correction(s), {ratings} rating(s) kept but not trained on, "
        f"{logged} logged prediction(s) in {db_path(args.run)}"
    )
    rules = model.task.feedback
    for line in rules.summary(corrections, model.labels) if rules else []:
        print(f"  {line}")
    print("Retrain with them: tunesmith retrain RUN [--add new_data.csv]")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from tunesmith.feedback.retrain import retrain

    result = retrain(
        args.run,
        add=args.add,
        use_feedback=not args.no_feedback,
        start=args.start,
        margin=args.margin,
        max_class_drop=args.max_class_drop,
        alpha=args.alpha,
    )
    print(f"{result['name']}: {result['decision']}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from tunesmith.machine import check_machine, format_machine

    report = check_machine(args.out, probe_hub=not args.no_network)
    print(json.dumps(report, indent=2) if args.json else format_machine(report))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import json

    from tunesmith.models.advice import advise, catalog_rows, format_advice

    if not args.task:
        rows = catalog_rows()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for row in rows:
            print(
                f"{row['name']:22} {row['parameters']:>6}  {row['tasks']:33} offline: "
                f"{row['offline']}  ({row['licence']})"
            )
        print("Any Hugging Face model id or local folder works too; `--task T` measures them.")
        return 0
    from tunesmith import tasks
    from tunesmith.training.search import parse_duration

    tasks.get(args.task)  # a clear error for an unknown task
    budget = parse_duration(args.budget, "--budget")
    report = advise(args.task, args.data, None if budget is None else budget / 60, args.batch_size)
    print(json.dumps(report, indent=2) if args.json else format_advice(report))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from tunesmith.feedback import versions
    from tunesmith.run_dir import RunDir

    RunDir(args.run).manifest()  # a clear error for a folder that is not a finished run
    print(versions.format_versions(versions.read(args.run)))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from tunesmith.feedback import versions
    from tunesmith.run_dir import RunDir

    RunDir(args.run).manifest()
    state = versions.promote(args.run, args.version)
    print(
        f"{state['live']} is live; `tunesmith serve {args.run}` serves it (restart a running one)."
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    wrong = {"onnx": ("--quant", args.quant), "gguf": ("--int8", args.int8)}[args.format]
    if wrong[1] or (args.format == "onnx" and args.out):
        flag = wrong[0] if wrong[1] else "--out"
        raise TunesmithError(
            f"{flag} does not apply to --format {args.format}",
            where=flag,
            fix="GGUF takes --quant f16|q8_0|q4_k_m and --out; ONNX takes --int8 and --max-drop",
        )
    if args.format == "gguf":
        from tunesmith.export.gguf import export_gguf

        report = export_gguf(args.run, quant=args.quant or "f16", out=args.out)
        folder = Path(report["file"]).parent
        print(f"Exported to {folder}: model.gguf, Modelfile, and parity.json.")
        return 0 if report["tensors"]["ok"] else 1
    from tunesmith.export.onnx import export_onnx, onnx_folder

    export_onnx(args.run, int8=args.int8, max_drop=args.max_drop)
    print(f"Exported to {onnx_folder(args.run)}; the parity certificate is in parity.json.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from tunesmith.serving.server import serve

    serve(
        args.run,
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get("TUNESMITH_API_KEY"),
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_inputs=args.max_inputs,
        backend=args.backend,
        precision=args.precision,
        log_predictions=args.log_predictions,
        grace=args.grace,
        debug=args.debug,  # a traceback in the log with each 500
    )
    return 0
