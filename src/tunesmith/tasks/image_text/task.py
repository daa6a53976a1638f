"""Image-text (CLIP-style): fine-tune a dual encoder on image-caption pairs, then classify images
zero-shot against labels given at query time, and search images with words.

Data: image + caption pairs (several captions per image allowed), or image class folders whose
labels become captions through a template. Models: `mobilenet-v2+minilm-l6` (any torchvision
image tower + any transformers text encoder, with new projections; the offline default) or a
Hugging Face CLIPModel. Measured before and after fine-tuning: recall@1/5/10 both ways on the
test split, and zero-shot accuracy when the data has labels.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from tunesmith.data.columns import LABEL_NAMES, TEXT_NAMES, by_name, check_column
from tunesmith.data.images import scan_images
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples, Task
from tunesmith.tasks.image_classification import describe_image, image_column, image_paths
from tunesmith.tasks.image_text import metrics as measure
from tunesmith.tasks.image_text.export import TowersExport
from tunesmith.tasks.image_text.feedback import CaptionFeedback
from tunesmith.tasks.image_text.report import PairReport

CAPTION_NAMES = ("caption", "captions", "description", "alt", "alt_text", *TEXT_NAMES, "描述")


class ImageTextProcessor:
    """What the run needs besides the weights: the tokenizer, the image preprocessing and (for
    assembled dual encoders) how to rebuild the model. The Trainer saves it with the model."""

    def __init__(self, tokenizer, prep, spec: dict | None = None, template: str | None = None):
        self.tokenizer, self.prep, self.spec = tokenizer, prep, spec
        self.template = template  # the caption template of templated training data
        self.model_max_length = min(tokenizer.model_max_length, 512)

    @property
    def size(self) -> int:
        return self.prep.size

    def save_pretrained(self, folder) -> None:
        import json

        from tunesmith.models.dual_encoder import CONFIG_FILE

        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        if self.prep.hf_processor is not None:
            self.prep.hf_processor.save_pretrained(folder)
        if self.spec is not None:
            (folder / CONFIG_FILE).write_text(json.dumps(self.spec, indent=2), encoding="utf-8")


def _freeze_spec(spec: str) -> str:
    """--train.freeze for image-text: auto is image (LiT); the locked tower, or none."""
    spec = "image" if spec == "auto" else spec
    if spec not in {"image", "text", "none"}:
        raise TunesmithError(
            f"image-text models take --train.freeze auto|image|text|none, not {spec!r}",
            where=f"--train.freeze {spec}",
            fix="image locks the image tower (the default), text the text tower",
        )
    return spec


class ImageText(Task):
    name = "image-text"
    report_class = PairReport
    feedback = CaptionFeedback()
    promotion_metric = "image_to_text.R@1"
    default_model = "mobilenet-v2+minilm-l6"
    input_kind = "image"
    throughput_unit = ("images",)  # one image and its caption
    pipeline_tag = "zero-shot-image-classification"
    metric = "loss"
    epoch_metrics = ()
    group_by_length = False
    default_epochs = 5
    new_head = False
    onnx_class = TowersExport  # one file per tower
    settings = ("data.image_column", "data.caption_template", "train.augment")
    distill_refusal = (
        "the dual encoder learns from image-caption contrast within each batch, not from a "
        "per-row answer a teacher could give",
        "train the smaller dual encoder directly: tunesmith train DATA --task image-text "
        "--model mobilenet-v2+minilm-l6",
    )
    search_freeze = ("image", "none")  # `tune`: this task's own freeze choices (see freeze())
    # `tune`: a CLIP checkpoint wants ~1e-5, new projections on an assembled pair ~5e-4
    search_learning_rates = (1e-5, 1e-3)

    def texts(self, examples, limit=2000):
        return [str(c) for c in examples.frame["caption"][:limit]]

    def chinese_model(self):
        # The image tower stays; the captions need a text tower that reads Chinese.
        image, _ = self.default_model.split("+", 1)
        return f"{image}+multilingual-e5-small"

    def stratify_key(self, examples):
        return examples.frame["label"] if "label" in examples.frame else None

    def split_groups(self, examples):
        """All captions of an image in one split: a test image must be new to the model."""
        images = examples.frame["input"]
        return images if images.duplicated().any() else None

    def prepare(self, table, source, columns, options=None):
        image_col = image_column(table, columns.get("image"), source, "--data.image_column")
        others = [c for c in table.columns if c not in {image_col, "file"}]
        label_col = columns.get("label") or by_name(others, LABEL_NAMES)
        caption_col = columns.get("text") or by_name(
            [c for c in others if c != label_col], CAPTION_NAMES
        )
        for flag, col in (("--data.label_column", label_col), ("--data.text_column", caption_col)):
            if col:
                check_column(table, col, flag, source)
        if not caption_col and not label_col:
            raise TunesmithError(
                "no caption column and no label column (columns: "
                f"{', '.join(map(repr, table.columns))})",
                where=source,
                fix="add a caption column (--data.text_column), or use class folders of images, "
                "whose names become captions (--data.caption_template)",
            )
        labels = (
            table[label_col].astype(str).str.strip() if label_col else pd.Series([""] * len(table))
        )
        template = options.caption_template if options is not None else "a photo of {label}"
        notes = []
        if caption_col:
            captions = table[caption_col].astype(str).str.strip()
        else:
            template = measure.template_for(list(labels), template)
            captions = labels.map(lambda label: template.format(label=label))
            notes.append(f"Captions made from the labels with the template {template!r}.")
        paths, root = image_paths(table, image_col, source)
        scan = scan_images(paths, root)
        notes += scan.notes(describe_image(table, image_col, source))
        keep = scan.keep
        frame = pd.DataFrame(
            {
                "input": [paths[i] for i in keep],
                "caption": captions.iloc[keep].tolist(),
                "label": labels.iloc[keep].tolist(),
                "row": table.index[keep],
                "phash": scan.hashes,
                "small": [i in set(scan.small) for i in keep],
                "blurry": [i in set(scan.blurry) for i in keep],
            }
        )
        if not label_col:  # no classes: nothing to stratify, balance or zero-shot on
            frame = frame.drop(columns="label")
        frame["key"] = [f"{d}|{c}" for d, c in zip(scan.digests, frame["caption"], strict=True)]
        empty = frame["caption"] == ""
        if empty.any():
            notes.append(f"Dropped {int(empty.sum())} pair(s) with an empty caption.")
            frame = frame[~empty].reset_index(drop=True)
        if frame.empty:
            raise TunesmithError(
                f"no usable image-caption pairs ({' '.join(notes).rstrip('.') or 'none'})",
                where=source,
                fix="check the image paths (relative to the data file) and the captions",
            )
        columns = {"image": image_col, "text": caption_col or "", "label": label_col or ""}
        if not caption_col:
            columns["template"] = template  # zero-shot asks in the words training used
        return Examples(frame, source, columns, notes)

    def check_labels(self, examples, labels):
        return None  # zero-shot: any label can be asked for at prediction time

    def label_names(self, examples):
        return sorted(set(examples.frame["label"])) if "label" in examples.frame else []

    def load_model(self, source, labels, flag_value):
        from tunesmith.models.dual_encoder import assemble
        from tunesmith.models.loading import load_or_explain, resolve
        from tunesmith.models.vision import preprocessing_of

        if "+" in flag_value:
            image_name, text_name = flag_value.split("+", 1)
            model, tokenizer, prep = assemble(image_name, resolve(text_name)[0], text_name)
            return model, ImageTextProcessor(tokenizer, prep, model.spec)
        from transformers import AutoModel, AutoProcessor

        processor = load_or_explain(AutoProcessor, source, flag_value)
        model = load_or_explain(AutoModel, source, flag_value)
        if not hasattr(model, "get_image_features"):
            raise TunesmithError(
                f"{flag_value} is not an image-text (CLIP-style) model",
                where=f"--model {flag_value}",
                fix="use a CLIP checkpoint, or a pair like mobilenet-v2+minilm-l6",
            )
        prep = preprocessing_of(processor.image_processor, labels)
        return model, ImageTextProcessor(processor.tokenizer, prep)

    def load_trained(self, run_dir):
        import json

        from tunesmith.models.dual_encoder import CONFIG_FILE, load_dual_encoder
        from tunesmith.models.vision import preprocessing_of

        run_dir = Path(run_dir)
        manifest = json.loads((run_dir / "tunesmith.json").read_text(encoding="utf-8"))
        template = manifest["columns"].get("template")
        if (run_dir / CONFIG_FILE).is_file():
            model, tokenizer, prep = load_dual_encoder(run_dir)
            return model, ImageTextProcessor(tokenizer, prep, template=template)
        from transformers import AutoModel, AutoProcessor

        processor = AutoProcessor.from_pretrained(run_dir)
        prep = preprocessing_of(processor.image_processor, [])
        tokenizer = processor.tokenizer
        return AutoModel.from_pretrained(run_dir), ImageTextProcessor(
            tokenizer, prep, None, template
        )

    def freeze(self, model, spec, train_rows):
        """auto: lock the image tower (LiT: a pretrained image tower, a text tower that learns
        to talk about it; also the cheaper backward pass). image | text | none."""
        from tunesmith.models.dual_encoder import DualEncoder

        spec = _freeze_spec(spec)
        if isinstance(model, DualEncoder):
            towers = {"image": model.image_net, "text": model.text_net}
        else:
            towers = {"image": model.vision_model, "text": model.text_model}
        for p in model.parameters():
            p.requires_grad = True
        if spec != "none":
            for p in towers[spec].parameters():
                p.requires_grad = False
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return spec, {"total": total, "trainable": trainable}

    def lora_settings(self, model, freeze="auto"):
        """LoRA keeps --train.freeze's meaning: the locked tower gets no adapters. The default
        (image, LiT) adapts the text tower only, `none` both towers, `text` the image tower. New
        projections (assembled towers) train whole; a CLIP checkpoint's pretrained projections
        get adapters. The temperature stays as loaded: peft trains modules, and logit_scale is a
        bare parameter. The run holds the merged model, so export, serving and loading are as
        without LoRA."""
        from tunesmith.models.dual_encoder import DualEncoder

        spec = _freeze_spec(freeze)
        if not isinstance(model, DualEncoder):  # a CLIPModel or relative
            locked = {"image": "vision_model", "text": "text_model"}.get(spec)
            return {"exclude_modules": rf"{locked}\..*"} if locked else {}
        if spec != "image":
            raise TunesmithError(
                f"--lora cannot adapt the image tower of an assembled dual encoder: "
                f"{model.spec['image_encoder']} is a torchvision network, which tunesmith has no "
                "LoRA wiring for",
                where=f"--train.freeze {spec}",
                fix="keep --train.freeze image with --lora (adapters on the text tower), or train "
                "the image tower whole: --no-lora --train.freeze none",
            )
        # the unused BERT pooler (the text tower is mean pooled) gets no adapters either
        return {
            "modules_to_save": ["image_projection", "text_projection"],
            "exclude_modules": r"image_net\..*|text_net\.pooler\..*",
        }

    def default_learning_rate(self, model, counts):
        from tunesmith.models.dual_encoder import DualEncoder

        # new projections (textile photos, locked image tower: 5e-4 reached zero-shot 0.685,
        # 1e-4 0.600) vs a CLIP checkpoint's own, already aligned, space
        return 5e-4 if isinstance(model, DualEncoder) else 1e-5

    def encode(self, examples, processor, labels, cfg, training=False):
        processor.template = examples.columns.get("template")
        return measure.PairDataset(examples, processor, cfg, training)

    def collator(self, processor):
        return measure.PairCollator(processor.tokenizer)

    def probe_batch(self, model, processor, batch, length):
        """Images and one caption each, every caption different (labels: caption ids)."""
        size = processor.size
        ids = torch.randint(5, min(len(processor.tokenizer), 30000), (batch, length))
        return {
            "pixel_values": torch.randn(batch, 3, size, size),
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "labels": torch.arange(batch),
        }

    def loss_function(self, class_weights):
        """The symmetric contrastive loss, for both model kinds; `labels` are caption ids."""
        from tunesmith.models.dual_encoder import batch_logits, contrastive_loss

        def loss(outputs, labels, num_items_in_batch=None):
            return contrastive_loss(batch_logits(outputs), labels[:, None] == labels[None, :])

        return loss

    def validation_metrics(self, labels):
        return None  # validation loss; recall and zero-shot accuracy are measured on test

    def baseline(self, model, processor, examples, cfg):
        return measure.evaluate(model, processor, examples, cfg.max_length)

    def test(self, model, processor, examples, labels, max_length, batch_size, baseline=None):
        metrics = measure.evaluate(model, processor, examples, max_length)
        if baseline:
            metrics["before"] = baseline
        return metrics, []

    def paired_rows(self, model, processor, examples, labels, max_length):
        """Each distinct image's image-to-text hit at rank 1 (their mean is R@1)."""
        import numpy as np

        values = np.array(measure.image_hits(model, processor, examples, max_length))
        return values, np.ones_like(values)

    def predict(self, model, processor, inputs, labels, max_length, batch_size=64, **options):
        """Zero-shot answers for images against `labels` (asked for now, or the run's)."""
        if not labels:
            raise TunesmithError(
                "zero-shot classification needs labels to choose from",
                where="--labels",
                fix='pass the candidate labels, e.g. --labels "cat,dog,car"',
            )
        return measure.zero_shot(model, processor, list(inputs), list(labels), max_length)

    def search(self, model, processor, query: str, images: list[str], top_k: int = 10):
        return measure.search(model, processor, query, images, top_k)
