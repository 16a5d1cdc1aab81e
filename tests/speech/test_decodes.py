"""The shared decode queue: a final decode never waits behind other calls' speculative ones,
and under a backlog speculative work is shed first (and only it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from voicebot.speech.decodes import DecodeQueue, Shed


@pytest.fixture
async def queue() -> AsyncIterator[DecodeQueue]:
    q = DecodeQueue(1, max_speculative=2)
    try:
        yield q
    finally:
        q.close()


class Gate:
    """Holds the only worker busy until opened, so that everything else queues."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        assert self.release.wait(10)
        return "gate"


async def busy(queue: DecodeQueue) -> tuple[Gate, asyncio.Future[str]]:
    gate = Gate()
    future = queue.submit(gate)
    assert await asyncio.to_thread(gate.started.wait, 10)
    return gate, future


async def test_a_final_decode_runs_before_speculative_ones_queued_earlier(
    queue: DecodeQueue,
) -> None:
    order: list[str] = []
    gate, first = await busy(queue)
    speculative = [queue.submit(order.append, f"spec{i}", speculative=True) for i in range(2)]
    final = queue.submit(order.append, "final")
    gate.release.set()
    await asyncio.gather(first, final, *speculative)
    assert order == ["final", "spec0", "spec1"]


async def test_a_backlog_of_speculation_is_shed_oldest_first_and_finals_never(
    queue: DecodeQueue,
) -> None:
    order: list[str] = []
    gate, first = await busy(queue)
    speculative = [queue.submit(order.append, f"spec{i}", speculative=True) for i in range(4)]
    finals = [queue.submit(order.append, f"final{i}") for i in range(3)]
    gate.release.set()
    results = await asyncio.gather(*speculative, return_exceptions=True)
    await asyncio.gather(first, *finals)
    assert [isinstance(r, Shed) for r in results] == [True, True, False, False]
    assert order == ["final0", "final1", "final2", "spec2", "spec3"]
    assert queue.stats.shed == 2


async def test_a_speculation_someone_waits_on_is_promoted_and_never_shed(
    queue: DecodeQueue,
) -> None:
    order: list[str] = []
    gate, first = await busy(queue)
    awaited = queue.submit(order.append, "awaited", speculative=True)
    queue.promote(awaited)
    later = [queue.submit(order.append, f"spec{i}", speculative=True) for i in range(3)]
    gate.release.set()
    await awaited
    await asyncio.gather(first, *later, return_exceptions=True)
    assert order[0] == "awaited"


async def test_a_cancelled_decode_is_never_run(queue: DecodeQueue) -> None:
    ran: list[str] = []
    gate, first = await busy(queue)
    dropped = queue.submit(ran.append, "dropped", speculative=True)
    dropped.cancel()
    kept = queue.submit(ran.append, "kept")
    gate.release.set()
    await asyncio.gather(first, kept)
    assert ran == ["kept"]


async def test_a_failing_decode_raises_in_the_caller(queue: DecodeQueue) -> None:
    def broken() -> None:
        raise ValueError("bad audio")

    with pytest.raises(ValueError, match="bad audio"):
        await queue.submit(broken)
