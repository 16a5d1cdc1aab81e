"""The dialogue policy's vocabulary: what the session tells a policy (utterances, silences, key
presses) and what a policy asks the session to do (say, record, hang up).

Every engine (built-in rules, a Rasa server) implements `DialoguePolicy`; the session drives one
policy object per call and carries out the actions it returns, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voicebot.interview.plan import InterviewPlan


@dataclass(frozen=True, slots=True)
class Say:
    """Speak `text`; with `listen`, the session then waits for the candidate's answer."""

    text: str
    # "greeting", "consent", "ask", "reprompt", "repeat", "ack", "goodbye", "info"
    kind: str = "say"
    question_id: str | None = None
    listen: bool = False
    interruptible: bool = True  # False for the AI disclosure: barge-in must not cut it


@dataclass(frozen=True, slots=True)
class Hangup:
    outcome: str  # "completed", "no_consent", "silence", "unclear", "opted_out", "caller_hangup"


@dataclass(frozen=True, slots=True)
class RecordConsent:
    given: bool


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    question_id: str
    text: str
    confidence: float | None = None


Action = Say | Hangup | RecordConsent | RecordAnswer


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


class DialoguePolicy(Protocol):
    """One call's conversation logic; each method returns the actions to carry out, in order."""

    def start(self, ctx: InterviewContext) -> list[Action]: ...

    def on_utterance(self, utterance: Utterance) -> list[Action]: ...

    def on_event(self, event: PolicyEvent) -> list[Action]: ...

    @property
    def finished(self) -> bool: ...
