"""Pacer: deadlines from anchor + frame count, catch-up, re-anchoring; in virtual time."""

from __future__ import annotations

import random
import time

import pytest

from voicebot.media.pacer import Pacer

INTERVAL = 0.02


class VirtualTime:
    """A clock that only moves when slept on (plus optional oversleep) or stalled."""

    def __init__(self, oversleep: float = 0.0, seed: int = 0) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._oversleep = oversleep
        self._rng = random.Random(seed)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self.now += seconds + self._rng.uniform(0, self._oversleep)

    def pacer(self, **kwargs: int) -> Pacer:
        return Pacer(INTERVAL, clock=self.clock, sleep=self.sleep, **kwargs)


async def test_first_wait_anchors_without_sleeping() -> None:
    vt = VirtualTime()
    pacer = vt.pacer()
    assert await pacer.wait() == 0.0
    assert vt.sleeps == [] and vt.now == 1000.0
    await pacer.wait()
    assert vt.sleeps == [pytest.approx(INTERVAL)]


async def test_no_drift_over_ten_thousand_frames() -> None:
    vt = VirtualTime(oversleep=0.003)
    pacer = vt.pacer()
    start = vt.now
    worst = 0.0
    for frame in range(10_000):
        lateness = await pacer.wait()
        worst = max(worst, lateness)
        assert vt.now - (start + frame * INTERVAL) == pytest.approx(lateness, abs=1e-9)
        vt.now += 0.001  # encoding and sending the frame takes time too
    # Every oversleep was up to 3 ms; a naive sleep(0.02) loop would be ~40 s behind now.
    assert vt.now - (start + 9_999 * INTERVAL) <= 0.003 + 0.001 + 1e-9
    assert worst <= 0.003 + 1e-9
    assert pacer.stats.reanchors == 0 and pacer.stats.frames == 10_000
    assert 0 < pacer.jitter_p99_ms() <= 3.0
    assert len(set(vt.sleeps)) > 1  # sleeps shrink to absorb overshoot: no fixed 20 ms


async def test_short_stall_is_caught_up_without_reanchoring() -> None:
    vt = VirtualTime()
    pacer = vt.pacer(max_behind=5)
    start = vt.now
    for _ in range(10):
        await pacer.wait()
    vt.now += 0.065  # three frames and a bit
    latenesses = [await pacer.wait() for _ in range(4)]
    assert latenesses[0] == pytest.approx(0.065 - INTERVAL)
    assert latenesses[:3] == sorted(latenesses[:3], reverse=True) and latenesses[3] == 0.0
    assert pacer.stats.reanchors == 0
    await pacer.wait()
    assert vt.now == pytest.approx(start + 14 * INTERVAL)  # back on the original grid


async def test_long_stall_reanchors_instead_of_bursting() -> None:
    vt = VirtualTime()
    pacer = vt.pacer(max_behind=5)
    for _ in range(10):
        await pacer.wait()
    vt.now += 0.5  # the event loop was blocked for 25 frames
    stalled_at = vt.now
    lateness = await pacer.wait()
    assert lateness == pytest.approx(0.5 - INTERVAL)
    assert pacer.stats.reanchors == 1
    assert pacer.stats.max_lateness == pytest.approx(lateness)
    sleeps_before = len(vt.sleeps)
    for n in range(1, 6):
        assert await pacer.wait() == 0.0
        assert vt.now == pytest.approx(stalled_at + n * INTERVAL)
    assert all(s == pytest.approx(INTERVAL) for s in vt.sleeps[sleeps_before:])


async def test_reset_reanchors_on_the_next_wait() -> None:
    vt = VirtualTime()
    pacer = vt.pacer()
    await pacer.wait()
    vt.now += 3.0  # e.g. sending paused while the far end was on hold
    pacer.reset()
    assert await pacer.wait() == 0.0
    await pacer.wait()
    assert vt.sleeps[-1] == pytest.approx(INTERVAL)
    assert pacer.stats.reanchors == 0


def test_jitter_p99_without_samples_is_zero() -> None:
    assert Pacer().jitter_p99_ms() == 0.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Pacer(interval=0)
    with pytest.raises(ValueError):
        Pacer(max_behind=0)


async def test_real_time_fifty_frames_take_about_a_second() -> None:
    pacer = Pacer()
    started = time.monotonic()
    for _ in range(50):
        await pacer.wait()
    assert time.monotonic() - started >= 0.98 - 1e-3
