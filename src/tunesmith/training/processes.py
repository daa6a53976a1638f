"""Several training processes (`torchrun`, `accelerate launch`): who writes, who waits.

The transformers Trainer does the distributed work itself (DDP; gloo on CPU, NCCL on GPUs;
DeepSpeed or FSDP from its arguments). Every process reads and splits the data the same way
(seeded), trains its share of each batch, and only the main process (rank 0) writes the run
directory, measures, tests and reports, so nothing is written twice or half.
"""

from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def wait_for_main() -> None:
    """A barrier: the other processes wait here until the main one arrives (no-op alone)."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
