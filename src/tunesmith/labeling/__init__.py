"""Labelling with the model in the loop: a running Label Studio, through its API.

configs.py: the labelling config for a task's kind of answer (the task says which: its
`label_studio_control`), answers as pre-annotations; ordering.py: which rows are worth a person's
time (uncertainty, spread over clusters); client.py: the label-studio-sdk calls; loop.py: `label
push` and `label pull`; backend.py: the ML backend routes Label Studio calls.
"""
