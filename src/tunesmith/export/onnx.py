"""ONNX export of a run (text and image classification), dynamic int8 quantisation, and a
parity check on the run's own test split: each backend's accuracy and macro-F1, and the largest
difference in any class probability against PyTorch.

    RUN/onnx/model.onnx        fp32, dynamic batch (and sequence) axes, output "logits"
    RUN/onnx/model.int8.onnx   weights quantised to int8 (onnxruntime quantize_dynamic)
    RUN/onnx/parity.json       the check, also printed
"""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.console import info
from tunesmith.errors import TunesmithError


def onnx_folder(run_dir: str | Path) -> Path:
    return Path(run_dir) / "onnx"


def export_onnx(run_dir: str | Path, int8: bool = False) -> dict:
    from tunesmith.api import load
    from tunesmith.run_dir import write_json

    model = load(run_dir)
    if not model.task.onnx_logits:
        from tunesmith import tasks

        covered = [name for name in tasks.names() if tasks.get(name).onnx_logits]
        raise TunesmithError(
            f"ONNX export covers {', '.join(covered)}, not {model.task.name}",
            where=f"tunesmith export {run_dir}",
            fix="serve this run with the PyTorch backend (the default)",
        )
    folder = onnx_folder(run_dir)
    folder.mkdir(exist_ok=True)
    fp32 = folder / "model.onnx"
    net = model.model.eval()
    if model.task.input_kind == "image":
        size = model.processor.size
        sample = {"pixel_values": torch.randn(1, 3, size, size)}
        axes = {"pixel_values": {0: "batch"}}
    else:
        sample = dict(
            model.processor(
                ["a short text", "and a longer text here"], padding=True, return_tensors="pt"
            )
        )
        axes = {name: {0: "batch", 1: "sequence"} for name in sample}
        if model.task.onnx_logits == "per_token":  # one row of logits per token
            axes["logits"] = {0: "batch", 1: "sequence"}
    wrapper = _Logits(net, list(sample)).eval()
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            tuple(sample.values()),
            str(fp32),
            input_names=list(sample),
            output_names=["logits"],
            dynamic_axes={"logits": {0: "batch"}} | axes,
            opset_version=18,
            dynamo=False,  # the TorchScript exporter takes dynamic axes as they are
        )
    net.eval()  # export restores the wrapper's training flag; keep the model in eval mode
    files = {"onnx fp32": fp32}
    if int8:
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process is for static
        quantize_dynamic(str(fp32), str(folder / "model.int8.onnx"), weight_type=QuantType.QInt8)
        files["onnx int8"] = folder / "model.int8.onnx"
    parity = check_parity(model, files)
    write_json(folder / "parity.json", parity)
    return parity


class _Logits(torch.nn.Module):
    """The model as export sees it: positional tensors in, logits out."""

    def __init__(self, net, names: list[str]):
        super().__init__()
        self.net, self.names = net, names

    def forward(self, *tensors):
        return self.net(**dict(zip(self.names, tensors, strict=True)))["logits"]


class OnnxModule:
    """An onnxruntime session that looks like the PyTorch model to the tasks' predict():
    called with tensors, returns logits."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.device = torch.device("cpu")
        self.path = path

    def eval(self):
        return self

    def __call__(self, **tensors):
        feed = {k: v.cpu().numpy() for k, v in tensors.items() if k in self.inputs}
        (logits,) = self.session.run(["logits"], feed)
        return _Output(torch.from_numpy(logits))


class _Output(dict):
    def __init__(self, logits):
        super().__init__(logits=logits)
        self.logits = logits


def check_parity(model, files: dict[str, Path]) -> dict:
    """Each backend on the run's test split, scored by the task (accuracy and macro-F1, or
    entity F1), with the largest difference in any probability against PyTorch."""
    test = test_examples(model)
    inputs = list(test.frame["input"])
    backends = {"pytorch": model.model} | {name: OnnxModule(path) for name, path in files.items()}
    results, reference = {}, None
    for name, module in backends.items():
        answers = model.task.predict(
            module, model.processor, inputs, model.labels, model.max_length, 64
        )
        headline = model.task.headline(model.task.score(answers, test, model.labels))
        reference = reference or answers
        results[name] = {key: round(value, 4) for key, value in list(headline.items())[:2]}
        results[name] |= _differences(answers, reference)
        if name != "pytorch":
            results[name]["file"] = str(files[name])
            results[name]["megabytes"] = round(files[name].stat().st_size / 1e6, 1)
    info(format_parity(results, len(inputs)))
    return {"test_examples": len(inputs), "backends": results}


def _differences(answers: list[dict], reference: list[dict]) -> dict:
    """Largest probability difference; for entities, also how many answers differ at all."""
    if "scores" in reference[0]:
        gap = max(
            abs(a["scores"][k] - r["scores"][k])
            for a, r in zip(answers, reference, strict=True)
            for k in r["scores"]
        )
        return {"max_probability_difference": round(gap, 6)}

    def spans(answer):
        return [(e["type"], e["start"], e["end"]) for e in answer["entities"]]

    same = [spans(a) == spans(r) for a, r in zip(answers, reference, strict=True)]
    gaps = [
        abs(x["score"] - y["score"])
        for a, r, ok in zip(answers, reference, same, strict=True)
        if ok
        for x, y in zip(a["entities"], r["entities"], strict=True)
    ]
    return {
        "max_probability_difference": round(max(gaps, default=0.0), 6),
        "answers_that_differ": len(same) - sum(same),
    }


def format_parity(results: dict, count: int) -> str:
    extra = {"max_probability_difference", "answers_that_differ", "file", "megabytes"}
    metrics = [k for k in results["pytorch"] if k not in extra]
    lines = [
        f"Parity on the run's test split ({count} examples):",
        f"  {'backend':<10} "
        + " ".join(f"{m:>18}" for m in metrics)
        + f" {'max prob diff':>14} {'size':>8}",
    ]
    for name, r in results.items():
        size = f"{r['megabytes']} MB" if "megabytes" in r else ""
        values = " ".join(f"{r[m]:>18.4f}" for m in metrics)
        lines.append(f"  {name:<10} {values} {r['max_probability_difference']:>14.6f} {size:>8}")
        if r.get("answers_that_differ"):
            lines.append(f"  {'':<10} {r['answers_that_differ']} answer(s) differ from PyTorch")
    return "\n".join(lines)


def test_examples(model):
    """The run's test split, read again from its data as training split it."""
    import json

    from tunesmith.data.readers import read_splits, read_table

    splits = json.loads((model.path / "splits.json").read_text(encoding="utf-8"))
    options = model.data_options
    tables = read_splits(options.path, "--data.path", options)
    source = options.path
    if options.test_file:
        tables["test"], source = (
            read_table(options.test_file, "--data.test_file", options),
            options.test_file,
        )
    table = tables.get("test", tables["train"])
    columns = model.manifest["columns"]
    examples = model.task.prepare(table, source, columns, options)
    keep = examples.frame["row"].isin(set(splits["test"]))
    return examples.subset(list(keep[keep].index))
