"""Shared fixtures: the built-in engine (trained once) and a real Rasa server (started once per
test session on free 127.0.0.1 ports, with the action server, and stopped at the end)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from voicebot.dialogue.builtin import BuiltinEngine
from voicebot.dialogue.rasa import RasaServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def builtin_engine() -> BuiltinEngine:
    return BuiltinEngine()


@pytest.fixture(scope="session")
def rasa_url() -> Iterator[str]:
    """A real Rasa 3.6 server with voicebot's action server; needs scripts/setup_rasa.sh."""
    server = RasaServer(port=free_port(), action_port=free_port(), start_timeout_s=240)
    try:
        server.check()
    except FileNotFoundError as e:
        pytest.fail(f"the Rasa tests need the Rasa venv and model: {e}")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(server.start())
        yield server.url
    finally:
        loop.run_until_complete(server.stop())
        loop.close()
