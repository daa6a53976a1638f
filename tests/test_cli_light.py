import subprocess
import sys


def test_help_does_not_import_torch():
    code = (
        "import sys; from tunesmith.cli import build_parser; "
        "build_parser().format_help(); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('torch', 'transformers')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_lists_commands_and_examples():
    out = subprocess.run(
        [sys.executable, "-m", "tunesmith", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for word in ("train", "evaluate", "predict", "examples:"):
        assert word in out
