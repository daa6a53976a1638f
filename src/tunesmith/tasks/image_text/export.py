"""Image-text's ONNX export: one file per tower, each to its unit-length embeddings, and the
pair of sessions put back together as something predict() and search() take."""

from __future__ import annotations

import torch

from tunesmith.tasks.image_text import metrics as measure
from tunesmith.tasks.onnx_export import OnnxExport


class TowersExport(OnnxExport):
    def graphs(self, model, processor):
        """Two towers, each to its unit-length embeddings: image.onnx (pixel_values ->
        image_embedding) and text.onnx (input_ids, attention_mask -> text_embedding)."""
        from tunesmith.export.onnx import Graph
        from tunesmith.models.dual_encoder import image_embeddings, text_embeddings

        size = processor.size
        pixels = {"pixel_values": torch.randn(2, 3, size, size)}
        words = processor.tokenizer(
            ["a photo of a cat", "a picture of a small dog"], padding=True, return_tensors="pt"
        )
        words = {n: words[n] for n in ("input_ids", "attention_mask")}
        text_axes = {n: {0: "batch", 1: "sequence"} for n in words}
        return {
            "image": Graph(
                _Tower(model, image_embeddings),
                pixels,
                "image_embedding",
                {"pixel_values": {0: "batch"}, "image_embedding": {0: "batch"}},
            ),
            "text": Graph(
                _Tower(model, text_embeddings),
                words,
                "text_embedding",
                text_axes | {"text_embedding": {0: "batch"}},
            ),
        }

    def parity_answers(self, model, processor, examples, labels, max_length):
        """Both towers' embeddings of the examples' images and captions (runs trained on
        captions alone have no labels to answer zero-shot with)."""
        frame = examples.frame
        images = measure.embed_images(model, processor, list(dict.fromkeys(frame["input"])))
        captions = list(dict.fromkeys(frame["caption"]))
        texts = measure.embed_texts(model, processor, captions, max_length)
        return [{"embedding": v} for v in [*images.tolist(), *texts.tolist()]]

    def model(self, sessions, model):
        return OnnxTowers(sessions["image"], sessions["text"], model.logit_scale.detach())


class _Tower(torch.nn.Module):
    """One tower for export: tensors in, unit-length embeddings out."""

    def __init__(self, model, embeddings):
        super().__init__()
        self.model, self.embeddings = model, embeddings

    def forward(self, *tensors):
        return self.embeddings(self.model, *tensors)


class OnnxTowers:
    """The two exported towers, looking like a CLIP model to measure's embed functions (their
    outputs are already unit length; normalising again changes nothing)."""

    def __init__(self, image, text, logit_scale):
        self.image, self.text, self.logit_scale = image, text, logit_scale
        self.device = image.device

    def eval(self):
        return self

    def get_image_features(self, pixel_values):
        return self.image(pixel_values=pixel_values)[0]

    def get_text_features(self, input_ids, attention_mask):
        return self.text(input_ids=input_ids, attention_mask=attention_mask)[0]
