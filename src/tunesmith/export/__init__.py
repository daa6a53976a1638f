"""Exporting a trained run for other runtimes: ONNX with int8 quantisation (onnx.py)."""
