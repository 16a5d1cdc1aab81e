"""A whole interview through the real session (VAD, turn-taking, store) with the Rasa engine
deciding every turn: the same call the built-in engine completes, completed by Rasa."""

from __future__ import annotations

import pytest

from tests.dialogue.conftest import free_port
from tests.dialogue.test_conversations import context
from tests.interview.test_session import ANSWERS, answering, interview
from voicebot.dialogue.policy import RecordAnswer, Say, Utterance
from voicebot.dialogue.rasa import RasaEngine


@pytest.mark.rasa
async def test_the_session_completes_an_interview_with_rasa(rasa_url: str) -> None:
    async with RasaEngine(rasa_url, turn_timeout_s=10) as engine:
        policy = engine.policy()
        done = await interview(answering(ANSWERS), policy=policy)

    assert policy.fallback is None, f"Rasa failed: {policy.fallback_reason}"
    assert done.result.outcome == "completed"
    assert done.result.consent is True
    assert done.result.answers == ANSWERS
    assert done.result.values["salary"]["money"]["amount"] == 90000


@pytest.mark.rasa
async def test_a_real_rasa_going_away_mid_call_hands_its_state_to_the_builtin_engine(
    rasa_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with RasaEngine(rasa_url, turn_timeout_s=10) as engine:
        policy = engine.policy()
        await policy.start(context("interview-en"))
        await policy.on_utterance(Utterance("Yes, that's fine."))
        await policy.on_utterance(Utterance("About 90,000 a year."))
        engine.url = f"http://127.0.0.1:{free_port()}"  # the server is gone
        actions = await policy.on_utterance(Utterance("Two weeks."))

    assert policy.engine_name == "builtin"
    assert [a.question_id for a in actions if isinstance(a, RecordAnswer)] == ["notice"]
    (ask,) = [a for a in actions if isinstance(a, Say)]
    assert ask.question_id == "python_years"
    assert sum(r.levelname == "WARNING" for r in caplog.records) == 1
