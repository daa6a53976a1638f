"""Embedding's ONNX export: the encoder's token vectors, pooled by the same code as PyTorch's."""

from __future__ import annotations

from tunesmith.tasks.onnx_export import OnnxExport


class EncoderExport(OnnxExport):
    def graphs(self, model, processor):
        """The encoder (input_ids, attention_mask -> last_hidden_state, dynamic batch and
        sequence): embed() then pools and normalises the ONNX output with the same code as the
        PyTorch one, so predict, search, test and serving share one path."""
        from tunesmith.export.onnx import Graph, Outputs

        sample = processor.tokenizer(
            ["a short text", "and a longer text here"], padding=True, return_tensors="pt"
        )
        names = ["input_ids", "attention_mask"]
        axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
        module = Outputs(model, names, 0)
        return {"model": Graph(module, {n: sample[n] for n in names}, "last_hidden_state", axes)}
