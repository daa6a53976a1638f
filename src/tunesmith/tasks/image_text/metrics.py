"""Image-text data and measurements: the pair dataset and collator, embeddings, recall@k both
ways, zero-shot classification with averaged caption templates, and search."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from tunesmith.data.image_dataset import ImageDataset, decode, transforms_for

KS = (1, 5, 10)
TEMPLATES = {
    "en": ["a photo of {label}", "a picture of {label}", "an image of {label}", "{label}"],
    "zh": ["一张{label}的照片", "{label}的图片", "{label}"],
}
DEFAULT_TEMPLATE = "a photo of {label}"


def _chinese(labels: list[str]) -> bool:
    from tunesmith.models.vocabulary import chinese_share

    return bool(labels) and chinese_share(labels) >= 0.3


def template_for(labels: list[str], template: str) -> str:
    """The caption template; Chinese labels get the Chinese default."""
    return TEMPLATES["zh"][0] if template == DEFAULT_TEMPLATE and _chinese(labels) else template


class PairDataset(Dataset):
    """(image, caption) pairs: decoded images cached and augmented as for image classification,
    captions tokenised once."""

    def __init__(self, examples, processor, cfg, training: bool):
        frame = examples.frame
        self.images = ImageDataset(
            list(frame["input"]), [0] * len(frame), processor.prep, training, cfg.augment
        )
        captions = list(frame["caption"])
        self.tokens = processor.tokenizer(
            captions, truncation=True, max_length=min(cfg.max_length, 77)
        )["input_ids"]
        ids = {c: i for i, c in enumerate(dict.fromkeys(captions))}
        self.caption_ids = [ids[c] for c in captions]  # equal ids: the same words

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict:
        return {
            "pixel_values": self.images[index]["pixel_values"],
            "input_ids": self.tokens[index],
            "labels": self.caption_ids[index],
        }


class PairCollator:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch: list[dict]) -> dict:
        text = self.tokenizer.pad(
            {"input_ids": [b["input_ids"] for b in batch]}, padding=True, return_tensors="pt"
        )
        return {
            "pixel_values": torch.stack([b["pixel_values"] for b in batch]),
            "input_ids": text["input_ids"],
            "attention_mask": text["attention_mask"],
            "labels": torch.tensor([b["labels"] for b in batch]),  # the loss's caption ids
        }


def _device(model):
    return getattr(model, "device", None) or next(model.parameters()).device  # or ONNX's cpu


def embed_images(model, processor, paths: list, batch_size: int = 32) -> torch.Tensor:
    from tunesmith.models.dual_encoder import image_embeddings

    transform = transforms_for(processor.prep, training=False)
    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            pixels = torch.stack(
                [transform(decode(p, processor.prep)) for p in paths[start : start + batch_size]]
            )
            out.append(image_embeddings(model, pixels.to(_device(model))).cpu())
    return torch.cat(out) if out else torch.empty(0)


def embed_texts(model, processor, texts: list[str], max_length: int = 77) -> torch.Tensor:
    from tunesmith.models.dual_encoder import text_embeddings

    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            enc = processor.tokenizer(
                texts[start : start + 64],
                truncation=True,
                max_length=min(max_length, 77),
                padding=True,
                return_tensors="pt",
            ).to(_device(model))
            out.append(text_embeddings(model, enc["input_ids"], enc["attention_mask"]).cpu())
    return torch.cat(out) if out else torch.empty(0)


def label_embeddings(model, processor, labels: list[str], max_length: int = 77) -> torch.Tensor:
    """One embedding per label: in the words of the run's caption template when it trained on
    one, else the mean over generic templates (CLIP's prompt ensembling)."""
    templates = [processor.template] if getattr(processor, "template", None) else None
    templates = templates or TEMPLATES["zh" if _chinese(labels) else "en"]
    texts = [t.format(label=label) for label in labels for t in templates]
    embedded = embed_texts(model, processor, texts, max_length).view(
        len(labels), len(templates), -1
    )
    return torch.nn.functional.normalize(embedded.mean(1), dim=-1)


def recall(similarity: torch.Tensor, relevant: list[set[int]]) -> dict[str, float]:
    """Share of queries (rows) with a relevant item (column) among their k most similar."""
    order = similarity.argsort(dim=1, descending=True)
    out = {}
    for k in KS:
        top = order[:, :k].tolist()
        hits = sum(bool(relevant[i] & set(row)) for i, row in enumerate(top))
        out[f"R@{k}"] = round(hits / max(1, len(relevant)), 4)
    return out


def pairs(model, processor, examples, max_length: int):
    """The distinct images, their embeddings, image-caption similarities, and which captions
    belong to each image and which images to each caption."""
    frame = examples.frame
    images = list(dict.fromkeys(frame["input"]))
    captions = list(dict.fromkeys(frame["caption"]))
    image_index = {p: i for i, p in enumerate(images)}
    caption_index = {c: i for i, c in enumerate(captions)}
    image_vectors = embed_images(model, processor, images)
    caption_vectors = embed_texts(model, processor, captions, max_length)
    similarity = image_vectors @ caption_vectors.t()
    of_image: list[set[int]] = [set() for _ in images]
    of_caption: list[set[int]] = [set() for _ in captions]
    for path, caption in zip(frame["input"], frame["caption"], strict=True):
        of_image[image_index[path]].add(caption_index[caption])
        of_caption[caption_index[caption]].add(image_index[path])
    return images, captions, image_vectors, similarity, of_image, of_caption


def image_hits(model, processor, examples, max_length: int) -> list[float]:
    """1 for each distinct image whose most similar caption is one of its own, else 0 (their
    mean is image-to-text R@1)."""
    _, _, _, similarity, of_image, _ = pairs(model, processor, examples, max_length)
    best = similarity.argmax(dim=1).tolist()
    return [float(b in wanted) for b, wanted in zip(best, of_image, strict=True)]


def evaluate(model, processor, examples, max_length: int) -> dict:
    """Recall@1/5/10 image-to-text and text-to-image over the distinct images and captions, and
    zero-shot accuracy over the labels when the examples have them."""
    frame = examples.frame
    images, captions, image_vectors, similarity, of_image, of_caption = pairs(
        model, processor, examples, max_length
    )
    metrics = {
        "images": len(images),
        "captions": len(captions),
        "count": len(frame),
        "image_to_text": recall(similarity, of_image),
        "text_to_image": recall(similarity.t(), of_caption),
    }
    labels = sorted(set(frame["label"])) if "label" in frame else []
    if len(labels) > 1:
        truth = dict(zip(frame["input"], frame["label"], strict=True))
        vectors = label_embeddings(model, processor, labels, max_length)
        predicted = (image_vectors @ vectors.t()).argmax(1).tolist()
        right = sum(labels[p] == truth[path] for p, path in zip(predicted, images, strict=True))
        metrics["zero_shot_accuracy"] = round(right / len(images), 4)
        metrics["labels"] = labels
    return metrics


def zero_shot(model, processor, images: list, labels: list[str], max_length: int) -> list[dict]:
    vectors = label_embeddings(model, processor, labels, max_length)
    scale = float(getattr(model, "logit_scale", torch.tensor(4.6052)).detach().exp().clamp(max=100))
    probs = (scale * embed_images(model, processor, images) @ vectors.t()).softmax(-1).tolist()
    out = []
    for row in probs:
        best = max(range(len(row)), key=row.__getitem__)
        out.append(
            {
                "label": labels[best],
                "score": row[best],
                "scores": dict(zip(labels, row, strict=True)),
            }
        )
    return out


def search(model, processor, query: str, images: list[str], top_k: int) -> list[dict]:
    """The images closest to `query`, best first, with their cosine similarity."""
    query_vector = embed_texts(model, processor, [query])[0]
    scores = (embed_images(model, processor, images) @ query_vector).tolist()
    ranked = sorted(zip(images, scores, strict=True), key=lambda x: -x[1])[:top_k]
    return [{"image": path, "score": round(score, 4)} for path, score in ranked]


def before_after_rows(metrics: dict) -> list[list[str]]:
    before = metrics.get("before") or {}

    def pair(name: str, get) -> list[str]:
        try:
            was = f"{get(before):.3f}"
        except (KeyError, TypeError):
            was = "n/a"
        return [name, was, f"{get(metrics):.3f}"]

    rows = []
    if "zero_shot_accuracy" in metrics:
        rows.append(pair("zero-shot accuracy", lambda m: m["zero_shot_accuracy"]))
    for direction, title in (
        ("image_to_text", "image to text"),
        ("text_to_image", "text to image"),
    ):
        for k in KS:
            rows.append(pair(f"{title} R@{k}", lambda m, d=direction, k=k: m[d][f"R@{k}"]))
    return rows
