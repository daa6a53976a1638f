"""The sentence encoder: a transformers encoder (AutoModel), mean pooled over the real tokens
and L2-normalised, saved so that `AutoModel.from_pretrained(RUN)` and sentence-transformers
(`SentenceTransformer(RUN)`: modules.json, 1_Pooling/, 2_Normalize/) both load it."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

# E5 models were trained with these prefixes; without them their embeddings are worse
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
ST_CONFIG = "config_sentence_transformers.json"


def prompts_for(*names: str) -> dict[str, str]:
    return dict(E5_PROMPTS) if any("e5" in str(n).lower() for n in names) else {}


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unit-length means of the token vectors where `mask` is 1 (what sentence-transformers'
    Pooling + Normalize compute)."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return F.normalize(pooled.float(), dim=-1)


class EmbeddingProcessor:
    """The tokenizer plus what the run needs around it: the query/passage prompts and the
    sentence-transformers files. Anything else is the tokenizer's (so vocabulary checks and
    `model_max_length` work as for text tasks)."""

    def __init__(self, tokenizer, prompts: dict[str, str], dimension: int):
        self.tokenizer, self.prompts, self.dimension = tokenizer, dict(prompts), dimension
        self.max_seq_length = min(getattr(tokenizer, "model_max_length", 512), 512)

    def __getattr__(self, name: str):
        if name == "tokenizer":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def __call__(self, *args, **kwargs):
        return self.tokenizer(*args, **kwargs)

    def with_prompt(self, texts: list[str], kind: str) -> list[str]:
        prompt = self.prompts.get(kind, "")
        return [prompt + t for t in texts] if prompt else list(texts)

    def save_pretrained(self, folder) -> None:
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ]
        pooling = {
            "word_embedding_dimension": self.dimension,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        }
        st_config = {"prompts": self.prompts, "default_prompt_name": None}
        st_config["similarity_fn_name"] = "cosine"
        files = {
            "modules.json": modules,
            "1_Pooling/config.json": pooling,
            "sentence_bert_config.json": {
                "max_seq_length": self.max_seq_length,
                "do_lower_case": False,
            },
            ST_CONFIG: st_config,
        }
        (folder / "2_Normalize").mkdir(exist_ok=True)
        for name, content in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(json.dumps(content, indent=2), encoding="utf-8")


def load_encoder(source: str, flag_value: str):
    from transformers import AutoModel, AutoTokenizer

    from tunesmith.models.loading import load_or_explain

    tokenizer = load_or_explain(AutoTokenizer, source, flag_value)
    model = load_or_explain(AutoModel, source, flag_value)
    saved = Path(source) / ST_CONFIG  # a sentence-transformers folder says its own prompts
    if saved.is_file():
        prompts = json.loads(saved.read_text(encoding="utf-8")).get("prompts") or {}
    else:
        prompts = prompts_for(flag_value, source)
    return model, EmbeddingProcessor(tokenizer, prompts, model.config.hidden_size)


def load_run(run_dir: Path):
    from transformers import AutoModel, AutoTokenizer

    run_dir = Path(run_dir)
    st_config = run_dir / ST_CONFIG
    prompts = json.loads(st_config.read_text(encoding="utf-8")).get("prompts") or {}
    model = AutoModel.from_pretrained(run_dir)
    processor = EmbeddingProcessor(
        AutoTokenizer.from_pretrained(run_dir), prompts, model.config.hidden_size
    )
    saved = run_dir / "sentence_bert_config.json"
    if saved.is_file():
        processor.max_seq_length = json.loads(saved.read_text())["max_seq_length"]
    return model, processor


def embed(model, processor, texts: list[str], kind: str, max_length: int, batch_size: int = 64):
    """Unit-length embeddings (one row per text, in input order) and each text's token count.
    Batches of similar length, so little padding is computed."""
    texts = processor.with_prompt(list(texts), kind)
    if not texts:
        return torch.empty(0, processor.dimension), []
    tokens = processor.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
    device = getattr(model, "device", None) or next(model.parameters()).device  # or ONNX's
    out = torch.empty(len(texts), processor.dimension)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = processor.tokenizer.pad(
                {"input_ids": [tokens[i] for i in chunk]}, padding=True, return_tensors="pt"
            ).to(device)
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
            out[chunk] = mean_pool(hidden, batch["attention_mask"]).cpu()
    return out, [len(t) for t in tokens]
