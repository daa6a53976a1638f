"""Image-text dual encoders (CLIP-style): both towers map into one space where an image and the
words that describe it land close together.

Two kinds, used through `image_embeddings` / `text_embeddings`, and `forward` for training
(batch logits, which the task's loss function scores):
- `DualEncoder`: assembled from a pretrained image tower (torchvision, e.g. the packaged
  MobileNetV2) and a pretrained text tower (a transformers encoder, e.g. MiniLM-L6, mean
  pooled), each with a new linear projection; the offline default, as no CLIP weights ship.
  Saved by the Trainer as model.safetensors; dual_encoder.json (written with the processor)
  says how to rebuild it.
- a Hugging Face CLIPModel (or relative) as it is, saved in its own format.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

CONFIG_FILE = "dual_encoder.json"
PROJECTION = 256


def contrastive_loss(logits: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over the batch (`logits[i, j]`: image i against caption j): each image
    against every caption in the batch (in-batch negatives), and each caption against every
    image. `same[i, j]`: captions i and j are word for word the same (templated captions repeat
    within a batch); such copies share the target. While copies embed identically this equals
    the usual one-caption target; under dropout they differ a little, and no copy is then
    pushed away as a wrong answer."""
    target = same.float() / same.float().sum(1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def batch_logits(outputs) -> torch.Tensor:
    """Image-by-caption logits from a DualEncoder or a transformers CLIPModel output."""
    if isinstance(outputs, dict) and "logits_per_image" in outputs:
        return outputs["logits_per_image"].float()
    return outputs["logits"].float()


class DualEncoder(nn.Module):
    def __init__(self, image_net: nn.Module, image_dim: int, text_net: nn.Module, spec: dict):
        super().__init__()
        self.image_net, self.text_net, self.spec = image_net, text_net, spec
        self.image_projection = nn.Linear(image_dim, spec["projection"], bias=False)
        text_dim = text_net.config.hidden_size
        self.text_projection = nn.Linear(text_dim, spec["projection"], bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's start

    def train(self, mode: bool = True):
        """A locked tower stays in evaluation mode: its batch-norm statistics are the
        pretrained ones, not those of each small batch."""
        super().train(mode)
        for tower in (self.image_net, self.text_net):
            if not any(p.requires_grad for p in tower.parameters()):
                tower.eval()
        return self

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_projection(self.image_net(pixel_values)).float(), dim=-1)

    def encode_texts(self, input_ids, attention_mask) -> torch.Tensor:
        hidden = self.text_net(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # mean over real tokens
        return F.normalize(self.text_projection(pooled).float(), dim=-1)

    def forward(self, pixel_values, input_ids, attention_mask):
        """Image-by-caption logits; the task's loss function turns them into the loss."""
        image = self.encode_images(pixel_values)
        text = self.encode_texts(input_ids, attention_mask)
        return {"logits": self.logit_scale.exp().clamp(max=100) * image @ text.t()}


def _unwrapped(model):
    """The model inside a peft wrapper (LoRA training), adapters active; else `model`."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def image_embeddings(model, pixel_values) -> torch.Tensor:
    """Unit-length image embeddings from a DualEncoder or a transformers CLIPModel."""
    model = _unwrapped(model)
    if isinstance(model, DualEncoder):
        return model.encode_images(pixel_values)
    return F.normalize(_features(model.get_image_features(pixel_values=pixel_values)), dim=-1)


def text_embeddings(model, input_ids, attention_mask) -> torch.Tensor:
    model = _unwrapped(model)
    if isinstance(model, DualEncoder):
        return model.encode_texts(input_ids, attention_mask)
    out = model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
    return F.normalize(_features(out), dim=-1)


def _features(out) -> torch.Tensor:
    """transformers 5 may return an output object where 4.x returned the tensor."""
    if isinstance(out, torch.Tensor):
        return out.float()
    return out.pooler_output.float()


def image_tower(name: str) -> tuple[nn.Module, int, object]:
    """A torchvision classifier without its head (pooled features), its width, preprocessing."""
    from tunesmith.models.vision import BUILDERS, _torchvision

    net, prep = BUILDERS[name]() if name in BUILDERS else _torchvision(name.split("/", 1)[1])
    last = None
    for module_name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            last = (module_name, module)
    parent_name, _, child = last[0].rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, nn.Identity())
    return net, last[1].in_features, prep


def assemble(image_name: str, text_source: str, text_name: str, pretrained: bool = True):
    """(DualEncoder, tokenizer, image preprocessing) from an image tower name and a text tower
    folder or hub id."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from tunesmith.models.loading import load_or_explain

    net, width, prep = image_tower(image_name)
    tokenizer = load_or_explain(AutoTokenizer, text_source, text_name)
    if pretrained:
        text = load_or_explain(AutoModel, text_source, text_name)
    else:
        text = AutoModel.from_config(AutoConfig.from_pretrained(text_source))
    spec = {
        "format": "tunesmith-dual-encoder/1",
        "image_encoder": image_name,
        "text_encoder": text_name,
        "text_config": text.config.to_dict(),
        "image_dim": width,
        "projection": PROJECTION,
        "preprocessing": prep.to_json(),
    }
    return DualEncoder(net, width, text, spec), tokenizer, prep


def load_dual_encoder(folder: Path):
    """A saved DualEncoder run: architecture from dual_encoder.json, weights from safetensors."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from tunesmith.models.vision import Preprocessing, rebuild_torchvision

    spec = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    prep = Preprocessing(**{k: v for k, v in spec["preprocessing"].items() if k != "labels"})
    prep.labels = ["x"]
    net = rebuild_torchvision(prep).net
    last = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
    parent_name, _, child = last.rpartition(".")
    setattr(net.get_submodule(parent_name) if parent_name else net, child, nn.Identity())
    config_values = dict(spec["text_config"])
    config = AutoConfig.for_model(config_values.pop("model_type"), **config_values)
    model = DualEncoder(net, spec["image_dim"], AutoModel.from_config(config), spec)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model, AutoTokenizer.from_pretrained(folder), prep
