"""The worker pool: CPU-bound work on a fixed thread pool behind a bounded admission counter."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from .. import errors


class WorkPool:
    """Runs CPU-bound work on a fixed thread pool behind a bounded admission counter."""

    def __init__(self, workers: int, queue_size: int):
        self.workers = max(1, workers)
        self.capacity = self.workers + max(0, queue_size)
        self.inflight = 0
        self._executor: ThreadPoolExecutor | None = None
        self._avg_s = 0.5  # running estimate of one unit of work, for Retry-After

    def retry_after(self) -> int:
        """Seconds until a slot is likely free."""
        return max(1, math.ceil(self._avg_s * self.inflight / self.workers))

    async def run(self, fn: Callable[..., Any], *args: Any, weight: int = 1, **kwargs: Any) -> Any:
        """Run fn in the pool, or raise OverloadedError when `weight` more units do not fit."""
        weight = max(1, weight)
        # Check and increment happen on the event loop thread with no await between: no race.
        # An idle pool always admits, so a batch larger than the capacity is slow rather than refused.
        if self.inflight and self.inflight + weight > self.capacity:
            raise errors.OverloadedError(
                f"server busy: {self.inflight} units queued or running (capacity {self.capacity})",
                retry_after=self.retry_after(),
            )
        if self._executor is None:
            # Created on first use so an app served without lifespan (schema fuzzers) still works.
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="factcheck-work")
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()

        def release() -> None:
            self.inflight -= weight
            self._avg_s = 0.8 * self._avg_s + 0.2 * (time.perf_counter() - t0) / weight

        self.inflight += weight
        job = self._executor.submit(partial(fn, *args, **kwargs))
        # Released when the thread is really done (not when an abandoned request stops waiting),
        # so the count never understates the work the CPUs still have.
        job.add_done_callback(lambda _: _call_soon(loop, release))
        return await asyncio.wrap_future(job)

    def shutdown(self) -> None:
        """Stop the threads once queued work is done (running jobs are not interrupted)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    """Schedule fn on the loop from a worker thread; a loop already closed at shutdown is ignored."""
    try:
        loop.call_soon_threadsafe(fn)
    except RuntimeError:
        pass
