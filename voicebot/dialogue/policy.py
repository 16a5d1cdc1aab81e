"""The dialogue policy's vocabulary: what the session tells a policy (utterances, silences, key
presses) and what a policy asks the session to do (say, record, hang up).

Every engine (built-in rules, a Rasa server) implements `DialoguePolicy`; the session drives one
policy object per call and carries out the actions it returns, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicebot.interview.plan import InterviewPlan


@dataclass(frozen=True, slots=True)
class Say:
    """Speak `text`; with `listen`, the session then waits for the candidate's answer."""

    text: str
    # "greeting", "consent", "ask", "reprompt", "repeat", "ack", "goodbye", "info",
    # "hesitate" (after a bare filler), "disclosure" (yes, an AI: not interruptible)
    kind: str = "say"
    question_id: str | None = None
    listen: bool = False
    interruptible: bool = True  # False for the AI disclosure: barge-in must not cut it


@dataclass(frozen=True, slots=True)
class Hangup:
    # "completed", "no_consent", "silence", "unclear", "opted_out", "callback", "transferred",
    # "caller_hangup"
    outcome: str


@dataclass(frozen=True, slots=True)
class RecordConsent:
    given: bool


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    question_id: str
    text: str
    confidence: float | None = None
    # the normalised value for a typed question: {"money": {...}}, {"duration": "P4W"}...
    value: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RecordCallback:
    """The candidate asked to be called another time; the dialer schedules it.

    `when` is an ISO 8601 date-time in the candidate's time zone, or None when no time was
    understood (the dialer then picks its next calling window); `text` is what was said.
    """

    when: str | None
    text: str


@dataclass(frozen=True, slots=True)
class RecordOptOut:
    """The candidate asked never to be called again; the dialer must honour it."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call to a human; the session says a human will call back if it cannot."""

    reason: str
    fallback: str = ""  # said instead when the call cannot be transferred: a human calls back


Action = Say | Hangup | RecordConsent | RecordAnswer | RecordCallback | RecordOptOut | Transfer


@dataclass(frozen=True, slots=True)
class Utterance:
    """What the candidate said, as the recognizer heard it."""

    text: str
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """No speech for `interview.reprompt_after_s` after a listening `Say` finished."""

    count: int  # 1 for the first silence in a row, 2 for the second...


@dataclass(frozen=True, slots=True)
class KeyPress:
    digit: str


PolicyEvent = Silence | KeyPress


@dataclass(frozen=True, slots=True)
class InterviewContext:
    call_id: str
    plan: InterviewPlan
    company: str
    bot_name: str
    locale: str = "en"
    candidate_name: str | None = None
    max_reprompts: int = 2
    timezone: str = "UTC"  # the candidate's IANA zone: call-back times are read in it
    compliance: str = "none"  # "none" | "eu" | "pipl" | "us" (us: recording disclosure too)


class DialoguePolicy(Protocol):
    """One call's conversation logic; each method returns the actions to carry out, in order.

    The methods are async because an engine may ask a server (Rasa) over HTTP.
    """

    async def start(self, ctx: InterviewContext) -> list[Action]: ...

    async def on_utterance(self, utterance: Utterance) -> list[Action]: ...

    async def on_event(self, event: PolicyEvent) -> list[Action]: ...

    async def close(self) -> None: ...

    @property
    def finished(self) -> bool: ...
