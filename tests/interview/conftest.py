"""Shared pieces of the end-to-end interview tests: the bot's configuration, the speech models
(loaded into the process once per session) and a store that announces each turn it writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiosqlite
import pytest

from voicebot.config import Config
from voicebot.interview.plan import Job, load_job
from voicebot.interview.runner import Interviewer
from voicebot.pii import PiiKeys
from voicebot.store import Store, TurnRecord

REPO = Path(__file__).resolve().parents[2]
BACKEND_JOB = REPO / "examples" / "jobs" / "backend-engineer.yaml"
TTS_CACHE = REPO / "var" / "tts-cache"  # shared with `voicebot demo`: prompts render once


class TurnAnnouncingStore(Store):
    """A `Store` that also puts every turn on `written` the moment the session stores it.

    The session writes a bot turn when its audio has played out, so a test can act as a
    caller who waits for the question to end before answering.
    """

    def __init__(self, conn: aiosqlite.Connection, path: str, keys: PiiKeys) -> None:
        super().__init__(conn, path, keys)
        self.written: asyncio.Queue[TurnRecord] = asyncio.Queue()

    async def add_turn(self, turn: TurnRecord) -> None:
        await super().add_turn(turn)
        self.written.put_nowait(turn)


@pytest.fixture(scope="session")
def bot_config() -> Config:
    base = Config()
    return replace(base, speech=replace(base.speech, cache_dir=str(TTS_CACHE))).validate()


@pytest.fixture(scope="session")
def backend_job() -> Job:
    return load_job(BACKEND_JOB)


@pytest.fixture(scope="session")
def speech_models(bot_config: Config, backend_job: Job) -> Interviewer:
    """Whisper and piper loaded (and the example job's questions rendered) once per session;
    every later `Interviewer.create` in the process reuses the loaded engines."""

    async def load() -> Interviewer:
        interviewer = await Interviewer.create(bot_config, store=None)
        await interviewer.warm_prompts(backend_job)
        return interviewer

    return asyncio.run(load())


@pytest.fixture
async def turn_store(tmp_path: Path) -> AsyncIterator[TurnAnnouncingStore]:
    store = await TurnAnnouncingStore.open(tmp_path / "voicebot.db")
    assert isinstance(store, TurnAnnouncingStore)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def interviewer(
    bot_config: Config, speech_models: Interviewer, turn_store: TurnAnnouncingStore
) -> Interviewer:
    cfg = replace(bot_config, store=replace(bot_config.store, path=turn_store.path))
    return await Interviewer.create(cfg, store=turn_store)
