"""Answers and late transcripts: an answer counts only for the question it followed.

Under load the recognizer's decode finishes well after the speech ended. These interviews run
through the same scripted line and engines as test_session.py, with the recognizer told to hold
back a chosen sentence's transcript (`late=`): until the bot's next question has started playing,
or for longer than the silence timer. What the candidate notices must not change: speech said
before a question was asked never answers it, and the bot never asks "are you still there?"
while it is still working out what the candidate just said.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.interview.test_session import (
    ANSWERS,
    YES,
    AfterBot,
    DuringBot,
    FakeCall,
    HangUp,
    Speak,
    Step,
    Until,
    interview,
)
from voicebot.dialogue.builtin import BuiltinPolicy
from voicebot.dialogue.policy import Action, PolicyEvent, Silence

OVER_GREETING = "Yes, sure."  # said in the greeting, before the consent question was asked
STALE_YES = "Yes."  # what the recognizer makes of it
NO = "No, I do not agree."


async def until_the_consent_question_plays(call: FakeCall) -> None:
    """Hold the decode until the bot's second stretch of audio (the consent question) has
    been playing for a while: the transcript arrives while the candidate hears the question."""
    await call.until(lambda: len(call.spurts) >= 2 and call.spurts[1].frames >= 10)


async def test_a_yes_said_over_the_greeting_and_decoded_late_is_not_consent() -> None:
    script: list[Step] = [
        DuringBot(1, 200),
        Speak(OVER_GREETING, heard=STALE_YES),
        AfterBot(2),
        Speak(NO),
    ]

    done = await interview(
        script, frames_per_word=3, late={STALE_YES: until_the_consent_question_plays}
    )

    assert done.result.consent is False
    assert done.result.outcome == "no_consent"
    assert done.bot_turns() == [("greeting", None), ("consent", None), ("goodbye", None)]
    said = [(t.kind, t.text) for t in done.result.turns if t.speaker == "candidate"]
    # the early "yes" is in the transcript, marked as said before the question: not an answer
    assert said == [("stale", STALE_YES), ("answer", NO)]


async def test_after_a_late_stale_yes_each_answer_is_stored_against_its_question() -> None:
    salary = ANSWERS["salary"]
    script: list[Step] = [
        DuringBot(1, 200),
        Speak(OVER_GREETING, heard=STALE_YES),
        AfterBot(2),
        Speak(YES),
        AfterBot(3),
        Speak(salary),
        AfterBot(4),
        HangUp(),
    ]

    done = await interview(
        script, frames_per_word=3, late={STALE_YES: until_the_consent_question_plays}
    )

    assert done.result.consent is True
    assert done.result.answers == {"salary": salary}
    assert done.bot_turns() == [
        ("greeting", None),
        ("consent", None),
        ("ask", "salary"),
        ("ask", "notice"),
    ]
    answers = [
        (t.text, t.question_id)
        for t in done.result.turns
        if t.speaker == "candidate" and t.kind == "answer"
    ]
    assert answers == [(YES, None), (salary, "salary")]
    assert not any(t.interrupted for t in done.result.turns)


async def test_no_are_you_still_there_while_the_last_answer_is_being_decoded() -> None:
    reprompt_after_s = 0.3
    last = ANSWERS["production_fix"]

    async def slower_than_the_silence_timer(call: FakeCall) -> None:
        await asyncio.sleep(3 * reprompt_after_s)

    script: list[Step] = [AfterBot(2), Speak(YES)]
    for n, answer in enumerate(ANSWERS.values(), start=3):
        script += [AfterBot(n), Speak(answer)]

    done = await interview(
        script,
        reprompt_after_s=reprompt_after_s,
        late={last: slower_than_the_silence_timer},
    )

    assert done.result.outcome == "completed"
    assert done.result.answers == ANSWERS
    kinds = [kind for kind, _ in done.bot_turns()]
    assert "reprompt" not in kinds
    assert kinds == ["greeting", "consent", *["ask"] * len(ANSWERS), "goodbye"]


async def test_a_cough_over_the_question_decoded_late_lets_the_silence_timer_run_again() -> None:
    """Speech the recognizer finds no words in holds the timer only while it is decoded: then
    the candidate is silent again and gets the reprompt, not an endless wait."""
    reprompt_after_s = 0.3

    async def slower_than_the_silence_timer(call: FakeCall) -> None:
        await asyncio.sleep(2 * reprompt_after_s)

    script: list[Step] = [
        AfterBot(2),
        Speak(YES),
        DuringBot(3, 1200),  # past the grace: not the consent going on
        Speak("Hmm.", heard=""),
        AfterBot(4),
        HangUp(),
    ]

    done = await interview(
        script,
        frames_per_word=8,
        reprompt_after_s=reprompt_after_s,
        late={"": slower_than_the_silence_timer},
    )

    assert done.bot_turns()[-1] == ("reprompt", "salary")
    assert done.result.answers == {}


class SlowToReprompt:
    """The built-in policy, slow to answer a silence (as a remote Rasa can be): it replies
    only once the candidate has spoken meanwhile."""

    def __init__(self, call_box: list[FakeCall]) -> None:
        self.inner = BuiltinPolicy()
        self.call_box = call_box
        self.silences = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def on_event(self, event: PolicyEvent) -> list[Action]:
        if isinstance(event, Silence):
            self.silences += 1
            call = self.call_box[0]
            spoken = len(call.speech)
            await call.until(lambda: len(call.speech) > spoken)
        return await self.inner.on_event(event)


async def test_an_answer_begun_after_the_question_counts_though_a_reprompt_came_between() -> None:
    """The reprompt after a silence repeats the same question: what the candidate began to
    say after the question (while the bot was preparing the reprompt) still answers it."""
    salary = ANSWERS["salary"]
    calls: list[FakeCall] = []
    policy = SlowToReprompt(calls)
    script: list[Step] = [
        AfterBot(2),
        Speak(YES),
        AfterBot(3),
        Until(lambda: policy.silences >= 1),
        Speak(salary),
        AfterBot(5),
        HangUp(),
    ]

    done = await interview(script, reprompt_after_s=0.3, policy=policy, on_call=calls.append)

    assert policy.silences == 1
    assert done.result.answers == {"salary": salary}
    assert done.bot_turns()[2:] == [("ask", "salary"), ("reprompt", "salary"), ("ask", "notice")]
