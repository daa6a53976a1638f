"""Image classification: one label per image, on torchvision CNNs/ViTs or any Hugging Face
`AutoModelForImageClassification`.

Labels, metrics, the report and answers are those of text classification (one label per
input); what differs is the input: image paths, checked and decoded as the model expects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tunesmith.data.columns import LABEL_NAMES, by_name, check_column, column_names
from tunesmith.data.image_paths import data_folder, resolve_image_paths
from tunesmith.data.images import IMAGE_SUFFIXES, scan_images
from tunesmith.data.readers import describe_row
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import DISTILL_SETTINGS, Examples
from tunesmith.tasks.feedback import Feedback
from tunesmith.tasks.image_classification.report import ImageReport
from tunesmith.tasks.single_label import SingleLabelTask

IMAGE_NAMES = ("image", "images", "img", "path", "filepath", "file_path", "file", "filename")
IMAGE_NAMES += ("图片", "图像", "路径")
SMALL_DATA_IMAGES = 500  # below this many training images, auto-freeze trains the head only


def looks_like_image_column(values: pd.Series) -> bool:
    sample = values.astype(str).head(50).str.lower()
    return bool(len(sample)) and sample.map(lambda v: Path(v).suffix in IMAGE_SUFFIXES).mean() > 0.8


def image_column(table: pd.DataFrame, given: str | None, source: str, flag: str) -> str:
    if given:
        check_column(table, given, flag, source)
        return given
    candidates = [c for c in table.columns if looks_like_image_column(table[c])]
    named = by_name(candidates, IMAGE_NAMES)
    if named or candidates:
        return named or candidates[0]
    raise TunesmithError(
        f"no column of image paths (columns are: {column_names(table.columns)})",
        where=source,
        fix="name it with --data.image_column, or use a folder with one sub-folder per class",
    )


def image_paths(table: pd.DataFrame, column: str, source: str) -> tuple[list[str], Path]:
    """The column's image paths, resolved inside the data folder, and that folder."""
    root = data_folder(source)
    return resolve_image_paths(table[column].astype(str), root), root


def describe_image(table: pd.DataFrame, column: str, source: str) -> Callable[[int], str]:
    """Names a row's image for notes: where it is in the source, the column, the path given."""
    return lambda i: (
        f"{describe_row(source, int(table.index[i]))}, column {column!r}: {table[column].iloc[i]}"
    )


class ImageClassification(SingleLabelTask):
    name = "image-classification"
    report_class = ImageReport
    feedback = Feedback(input_column="image")
    default_model = "mobilenet-v2"
    input_kind = "image"
    throughput_unit = ("images",)
    pipeline_tag = "image-classification"
    cleans_inputs = False
    group_by_length = False
    default_epochs = 5
    peft_task_type = None  # peft has no image TaskType: lora_settings decides per model
    search_learning_rates = (1e-4, 3e-3)
    search_freeze = ("head", "none")
    settings = (
        "data.image_column",
        "train.class_weights",
        "train.augment",
        "train.backbone_lr_scale",
        *DISTILL_SETTINGS,
    )

    def distiller(self):
        from tunesmith.tasks.image_classification.distillation import ImageDistiller

        return ImageDistiller(student="mobilenet-v2")  # 3.5M parameters, packaged offline

    def texts(self, examples, limit=2000):
        return []

    def prepare(self, table, source, columns, options=None):
        flag = "--data.image_column"
        image_col = image_column(table, columns.get("image"), source, flag)
        label_col = columns.get("label")
        if label_col:
            check_column(table, label_col, "--data.label_column", source)
        else:
            others = [c for c in table.columns if c not in {image_col, "file"}]
            label_col = by_name(others, LABEL_NAMES)
            if not label_col:
                raise TunesmithError(
                    "cannot tell which column holds the label (columns are: "
                    f"{column_names(table.columns)})",
                    where=source,
                    fix="name it with --data.label_column",
                )
        paths, root = image_paths(table, image_col, source)
        labels = table[label_col].astype(str).str.strip()
        scan = scan_images(paths, root)
        notes = scan.notes(describe_image(table, image_col, source))
        if scan.converted:
            notes.append(f"Converted {scan.converted} image(s) to RGB (greyscale, palette, alpha).")
        keep = scan.keep
        frame = pd.DataFrame(
            {
                "input": [paths[i] for i in keep],
                "label": labels.iloc[keep].tolist(),
                "row": table.index[keep],
                "key": scan.digests,  # duplicates are the same bytes, under any name
                "phash": scan.hashes,
                "small": [i in set(scan.small) for i in keep],
                "blurry": [i in set(scan.blurry) for i in keep],
            }
        )
        unlabeled = frame["label"] == ""
        if unlabeled.any():
            notes.append(
                f"Dropped {int(unlabeled.sum())} image(s) with no label (first: "
                f"{describe_row(source, int(frame['row'][unlabeled].iloc[0]))})."
            )
            frame = frame[~unlabeled]
        if frame.empty:
            raise TunesmithError(
                f"no usable images ({' '.join(notes).rstrip('.') or 'none has a label'})",
                where=source,
                fix="check the image paths (relative to the data file) and the files",
            )
        return Examples(
            frame.reset_index(drop=True), source, {"image": image_col, "label": label_col}, notes
        )

    def load_model(self, source, labels, flag_value):
        from tunesmith.models import vision

        if vision.is_torchvision(flag_value):
            return vision.build_torchvision(flag_value, labels)
        return vision.load_hf(source, labels, flag_value)

    def load_trained(self, run_dir):
        from tunesmith.models import vision

        prep = vision.Preprocessing.load(run_dir)
        if not prep.architecture:
            from transformers import AutoImageProcessor, AutoModelForImageClassification

            processor = AutoImageProcessor.from_pretrained(run_dir)
            model = AutoModelForImageClassification.from_pretrained(run_dir)
            return model, vision.preprocessing_of(processor, prep.labels)
        from safetensors.torch import load_file

        model = vision.rebuild_torchvision(prep)
        model.load_state_dict(load_file(Path(run_dir) / "model.safetensors"))
        return model, prep

    def freeze(self, model, spec, train_rows):
        """auto: the head only (a linear probe) under 500 training images, else everything."""
        from tunesmith.models.vision import head_parameters

        if spec == "auto":
            spec = "head" if train_rows < SMALL_DATA_IMAGES else "none"
        if spec not in {"none", "head"}:
            raise TunesmithError(
                f"image models take --train.freeze none|head|auto, not {spec!r}",
                where=f"--train.freeze {spec}",
                fix="use head (train only the new classifier) or none",
            )
        head = head_parameters(model)
        for p in model.parameters():
            p.requires_grad = spec == "none" or id(p) in head
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return spec, {"total": total, "trainable": trainable}

    def lora_settings(self, model, freeze="auto"):
        """LoRA on Hugging Face image models (ViT, ConvNeXt...): adapters on the linear layers,
        the new head (the top-level module holding the last Linear, e.g. `classifier`) trained
        whole through peft's modules_to_save, as peft has no image-classification TaskType.
        Torchvision CNNs and models with no linear layer besides the head are refused."""
        import torch.nn as nn

        from tunesmith.models.vision import VisionClassifier

        fix = (
            "train without --lora: --train.freeze head trains only the new classifier, or use a "
            "Hugging Face ViT/ConvNeXt model (e.g. --model google/vit-base-patch16-224) with --lora"
        )
        if isinstance(model, VisionClassifier):
            raise TunesmithError(
                f"--lora is not available for torchvision CNNs such as "
                f"{type(model.net).__name__}: tunesmith has no LoRA wiring for them",
                where="--train.lora",
                fix=fix,
            )
        linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        head = linear[-1].split(".")[0] if linear else ""
        if not any(name.split(".")[0] != head for name in linear):
            raise TunesmithError(
                f"--lora is not available for {type(model).__name__}: it has no linear layers "
                "besides its classifier to put adapters on",
                where="--train.lora",
                fix=fix,
            )
        return {"modules_to_save": [head]}

    def default_learning_rate(self, model, counts):
        # Measured on the textile images (MobileNetV2): see the README's image section.
        return 1e-3 if counts["trainable"] < counts["total"] / 2 else 3e-4

    def parameter_groups(self, model, cfg):
        """The new head at the learning rate, the pretrained layers at a share of it; no weight
        decay on biases and normalisation weights (as the Trainer does)."""
        if cfg.backbone_lr_scale == 1.0:
            return None
        from tunesmith.models.vision import head_parameters

        # under LoRA the head is peft's trainable copy of it (modules_to_save)
        saved = {id(p) for n, p in model.named_parameters() if "modules_to_save" in n}
        head = saved or head_parameters(model)
        groups: dict[tuple[bool, bool], list] = {}
        for p in model.parameters():
            if p.requires_grad:
                groups.setdefault((id(p) in head, p.ndim > 1), []).append(p)
        return [
            {
                "params": params,
                "lr": cfg.learning_rate * (1.0 if is_head else cfg.backbone_lr_scale),
                "weight_decay": cfg.weight_decay if decays else 0.0,
            }
            for (is_head, decays), params in groups.items()
        ]

    def encode(self, examples, processor, labels, cfg, training=False):
        from tunesmith.data.image_dataset import ImageDataset

        self.check_labels(examples, labels)
        index = {name: i for i, name in enumerate(labels)}
        ids = [index[x] for x in examples.frame["label"]]
        return ImageDataset(list(examples.frame["input"]), ids, processor, training, cfg.augment)

    def collator(self, processor):
        from tunesmith.data.image_dataset import collate

        return collate

    def probe_batch(self, model, processor, batch, length):
        import torch

        size = processor.size
        return {
            "pixel_values": torch.randn(batch, 3, size, size),
            "labels": torch.randint(0, 2, (batch,)),
        }

    def class_weights(self, train_dataset, num_labels, mode):
        from tunesmith.training.trainer import balanced_weights

        return balanced_weights(train_dataset.labels, num_labels, mode)

    def predict(self, model, processor, inputs, labels, max_length, batch_size=64):
        import torch

        from tunesmith.data.image_dataset import decode, transforms_for

        transform = transforms_for(processor, training=False)
        model.eval()
        device = getattr(model, "device", None) or next(model.parameters()).device
        probs = []
        with torch.inference_mode():
            for start in range(0, len(inputs), batch_size):
                batch = torch.stack(
                    [transform(decode(x, processor)) for x in inputs[start : start + batch_size]]
                ).to(device)
                out = model(pixel_values=batch.contiguous(memory_format=torch.channels_last))
                probs += out["logits"].float().softmax(-1).cpu().tolist()
        return [self._answer(row, labels) for row in probs]
