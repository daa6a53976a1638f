"""The Ollama Modelfile written beside a GGUF export (export/gguf.py).

Ollama reads the chat template from the GGUF's metadata (tokenizer.chat_template) and maps the
templates it knows to its own Go templates. The Modelfile spells the template out only where
the run's template renders exactly as ChatML does (checked by rendering sample chats both
ways), and always names the run's end-of-turn token as a stop, so an answer ends where the
model learned to end it.
"""

from __future__ import annotations

# Ollama's ChatML template (Go text/template), and the same rendering in Python to check it.
CHATML_GO = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
SAMPLES = (
    [{"role": "user", "content": "Hello? 你好？"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ],
)


def chatml(messages: list[dict]) -> str:
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def renders_chatml(tokenizer) -> bool:
    try:
        rendered = [
            tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
            for m in SAMPLES
        ]
    except Exception:  # a template that refuses a system turn, or these roles
        return False
    return rendered == [chatml(m) for m in SAMPLES]


def modelfile(tokenizer) -> str:
    stops = [tokenizer.eos_token] if tokenizer.eos_token else []
    lines = [
        "# Ollama: `ollama create NAME -f Modelfile` in this folder, then `ollama run NAME`.",
        "# Written by `tunesmith export --format gguf`. The chat template and the end-of-turn",
        "# token also travel in model.gguf's metadata (tokenizer.chat_template, eos_token_id).",
        "FROM ./model.gguf",
    ]
    if renders_chatml(tokenizer):
        lines += [
            "# The run's chat template, which renders as ChatML:",
            f'TEMPLATE """{CHATML_GO}"""',
        ]
        if "<|im_end|>" not in stops:
            stops.append("<|im_end|>")
    else:
        lines.append("# No TEMPLATE: Ollama takes the run's chat template from model.gguf.")
    lines += [f"PARAMETER stop {_quoted(s)}" for s in stops]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
