"""The one frame clock every bridge sends by: wakes for frame n at ``start + n * interval``.

Deadlines come from the anchor and the frame count, never from "now + 20 ms", so sleep
overshoot cannot accumulate into drift. A short stall is caught up by returning at once for
the overdue frames; after a long one (the event loop blocked, the host suspended) the pacer
re-anchors instead of bursting a backlog at the far end.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from voicebot.media.frames import FRAME_SECONDS


@dataclass
class PacerStats:
    frames: int = 0
    reanchors: int = 0
    max_lateness: float = 0.0  # seconds


class Pacer:
    """Paces a send loop: ``await pacer.wait()`` once per frame, then send the frame."""

    def __init__(
        self,
        interval: float = FRAME_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_behind: int = 5,
        history: int = 3000,
    ) -> None:
        if interval <= 0 or max_behind < 1:
            raise ValueError("interval must be positive and max_behind at least 1")
        self.interval = interval
        self.max_behind = max_behind
        self.stats = PacerStats()
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._count = 0
        self._lateness: deque[float] = deque(maxlen=history)

    def reset(self) -> None:
        """Re-anchor on the next ``wait()``, e.g. when sending resumes after a pause."""
        self._start = None

    async def wait(self) -> float:
        """Sleep until the next frame is due; returns how late (seconds) it was released.

        The first call after construction or ``reset()`` anchors the clock and returns at once.
        """
        now = self._clock()
        if self._start is None:
            self._anchor(now)
            return self._record(0.0)
        self._count += 1
        due = self._start + self._count * self.interval
        if now < due:
            await self._sleep(due - now)
            return self._record(max(0.0, self._clock() - due))
        lateness = now - due
        if lateness > self.max_behind * self.interval:
            self.stats.reanchors += 1
            self._anchor(now)
        await self._sleep(0)  # stay cooperative while catching up
        return self._record(lateness)

    def jitter_p99_ms(self) -> float:
        """99th percentile of recent lateness, in milliseconds."""
        if not self._lateness:
            return 0.0
        return float(np.percentile(np.fromiter(self._lateness, dtype=float), 99)) * 1000

    def _anchor(self, now: float) -> None:
        self._start = now
        self._count = 0

    def _record(self, lateness: float) -> float:
        self.stats.frames += 1
        self.stats.max_lateness = max(self.stats.max_lateness, lateness)
        self._lateness.append(lateness)
        return lateness
