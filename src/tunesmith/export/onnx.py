"""ONNX export of a run, dynamic int8 quantisation, and a parity check on the run's own test
split: each backend's headline metrics (accuracy and macro-F1, entity F1, recall@1...) and the
largest difference in any class probability (or embedding value) against PyTorch.

    RUN/onnx/model.onnx        fp32, dynamic batch (and sequence) axes, output "logits"
    RUN/onnx/model.int8.onnx   weights quantised to int8 (onnxruntime quantize_dynamic)
    RUN/onnx/parity.json       the check, also printed

What is exported is the task's (Task.onnx.graphs: {file stem: Graph}); classifiers export their
logits as model.onnx, embedding its encoder's token vectors (the task pools them), image-text one
file per tower. Task.onnx.model turns the loaded sessions back into what its predict() takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tunesmith.console import info
from tunesmith.errors import TunesmithError


def onnx_folder(run_dir: str | Path) -> Path:
    return Path(run_dir) / "onnx"


@dataclass
class Graph:
    """One ONNX file to write: `module` takes the `inputs` tensors positionally (in order) and
    returns one tensor, named `output`; `axes` names the dynamic axes of inputs and output."""

    module: torch.nn.Module
    inputs: dict[str, torch.Tensor]
    output: str
    axes: dict[str, dict[int, str]]


def logits_graph(task, net, processor, per_token: bool = False) -> Graph:
    """A classifier's logits (the default OnnxExport.graphs): text or image in, logits out (per
    input, or per token)."""
    if task.input_kind == "image":
        size = processor.size
        sample = {"pixel_values": torch.randn(1, 3, size, size)}
        axes = {"pixel_values": {0: "batch"}}
    else:
        sample = dict(
            processor(["a short text", "and a longer text here"], padding=True, return_tensors="pt")
        )
        axes = {name: {0: "batch", 1: "sequence"} for name in sample}
    axes["logits"] = {0: "batch", 1: "sequence"} if per_token else {0: "batch"}
    return Graph(Outputs(net, list(sample), "logits"), sample, "logits", axes)


def export_onnx(run_dir: str | Path, int8: bool = False) -> dict:
    from tunesmith.api import load
    from tunesmith.run_dir import write_json

    model = load(run_dir)
    if model.task.onnx is None:
        from tunesmith import tasks

        covered = [name for name in tasks.names() if tasks.get(name).onnx]
        why, instead = model.task.onnx_refusal
        raise TunesmithError(
            f"ONNX export covers {', '.join(covered)}, not {model.task.name}: {why}",
            where=f"tunesmith export {run_dir}",
            fix=instead,
        )
    folder = onnx_folder(run_dir)
    folder.mkdir(exist_ok=True)
    net = model.model.eval()
    fp32, quantised = {}, {}
    for stem, graph in model.task.onnx.graphs(net, model.processor).items():
        fp32[stem] = folder / f"{stem}.onnx"
        with torch.no_grad():
            torch.onnx.export(
                graph.module.eval(),
                tuple(graph.inputs.values()),
                str(fp32[stem]),
                input_names=list(graph.inputs),
                output_names=[graph.output],
                dynamic_axes=graph.axes,
                opset_version=18,
                dynamo=False,  # the TorchScript exporter takes dynamic axes as they are
            )
        if int8:
            import logging

            from onnxruntime.quantization import QuantType, quantize_dynamic

            logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process is for static
            quantised[stem] = folder / f"{stem}.int8.onnx"
            quantize_dynamic(str(fp32[stem]), str(quantised[stem]), weight_type=QuantType.QInt8)
    net.eval()  # export restores the wrapper's training flag; keep the model in eval mode
    files = {"onnx fp32": fp32} | ({"onnx int8": quantised} if int8 else {})
    parity = check_parity(model, files)
    write_json(folder / "parity.json", parity)
    return parity


def onnx_files(folder: Path) -> tuple[str, dict[str, Path]]:
    """(backend, {stem: path}) of an export: the int8 files where there are any."""
    for backend, suffix in (("onnx int8", ".int8.onnx"), ("onnx fp32", ".onnx")):
        found = {
            p.name.removesuffix(suffix): p
            for p in sorted(folder.glob(f"*{suffix}"))
            if suffix == ".int8.onnx" or not p.name.endswith(".int8.onnx")
        }
        if found:
            return backend, found
    return "", {}


class Outputs(torch.nn.Module):
    """The model as export sees it: positional tensors in, one output out (by name or index)."""

    def __init__(self, net, names: list[str], output: str | int):
        super().__init__()
        self.net, self.names, self.output = net, names, output

    def forward(self, *tensors):
        return self.net(**dict(zip(self.names, tensors, strict=True)))[self.output]


class OnnxModule:
    """An onnxruntime session that looks like the PyTorch model to the tasks' predict():
    called with tensors, returns its output by name or position (`out.logits`, `out[0]`)."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.output = self.session.get_outputs()[0].name
        self.device = torch.device("cpu")
        self.path = path

    def eval(self):
        return self

    def __call__(self, **tensors):
        feed = {k: v.cpu().numpy() for k, v in tensors.items() if k in self.inputs}
        (value,) = self.session.run([self.output], feed)
        return _Output({self.output: torch.from_numpy(value)})


class _Output(dict):
    def __getitem__(self, key):
        return list(self.values())[key] if isinstance(key, int) else super().__getitem__(key)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def check_parity(model, files: dict[str, dict[str, Path]]) -> dict:
    """Each backend on the run's test split, scored by the task (accuracy and macro-F1, entity
    F1, or retrieval), with the largest difference in any probability (or embedding value)
    against PyTorch."""
    test = test_examples(model)
    task = model.task
    backends = {"pytorch": model.model} | {
        name: task.onnx.model({stem: OnnxModule(path) for stem, path in paths.items()}, model.model)
        for name, paths in files.items()
    }
    results, reference = {}, None
    for name, module in backends.items():
        answers = task.onnx.parity_answers(
            module, model.processor, test, model.labels, model.max_length
        )
        try:
            measured = task.score(answers, test, model.labels)
        except NotImplementedError:  # scored by test() (embedding: searches the whole corpus)
            measured, _ = task.test(
                module, model.processor, test, model.labels, model.max_length, 64
            )
        headline = task.report.headline(measured)
        reference = reference or answers
        results[name] = {key: round(value, 4) for key, value in list(headline.items())[:2]}
        results[name] |= _differences(answers, reference)
        if name != "pytorch":
            paths = list(files[name].values())
            results[name]["file"] = ", ".join(str(p) for p in paths)
            results[name]["megabytes"] = round(sum(p.stat().st_size for p in paths) / 1e6, 1)
    info(format_parity(results, len(test)))
    return {"test_examples": len(test), "backends": results}


def _differences(answers: list[dict], reference: list[dict]) -> dict:
    """Largest probability difference; for entities, also how many answers differ at all."""
    if "embedding" in reference[0]:
        gap = max(
            abs(x - y)
            for a, r in zip(answers, reference, strict=True)
            for x, y in zip(a["embedding"], r["embedding"], strict=True)
        )
        return {"max_embedding_difference": round(gap, 7)}
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
    gap = next(k for k in results["pytorch"] if k.startswith("max_"))  # probability, embedding
    extra = {gap, "answers_that_differ", "file", "megabytes"}
    metrics = [k for k in results["pytorch"] if k not in extra]
    heading = "max prob diff" if gap == "max_probability_difference" else "max diff"
    lines = [
        f"Parity on the run's test split ({count} examples):",
        f"  {'backend':<10} "
        + " ".join(f"{m:>18}" for m in metrics)
        + f" {heading:>14} {'size':>8}",
    ]
    for name, r in results.items():
        size = f"{r['megabytes']} MB" if "megabytes" in r else ""
        values = " ".join(f"{r[m]:>18.4f}" for m in metrics)
        lines.append(f"  {name:<10} {values} {r[gap]:>14.6f} {size:>8}")
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
