"""The catalog of known models and offline-aware loading."""
