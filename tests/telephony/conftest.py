"""The test Asterisk (ARI) and the call handler that the ARI tests share."""

from collections.abc import AsyncIterator

import pytest

from tests.peers.ari_server import AriServer
from tests.telephony.test_ari import Handler


@pytest.fixture
async def asterisk() -> AsyncIterator[AriServer]:
    server = AriServer(password="secret")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def handler() -> Handler:
    return Handler()
