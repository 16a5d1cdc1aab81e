"""The session's real Asterisk: one process on free loopback ports, stopped at the end.

Tests using `pbx` get the marker `asterisk`; without ../shared/asterisk they are skipped.
After each test the fixture `clean_pbx` hangs up whatever the test left, so one failure
does not spill into the next test (the test itself asserts there were no leftovers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.asterisk.pbx import Pbx, available


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pbx" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    if not available():
        pytest.skip("no real Asterisk in ../shared/asterisk")
    root: Path = tmp_path_factory.mktemp("asterisk")
    server = Pbx(root)
    server.start(server.voicebot_config("ari"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_pbx(pbx: Pbx) -> Iterator[Pbx]:
    """`pbx`, emptied of channels and bridges after the test."""
    yield pbx
    if pbx.running and pbx.leftovers():
        pbx.hangup_all()
        pbx.wait_clean(5)
