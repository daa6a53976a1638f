"""int8 that keeps the model's accuracy, or no int8 at all.

`tunesmith export --int8` quantises each fp32 ONNX file, measures the result on the run's
validation split with the task's headline metric against the trained model (PyTorch fp32), and
keeps it only if the drop is at most `--max-drop` points. Two recipes are tried, cheapest first,
and the first that passes is kept:

    dynamic   int8 weights per output channel, activations quantised at run time
    static    int8 weights and activations (QDQ), activation ranges calibrated on the
              validation split's own inputs

Both leave in fp32 what int8 hurts most and saves least: the embeddings (Gather is never
quantised), the output head (the last weighted layer before each output), and products of two
activations (attention scores and the softmax path); LayerNorm and Softmax are not quantised.

    RUN/onnx/int8.json   the measurement: each recipe's figures, the limit, the file's sha256

A refused int8 leaves no int8 file (an older one is removed), and the ONNX backend serves an
int8 file only if int8.json accepted that very file (onnx.py `onnx_files`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from tunesmith.console import info
from tunesmith.errors import TunesmithError

RECORD = "int8.json"
QUANTISED_OPS = ["MatMul", "Gemm", "Conv"]
CALIBRATION_EXAMPLES = 256  # enough for activation ranges; more only slows the export


def sensitive_nodes(path: Path) -> list[str]:
    """Nodes to keep in fp32: the output head and activation-by-activation products."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    made_by = {out: node for node in graph.node for out in node.output}
    constant = {n.output[0] for n in graph.node if n.op_type == "Constant"}

    def weighted(node) -> bool:
        return any(name in weights or name in constant for name in node.input[1:])

    keep = [n.name for n in graph.node if n.op_type == "MatMul" and not weighted(n)]
    for output in graph.output:  # walk back to the first weighted layer: the head
        stack, seen = [output.name], set()
        while stack:
            node = made_by.get(stack.pop())
            if node is None or node.name in seen:
                continue
            seen.add(node.name)
            if node.op_type in QUANTISED_OPS and weighted(node):
                keep.append(node.name)
            else:
                stack.extend(node.input)
    return sorted(set(keep))


def quantise(source: Path, target: Path, recipe: str, feeds: list[dict] | None = None) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process is not needed here
    common = {
        "op_types_to_quantize": QUANTISED_OPS,
        "per_channel": True,
        "nodes_to_exclude": sensitive_nodes(source),
        "weight_type": QuantType.QInt8,
    }
    if recipe == "dynamic":
        quantize_dynamic(
            str(source), str(target), **common, extra_options={"MatMulConstBOnly": True}
        )
        return

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.left = iter(feeds or [])

        def get_next(self):
            return next(self.left, None)

    quantize_static(
        str(source),
        str(target),
        Feeds(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        **common,
    )


class Recorder:
    """An fp32 session that keeps the inputs the task feeds it: the calibration data, in the
    task's own preprocessing, whatever the task."""

    def __init__(self, module, feeds: list[dict]):
        self.module, self.feeds = module, feeds
        self.device = module.device

    def eval(self):
        return self

    def __call__(self, **tensors):
        self.feeds.append(
            {k: v.cpu().numpy() for k, v in tensors.items() if k in self.module.inputs}
        )
        return self.module(**tensors)


def gated_int8(model, fp32: dict[str, Path], folder: Path, max_drop: float) -> dict | None:
    """Quantise, measure on the validation split, keep the first recipe within `max_drop`
    points; returns {stem: int8 path} or None (refused: no int8 file is left behind)."""
    from tunesmith.evaluation.parity import headline_metric, split_examples
    from tunesmith.export.onnx import OnnxModule
    from tunesmith.run_dir import write_json

    task = model.task
    val = split_examples(model, "val")
    val = val.subset(list(range(min(len(val), 2000))))  # a bound on export time for huge splits

    def measure(net) -> tuple[str, float]:
        answers = task.onnx.parity_answers(
            net, model.processor, val, model.labels, model.max_length
        )
        return headline_metric(task, answers, val, model.labels, module=net, model=model)

    metric, reference = measure(model.model)
    feeds: dict[str, list] = {stem: [] for stem in fp32}
    calibration = val.subset(list(range(min(len(val), CALIBRATION_EXAMPLES))))
    recorders = {stem: Recorder(OnnxModule(p), feeds[stem]) for stem, p in fp32.items()}
    task.onnx.parity_answers(
        task.onnx.model(recorders, model.model),
        model.processor,
        calibration,
        model.labels,
        model.max_length,
    )
    tried, chosen = [], None
    for recipe in ("dynamic", "static"):
        paths = {stem: folder / f".{stem}.int8.{recipe}.onnx" for stem in fp32}
        for stem, path in paths.items():
            quantise(fp32[stem], path, recipe, feeds[stem])
        sessions = {stem: OnnxModule(p) for stem, p in paths.items()}
        _, value = measure(task.onnx.model(sessions, model.model))
        drop = round((reference - value) * 100, 2)  # points; the headline metrics rise
        tried.append({"recipe": recipe, metric: round(value, 4), "drop_points": drop})
        if chosen is None and drop <= max_drop:
            chosen = paths
        else:
            for path in paths.values():
                path.unlink(missing_ok=True)
        if chosen:
            break
    record = {
        "metric": metric,
        "split": f"validation ({len(val)} examples)",
        "pytorch fp32": round(reference, 4),
        "max_drop_points": max_drop,
        "tried": tried,
        "accepted": chosen is not None,
    }
    final = {stem: folder / f"{stem}.int8.onnx" for stem in fp32}
    lines = [f"int8 on the validation split ({len(val)} examples), {metric}:"]
    lines.append(f"  pytorch fp32 {reference:.4f}")
    lines += [
        f"  int8 {t['recipe']:<8} {t[metric]:.4f} (drop {t['drop_points']:g} points)" for t in tried
    ]
    if chosen is None:
        for path in final.values():  # an older int8 must not outlive a refusal
            path.unlink(missing_ok=True)
        write_json(folder / RECORD, record)
        info("\n".join(lines))
        best = min(t["drop_points"] for t in tried)
        raise TunesmithError(
            f"int8 loses {best:g} points of {metric} on the validation split (limit "
            f"{max_drop:g}), so no int8 model was written",
            where=f"tunesmith export {model.root} --int8 --max-drop {max_drop:g}",
            fix=f"serve the fp32 export (`tunesmith export {model.root} --format onnx`, then "
            f"`tunesmith serve {model.root} --backend onnx`), or accept the loss with "
            f"--max-drop {best:g}",
        )
    for stem, path in chosen.items():
        os.replace(path, final[stem])
    record["recipe"] = tried[-1]["recipe"]
    record["files"] = {p.name: sha256(p) for p in final.values()}
    write_json(folder / RECORD, record)
    info("\n".join(lines + [f"  kept: {record['recipe']} int8, within {max_drop:g} points"]))
    return final


def accepted(folder: Path, files: dict[str, Path]) -> bool:
    """Whether int8.json accepted exactly these int8 files (an older, unmeasured or refused
    int8 is not served)."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    known = record.get("files") or {}
    return bool(record.get("accepted")) and all(
        known.get(p.name) == sha256(p) for p in files.values()
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
