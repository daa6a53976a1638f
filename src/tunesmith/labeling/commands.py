"""`tunesmith label push|pull|backend|connect`: the command group's flags and what each step
does, kept with the labelling code. Importing this module stays light (no torch, no
label-studio-sdk): cli.py builds its parser for every `tunesmith --help`."""

from __future__ import annotations

import argparse

from tunesmith.errors import TunesmithError


def add_label_commands(commands, common) -> None:
    """`tunesmith label push|pull|backend|connect`: labelling in a running Label Studio."""
    label = commands.add_parser(
        "label",
        parents=[common],
        help="label with the model in the loop in Label Studio: push, pull, ML backend",
        description="Work with a running Label Studio through its API. push: the run's model "
        "answers unlabelled rows, which go into a project as pre-annotated tasks, least sure "
        "and most varied first. pull: finished annotations come back as training data "
        "(--retrain: through retrain's gate). backend: answer as Label Studio's ML backend. "
        "The key is --api-key or $LABEL_STUDIO_API_KEY.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tunesmith label push runs/reviews --data unlabelled.csv "
        "--url http://127.0.0.1:8080\n  tunesmith label pull runs/reviews --url "
        "http://127.0.0.1:8080 --retrain\n  tunesmith label backend runs/reviews --port 9090",
    )
    steps = label.add_subparsers(dest="step", metavar="STEP", required=True)
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("run", metavar="RUN", help="run directory")
    server.add_argument("--url", required=True, help="Label Studio's address")
    server.add_argument("--api-key", help="access token (default: $LABEL_STUDIO_API_KEY)")
    server.add_argument("--project", help="project title (default: 'tunesmith RUN-FOLDER')")
    push = steps.add_parser(
        "push", parents=[common, server], help="import unlabelled rows, pre-annotated, in order"
    )
    push.add_argument("--data", required=True, metavar="FILE", help="unlabelled rows")
    push.add_argument("--column", help="the text or image column (default: detected)")
    push.add_argument(
        "--limit",
        type=int,
        default=500,
        help="import the N rows most worth labelling (default: 500); push again after retrain",
    )
    push.set_defaults(handler=cmd_label_push)
    pull = steps.add_parser(
        "pull", parents=[common, server], help="annotations finished since the last pull"
    )
    pull.add_argument("--retrain", action="store_true", help="retrain on them through the gate")
    pull.add_argument("--margin", type=float, default=0.0, help="retrain's --margin (0)")
    pull.add_argument("--alpha", type=float, default=0.05, help="retrain's --alpha (0.05)")
    pull.set_defaults(handler=cmd_label_pull)
    backend = steps.add_parser(
        "backend", parents=[common], help="answer as Label Studio's ML backend"
    )
    backend.add_argument("run", metavar="RUN", help="run directory")
    backend.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    backend.add_argument("--port", type=int, default=9090, help="port (default: 9090)")
    backend.add_argument(
        "--basic-auth", metavar="USER:PASSWORD", help="required for any address but 127.0.0.1"
    )
    backend.set_defaults(handler=cmd_label_backend)
    connect = steps.add_parser(
        "connect", parents=[common, server], help="add a running backend to the project"
    )
    connect.add_argument(
        "--backend-url", required=True, help="the backend's address as Label Studio reaches it"
    )
    connect.set_defaults(handler=cmd_label_connect)


def _label_key(args: argparse.Namespace) -> str | None:
    import os

    return args.api_key or os.environ.get("LABEL_STUDIO_API_KEY")


def cmd_label_push(args: argparse.Namespace) -> int:
    from tunesmith.labeling.loop import push

    push(
        args.run,
        args.data,
        args.url,
        _label_key(args),
        title=args.project,
        column=args.column,
        limit=args.limit,
    )
    return 0


def cmd_label_pull(args: argparse.Namespace) -> int:
    from tunesmith.labeling.loop import pull

    gate = {"margin": args.margin, "alpha": args.alpha} if args.retrain else {}
    pull(args.run, args.url, _label_key(args), title=args.project, retrain=args.retrain, **gate)
    return 0


def cmd_label_backend(args: argparse.Namespace) -> int:
    from tunesmith.labeling.backend import serve_backend

    auth = None
    if args.basic_auth:
        user, sep, password = args.basic_auth.partition(":")
        if not (sep and user and password):
            raise TunesmithError(
                "the user and password are not USER:PASSWORD",
                where="--basic-auth",
                fix="give both, separated by a colon",
            )
        auth = (user, password)
    serve_backend(args.run, host=args.host, port=args.port, basic_auth=auth)
    return 0


def cmd_label_connect(args: argparse.Namespace) -> int:
    from tunesmith.labeling.loop import connect_backend

    connect_backend(args.run, args.url, _label_key(args), args.backend_url, title=args.project)
    return 0
