"""The decode queue every call's recognizer shares: the most urgent decode first, speculative
work shed first.

At sixteen calls on two cores decodes queue. A final decode (the candidate has stopped and
the bot is waiting for the text to reply) must not wait behind other calls' speculative ones
(started at every pause, most of them superseded when the candidate goes on). So a final runs
before any speculative decode still queued, a speculation the session comes to wait on is
promoted to final, and when more speculative decodes are queued than `max_speculative`, the
oldest are shed: they resolve with `Shed`, and a recognizer that needs one decodes afresh.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")
FINAL, SPECULATIVE = 0, 1


class Shed(Exception):
    """A speculative decode dropped unrun: the queue was full of speculative work."""


@dataclass(order=True)
class _Job(Generic[_T]):
    priority: int
    seq: int
    fn: Callable[..., _T] = field(compare=False)
    args: tuple[Any, ...] = field(compare=False)
    future: asyncio.Future[_T] = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    done: bool = field(default=False, compare=False)  # taken by a worker, or dropped
    queued_at: float = field(default_factory=time.perf_counter, compare=False)


@dataclass
class DecodeStats:
    finals: int = 0
    speculative: int = 0
    promoted: int = 0
    shed: int = 0
    # (ran as final, ms queued, ms running) of the latest decodes, for the benchmarks
    runs: deque[tuple[bool, float, float]] = field(default_factory=lambda: deque(maxlen=20000))


class DecodeQueue:
    """`workers` threads running submitted decodes, finals first (then oldest first)."""

    def __init__(self, workers: int = 2, *, max_speculative: int | None = None) -> None:
        if workers < 1:
            raise ValueError("a decode queue needs at least one worker")
        self.workers = workers
        self.max_speculative = 3 * workers if max_speculative is None else max_speculative
        self.stats = DecodeStats()
        self._cond = threading.Condition()
        self._heap: list[_Job[Any]] = []
        self._jobs: dict[asyncio.Future[Any], _Job[Any]] = {}
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(
        self, fn: Callable[..., _T], *args: Any, speculative: bool = False
    ) -> asyncio.Future[_T]:
        """Run `fn(*args)` on a worker; the future is the caller's loop's. Cancelling it drops
        the job if no worker has taken it yet."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        job = _Job(SPECULATIVE if speculative else FINAL, next(self._seq), fn, args, future, loop)
        with self._cond:
            if self._closed:
                raise RuntimeError("the decode queue is closed")
            heapq.heappush(self._heap, job)
            self._jobs[future] = job
            if speculative:
                self.stats.speculative += 1
                self._shed()
            else:
                self.stats.finals += 1
            self._start_worker()
            self._cond.notify()
        future.add_done_callback(self._forget)
        return future

    def promote(self, future: asyncio.Future[Any]) -> None:
        """Someone now waits on this speculative decode: run it as a final (never shed)."""
        with self._cond:
            job = self._jobs.get(future)
            if job is None or job.done or job.priority == FINAL:
                return
            job.priority = FINAL
            heapq.heapify(self._heap)
            self.stats.promoted += 1

    def queued(self) -> int:
        with self._cond:
            return sum(not j.done for j in self._heap)

    def close(self) -> None:
        """Stop the workers once their current decode is done; queued decodes are cancelled."""
        with self._cond:
            self._closed = True
            jobs, self._heap = self._heap, []
            self._cond.notify_all()
        for job in jobs:
            if not job.done:
                job.done = True
                _post(job.loop, _cancel, job.future)

    # internals ---------------------------------------------------------------------------

    def _shed(self) -> None:
        """Drop the oldest queued speculative decodes beyond `max_speculative` (lock held)."""
        waiting = sorted(j for j in self._heap if not j.done and j.priority == SPECULATIVE)
        for job in waiting[: max(0, len(waiting) - self.max_speculative)]:
            job.done = True
            self.stats.shed += 1
            _post(job.loop, _fail, job.future, Shed())

    def _start_worker(self) -> None:
        if len(self._threads) < self.workers:
            thread = threading.Thread(
                target=self._work, name=f"decode-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _forget(self, future: asyncio.Future[Any]) -> None:
        with self._cond:
            job = self._jobs.pop(future, None)
            if job is not None and future.cancelled():
                job.done = True

    def _take(self) -> _Job[Any] | None:
        with self._cond:
            while True:
                # a cancelled future's state reads safely from here; its callback may lag
                while self._heap and (self._heap[0].done or self._heap[0].future.cancelled()):
                    heapq.heappop(self._heap)
                if self._heap:
                    job = heapq.heappop(self._heap)
                    job.done = True
                    return job
                if self._closed:
                    return None
                self._cond.wait()

    def _work(self) -> None:
        while (job := self._take()) is not None:
            started = time.perf_counter()
            try:
                result = job.fn(*job.args)
            except BaseException as exc:  # handed to the waiting coroutine, not lost
                _post(job.loop, _fail, job.future, exc)
            else:
                _post(job.loop, _resolve, job.future, result)
            finally:
                ended = time.perf_counter()
                queued_ms, run_ms = (started - job.queued_at) * 1000, (ended - started) * 1000
                self.stats.runs.append((job.priority == FINAL, queued_ms, run_ms))


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """Run `fn` on the loop; a loop already closed has nobody left to tell."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # retrieved: a shed speculation nobody waits on is no error


def _cancel(future: asyncio.Future[Any]) -> None:
    future.cancel()
