"""`python -m tunesmith.studio.job_runner JOB_FOLDER ARGS...`: one queued job's process. It runs
the `tunesmith` CLI with ARGS, exactly as `python -m tunesmith ARGS...` would, and leaves its
exit code in JOB_FOLDER/exit_code, so a studio started again after this process ended still
knows how it ended (it is no longer this process's parent and cannot wait for it)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

EXIT_FILE = "exit_code"


def main() -> int:
    folder, argv = Path(sys.argv[1]), sys.argv[2:]
    # Cancel sends SIGINT: the Trainer stops as on Ctrl-C. A studio started in the background
    # by a shell has SIGINT ignored, and this process would inherit that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from tunesmith.cli import main as cli

        code = cli(argv)
    except KeyboardInterrupt:  # before the CLI's own handler was reached
        code = 130
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    tmp = folder / f".{EXIT_FILE}.tmp"
    tmp.write_text(str(code), encoding="utf-8")
    tmp.replace(folder / EXIT_FILE)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
