"""A whole interview through `InterviewSession` with scripted stand-ins for the line and engines.

`FakeCall` is the line: a pacer delivers one inbound 20 ms frame per tick from a candidate's
script (silence, and real espeak-ng speech so webrtcvad hears a voice) and plays out one queued
bot frame per tick, recording the tick it went out at. Ticks run faster than real time but in
lockstep with the session's listener, so a count of frames is a count of 20 ms of audio. The
bot's voice is a tone, so its frames are told apart from silence; the recognizer "recognizes"
the scripted sentences by their audio, so an utterance missing its first frames goes unheard.
The policy, prompts, job, VAD and store are the real ones.

The session still waits in wall time (120 ms for the line to drain, the reprompt timer), so
the candidate answers a prompt only once the session has logged it: it logs a bot turn when
the turn's audio has played out.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.speech.speech_samples import espeak_pcm
from tests.speech.speech_samples import frames as split_frames
from voicebot.config import InterviewConfig, SpeechConfig
from voicebot.dialogue.builtin import BuiltinPolicy
from voicebot.dialogue.policy import DialoguePolicy, InterviewContext
from voicebot.interview.plan import InterviewPlan, load_job
from voicebot.interview.session import InterviewSession, SessionResult
from voicebot.speech.asr import ZH_NUMBER_HINT, Transcript
from voicebot.speech.turn import silence_needed_ms
from voicebot.store import Store, TurnRecord
from voicebot.telephony.base import (
    Call,
    CallEvent,
    CallStats,
    Direction,
    Dtmf,
    HungUp,
    frame_bytes,
)

EXAMPLE_JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"
RATE = 8000
FRAME = frame_bytes(RATE)
FRAME_S = 0.020  # virtual time per tick
TICK_S = 0.002  # real time per tick: 10x faster than a phone line
OUTBOUND_QUEUE_FRAMES = 5  # as the SIP bridge's
SPURT_GAP = 3  # silent frames that separate two stretches of bot audio
QUIET = 10  # the candidate answers 200 ms after the bot has finished
MAX_TICKS = 6000  # two minutes of call: a script that never ends fails instead of hanging
HANGOVER_MS = 700
EARLY_END_MS = 300  # a short answer that reads as finished ends after this much silence
COMPLETE_END_MS = 400  # ... and one that holds what was asked (a sum, a yes) after this
TRAILING_MS = 2500  # one trailing off on "and", or not yet answered, waits this long
SILENT = bytes(FRAME)

YES = "Yes, that is fine."
ANSWERS = {
    "salary": "About ninety thousand a year.",
    "notice": "One month.",
    "python_years": "Six years.",
    "production_fix": "Our API went down once, I rolled it back and it was fixed in minutes.",
}


# the candidate's script ------------------------------------------------------------------


@dataclass(frozen=True)
class Speak:
    """Say `text` (espeak-ng audio); the recognizer transcribes it as `heard`."""

    text: str
    heard: str | None = None


@dataclass(frozen=True)
class Wait:
    ms: int


@dataclass(frozen=True)
class AfterBot:
    """Silence until the bot has finished saying its `turn`-th turn, then a short pause."""

    turn: int


@dataclass(frozen=True)
class DuringBot:
    """Silence until the bot's `spurt`-th stretch of audio has played for `ms`."""

    spurt: int
    ms: int


@dataclass(frozen=True)
class Press:
    digit: str


@dataclass(frozen=True)
class HangUp:
    pass


@dataclass(frozen=True)
class Until:
    """Silence until `done()` holds (something the test watches, such as the policy)."""

    done: Callable[[], bool]


Step = Speak | Wait | AfterBot | DuringBot | Press | HangUp | Until


def is_bot_audio(frame: bytes) -> bool:
    return bool(np.abs(np.frombuffer(frame, "<i2")).max() > 100)


@dataclass
class Spurt:
    start: int  # tick of its first audible frame
    end: int  # tick of its last audible frame
    frames: int = 1


@dataclass(repr=False)
class FakeCall:
    """The `Call` protocol over a scripted candidate and a virtual 20 ms line."""

    script: list[Step]
    call_id: str = "call-1"
    direction: Direction = Direction.OUTBOUND
    remote: str = "sip:+15551234567@pbx.example.com"
    sample_rate: int = RATE
    stats: CallStats = field(default_factory=CallStats)

    tick: int = 0
    sent: list[tuple[int, float]] = field(default_factory=list)  # (tick, real time) bot audio
    spurts: list[Spurt] = field(default_factory=list)
    speech: list[tuple[int, int]] = field(default_factory=list)  # [first, last] tick of a Speak
    hung_up_by: str | None = None
    hung_up_at: float | None = None  # real time
    cleared: int = 0  # frames dropped by clear_output
    # the session's turn log: a bot turn is logged once its audio has played out
    turns: list[TurnRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._outbound: asyncio.Queue[bytes] = asyncio.Queue(maxsize=OUTBOUND_QUEUE_FRAMES)
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._consumed = asyncio.Event()
        self._ticked = asyncio.Event()
        self._quiet = 0
        self._pacer: asyncio.Task[None] | None = None

    # the Call protocol ---------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[bytes]:
        if self._pacer is None:
            self._pacer = asyncio.create_task(self._pace())
        while (frame := await self._inbound.get()) is not None:
            yield frame
            self._consumed.set()  # the listener is back for more: it has handled the frame

    async def send(self, frame: bytes) -> None:
        if self.ended:
            return
        assert len(frame) == FRAME, f"a frame is {FRAME} bytes, not {len(frame)}"
        await self._outbound.put(frame)

    def clear_output(self) -> int:
        dropped = 0
        while not self._outbound.empty():
            self._outbound.get_nowait()
            dropped += 1
        self.cleared += dropped
        return dropped

    async def send_dtmf(self, digits: str) -> None:
        pass

    async def hangup(self) -> None:
        if not self.ended:
            self._end(by_remote=False)

    async def events(self) -> AsyncIterator[CallEvent]:
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, HungUp):
                return

    @property
    def ended(self) -> bool:
        return self.hung_up_by is not None

    # the line ------------------------------------------------------------------------------

    def now(self) -> float:
        """The session's clock: virtual seconds of audio since the call began."""
        return self.tick * FRAME_S

    async def close(self) -> None:
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait, tick by tick, until `done()` holds on the line."""
        while not done():
            await self._ticked.wait()

    def bot_frames(self, first_tick: int, last_tick: int) -> int:
        """Audible bot frames played out from `first_tick` to `last_tick`, inclusive."""
        return sum(first_tick <= tick <= last_tick for tick, _ in self.sent)

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for frame in self._candidate():
            if self.ended:
                return
            self._consumed.clear()
            self._inbound.put_nowait(frame)
            self._play_out()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._consumed.wait(), 5)
            self.tick += 1
            self._ticked.set()  # wakes every waiter in `until`; clear() cannot un-wake them
            self._ticked.clear()
            await asyncio.sleep(max(0.0, start + self.tick * TICK_S - loop.time()))

    def _play_out(self) -> None:
        try:
            frame = self._outbound.get_nowait()
        except asyncio.QueueEmpty:
            self._quiet += 1
            return
        if not is_bot_audio(frame):
            self._quiet += 1
            return
        self.sent.append((self.tick, time.monotonic()))
        if not self.spurts or self._quiet >= SPURT_GAP:
            self.spurts.append(Spurt(self.tick, self.tick))
        else:
            self.spurts[-1].end = self.tick
            self.spurts[-1].frames += 1
        self._quiet = 0

    def _candidate(self) -> Iterator[bytes]:
        for step in self.script:
            match step:
                case Speak(text=text):
                    first = self.tick
                    yield from split_frames(espeak_pcm(text))
                    self.speech.append((first, self.tick - 1))
                case Wait(ms=ms):
                    for _ in range(ms // 20):
                        yield SILENT
                case AfterBot(turn=n):
                    while sum(t.speaker == "bot" for t in self.turns) < n:
                        yield SILENT
                    for _ in range(QUIET):
                        yield SILENT
                case DuringBot(spurt=n, ms=ms):
                    while len(self.spurts) < n or self.tick - self.spurts[n - 1].start < ms // 20:
                        yield SILENT
                case Press(digit=digit):
                    self._events.put_nowait(Dtmf(digit))
                case Until(done=done):
                    while not done():
                        yield SILENT
                case HangUp():
                    self._end(by_remote=True)
                    return
        while self.tick < MAX_TICKS:
            yield SILENT
        self._end(by_remote=True)

    def _end(self, *, by_remote: bool) -> None:
        self.hung_up_by = "candidate" if by_remote else "bot"
        self.hung_up_at = time.monotonic()
        self._inbound.put_nowait(None)
        self._events.put_nowait(HungUp(by_remote=by_remote))


# the engines -----------------------------------------------------------------------------


class FakeRecognizer:
    """Knows the script's sentences by their opening audio; anything else is not words. A
    sentence whose last voiced frames are not in the audio yet (a speculative decode at a
    pause inside it) is heard only up to its first comma, or its first half."""

    def __init__(
        self, engine: FakeRecognizerEngine, sample_rate: int, context: str, language: str
    ) -> None:
        self.engine = engine
        self.sample_rate = sample_rate
        self.context = context
        self.language = language
        self.reset()

    async def feed(self, pcm: bytes) -> str | None:
        self._audio += pcm
        return None

    def speculate(self) -> None:
        self._speculation = (len(self._audio), self._decode())

    def early_result(self) -> Transcript | None:
        if self._speculation is None or self._speculation[0] != len(self._audio):
            return None
        return self._speculation[1]

    def speculating(self) -> bool:
        return False  # a speculation here is done at once

    async def finish(self) -> Transcript:
        self.engine.heard_audio.append(bytes(self._audio))
        transcript = self._decode()
        self.engine.contexts.append((transcript.text, self.context, self.language))
        self.reset()
        if (hold := self.engine.late.get(transcript.text)) is not None:
            await hold()  # a decode slowed down by load: its transcript comes late
        return transcript

    def reset(self) -> None:
        self._audio = bytearray()
        self._speculation: tuple[int, Transcript] | None = None

    def _decode(self) -> Transcript:
        for opening, (text, ending) in self.engine.lexicon.items():
            if opening in self._audio:
                heard = text if ending in self._audio else _beginning(text)
                return Transcript(heard, confidence=0.9, engine="fake")
        return Transcript("", confidence=0.0, engine="fake")


def _beginning(text: str) -> str:
    """What a recognizer makes of a sentence cut short: up to its first comma, else half."""
    if "," in text:
        return text[: text.index(",") + 1]
    words = text.split()
    return " ".join(words[: max(1, len(words) // 2)]).rstrip(".?!")


def _ending(pcm: bytes) -> bytes:
    """The last three voiced frames of a sentence's audio, as the line carries them."""
    loud = [i for i, f in enumerate(split_frames(pcm)) if is_bot_audio(f)]
    last = (loud[-1] + 1) if loud else len(pcm) // FRAME
    return b"".join(list(split_frames(pcm))[max(0, last - 3) : last])


class FakeRecognizerEngine:
    name = "fake"

    def __init__(self, script: list[Step]) -> None:
        self.lexicon = {
            (pcm := espeak_pcm(s.text))[: 3 * FRAME]: (
                s.text if s.heard is None else s.heard,
                _ending(pcm),
            )
            for s in script
            if isinstance(s, Speak)
        }
        self.heard_audio: list[bytes] = []
        self.contexts: list[tuple[str, str, str]] = []  # (heard, context, language)
        self.late: dict[str, Callable[[], Awaitable[None]]] = {}  # heard -> wait before finish

    def recognizer(
        self, sample_rate: int = RATE, context: str = "", language: str = ""
    ) -> FakeRecognizer:
        return FakeRecognizer(self, sample_rate, context, language)

    def close(self) -> None:
        pass


class FakeTTS:
    """A 440 Hz tone, `frames_per_word` frames for every word of the text."""

    sample_rate = RATE

    def __init__(self, frames_per_word: int = 1) -> None:
        self.frames_per_word = frames_per_word
        self.texts: list[str] = []

    def frames_for(self, text: str) -> int:
        return len(text.split()) * self.frames_per_word

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        self.texts.append(text)
        n = self.frames_for(text) * FRAME // 2
        tone = 8000 * np.sin(2 * math.pi * 440 * np.arange(n) / RATE)
        yield tone.astype("<i2").tobytes()

    async def render(self, text: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(text)])


# running one interview -------------------------------------------------------------------


@dataclass
class Interview:
    result: SessionResult
    call: FakeCall
    tts: FakeTTS
    asr: FakeRecognizerEngine
    returned_at: float  # real time

    def bot_turns(self) -> list[tuple[str, str | None]]:
        return [(t.kind, t.question_id) for t in self.result.turns if t.speaker == "bot"]


async def interview(
    script: list[Step],
    *,
    store: Store | None = None,
    frames_per_word: int = 1,
    transfer_to: list[str] | None = None,
    policy: DialoguePolicy | None = None,
    machine: bool = False,
    recordings: list[str] | None = None,
    voicemail_message: str = "",
    speech_options: dict | None = None,
    late: Mapping[str, Callable[[FakeCall], Awaitable[None]]] | None = None,
    on_call: Callable[[FakeCall], None] | None = None,
    locale: str = "en",
    **interview_options: object,
) -> Interview:
    """Run one interview over `script`; `late` holds back the transcript of each sentence it
    names (by what the recognizer hears) until its wait on the call returns; `on_call` gets
    the line before the call starts."""
    job = load_job(EXAMPLE_JOB)
    call = FakeCall(script)
    if on_call is not None:
        on_call(call)
    call.machine = machine  # type: ignore[attr-defined]  # the PBX's AMD verdict (ARI)
    if recordings is not None:  # a transport that can record (ARI)

        async def start_recording(name: str) -> None:
            recordings.append(name)

        call.start_recording = start_recording  # type: ignore[attr-defined]
    if transfer_to is not None:  # a transport that can hand the call to a person (ARI)

        async def transfer(target: str) -> bool:
            transfer_to.append(target)
            call._end(by_remote=True)  # the PBX takes the candidate away from the bot's leg
            return True

        call.transfer = transfer  # type: ignore[attr-defined]
    tts = FakeTTS(frames_per_word)
    asr = FakeRecognizerEngine(script)
    for heard, wait in (late or {}).items():
        asr.late[heard] = lambda wait=wait: wait(call)
    ctx = InterviewContext(
        call.call_id, InterviewPlan.from_job(job), company=job.company, bot_name="Ava",
        locale=locale,
    )  # fmt: skip
    options: dict = {"reprompt_after_s": 1.0, **interview_options}
    session = InterviewSession(
        call,
        policy if policy is not None else BuiltinPolicy(),
        ctx,
        asr=asr,
        tts=tts,
        store=store,
        interview=InterviewConfig(**options),
        speech=SpeechConfig(
            vad_hangover_ms=HANGOVER_MS,
            early_end_ms=EARLY_END_MS,
            complete_end_ms=COMPLETE_END_MS,
            trailing_end_ms=TRAILING_MS,
            **(speech_options or {}),
        ),
        clock=call.now,
        transfer_target="6000" if transfer_to is not None else "",
        voicemail_message=voicemail_message,
        record=recordings is not None,
    )
    call.turns = session.result.turns
    try:
        async with asyncio.timeout(30):
            result = await session.run()
        returned_at = time.monotonic()
    finally:
        await call.close()
    assert call.tick < MAX_TICKS, "the script ran out before the interview ended"
    return Interview(result, call, tts, asr, returned_at)


def answering(answers: dict[str, str]) -> list[Step]:
    """Consent, then each answer once the bot's question has been asked."""
    script: list[Step] = [AfterBot(2), Speak(YES)]
    for n, answer in enumerate(answers.values(), start=3):
        script += [AfterBot(n), Speak(answer)]
    return script


# tests -----------------------------------------------------------------------------------


def test_the_fake_call_is_a_call() -> None:
    assert isinstance(FakeCall([]), Call)


async def open_store(tmp_path: Path) -> Store:
    store = await Store.open(tmp_path / "voicebot.db")
    await store.call_started(
        "call-1", direction="outbound", bridge="fake", remote=FakeCall([]).remote, started_at=0
    )
    return store


async def test_a_whole_interview_records_every_answer_and_every_turn(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        done = await interview(answering(ANSWERS), store=store)
        stored = await store.turns("call-1")
        call_row = await store.get_call("call-1")
    finally:
        await store.close()
    result = done.result

    assert result.outcome == "completed"
    assert result.consent is True and call_row is not None and call_row["consent"] == 1
    assert result.answers == ANSWERS
    assert done.call.hung_up_by == "bot"

    expected = [("bot", "greeting", None), ("bot", "consent", None), ("candidate", "answer", None)]
    for qid in ANSWERS:
        expected += [("bot", "ask", qid), ("candidate", "answer", qid)]
    expected += [("bot", "goodbye", None)]
    assert [(t.speaker, t.kind, t.question_id) for t in stored] == expected
    assert [t.seq for t in stored] == list(range(1, len(expected) + 1))
    spoken = [t.text for t in stored if t.speaker == "candidate"]
    assert spoken == [YES, *ANSWERS.values()]
    bot_texts = [t.text for t in stored if t.speaker == "bot"]
    assert bot_texts[0].startswith("Hello, this is Ava, an AI assistant")
    assert "What are your salary expectations" in bot_texts[2]
    assert bot_texts[-1].endswith("Goodbye!")
    assert [t.text for t in result.turns] == [t.text for t in stored]
    assert all(t.confidence == 0.9 for t in stored if t.speaker == "candidate")

    # by default the recognizer gets the call's language but no context (speed first)
    assert {(c, lang) for _, c, lang in done.asr.contexts} == {("", "en")}

    # the timeline holds together; every reply to a short answer that holds what was asked
    # (a yes, a sum, a duration, years) came after the complete_end_ms end of turn and before
    # the full hangover would have run out (the line runs 10x real time: a busy host adds
    # virtual milliseconds), and the reply to the story (a behavioural question) waited the
    # hangover: stories have pauses in them
    assert all(t.started_at <= t.ended_at for t in stored)
    assert [t.ended_at for t in stored] == sorted(t.ended_at for t in stored)
    replies = [t for t in stored if t.speaker == "bot" and t.kind in ("ask", "goodbye")]
    *short, after_story = [t.latency_ms for t in replies]
    assert all(COMPLETE_END_MS - 1 < ms < HANGOVER_MS for ms in short), short
    assert after_story > HANGOVER_MS - 1, after_story  # waited, never ended early

    # every prompt played in full and uncut, one stretch of audio per bot turn
    assert not any(t.interrupted for t in stored)
    assert [s.frames for s in done.call.spurts] == [done.tts.frames_for(t) for t in bot_texts]
    assert done.call.cleared == 0


async def test_with_asr_context_each_answer_is_decoded_with_its_question() -> None:
    done = await interview(answering(ANSWERS), speech_options={"asr_context": True})
    asked = {t.question_id: t.text for t in done.result.turns if t.kind == "ask"}
    contexts = {heard: (context, lang) for heard, context, lang in done.asr.contexts}
    for qid, answer in ANSWERS.items():
        assert contexts[answer] == (asked[qid], "en")
    consent = [t.text for t in done.result.turns if t.kind == "consent"]
    assert contexts[YES] == (consent[0], "en")


async def test_a_mandarin_salary_answer_is_decoded_with_the_chinese_numeral_hint() -> None:
    """Whisper base writes 一万五 as "1500" unless its prompt shows Chinese numerals; only the
    salary answer pays the slower prompted decode."""
    done = await interview(answering(ANSWERS), locale="zh")
    contexts = {heard: (context, lang) for heard, context, lang in done.asr.contexts}
    assert contexts[ANSWERS["salary"]] == (ZH_NUMBER_HINT, "zh")
    assert contexts[ANSWERS["notice"]] == ("", "zh") and contexts[YES] == ("", "zh")
    english = await interview(answering(ANSWERS))
    assert {c for _, c, _ in english.asr.contexts} == {""}


@pytest.mark.parametrize(
    ("heard", "silence_ms"),
    [
        ("Ninety thousand a year.", COMPLETE_END_MS),  # the salary asked for, said to its end
        ("Ninety thousand a year", HANGOVER_MS),  # no final stop: not known to be finished
        ("I am hoping for around.", TRAILING_MS),  # no sum yet: not answered
        ("Six years and", TRAILING_MS),  # more is coming
    ],
)
async def test_the_silence_that_ends_a_turn_depends_on_what_was_said_to_what_was_asked(
    heard: str, silence_ms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import voicebot.interview.session as session_module

    asked: list[tuple[str | None, int]] = []  # (question kind, silence needed), as decided

    def needed(kind: str | None, *args: Any, **kwargs: Any) -> int:
        ms = silence_needed_ms(kind, *args, **kwargs)
        asked.append((kind, ms))
        return ms

    monkeypatch.setattr(session_module, "silence_needed_ms", needed)
    script: list[Step] = [
        AfterBot(2),
        Speak(YES),
        AfterBot(3),
        Speak("Six years.", heard=heard),
        AfterBot(4),
        HangUp(),
    ]

    done = await interview(script)

    assert done.result.answers == {"salary": heard}
    reply = [t for t in done.result.turns if t.speaker == "bot"][3]
    # the salary answer's turn was ended by the wait its words call for (decided, not timed:
    # a busy host adds virtual milliseconds), and that silence was waited
    assert [ms for kind, ms in asked if kind == "salary"][-1] == silence_ms
    assert reply.latency_ms > silence_ms - 1


async def test_a_story_is_never_ended_early_even_when_its_first_sentence_reads_finished() -> None:
    """ "去年我们的支付服务在一次发布后挂了。" is a whole sentence, and then the candidate
    goes on: a behavioural answer (or its follow-up) waits the full hangover."""
    script: list[Step] = [AfterBot(2), Speak(YES)]
    for turn, qid in enumerate(["salary", "notice", "python_years"], start=3):
        script += [AfterBot(turn), Speak(ANSWERS[qid])]
    script += [AfterBot(6), Speak("Our API went down.", heard="Our API went down."), AfterBot(7)]
    script += [HangUp()]

    done = await interview(script)

    story = [t for t in done.result.turns if t.question_id == "production_fix"]
    assert [(t.speaker, t.kind) for t in story] == [
        ("bot", "ask"),
        ("candidate", "answer"),
        ("bot", "followup"),  # too short a story: the bot asks what they did
    ]
    assert story[2].latency_ms > HANGOVER_MS - 1, story[2]  # waited, never ended early


@pytest.mark.parametrize(("turn", "kind"), [(2, "consent"), (3, "ask")])
async def test_barge_in_stops_the_bot_within_100_ms(turn: int, kind: str) -> None:
    # past the grace in which speech would still go on with the answer before (turn 3)
    script: list[Step] = [AfterBot(2), Speak(YES)] if turn == 3 else []
    said = YES if turn == 2 else ANSWERS["salary"]
    script += [DuringBot(turn, 1200), Speak(said), AfterBot(turn + 1), HangUp()]

    done = await interview(script, frames_per_word=8)

    call = done.call
    prompt = [t for t in done.result.turns if t.speaker == "bot"][turn - 1]
    assert prompt.kind == kind and prompt.interrupted
    first, last = call.speech[-1]
    assert call.bot_frames(first, last) <= 5  # 100 ms from the first word to bot silence
    assert call.spurts[turn - 1].frames < done.tts.frames_for(prompt.text) - 5
    assert call.cleared > 0  # queued audio was dropped, not played out
    # what was said over the prompt answers it, and the interview goes on
    if turn == 2:
        assert done.result.consent is True
    else:
        assert done.result.answers == {"salary": ANSWERS["salary"]}
    assert done.bot_turns()[-1][0] == "ask"


async def test_with_barge_in_off_the_bot_finishes_its_question() -> None:
    script: list[Step] = [DuringBot(2, 400), Speak(YES), AfterBot(3), HangUp()]

    done = await interview(script, barge_in=False)

    consent = [t for t in done.result.turns if t.speaker == "bot"][1]
    assert consent.kind == "consent" and not consent.interrupted
    assert done.call.spurts[1].frames == done.tts.frames_for(consent.text)
    assert done.call.cleared == 0
    assert done.result.consent is True


async def test_speech_does_not_cut_the_ai_disclosure_and_is_not_an_answer() -> None:
    script: list[Step] = [
        DuringBot(1, 200),
        Speak("Six years.", heard="No."),  # over the greeting: must not answer the consent
        AfterBot(2),
        Speak(YES),
        AfterBot(3),
        HangUp(),
    ]

    done = await interview(script, frames_per_word=3)

    call = done.call
    (greeting,) = [t for t in done.result.turns if t.kind == "greeting"]
    assert not greeting.interrupted
    first, last = call.speech[0]
    assert call.spurts[0].start < first and last < call.spurts[0].end  # spoken over it
    assert call.bot_frames(first, last) == last - first + 1  # not a frame missed meanwhile
    assert call.spurts[0].frames == done.tts.frames_for(greeting.text)
    assert call.cleared == 0
    assert done.result.consent is True
    assert done.bot_turns() == [("greeting", None), ("consent", None), ("ask", "salary")]


async def test_silence_gets_two_reprompts_then_a_goodbye() -> None:
    reprompt_after_s = 0.3

    done = await interview([], reprompt_after_s=reprompt_after_s)

    assert done.result.outcome == "silence"
    assert done.call.hung_up_by == "bot"
    assert done.bot_turns() == [
        ("greeting", None),
        ("consent", None),
        ("reprompt", None),
        ("reprompt", None),
        ("goodbye", None),
    ]
    assert not [t for t in done.result.turns if t.speaker == "candidate"]
    # each reprompt came `reprompt_after_s` after the prompt before it had played out
    times = dict(done.call.sent)
    for before, after in zip(done.call.spurts[1:-1], done.call.spurts[2:], strict=True):
        wait = times[after.start] - times[before.end]
        assert reprompt_after_s <= wait < reprompt_after_s + 0.4, wait


async def test_the_caller_hanging_up_mid_question_ends_the_session_at_once() -> None:
    script: list[Step] = [AfterBot(2), Speak(YES), DuringBot(3, 200), HangUp()]

    done = await interview(script)

    assert done.result.outcome == "caller_hangup"
    assert done.call.hung_up_by == "candidate"
    assert done.returned_at - (done.call.hung_up_at or 0) < 0.2
    assert done.result.consent is True
    assert done.result.answers == {}
    assert done.call.bot_frames(done.call.tick, MAX_TICKS) == 0  # nothing played after


async def test_the_caller_hanging_up_while_the_bot_listens_ends_the_session() -> None:
    script: list[Step] = [AfterBot(2), Speak(YES), AfterBot(3), Wait(100), HangUp()]

    done = await interview(script)

    assert done.result.outcome == "caller_hangup"
    assert done.returned_at - (done.call.hung_up_at or 0) < 0.2
    assert done.bot_turns()[-1] == ("ask", "salary")
    assert done.result.answers == {}


@pytest.mark.parametrize("digit", ["1", "2"])
async def test_a_key_press_answers_the_consent_question(tmp_path: Path, digit: str) -> None:
    consent = digit == "1"
    script: list[Step] = [AfterBot(2), Press(digit)]
    script += [AfterBot(3), HangUp()] if consent else []  # on "2" the bot says goodbye
    store = await open_store(tmp_path)
    try:
        done = await interview(script, store=store)
        row = await store.get_call("call-1")
        stored = await store.turns("call-1")
    finally:
        await store.close()

    assert done.result.consent is consent
    assert row is not None and row["consent"] == int(consent)
    assert [(t.speaker, t.kind, t.text) for t in stored][2] == ("candidate", "dtmf", digit)
    if consent:
        assert done.bot_turns()[-1] == ("ask", "salary")
        assert done.result.outcome == "caller_hangup"
    else:
        assert done.bot_turns()[-1] == ("goodbye", None)
        assert done.result.outcome == "no_consent"
        assert done.call.hung_up_by == "bot"


async def test_a_call_back_request_is_recorded_for_the_dialer() -> None:
    done = await interview([AfterBot(2), Speak("I'm busy right now, call me tomorrow at 10.")])

    assert done.result.outcome == "callback"
    assert done.result.callback_at is not None and "T10:00:00" in done.result.callback_at
    assert not done.result.opted_out
    assert done.call.hung_up_by == "bot"


async def test_an_opt_out_is_recorded_for_the_dialer() -> None:
    script = [AfterBot(2), Speak(YES), AfterBot(3), Speak("Stop calling me, remove my number.")]
    done = await interview(script)

    assert done.result.outcome == "opted_out" and done.result.opted_out


async def test_a_human_please_is_transferred_when_the_transport_can() -> None:
    targets: list[str] = []
    script = [AfterBot(2), Speak(YES), AfterBot(3), Speak("Can I speak to a real person?")]
    done = await interview(script, transfer_to=targets)

    assert targets == ["6000"]
    assert done.result.outcome == "transferred" and done.result.transferred
    assert done.call.hung_up_by == "candidate", "the bot never hangs up on a transferred call"


async def test_without_transfer_a_person_will_call_back() -> None:
    script = [AfterBot(2), Speak(YES), AfterBot(3), Speak("Can I speak to a real person?")]
    done = await interview(script)

    assert done.result.outcome == "transferred" and not done.result.transferred
    said = [t.text for t in done.result.turns if t.speaker == "bot"]
    assert any("call you back personally" in text for text in said)
    assert done.call.hung_up_by == "bot"


async def test_an_answering_machine_gets_the_message_and_no_interview() -> None:
    done = await interview([], machine=True, voicemail_message="We will try you again later.")

    assert done.result.outcome == "voicemail"
    assert done.bot_turns() == [("voicemail", None)], "no greeting, no consent question"
    assert done.call.hung_up_by == "bot"


@pytest.mark.parametrize(("answer", "recorded"), [(YES, True), ("No, I do not agree.", False)])
async def test_the_call_is_recorded_only_after_consent(answer: str, recorded: bool) -> None:
    recordings: list[str] = []
    script = [AfterBot(2), Speak(answer), AfterBot(3), HangUp()]
    done = await interview(script, recordings=recordings)

    assert done.result.consent is recorded
    assert recordings == (["voicebot-call-1"] if recorded else [])
