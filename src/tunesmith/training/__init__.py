"""The one shared training path (transformers Trainer) and its options."""
