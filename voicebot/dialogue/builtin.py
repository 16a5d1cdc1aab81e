"""The built-in policy: greeting with the AI disclosure, consent, the plan's questions in order,
repeat requests, silence re-prompts and a polite goodbye, driven by a small keyword matcher.

What the bot says comes from the prompt templates; what it understands comes from `INTENTS`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicebot.dialogue.policy import (
    Action,
    Hangup,
    InterviewContext,
    KeyPress,
    PolicyEvent,
    RecordAnswer,
    RecordConsent,
    Say,
    Silence,
    Utterance,
)
from voicebot.dialogue.prompts import Prompts
from voicebot.interview.plan import Question

CONSENT_ATTEMPTS = 2  # an unclear answer gets one more ask; a second counts as no


@dataclass(frozen=True, slots=True)
class IntentRule:
    phrases: tuple[str, ...] = ()  # match anywhere in the utterance
    whole: tuple[str, ...] = ()  # match only the whole utterance, fillers aside
    max_words: int | None = None  # `phrases` count only in utterances this short


# fmt: off
INTENTS: dict[str, IntentRule] = {
    "opt_out": IntentRule(
        phrases=(
            "stop calling", "dont call me", "do not call me", "dont call again",
            "do not call again", "remove me from", "remove my number", "take me off",
            "unsubscribe", "leave me alone",
        ),
    ),
    "goodbye": IntentRule(
        phrases=("bye", "goodbye", "good bye", "hang up", "end the call", "stop the call",
                 "stop the interview", "i want to stop"),
        whole=("stop", "stop it", "i have to go", "gotta go"),
        max_words=4,
    ),
    "repeat": IntentRule(
        phrases=(
            "repeat", "say that again", "say it again", "pardon", "sorry what", "come again",
            "didnt catch that", "didnt catch it", "didnt catch the question", "didnt hear",
            "didnt get that", "what was the question", "one more time",
        ),
        whole=("what", "sorry", "huh", "eh", "excuse me", "what was that", "again",
               "say again", "didnt catch", "i didnt catch", "hello", "hi", "are you there",
               "hello are you there", "is anyone there"),
        max_words=8,
    ),
    "yes": IntentRule(
        phrases=(
            "yes", "yeah", "yep", "yup", "yea", "sure", "ok", "okay", "of course", "go ahead",
            "thats fine", "i agree", "sounds good", "fine", "alright", "all right", "certainly",
            "absolutely", "i do", "dont mind", "i dont mind", "i do not mind", "no problem",
            "no worries", "why not", "lets do it", "lets go", "go on", "i guess so",
        ),
    ),
    "no": IntentRule(
        phrases=(
            "no", "nope", "nah", "not really", "i dont agree", "i do not agree", "i disagree",
            "dont", "do not", "i do not", "not now", "not right now", "no thanks",
            "no thank you", "not interested",
            "not okay", "not ok", "not fine", "of course not", "absolutely not", "rather not",
            "not a good time", "bad time", "busy", "later", "i cant", "cannot",
        ),
    ),
    "unsure": IntentRule(phrases=("not sure", "dont know", "maybe", "who is this")),
}
# fmt: on

_FILLERS = frozenset({"um", "uh", "erm", "er", "hmm", "oh", "ah", "well", "please", "so", "sorry"})


def normalize(text: str) -> str:
    """Lowercase words without punctuation: "Don't, sorry!" -> "dont sorry"."""
    text = text.lower().replace("’", "'").replace("'", "")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


class IntentMatcher:
    """Finds intents in an utterance; longer phrases win, so "not okay" is no, not yes."""

    def __init__(self, rules: Mapping[str, IntentRule] = INTENTS) -> None:
        self._whole = {normalize(p): name for name, rule in rules.items() for p in rule.whole}
        phrases = [
            (normalize(p), name, rule.max_words)
            for name, rule in rules.items()
            for p in rule.phrases
        ]
        self._phrases = sorted(phrases, key=lambda item: -len(item[0].split()))

    def match(self, text: str) -> frozenset[str]:
        words = normalize(text).split()
        core = " ".join(w for w in words if w not in _FILLERS)
        for candidate in (" ".join(words), core):
            if candidate in self._whole:
                return frozenset({self._whole[candidate]})
        found: set[str] = set()
        rest = f" {' '.join(words)} "
        for phrase, intent, max_words in self._phrases:
            if max_words is not None and len(words) > max_words:
                continue
            if f" {phrase} " in rest:
                found.add(intent)
                rest = rest.replace(f" {phrase} ", " | ")
        return frozenset(found)


class _Stage(enum.Enum):
    IDLE = "idle"
    CONSENT = "consent"
    QUESTIONS = "questions"
    DONE = "done"


class BuiltinPolicy:
    """Rule-based `DialoguePolicy` for one call."""

    def __init__(
        self, prompts: Prompts | None = None, intents: IntentMatcher | None = None
    ) -> None:
        self._prompts = prompts if prompts is not None else Prompts()
        self._intents = intents if intents is not None else IntentMatcher()
        self._ctx: InterviewContext | None = None
        self._stage = _Stage.IDLE
        self._index = 0  # the question being asked
        self._unclear = 0  # unclear answers to the pending prompt

    @property
    def finished(self) -> bool:
        return self._stage is _Stage.DONE

    def start(self, ctx: InterviewContext) -> list[Action]:
        self._ctx = ctx
        self._stage = _Stage.CONSENT
        self._index = self._unclear = 0
        return [
            Say(self._render("greeting"), kind="greeting", interruptible=False),
            Say(self._render("consent"), kind="consent", listen=True),
        ]

    def on_utterance(self, utterance: Utterance) -> list[Action]:
        if self._stage is _Stage.IDLE:
            raise RuntimeError("BuiltinPolicy.start() must be called first")
        if self._stage is _Stage.DONE:
            return []
        intents = self._intents.match(utterance.text)
        if intents & {"opt_out", "goodbye"}:
            return self._opt_out()
        if "repeat" in intents:
            return [self._repeat()]
        if self._stage is _Stage.CONSENT:
            return self._on_consent(_consent_answer(intents))
        return self._on_answer(utterance)

    def on_event(self, event: PolicyEvent) -> list[Action]:
        if self._stage is _Stage.IDLE:
            raise RuntimeError("BuiltinPolicy.start() must be called first")
        if self._stage is _Stage.DONE:
            return []
        match event:
            case Silence(count=count) if count > self._context.max_reprompts:
                return self._end("goodbye_silence", "silence")
            case Silence(count=count):
                return [self._pending("reprompt", self._render("reprompt", count=count))]
            case KeyPress(digit="*"):
                return [self._repeat()]
            case KeyPress(digit="1" | "2" as digit) if self._stage is _Stage.CONSENT:
                return self._on_consent(digit == "1")
        return []

    def _on_consent(self, given: bool | None) -> list[Action]:
        if given:
            self._stage = _Stage.QUESTIONS
            self._unclear = 0
            return [RecordConsent(True), *self._next(self._render("consent_given"))]
        self._unclear += 1
        if given is None and self._unclear < CONSENT_ATTEMPTS:
            return [Say(self._render("consent_repeat"), kind="consent", listen=True)]
        return [RecordConsent(False), *self._end("goodbye_no_consent", "no_consent")]

    def _on_answer(self, utterance: Utterance) -> list[Action]:
        question = self._question
        text = utterance.text.strip()
        if not normalize(text):
            self._unclear += 1
            if self._unclear > self._context.max_reprompts:
                return self._end("goodbye_unclear", "unclear")
            text = self._render("repeat_unclear")
            return [Say(text, kind="repeat", question_id=question.id, listen=True)]
        answered = self._index
        self._index += 1
        self._unclear = 0
        ack = self._render("ack", index=answered)
        return [RecordAnswer(question.id, text, utterance.confidence), *self._next(ack)]

    def _next(self, lead: str) -> list[Action]:
        """Ask the current question after `lead`, or close the interview when none is left."""
        if self._index >= len(self._context.plan.questions):
            return self._end("goodbye_completed", "completed")
        return [self._ask("ask", lead)]

    def _repeat(self) -> Say:
        return self._pending("repeat", self._render("repeat"))

    def _pending(self, kind: str, lead: str) -> Say:
        """The prompt awaiting an answer (consent or the current question), said again."""
        if self._stage is _Stage.CONSENT:
            return Say(_join(lead, self._render("consent")), kind=kind, listen=True)
        return self._ask(kind, lead)

    def _opt_out(self) -> list[Action]:
        consent = [RecordConsent(False)] if self._stage is _Stage.CONSENT else []
        return [*consent, *self._end("goodbye_opt_out", "opted_out")]

    def _end(self, template: str, outcome: str) -> list[Action]:
        self._stage = _Stage.DONE
        return [Say(self._render(template), kind="goodbye"), Hangup(outcome)]

    def _ask(self, kind: str, lead: str) -> Say:
        """The current question after `lead`, listening for the answer."""
        question = self._question
        total = len(self._context.plan.questions)
        text = self._render("question", text=question.text, number=self._index + 1, total=total)
        return Say(_join(lead, text), kind=kind, question_id=question.id, listen=True)

    def _render(self, name: str, **extra: Any) -> str:
        ctx = self._context
        context = {
            "bot_name": ctx.bot_name,
            "company": ctx.company,
            "candidate_name": ctx.candidate_name,
            "job_title": ctx.plan.job.title,
            "question_count": len(ctx.plan.questions),
            **extra,
        }
        return self._prompts.render(name, context, locale=ctx.locale)

    @property
    def _question(self) -> Question:
        return self._context.plan.questions[self._index]

    @property
    def _context(self) -> InterviewContext:
        assert self._ctx is not None
        return self._ctx


def _consent_answer(intents: frozenset[str]) -> bool | None:
    """True for a clear yes, False for a clear no, None when unclear or mixed."""
    if "unsure" in intents:
        return None
    answer = intents & {"yes", "no"}
    if answer == {"yes"}:
        return True
    if answer == {"no"}:
        return False
    return None


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)
