"""Metrics, plots, the HTML report and the model card."""
