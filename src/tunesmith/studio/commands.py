"""`tunesmith studio`: its flags and what it does, kept with the studio's code. Importing this
module stays light (no FastAPI app, no torch): cli.py builds its parser for every --help."""

from __future__ import annotations

import argparse


def add_studio_command(commands, common) -> None:
    studio = commands.add_parser(
        "studio",
        parents=[common],
        help="the whole path in a local web app (Chinese and English)",
        description="Open tunesmith studio in the browser: upload data and read the doctor's "
        "findings, pick a model and settings, train with live progress (one training at a "
        "time, queued, each in its own process), compare runs, try them, export and serve "
        "them, collect feedback and retrain. Runs go to DIR/runs, uploads to DIR/studio. "
        "Binds 127.0.0.1; another address needs --api-key.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith studio\n  tunesmith studio --dir ~/models --port 7860\n"
        "  tunesmith studio --host 0.0.0.0 --api-key a-long-secret",
    )
    studio.add_argument("--dir", default=".", help="workspace folder (default: .)")
    studio.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    studio.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    studio.add_argument(
        "--api-key",
        help="required for any address but 127.0.0.1: the browser asks for it once "
        "(default: $TUNESMITH_API_KEY)",
    )
    studio.set_defaults(handler=cmd_studio)


def cmd_studio(args: argparse.Namespace) -> int:
    import os

    from tunesmith.studio.server import run_studio

    api_key = args.api_key or os.environ.get("TUNESMITH_API_KEY")
    run_studio(args.dir, host=args.host, port=args.port, api_key=api_key)
    return 0
