"""Keeping a model improving: the feedback store (store.py), versions and the live pointer
(versions.py), and retraining behind a promotion gate (retrain.py)."""
