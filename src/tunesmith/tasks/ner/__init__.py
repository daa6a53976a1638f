"""Named-entity recognition: BIO tags per word, entity spans with character offsets."""

from tunesmith.tasks.ner.task import TokenClassification, spans_to_words
from tunesmith.tasks.ner.tokens import first_pieces

__all__ = ["TokenClassification", "first_pieces", "spans_to_words"]
