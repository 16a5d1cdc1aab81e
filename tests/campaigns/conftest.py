"""A real SQLite store with a job, helpers to add candidates and campaigns, and the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hr.helpers import JOB_FILE
from voicebot.hr.importer import import_jobs
from voicebot.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "voicebot.db") as store:
        await import_jobs(store, JOB_FILE)
        yield store
