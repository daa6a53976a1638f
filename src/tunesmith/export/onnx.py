"""ONNX export of a run, int8 that passed an accuracy gate (quantize.py), and the parity
certificate (evaluation/parity.py: every form of the model on the run's test split).

    RUN/onnx/model.onnx        fp32, dynamic batch (and sequence) axes, output "logits"
    RUN/onnx/model.int8.onnx   int8, only if it kept the validation score (--max-drop)
    RUN/onnx/int8.json         that measurement
    RUN/parity.json            the certificate, also printed and put into report.html

What is exported is the task's (Task.onnx.graphs: {file stem: Graph}); classifiers export their
logits as model.onnx, embedding its encoder's token vectors (the task pools them), image-text one
file per tower. Task.onnx.model turns the loaded sessions back into what its predict() takes.
"""

from __future__ import annotations

import os
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


def export_onnx(run_dir: str | Path, int8: bool = False, max_drop: float = 0.5) -> dict:
    """Write the fp32 ONNX files (and int8 ones that keep the accuracy within `max_drop`
    points: export/quantize.py), then the parity certificate (evaluation/parity.py)."""
    from tunesmith.api import load
    from tunesmith.evaluation import parity
    from tunesmith.export.quantize import gated_int8

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
    folder = onnx_folder(model.path)  # the live version's, where load(backend="onnx") looks
    folder.mkdir(exist_ok=True)
    net = model.model.eval()
    fp32 = {}
    for stem, graph in model.task.onnx.graphs(net, model.processor).items():
        fp32[stem] = folder / f"{stem}.onnx"
        partial = folder / f".{stem}.onnx.tmp"  # renamed when complete: never half a file
        with torch.no_grad():
            torch.onnx.export(
                graph.module.eval(),
                tuple(graph.inputs.values()),
                str(partial),
                input_names=list(graph.inputs),
                output_names=[graph.output],
                dynamic_axes=graph.axes,
                opset_version=18,
                dynamo=False,  # the TorchScript exporter takes dynamic axes as they are
            )
        os.replace(partial, fp32[stem])
    net.eval()  # export restores the wrapper's training flag; keep the model in eval mode
    files, refused = {"onnx fp32": fp32}, None
    if int8:
        try:
            files["onnx int8"] = gated_int8(model, fp32, folder, max_drop)
        except TunesmithError as exc:  # certify what was written, then say why int8 was not
            refused = exc
    forms = parity.pytorch_forms(model) | {
        name: (model.task.onnx.model(sessions(paths), model.model), False)
        for name, paths in files.items()
    }
    certificate = parity.certify(model, forms)
    for name, paths in files.items():
        certificate["backends"][name]["file"] = ", ".join(str(p) for p in paths.values())
        megabytes = sum(p.stat().st_size for p in paths.values()) / 1e6
        certificate["backends"][name]["megabytes"] = round(megabytes, 1)
    old = parity.read(model.path, model)
    if old and "http" in old["backends"]:  # the service's row stays until serve measures again
        certificate["backends"]["http"] = old["backends"]["http"]
    parity.save(model.path, certificate)
    info(parity.format_table(certificate))
    if refused:
        raise refused
    return certificate


def sessions(paths: dict[str, Path]) -> dict:
    return {stem: OnnxModule(path) for stem, path in paths.items()}


def onnx_files(folder: Path) -> tuple[str, dict[str, Path]]:
    """(backend, {stem: path}) of an export: the int8 files where there are any that passed
    the accuracy gate (export/quantize.py); an int8 file that did not is an error, never
    served in silence."""
    from tunesmith.export.quantize import accepted

    for backend, suffix in (("onnx int8", ".int8.onnx"), ("onnx fp32", ".onnx")):
        found = {
            p.name.removesuffix(suffix): p
            for p in sorted(folder.glob(f"*{suffix}"))
            if suffix == ".int8.onnx" or not p.name.endswith(".int8.onnx")
        }
        if found and backend == "onnx int8" and not accepted(folder, found):
            run = folder.parent
            raise TunesmithError(
                "the int8 export in this run was not measured against the run's validation "
                "split (an older export), or does not match that measurement",
                where=", ".join(str(p) for p in found.values()),
                fix=f"export again to measure it (`tunesmith export {run} --format onnx "
                f"--int8`), or delete {', '.join(p.name for p in found.values())} to serve "
                "the fp32 export",
            )
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
        # Idle threads sleep instead of spinning: as fast alone, and a server's event loop
        # sharing the cores gets them (int8 served 124 -> 166 requests/s on 2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
