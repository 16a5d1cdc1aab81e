"""What the telephony tests share: start a peer or bridge, wait until it is ready, stop it
however the test ends; and the test Asterisk (ARI) with its call handler."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from tests.peers.ari_server import AriServer
from voicebot.telephony.ari import AriCall

T = TypeVar("T")


class Handler:
    """Inbound calls land here; the test decides when each one's session ends."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[AriCall] = asyncio.Queue()
        self.release: dict[str, asyncio.Future[None]] = {}

    async def __call__(self, call: AriCall) -> None:  # type: ignore[override]
        self.release[call.call_id] = asyncio.get_running_loop().create_future()
        self.calls.put_nowait(call)
        await self.release[call.call_id]

    def end(self, call: AriCall, error: Exception | None = None) -> None:
        fut = self.release[call.call_id]
        fut.set_exception(error) if error else fut.set_result(None)


@contextlib.asynccontextmanager
async def started(
    thing: T, ready: Callable[[T], asyncio.Event] | None = None, timeout: float = 5
) -> AsyncIterator[T]:
    """`thing.start()`, then wait for `ready(thing)`; `thing.stop()` on the way out."""
    obj: Any = thing
    await obj.start()
    try:
        if ready is not None:
            await asyncio.wait_for(ready(thing).wait(), timeout)
        yield thing
    finally:
        await obj.stop()


@pytest.fixture
async def asterisk() -> AsyncIterator[AriServer]:
    async with started(AriServer(password="secret")) as server:
        yield server


@pytest.fixture
async def handler() -> Handler:
    return Handler()
