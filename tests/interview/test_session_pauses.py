"""A candidate who pauses to think longer than the hangover loses nothing of the answer.

The bot has ended the turn after the first part; what the candidate says next still belongs
to the same answer when it begins before the bot's reply has started playing, or within
`continuation_grace_ms` of it (too soon for the candidate to have heard the new question).
The reply then waits until they have finished; a reply already begun stops at once and is said
again from the start. Speech later into the reply is a barge-in that answers the new prompt.
Same scripted line and engines as test_session.py.
"""

from __future__ import annotations

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
    Wait,
    interview,
)
from voicebot.dialogue.builtin import BuiltinPolicy
from voicebot.dialogue.policy import Action, Utterance

FIRST = "About ninety thousand"  # heard without a final stop: the turn waits the hangover
REST = "A year, before tax."
NOTICE = ANSWERS["notice"]
THINK_MS = 1200  # a thinking pause, longer than the 700 ms hangover


def candidate_answers(done: Any) -> list[tuple[str, str, str | None]]:
    return [(t.kind, t.text, t.question_id) for t in done.result.turns if t.speaker == "candidate"]


async def test_speech_resumed_while_the_first_part_is_decoded_is_the_same_answer() -> None:
    """The decode of the first part comes late (load): by then the candidate is talking again;
    the policy gets the whole answer, the next question waits until they have finished."""

    async def until_the_rest_is_said(call: FakeCall) -> None:
        await call.until(lambda: len(call.speech) >= 3)

    script: list[Step] = [AfterBot(2), Speak(YES), AfterBot(3), Speak(FIRST)]
    script += [Wait(THINK_MS), Speak(REST), AfterBot(4), Speak(NOTICE), AfterBot(5), HangUp()]

    done = await interview(script, late={FIRST: until_the_rest_is_said})

    assert done.result.answers == {"salary": f"{FIRST} {REST}", "notice": NOTICE}
    assert candidate_answers(done) == [
        ("answer", YES, None),
        ("answer", FIRST, "salary"),
        ("answer", REST, "salary"),
        ("answer", NOTICE, "notice"),
    ]
    assert done.bot_turns() == [
        ("greeting", None),
        ("consent", None),
        ("ask", "salary"),
        ("ask", "notice"),
        ("ask", "python_years"),
    ]
    assert not any(t.interrupted for t in done.result.turns)
    # the notice question began only once the rest of the answer had been said
    rest_last_tick = done.call.speech[2][1]
    assert done.call.spurts[3].start > rest_last_tick


class SlowToReply:
    """The built-in policy, slow to answer an utterance (as a remote Rasa can be): its reply
    comes only once the candidate has been speaking again for `ms` after a pause of
    `pause_ms` (the next `Wait`)."""

    def __init__(self, call_box: list[FakeCall], slow_for: str, pause_ms: int, ms: int) -> None:
        self.inner = BuiltinPolicy()
        self.call_box = call_box
        self.slow_for = slow_for
        self.ticks = (pause_ms + ms) // 20

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def on_utterance(self, utterance: Utterance) -> list[Action]:
        if utterance.text == self.slow_for:
            call = self.call_box[0]
            first_ended = call.speech[-1][1]
            await call.until(lambda: call.tick > first_ended + self.ticks)
        return await self.inner.on_utterance(utterance)


async def test_a_reply_decided_but_not_yet_playing_waits_for_the_rest_of_the_answer() -> None:
    calls: list[FakeCall] = []
    script: list[Step] = [AfterBot(2), Speak(YES), AfterBot(3), Speak(FIRST)]
    script += [Wait(800), Speak(REST), AfterBot(4), Speak(NOTICE), AfterBot(5), HangUp()]
    policy = SlowToReply(calls, slow_for=FIRST, pause_ms=800, ms=200)

    done = await interview(script, policy=policy, on_call=calls.append)

    assert done.result.answers["salary"] == f"{FIRST} {REST}"
    assert done.result.answers["notice"] == NOTICE
    assert [k for k, _, _ in candidate_answers(done)] == ["answer"] * 4  # nothing "stale"
    assert done.bot_turns()[3:] == [("ask", "notice"), ("ask", "python_years")]
    assert not any(t.interrupted for t in done.result.turns)
    rest_last_tick = done.call.speech[2][1]
    assert done.call.spurts[3].start > rest_last_tick  # never spoke over the rest


async def test_speech_resumed_just_after_the_reply_began_stops_it_and_it_is_said_again() -> None:
    first = "About ninety thousand."  # reads finished: the turn ends early
    script: list[Step] = [AfterBot(2), Speak(YES), AfterBot(3), Speak(first)]
    script += [DuringBot(4, 200), Speak(REST), AfterBot(5), Speak(NOTICE), AfterBot(6), HangUp()]

    done = await interview(script, frames_per_word=4)

    assert done.result.answers == {"salary": f"{first} {REST}", "notice": NOTICE}
    assert candidate_answers(done) == [
        ("answer", YES, None),
        ("answer", first, "salary"),
        ("answer", REST, "salary"),
        ("answer", NOTICE, "notice"),
    ]
    bot = [t for t in done.result.turns if t.speaker == "bot"]
    assert [(t.kind, t.question_id, t.interrupted) for t in bot[3:]] == [
        ("ask", "notice", True),  # cut as soon as the candidate went on
        ("ask", "notice", False),  # asked again, whole, once they had finished
        ("ask", "python_years", False),
    ]
    assert bot[3].text == bot[4].text
    first_tick, last_tick = done.call.speech[2]
    assert done.call.bot_frames(first_tick, last_tick) <= 5  # stopped within 100 ms
    assert done.call.spurts[4].start > last_tick


async def test_speech_well_into_the_reply_answers_the_new_question() -> None:
    """Past the grace the candidate has heard the question: a barge-in answers it."""
    first = "About ninety thousand."
    script: list[Step] = [AfterBot(2), Speak(YES), AfterBot(3), Speak(first)]
    script += [DuringBot(4, 1400), Speak(NOTICE), AfterBot(5), HangUp()]

    done = await interview(script, frames_per_word=8)

    assert done.result.answers == {"salary": first, "notice": NOTICE}
    bot = [t for t in done.result.turns if t.speaker == "bot"]
    assert [(t.kind, t.question_id, t.interrupted) for t in bot[3:]] == [
        ("ask", "notice", True),
        ("ask", "python_years", False),
    ]
