"""Named-entity recognition: BIO tags per word, entity spans with character offsets."""

from tunesmith.tasks.ner.task import TokenClassification, first_pieces, spans_to_words

__all__ = ["TokenClassification", "first_pieces", "spans_to_words"]
