"""Generation: causal language models on chats, instructions and plain text."""

from tunesmith.tasks.generation.task import CausalLM

__all__ = ["CausalLM"]
