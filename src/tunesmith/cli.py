"""The command line's parser: commands, flags and help (the handlers are in cli_commands.py;
the studio's and label's commands live with their packages, in their commands.py),
a thin layer over tunesmith.api.

Kept light on purpose: building the parser and printing --help never imports torch. Training
flags are generated from the config models (config.py), so a flag, its YAML key and its help
text cannot drift apart: `--train.learning_rate 3e-5` is `train: {learning_rate: 3e-5}`.
"""

from __future__ import annotations

import argparse
import sys
import typing

from tunesmith import __version__
from tunesmith.errors import TunesmithError

EXAMPLES = """examples:
  tunesmith inspect reviews.csv                      what is in it, what may go wrong
  tunesmith train bbc/ --model minilm-l6 --out runs/bbc
  tunesmith train reviews.csv                        columns and task detected and announced
  tunesmith train --config examples/text-classification.yaml --train.learning_rate 3e-5
  tunesmith evaluate runs/bbc --data more_reviews.csv
  tunesmith predict runs/bbc --text "Shares fell sharply after the results"
  tunesmith predict runs/bbc --input new.csv --output predictions.csv
  tunesmith train photos/ --model mobilenet-v2         one sub-folder of images per class
  tunesmith predict runs/photos --input new_photos/ --output predictions.csv
  tunesmith train chats.jsonl --task generation --model smollm2-135m   LoRA on a causal LM
  tunesmith predict runs/chats --prompt "How do I reset my password?"
  tunesmith train photos/ --task image-text --model mobilenet-v2+minilm-l6
  tunesmith predict runs/photos --image cat.jpg --labels "cat,dog,car"   zero-shot
  tunesmith replay runs/bbc                          train again: same split, same metrics?
  tunesmith train reviews.csv --train.seeds 5        the spread of test metrics over 5 seeds
"""


def _add_config_flags(
    parser: argparse.ArgumentParser,
    top_names: tuple[str, ...] = ("task", "model", "out"),
    group_names: tuple[str, ...] = ("data", "train"),
) -> None:
    from tunesmith.config import GROUPS, RunConfig

    top = parser.add_argument_group("run")
    for name in top_names:
        field = RunConfig.model_fields[name]
        default = "" if field.default is None else f" (default: {field.default})"
        top.add_argument(
            f"--{name}",
            default=argparse.SUPPRESS,
            metavar=name.upper(),
            help=f"{field.description}{default}",
        )
    for group_name in group_names:
        model = GROUPS[group_name]
        group = parser.add_argument_group(f"{group_name} settings (YAML key `{group_name}:`)")
        for name, field in model.model_fields.items():
            if group_name == "data" and name == "path":
                continue  # the positional DATA argument
            if field.annotation in (bool, bool | None):  # --train.lora / --lora / --no-lora
                group.add_argument(
                    f"--{group_name}.{name}",
                    f"--{name.replace('_', '-')}",
                    dest=f"{group_name}.{name}",
                    default=argparse.SUPPRESS,
                    action=argparse.BooleanOptionalAction,
                    help=f"{field.description}"
                    + (
                        ""
                        if field.default is None
                        else f" (default: {'on' if field.default else 'off'})"
                    ),
                )
                continue
            choices = (
                typing.get_args(field.annotation)
                if typing.get_origin(field.annotation) is typing.Literal
                else None
            )
            default = "auto" if field.default is None else field.default
            group.add_argument(
                f"--{group_name}.{name}",
                dest=f"{group_name}.{name}",
                default=argparse.SUPPRESS,
                choices=choices,
                metavar=None if choices else name.split("_")[-1].upper(),
                help=f"{field.description} (default: {default})",
            )


def _overrides(args: argparse.Namespace) -> dict:
    """Only the flags the user typed, nested as the config is: {'train': {'epochs': '1'}}."""
    out: dict = {}
    for key, value in vars(args).items():
        if key in {"task", "model", "out"}:
            out[key] = value
        elif "." in key:
            group, name = key.split(".", 1)
            out.setdefault(group, {})[name] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    from tunesmith import cli_commands as do  # the handlers, light to import

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser = argparse.ArgumentParser(
        prog="tunesmith",
        parents=[common],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tune pretrained models on your own data: raw files in, a measured "
        "model, a report and a model you can serve out.",
    )
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        parents=[common],
        help="fine-tune a model on a data file or folder",
        description="Fine-tune a pretrained model. Settings come from defaults, then --config, "
        "then flags. The run directory (--out) gets the model in Hugging Face format, metrics, "
        "plots, report.html and a model card.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "data",
        nargs="?",
        metavar="DATA",
        help="CSV/TSV/JSON/JSONL/Parquet/Excel/CoNLL file, Label Studio export, a folder with "
        "one sub-folder of .txt files or images per class, a save_to_disk folder, or hub:NAME "
        "(or data.path in --config)",
    )
    train.add_argument("--config", metavar="FILE", help="YAML file with the same keys as the flags")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out from its last checkpoint",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished or unfinished run already in --out",
    )
    _add_config_flags(train)
    train.set_defaults(handler=do.cmd_train)

    distill = commands.add_parser(
        "distill",
        parents=[common],
        help="train a small student model from a trained teacher run",
        description="Knowledge distillation: the student learns from the teacher run's "
        "softened answers (--train.distill_temperature T) mixed with the hard labels (weight "
        "1 - --train.distill_alpha). The teacher answers the training split once, before "
        "training. Text classification, image classification and multi-label distil per "
        "input (any student: the teacher reads the raw inputs); NER per token (KL at every "
        "labelled token; a student with another tokenizer is aligned by words). Image-text, "
        "embedding and generation runs are refused, with what to do instead. "
        "Data, columns, cleaning and seed default to the teacher's, so both are tested on the "
        "same split; the report compares them on size, speed and the task's test metrics.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith distill --teacher runs/bbc\n  tunesmith distill --teacher "
        "runs/bbc --student minilm-l3 --train.distill_temperature 4 --train.distill_alpha 0.7 "
        "--out runs/bbc-small\n  tunesmith distill --teacher runs/photos --student mobilenet-v2",
    )
    distill.add_argument(
        "--data", metavar="DATA", help="training data (default: the teacher's, same split)"
    )
    distill.add_argument("--teacher", required=True, metavar="RUN", help="finished teacher run")
    distill.add_argument(
        "--student",
        help="student model: a catalog name, folder or hub id the task takes (default: "
        "minilm-l3 for text tasks, mobilenet-v2 for images)",
    )
    distill.add_argument("--temperature", type=float, help="softening temperature T (default: 2)")
    distill.add_argument(
        "--alpha", type=float, help="weight of the teacher's soft targets (default: 0.5)"
    )
    distill.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    _add_config_flags(distill, ("out",), ("train",))
    distill.set_defaults(handler=do.cmd_distill)

    tune = commands.add_parser(
        "tune",
        parents=[common],
        help="search hyperparameters with Optuna, then train the best settings",
        description="Hyperparameter search: each trial trains with settings Optuna picks "
        "(learning rate, batch size, epochs, warm-up, weight decay, freezing) and is scored on "
        "the validation split; trials falling behind are pruned after an epoch. The study is "
        "kept in OUT.tune/study.db, so running the same command again resumes it. The best "
        "settings then train the run in --out, tested once on the test split; its report shows "
        "every trial. Flags you give fix a setting for all trials.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith tune reviews.csv --trials 20 --timeout 30m\n"
        "  tunesmith tune bbc/ --model minilm-l6 --trials 8 --out runs/bbc-tuned",
    )
    tune.add_argument("data", nargs="?", metavar="DATA", help="training data (as for train)")
    tune.add_argument("--config", metavar="FILE", help="YAML file with the same keys as the flags")
    tune.add_argument(
        "--trials", type=int, default=20, help="trials in the study, in all (default: 20)"
    )
    tune.add_argument(
        "--timeout", help="stop starting trials after this long: 90s, 30m, 2h (default: none)"
    )
    tune.add_argument("--overwrite", action="store_true", help="replace an existing --out run")
    _add_config_flags(tune)
    tune.set_defaults(handler=do.cmd_tune)

    replay = commands.add_parser(
        "replay",
        parents=[common],
        help="train a finished run again from its saved settings: does it reproduce?",
        description="Retrain RUN from its run_config.yaml (settings, seed, absolute data paths) "
        "into a new folder, after checking that the data still has the fingerprint saved in "
        "RUN/splits.json. Then compare: the same train/val/test rows, and each test metric "
        "(original, replay, difference). Exit code 0: identical; 1: they differ, with what could "
        "explain it (changed data, another library version or device, both saved in the run's "
        "manifest; GPU kernels); 2: an error, such as data that changed. A `tune` run replays "
        "its final training, not the search.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith replay runs/bbc\n  tunesmith replay runs/bbc --out "
        "/tmp/bbc-check --overwrite\n  tunesmith replay runs/bbc --data /new/place/bbc.csv",
    )
    replay.add_argument("run", metavar="RUN", help="finished run directory to replay")
    replay.add_argument("--out", help="where the replay trains (default: RUN-replay)")
    replay.add_argument(
        "--data",
        metavar="DATA",
        help="the training data, if it moved since the run (its fingerprint is still checked)",
    )
    replay.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="replay even if the data's fingerprint differs (the results will then differ too)",
    )
    replay.add_argument("--overwrite", action="store_true", help="replace an earlier replay run")
    replay.set_defaults(handler=do.cmd_replay)

    inspect = commands.add_parser(
        "inspect",
        parents=[common],
        help="the data doctor: what is in a dataset, what is wrong, how to fix it",
        description="Read, clean and check a dataset as `train` would, without training: "
        "labels and balance, duplicates and conflicts, near duplicates, leakage into your "
        "val/test files, likely label errors (cleanlab), text length against the model's limit. "
        "Prints a summary and writes data_report.json and data_report.html.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith inspect reviews.csv\n  tunesmith inspect train.csv "
        "--data.test_file test.csv\n  tunesmith inspect reviews.csv --export-label-studio "
        "review.json",
    )
    inspect.add_argument("data", metavar="DATA", help="the file or folder you would train on")
    inspect.add_argument(
        "--max-length", type=int, default=128, help="tokens kept per text (default: 128)"
    )
    inspect.add_argument(
        "--report",
        metavar="DIR",
        help="folder for data_report.json/.html (default: runs/<data name>-data-report)",
    )
    inspect.add_argument(
        "--export-label-studio",
        metavar="FILE",
        help="write the likely mislabelled rows as Label Studio tasks for review",
    )
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_config_flags(inspect, ("task", "model"), ("data",))
    inspect.set_defaults(handler=do.cmd_inspect)

    evaluate = commands.add_parser(
        "evaluate", parents=[common], help="score a trained run on new labelled data"
    )
    evaluate.add_argument("run", metavar="RUN", help="run directory made by `tunesmith train`")
    evaluate.add_argument(
        "--data", required=True, metavar="FILE", help="labelled data in the training format"
    )
    evaluate.add_argument(
        "--text-column", help="text column (default: the training one, or detected)"
    )
    evaluate.add_argument(
        "--label-column", help="label column (default: the training one, or detected)"
    )
    evaluate.add_argument("--output", metavar="FILE", help="also write the metrics as JSON here")
    evaluate.set_defaults(handler=do.cmd_evaluate)

    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="answers for new texts, images, prompts or a whole file",
        description="Answers from a trained run. Generation runs take --prompt and stream the "
        "answer as it is written (greedy unless --temperature is above 0).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='examples:\n  tunesmith predict runs/bbc --text "Shares fell sharply"\n'
        "  tunesmith predict runs/photos --input new_photos/ --output predictions.csv\n"
        '  tunesmith predict runs/chat --prompt "How do I reset my password?"\n'
        '  tunesmith predict runs/chat --prompt "Write a haiku" --temperature 0.8 --top-p 0.9',
    )
    predict.add_argument("run", metavar="RUN", help="run directory made by `tunesmith train`")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="a text to classify (repeatable)")
    source.add_argument("--image", action="append", metavar="FILE", help="an image (repeatable)")
    source.add_argument(
        "--prompt", action="append", help="generation: a prompt to answer (repeatable)"
    )
    source.add_argument(
        "--query", help="search: words to look for in --images (image-text) or --corpus (embedding)"
    )
    source.add_argument(
        "--input",
        metavar="FILE",
        help="CSV/TSV/JSONL file of texts or image paths, or a folder of images",
    )
    predict.add_argument(
        "--output",
        metavar="FILE",
        help="write the input rows plus predicted_label and score (.csv/.jsonl)",
    )
    predict.add_argument(
        "--text-column", help="text column of --input (default: the training one, or detected)"
    )
    predict.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    predict.add_argument("--json", action="store_true", help="print answers as JSON lines")
    pictures = predict.add_argument_group("image-text")
    pictures.add_argument(
        "--labels", help='zero-shot: the labels to choose from, comma-separated ("cat,dog,car")'
    )
    pictures.add_argument("--images", metavar="FOLDER", help="search: the images to search")
    pictures.add_argument(
        "--corpus",
        metavar="FILE",
        help="embedding search: passages, one a line (.txt) or a passage column (.csv, ...)",
    )
    pictures.add_argument("--top-k", type=int, default=10, help="search: results (default: 10)")
    writing = predict.add_argument_group("generation")
    writing.add_argument(
        "--max-new-tokens", type=int, default=128, help="longest answer in tokens (default: 128)"
    )
    writing.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="0: greedy, the most likely token each step (default); above 0 samples, higher is "
        "more varied",
    )
    writing.add_argument(
        "--top-p",
        type=float,
        default=1.0,
        help="sampling: keep the likeliest tokens up to this total probability (default: 1.0)",
    )
    writing.add_argument("--seed", type=int, help="sampling: seed, for repeatable answers")
    predict.set_defaults(handler=do.cmd_predict)

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="a REST API and a web page for a trained run",
        description="Serve a run over HTTP: POST /v1/predict, GET /v1/model, GET /health, a page "
        "to try the model at /, OpenAPI docs at /docs. Binds 127.0.0.1 unless --host says "
        "otherwise. Requests arriving within --max-wait-ms are batched together.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith serve runs/bbc --port 8000\n  curl -X POST "
        "localhost:8000/v1/predict -H 'content-type: application/json' -d '{\"inputs\": "
        '["Shares fell sharply"]}\'',
    )
    serve.add_argument("run", metavar="RUN", help="run directory made by `tunesmith train`")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--api-key",
        help="require this key in the X-API-Key header (default: $TUNESMITH_API_KEY, or none)",
    )
    serve.add_argument(
        "--max-batch", type=int, default=32, help="most inputs run together (default: 32)"
    )
    serve.add_argument(
        "--max-wait-ms",
        type=float,
        default=5,
        help="how long the first request of a batch waits for others (default: 5)",
    )
    serve.add_argument(
        "--max-inputs", type=int, default=64, help="most inputs in one request (default: 64)"
    )
    serve.add_argument(
        "--backend",
        choices=["pytorch", "onnx"],
        default="pytorch",
        help="onnx: the exported model (int8 if exported with --int8); see `tunesmith export`",
    )
    serve.add_argument(
        "--log-predictions",
        type=int,
        default=0,
        metavar="N",
        help="also store the first N predictions in RUN/feedback.db (default: 0, off)",
    )
    serve.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="PyTorch backend: auto runs bf16 where the CPU/GPU has it natively (about 3x "
        "faster on such CPUs; probabilities differ slightly), else fp32 (default: auto)",
    )
    serve.add_argument(
        "--grace",
        type=float,
        default=30,
        metavar="SECONDS",
        help="at Ctrl-C or SIGTERM every accepted request is answered; stop waiting when none "
        "has finished for this long (default: 30)",
    )
    serve.set_defaults(handler=do.cmd_serve)

    export = commands.add_parser(
        "export",
        parents=[common],
        help="export a run to ONNX (optionally int8) or GGUF (llama.cpp, Ollama) and check parity",
        description="ONNX: write RUN/onnx/model.onnx (and model.int8.onnx with --int8, kept only "
        "if it loses at most --max-drop points of the task's headline metric on the validation "
        "split), then score every form of the model (PyTorch fp32 and bf16, ONNX fp32 and "
        "int8) on the run's test split against the trained model: the same-answer rate and "
        "the metric's difference with a bootstrap 95% interval (RUN/parity.json, report.html). "
        "GGUF (generation runs): write RUN/gguf/model.gguf with llama.cpp's converter, an "
        "Ollama Modelfile, and RUN/gguf/parity.json: every tensor read back against the "
        "PyTorch weights, and greedy answers through llama.cpp where llama-cpp-python is "
        "installed.",
    )
    export.add_argument("run", metavar="RUN", help="run directory made by `tunesmith train`")
    export.add_argument("--format", choices=["onnx", "gguf"], default="onnx", help="export format")
    export.add_argument(
        "--quant",
        choices=["f16", "q8_0", "q4_k_m"],
        help="gguf: the weights' type (default: f16; q4_k_m needs `pip install "
        "'tunesmith[llamacpp]'`)",
    )
    export.add_argument("--out", metavar="DIR", help="gguf: the output folder (default: RUN/gguf)")
    export.add_argument(
        "--int8", action="store_true", help="also write an int8 model, if it keeps the accuracy"
    )
    export.add_argument(
        "--max-drop",
        type=float,
        default=0.5,
        metavar="POINTS",
        help="--int8: the most the headline metric may fall on the validation split, in points "
        "(default: 0.5)",
    )
    export.set_defaults(handler=do.cmd_export)

    feedback = commands.add_parser(
        "feedback", parents=[common], help="what the service collected: corrections, disagreements"
    )
    feedback.add_argument("run", metavar="RUN", help="run directory being served")
    feedback.set_defaults(handler=do.cmd_feedback)

    retrain = commands.add_parser(
        "retrain",
        parents=[common],
        help="train a new version on new data and feedback; promote it only if it is better",
        description="Merge new data (--add) and the service's corrections into the training "
        "data, train a new version, score it and the live version on the same frozen test set "
        "(the original test split plus a held-out tenth of the new data), and make it live only "
        "if the task's metric (macro-F1 for classification, entity F1 for NER, micro-F1 for "
        "multi-label, R@1 for image-text, nDCG@10 for embeddings, perplexity for generation) "
        "is better by more than luck (paired tests on the same rows: McNemar where answers "
        "are right or wrong per row, a paired bootstrap of the metric; p < --alpha), gains at "
        "least --margin and no class loses more than --max-class-drop.",
    )
    retrain.add_argument("run", metavar="RUN", help="run directory to grow")
    retrain.add_argument("--add", metavar="DATA", help="new labelled data (any training format)")
    retrain.add_argument(
        "--no-feedback", action="store_true", help="leave the collected corrections out"
    )
    retrain.add_argument(
        "--from",
        dest="start",
        choices=["live", "base"],
        default="live",
        help="warm start from the live version, or from the base pretrained model (default: live)",
    )
    retrain.add_argument(
        "--margin",
        type=float,
        default=0.0,
        help="gain on the task's metric needed to promote (default: 0)",
    )
    retrain.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="significance level of the paired tests the new version must pass (default: 0.05)",
    )
    retrain.add_argument(
        "--max-class-drop",
        type=float,
        default=0.05,
        help="largest F1 loss any class may take (default: 0.05)",
    )
    retrain.set_defaults(handler=do.cmd_retrain)

    doctor = commands.add_parser(
        "doctor",
        parents=[common],
        help="this machine: CPU, bf16, memory, GPUs, disk, libraries, hub, offline models",
    )
    doctor.add_argument("--out", default="runs", help="where runs go, for the disk check")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument(
        "--no-network", action="store_true", help="do not try to reach the Hugging Face hub"
    )
    doctor.set_defaults(handler=do.cmd_doctor)

    models = commands.add_parser(
        "models",
        parents=[common],
        help="the model catalog, and which model to pick for a task on this machine",
        description="Without --task: the catalog (tasks, size, offline availability, licence). "
        "With --task: each model available offline for it runs a few real training steps in "
        "its own process; the measured step time and peak memory give estimated minutes per "
        "epoch for your data (--data) and a recommendation within --budget.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith models\n  tunesmith models --task text-classification "
        "--data reviews.csv --budget 30m",
    )
    models.add_argument("--task", help="the task to advise on (see `tunesmith train --help`)")
    models.add_argument("--data", metavar="DATA", help="your training data, for its size")
    models.add_argument("--budget", help="time you can spend training: 90s, 30m, 2h")
    models.add_argument("--batch-size", type=int, default=16, help="batch for the probe (16)")
    models.add_argument("--json", action="store_true", help="print the report as JSON")
    models.set_defaults(handler=do.cmd_models)

    runs = commands.add_parser("runs", parents=[common], help="a run's versions and which is live")
    runs.add_argument("run", metavar="RUN", help="run directory")
    runs.set_defaults(handler=do.cmd_runs)

    promote = commands.add_parser(
        "promote", parents=[common], help="make a version live (or roll back to an earlier one)"
    )
    promote.add_argument("run", metavar="RUN", help="run directory")
    promote.add_argument("--version", required=True, help="version to make live, e.g. 1 or v3")
    promote.set_defaults(handler=do.cmd_promote)

    from tunesmith.studio.commands import add_studio_command  # parser only: light

    add_studio_command(commands, common)
    from tunesmith.labeling.commands import add_label_commands  # parser only: light

    add_label_commands(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except TunesmithError as exc:
        if args.debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "\ninterrupted. A training run continues with `tunesmith train --resume --out RUN`.",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # a bug, not a user error: say so, keep the terminal clean
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc}\nThis is a tunesmith bug; rerun with"
            " --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
