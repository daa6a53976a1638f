"""Dynamic micro-batching: inputs from requests that arrive within a few milliseconds run as
one batch on one inference thread, so the event loop never blocks and the model sees batches
(one batched forward pass costs far less than the same inputs one by one).

A batch that fails is retried request by request, so one bad input fails its own request and
not its neighbours'. `stop` answers every job already queued before the thread ends."""

from __future__ import annotations

import asyncio
from collections import Counter
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
        self.queue: asyncio.Queue[_Job | None] | None = None
        self.worker: asyncio.Task | None = None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunesmith-infer")
        self.batches = 0  # batches run, for /health and tests
        self.sizes: Counter[int] = Counter()  # batch size -> batches run: the load's real shape
        self.stopping = False

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Answer every queued job, then end the inference thread."""
        if self.worker and not self.stopping:
            self.stopping = True
            await self.queue.put(None)  # the loop ends when it reaches this mark
            await self.worker
        self.pool.shutdown(wait=True)

    async def run(self, inputs: list) -> list:
        if self.stopping:  # a job queued behind the end mark would wait forever
            raise RuntimeError("the service is stopping")
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(list(inputs), future))
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            if first is None:
                return
            jobs, size, last = [first], len(first.inputs), False
            deadline = loop.time() + self.max_wait
            while size < self.max_batch and not last:
                if not self.queue.empty():  # queued while the last batch ran: no waiting
                    job = self.queue.get_nowait()
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self.queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                if job is None:
                    last = True
                else:
                    jobs.append(job)
                    size += len(job.inputs)
            await self._answer(jobs)
            if last:
                return

    async def _answer(self, jobs: list[_Job]) -> None:
        jobs = [job for job in jobs if not job.future.done()]  # its client left: skip it
        if not jobs:
            return
        batch = [x for job in jobs for x in job.inputs]
        try:
            answers = await asyncio.get_running_loop().run_in_executor(
                self.pool, self.predict, batch
            )
        except Exception as exc:
            if len(jobs) == 1:
                if not jobs[0].future.done():
                    jobs[0].future.set_exception(exc)
                return
            for job in jobs:  # which request is at fault? each on its own, so only it fails
                await self._answer([job])
            return
        self.batches += 1
        self.sizes[len(batch)] += 1
        start = 0
        for job in jobs:
            if not job.future.done():
                job.future.set_result(answers[start : start + len(job.inputs)])
            start += len(job.inputs)
