"""A Rasa server that is down, dies mid-call, is too slow, or answers nonsense never kills a
call: the built-in engine continues it from the state Rasa last reported, with one warning.

The stand-in server speaks Rasa's REST channel (POST /webhooks/rest/webhook → a list of
{"recipient_id", "custom"} messages) and runs the same flow the real action server runs, until
it is told to fail. The real Rasa server is exercised by test_conversations.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.dialogue.conftest import free_port
from voicebot.dialogue.builtin import BuiltinEngine
from voicebot.dialogue.flow import Turn
from voicebot.dialogue.policy import (
    InterviewContext,
    RecordAnswer,
    RecordConsent,
    Say,
    Silence,
    Utterance,
)
from voicebot.dialogue.rasa import RasaEngine
from voicebot.interview.plan import InterviewPlan, load_job

JOB = Path(__file__).parent / "jobs" / "interview-en.yaml"
NOW = datetime.fromisoformat("2026-05-01T07:30:00+00:00")


@dataclass
class FakeRasa:
    """Answers like Rasa + voicebot's actions for `healthy` requests, then fails as `mode`."""

    engine: BuiltinEngine
    healthy: int = 1000
    mode: str = "500"  # "500" | "slow" | "malformed" | "empty"
    requests: int = 0

    def __post_init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.seen: list[dict[str, Any]] = []  # the call and question ids of each message

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        self.seen.append({k: body["metadata"].get(k) for k in ("call_id", "question_id")})
        if self.requests > self.healthy:
            if self.mode == "slow":
                await asyncio.sleep(5)
            elif self.mode == "malformed":
                return web.json_response([{"recipient_id": "x", "custom": {"say": 42}}])
            elif self.mode == "empty":
                return web.json_response([])
            return web.Response(status=500, text="boom")
        meta = body["metadata"]
        message = body["message"]
        intent = message[1:] if message.startswith("/") else self.engine.classify(message).intent
        action = self.engine.project.rules.get(intent, ("action_handle_answer",))[0]
        turn = Turn(intent, meta.get("text", ""), meta.get("event") or {}, NOW)
        state, out = self.engine.flow.run(
            action, self.states.get(body["sender"]), meta["voicebot"], turn
        )
        self.states[body["sender"]] = state
        return web.json_response([{"recipient_id": body["sender"], "custom": m} for m in out])


@pytest.fixture
async def fake(builtin_engine: BuiltinEngine) -> AsyncIterator[tuple[FakeRasa, str]]:
    server = FakeRasa(builtin_engine)
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", server.webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def ctx() -> InterviewContext:
    job = load_job(JOB)
    plan = InterviewPlan(job=job, questions=list(job.questions))
    return InterviewContext("call-7", plan, company="Acme Corp", bot_name="Ava")


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_rasa_down_at_call_start_means_builtin_with_one_warning(
    caplog: pytest.LogCaptureFixture, builtin_engine: BuiltinEngine
) -> None:
    caplog.set_level(logging.WARNING)
    async with RasaEngine(f"http://127.0.0.1:{free_port()}", fallback=builtin_engine) as engine:
        policy = engine.policy(clock=lambda: NOW)
        greeting, consent = await policy.start(ctx())
        actions = await policy.on_utterance(Utterance("Yes, go ahead."))
        actions += await policy.on_utterance(Utterance("About 90,000 a year."))

    assert greeting.kind == "greeting" and consent.kind == "consent"
    assert RecordConsent(True) in actions
    assert [a.question_id for a in actions if isinstance(a, RecordAnswer)] == ["salary"]
    assert policy.engine_name == "builtin"
    (warning,) = warnings(caplog)
    assert "built-in engine continues" in warning


@pytest.mark.parametrize("mode", ["500", "slow", "malformed", "empty"])
async def test_rasa_failing_mid_call_hands_over_where_it_stopped(
    mode: str, fake: tuple[FakeRasa, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, url = fake
    server.healthy, server.mode = 3, mode  # start, consent and the first answer go to Rasa
    caplog.set_level(logging.WARNING)
    async with RasaEngine(url, turn_timeout_s=1.0) as engine:
        policy = engine.policy(clock=lambda: NOW)
        await policy.start(ctx())
        await policy.on_utterance(Utterance("Yes, that's fine."))
        first = await policy.on_utterance(Utterance("About 90,000 a year."))
        assert policy.engine_name == "rasa"
        second = await policy.on_utterance(Utterance("Two weeks."))
        third = await policy.on_event(Silence(1))

    assert [a.question_id for a in first if isinstance(a, RecordAnswer)] == ["salary"]
    # the built-in engine answered the same turn Rasa failed on, at the same place
    assert [a.question_id for a in second if isinstance(a, RecordAnswer)] == ["notice"]
    (ask,) = [a for a in second if isinstance(a, Say)]
    assert ask.question_id == "python_years" and ask.listen
    (reprompt,) = [a for a in third if isinstance(a, Say)]
    assert reprompt.kind == "reprompt" and reprompt.question_id == "python_years"
    assert policy.engine_name == "builtin"
    assert server.requests == 4, "after the switch the call no longer waits for Rasa"
    assert len(warnings(caplog)) == 1


async def test_every_message_names_its_call_and_question(fake: tuple[FakeRasa, str]) -> None:
    server, url = fake
    async with RasaEngine(url) as engine:
        policy = engine.policy(clock=lambda: NOW)
        await policy.start(ctx())
        await policy.on_utterance(Utterance("Yes, that's fine."))
        await policy.on_utterance(Utterance("About 90,000 a year."))
        await policy.on_utterance(Utterance("Two weeks."))

    assert server.seen == [
        {"call_id": "call-7", "question_id": None},
        {"call_id": "call-7", "question_id": None},
        {"call_id": "call-7", "question_id": "salary"},
        {"call_id": "call-7", "question_id": "notice"},
    ]
    assert len({sender for sender in server.states}) == 1, "one Rasa conversation per call"
