"""Run under torchrun by tests/test_task_features.py: train each job (CLI arguments for
`tunesmith train`, from a JSON list) in turn, in every process, stopping at the first failure."""

import json
import sys

from tunesmith.cli import main

if __name__ == "__main__":
    for job in json.loads(open(sys.argv[1], encoding="utf-8").read()):
        code = main(job)
        if code:
            sys.exit(code)
