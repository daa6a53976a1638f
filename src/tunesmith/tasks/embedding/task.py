"""Text embeddings for search: fine-tune a sentence encoder on (query, passage) pairs with
in-batch negatives, measure retrieval before and after, embed and search new texts."""

from __future__ import annotations

from pathlib import Path

from tunesmith.tasks.base import Task
from tunesmith.tasks.embedding import data
from tunesmith.tasks.embedding.export import EncoderExport
from tunesmith.tasks.embedding.feedback import PassageFeedback
from tunesmith.tasks.embedding.report import EmbeddingReport


class Embedding(Task):
    name = "embedding"
    report_class = EmbeddingReport
    feedback = PassageFeedback()
    promotion_metric = "nDCG@10"
    default_model = "minilm-l6"  # all-MiniLM-L6-v2, a sentence-transformers model
    input_kind = "text"
    throughput_unit = ("pairs", "tokens")  # tokens of queries, passages, negatives
    pipeline_tag = "sentence-similarity"
    metric = "loss"  # validation ranking loss picks the best epoch
    epoch_metrics = ()
    group_by_length = False  # batches are random: their other rows are the negatives
    new_head = False
    default_epochs = 1  # one pass over pairs is the usual sentence-transformers recipe
    peft_task_type = "FEATURE_EXTRACTION"  # --lora: adapters in the encoder; the run is merged
    embeds_text = True
    onnx_class = EncoderExport  # the encoder's token vectors; predict() pools them as for PyTorch
    settings = ("train.extend_vocab",)
    distill_refusal = (
        "an embedding is trained on similarities within each batch, not on a per-row answer "
        "a teacher could give, and a student's vectors live in a space of their own",
        "train the smaller encoder directly: tunesmith train DATA --task embedding --model "
        "SMALLER_MODEL",
    )

    def texts(self, examples, limit=2000):
        frame = examples.frame.head(limit // 2)
        return [*frame["input"], *frame["passage"]]

    def prepare(self, table, source, columns, options=None):
        return data.prepare_pairs(table, source, columns)

    def split_groups(self, examples):
        """All rows of a query in one split: a test query must be new to the model."""
        queries = examples.frame["input"]
        return queries if queries.duplicated().any() else None

    def check_labels(self, examples, labels):
        return None

    def label_names(self, examples):
        return []

    def load_model(self, source, labels, flag_value):
        from tunesmith.tasks.embedding.model import load_encoder

        return load_encoder(source, flag_value)

    def load_trained(self, run_dir):
        from tunesmith.tasks.embedding.model import load_run

        return load_run(Path(run_dir))

    def freeze(self, model, spec, train_rows):
        """As for any encoder, and the pooler (BERT's [CLS] layer) stays locked: mean pooling
        never uses it, and a trainable weight without a gradient stops torchrun's DDP."""
        spec, counts = super().freeze(model, spec, train_rows)
        pooler = getattr(model, "pooler", None)
        if pooler is not None:
            for parameter in pooler.parameters():
                parameter.requires_grad = False
            counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return spec, counts

    def lora_settings(self, model, freeze="auto"):
        """Adapters on the encoder's linear layers but the pooler's (mean pooling never uses it,
        as in freeze())."""
        settings = super().lora_settings(model, freeze)
        if getattr(model, "pooler", None) is not None:
            settings["exclude_modules"] = r"pooler\..*"
        return settings

    def encode(self, examples, processor, labels, cfg, training=False):
        from tunesmith.tasks.embedding.training import PairDataset

        processor.max_seq_length = cfg.max_length  # saved for sentence-transformers
        return PairDataset(examples, processor, cfg.max_length)

    def collator(self, processor):
        from tunesmith.tasks.embedding.training import PairCollator

        return PairCollator(processor.tokenizer)

    def probe_batch(self, model, processor, batch, length):
        from tunesmith.tasks.embedding.training import probe_pairs

        return probe_pairs(batch, length, model.get_input_embeddings().weight.shape[0])

    def loss_function(self, class_weights):
        from tunesmith.tasks.embedding.training import ranking_loss

        def loss(outputs, labels, num_items_in_batch=None):
            return ranking_loss(outputs, labels)

        return loss

    def validation_metrics(self, labels):
        return None

    def baseline(self, model, processor, examples, cfg):
        from tunesmith.tasks.embedding import metrics

        return metrics.evaluate(model, processor, examples, cfg.max_length, cfg.eval_batch_size)

    def test(self, model, processor, examples, labels, max_length, batch_size, baseline=None):
        from tunesmith.tasks.embedding import metrics

        measured = metrics.evaluate(model, processor, examples, max_length, batch_size)
        if baseline:
            measured["before"] = baseline
        return measured, []

    def paired_rows(self, model, processor, examples, labels, max_length):
        """Each held-out query's nDCG@10 (the promotion metric is their mean)."""
        import numpy as np

        from tunesmith.tasks.embedding import metrics

        top, relevant, _ = metrics.ranked(model, processor, examples, max_length)
        values = np.array(metrics.ndcg_per_query(top, relevant))
        return values, np.ones_like(values)

    def predict(self, model, processor, inputs, labels, max_length, batch_size=64, **options):
        """{"embedding": [...], "tokens": n} per text; `kind="passage"` embeds documents (models
        with prompts, like E5, embed queries and passages differently; default: query)."""
        from tunesmith.tasks.embedding.model import embed

        kind = options.pop("kind", "query")
        vectors, tokens = embed(
            model, processor, [str(x) for x in inputs], kind, max_length, batch_size
        )
        return [
            {"embedding": v, "tokens": n} for v, n in zip(vectors.tolist(), tokens, strict=True)
        ]

    def search(self, model, processor, query: str, corpus: list[str], top_k: int = 10):
        """The passages of `corpus` closest to `query`, best first, with cosine similarity."""
        from tunesmith.tasks.embedding import metrics

        length = processor.max_seq_length
        return metrics.search(model, processor, query, list(corpus), top_k, length)

    def read_corpus(self, path: str) -> list[str]:
        return data.read_corpus(path)

    def decision(self, answer):
        return None  # a vector, not a decision: parity compares the values instead
