"""Dynamic micro-batching: inputs from requests that arrive within a few milliseconds run as
one batch on one inference thread, so the event loop never blocks and the model sees batches
(one batched forward pass costs far less than the same inputs one by one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass
class _Job:
    inputs: list
    future: asyncio.Future


class MicroBatcher:
    """`await batcher.run(inputs)` -> answers; `predict(list) -> list` runs in one thread."""

    def __init__(
        self, predict: Callable[[list], list], max_batch: int = 32, max_wait_ms: float = 5
    ):
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue[_Job] | None = None
        self.worker: asyncio.Task | None = None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunesmith-infer")
        self.batches = 0  # batches run, for /health and tests

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.worker:
            self.worker.cancel()
        self.pool.shutdown(wait=True)

    async def run(self, inputs: list) -> list:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(list(inputs), future))
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = len(jobs[0].inputs)
            deadline = loop.time() + self.max_wait
            while size < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                jobs.append(job)
                size += len(job.inputs)
            batch = [x for job in jobs for x in job.inputs]
            try:
                answers = await loop.run_in_executor(self.pool, self.predict, batch)
            except Exception as exc:  # every waiting request gets the failure
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(answers[start : start + len(job.inputs)])
                start += len(job.inputs)
