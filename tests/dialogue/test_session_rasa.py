"""A whole interview through the real session (VAD, turn-taking, store) with the Rasa engine
deciding every turn: the same call the built-in engine completes, completed by Rasa."""

from __future__ import annotations

import pytest

from tests.interview.test_session import ANSWERS, answering, interview
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
