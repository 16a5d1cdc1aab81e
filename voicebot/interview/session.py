"""One interview on one call: transport → VAD → ASR → policy → TTS → transport.

Two tasks per call. The listener reads every inbound frame, runs the VAD and feeds the
recognizer; a barge-in (speech while the bot talks) flushes the outbound queue on the spot,
overtaking the audio. The conductor carries out the policy's actions: it speaks, waits for an
answer or a silence, and writes every turn to the store the moment the turn ends.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from voicebot import metrics
from voicebot.config import InterviewConfig, SpeechConfig
from voicebot.dialogue.policy import (
    DialoguePolicy,
    Hangup,
    InterviewContext,
    KeyPress,
    RecordAnswer,
    RecordCallback,
    RecordConsent,
    RecordOptOut,
    Say,
    Silence,
    Transfer,
    Utterance,
)
from voicebot.speech.asr import Recognizer, RecognizerEngine, Transcript, recognition_hint
from voicebot.speech.tts import Synthesizer
from voicebot.speech.turn import TurnTiming, silence_needed_ms
from voicebot.speech.vad import (
    SilenceBegan,
    SpeechEnded,
    SpeechResumed,
    SpeechStarted,
    VoiceActivityDetector,
)
from voicebot.store import Store, TurnRecord
from voicebot.telephony.base import FRAME_MS, Call, Dtmf, HungUp, frame_bytes

log = logging.getLogger(__name__)

PREROLL_FRAMES = 10  # 200 ms before the VAD's start decision, so the first word is whole
PAUSE_MS = 120  # silence before the VAD reports SilenceBegan and speculative decoding starts
PAUSE_REPORTED_S = PAUSE_MS / 1000
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class HeardUtterance:
    transcript: Transcript
    started_at: float
    ended_at: float  # wall time of the last voiced frame
    barged_in: bool
    # the bot's prompt that had started playing when this speech began: an answer counts only
    # for the question it followed, however late its decode finishes
    turn: int = 0
    question_id: str | None = None


@dataclass
class SessionResult:
    call_id: str
    outcome: str
    consent: bool | None
    turns: list[TurnRecord] = field(default_factory=list)  # as stored, in order
    answers: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # normalised, per question
    callback_at: str | None = None  # ISO 8601 in the candidate's zone, when one was asked for
    opted_out: bool = False  # never call this candidate again
    transferred: bool = False  # handed to a person live (False when a person must call back)


def _trim_lead(pcm: bytes, threshold: int = 200, keep: int = 40) -> bytes:
    """Drop the synthesizer's leading near-silence: it is pure added latency on a reply."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2")
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return pcm
    return samples[max(0, int(loud[0]) - keep) :].tobytes()


def _speculating(recognizer: Recognizer) -> bool:
    """The recognizer's speculative decode is still running (those that can tell)."""
    speculating = getattr(recognizer, "speculating", None)
    return bool(speculating is not None and speculating())


def _hurry(recognizer: Recognizer) -> None:
    """The reply now waits on the speculative decode: ahead of other calls' speculation."""
    hurry = getattr(recognizer, "hurry", None)
    if hurry is not None:
        hurry()


class InterviewSession:
    """Runs one interview to its end; `await run()` returns what happened."""

    def __init__(
        self,
        call: Call,
        policy: DialoguePolicy,
        ctx: InterviewContext,
        *,
        asr: RecognizerEngine,
        tts: Synthesizer,
        store: Store | None,
        interview: InterviewConfig,
        speech: SpeechConfig,
        clock: Callable[[], float] = time.time,
        transfer_target: str = "",
        voicemail_message: str = "",
        record: bool = False,
        call_id: str | None = None,
    ) -> None:
        self.call = call
        self.call_id = call_id or call.call_id  # the store's id for it (see Store.call_started)
        self.policy = policy
        self.ctx = ctx
        self.asr = asr
        self.tts = tts
        self.store = store
        self.cfg = interview
        self.clock = clock
        self.transfer_target = transfer_target
        self.voicemail_message = voicemail_message
        self.record = record
        early = speech.early_end_ms > 0  # 0: every turn waits the hangover (or longer)
        self._timing = TurnTiming(
            complete_ms=speech.complete_end_ms if early else speech.vad_hangover_ms,
            finished_ms=speech.early_end_ms if early else speech.vad_hangover_ms,
            hangover_ms=speech.vad_hangover_ms,
            trailing_ms=max(speech.trailing_end_ms, speech.vad_hangover_ms),
            max_short_s=speech.early_end_max_s,
        )
        # the VAD ends a turn after the longest wait; the session ends most turns sooner
        self.vad = VoiceActivityDetector(
            call.sample_rate,
            speech.vad_aggressiveness,
            speech.vad_start_ms,
            self._timing.trailing_ms,
            pause_ms=PAUSE_MS,
        )
        self.result = SessionResult(self.call_id, "caller_hangup", None)
        self._frame_bytes = frame_bytes(call.sample_rate)
        self._seq = 0
        self._utterances: asyncio.Queue[HeardUtterance] = asyncio.Queue()
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self._speech_active = asyncio.Event()
        self._speaking = False  # the bot is playing audio
        self._interruptible = True
        self._barge_in = asyncio.Event()
        self._last_voiced_at: float | None = None  # end of the candidate's last utterance
        self._hung_up = asyncio.Event()  # the call ended, whoever ended it
        self._hangup: HungUp | None = None
        self._ending = False  # the session itself is hanging up (or handing the call over)
        self._hangover_s = self._timing.trailing_ms / 1000  # the VAD's own end of turn
        self._kinds = {q.id: q.kind for q in ctx.plan.questions}
        self._turn_kinds: dict[int, str] = {}  # turn -> the kind of answer its prompt asks for
        self._locale = ctx.locale
        self._asked_text = ""  # the question's words: the recognizer decodes in their light
        self._asr_context = speech.asr_context
        self._language = ctx.locale.split("-")[0].split("_")[0]  # "zh-CN" -> "zh"
        # Every prompt gets a turn number when its first frame goes out; speech belongs to the
        # turn that had started when the speech began (its first voiced frame).
        self._turn = 0
        self._turn_starts: list[float] = []  # clock time each prompt began to play, ascending
        self._turn_of: list[tuple[int, str | None]] = []  # (turn, question_id), same order
        self._answer_turn = -1  # the turn of the listening prompt now awaiting an answer
        self._answer_question: str | None = None
        self._reasking = False  # the next listening prompt repeats the last after a silence
        # utterances whose speech has ended and whose transcript is pending -> their turn
        self._pending_ends: dict[asyncio.Task[None], int] = {}
        # An answer goes on after a thinking pause longer than the hangover: speech begun before
        # the reply to it plays, or within the grace after, is more of the same answer.
        self._grace_s = speech.continuation_grace_ms / 1000
        self._gap_s = speech.continuation_gap_ms / 1000
        self._committed: tuple[int, str | None] | None = None  # the answer the policy has
        self._committed_end = 0.0  # clock time of its last voiced frame
        self._reply_started_at: float | None = None  # first bot frame played since then
        self._speech_turn: tuple[int, str | None] | None = None  # speech in progress: its turn
        self._speech_continues = False  # ... and whether it goes on with the committed answer
        self._continuations: set[asyncio.Task[None]] = set()  # their decodes, pending
        self._continued = False  # a continuation cut the prompt now playing
        self._changed = asyncio.Event()  # set (and replaced) whenever any of this changes

    # public ----------------------------------------------------------------------------

    async def run(self) -> SessionResult:
        listener = asyncio.create_task(self._listen(), name=f"listen-{self.call.call_id}")
        watcher = asyncio.create_task(self._watch_events(), name=f"events-{self.call.call_id}")
        try:
            conductor = asyncio.create_task(self._conduct())
            hung = asyncio.create_task(self._hung_up.wait())
            waiting: set[asyncio.Task[Any]] = {conductor, hung, listener}
            while True:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if conductor in done:
                    hung.cancel()
                    conductor.result()
                    break
                if listener in done and not listener.cancelled() and listener.exception():
                    conductor.cancel()
                    hung.cancel()
                    self.result.outcome = "failed"
                    raise RuntimeError("the listener failed") from listener.exception()
                if hung in done and not self._ending:
                    conductor.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await conductor
                    self.result.outcome = self._line_outcome()
                    break
                # our own hang-up (or hand-over) is in progress: let the conductor finish it
                waiting = {conductor} | ({hung} if not hung.done() else set())
        finally:
            listener.cancel()
            watcher.cancel()
            for task in list(self._pending_ends):
                task.cancel()
            with contextlib.suppress(Exception):
                await self.policy.close()
            if not self.call.ended and not self.result.transferred:
                await self.call.hangup()
        log.info("interview %s ended: %s", self.call.call_id, self.result.outcome)
        return self.result

    def _line_outcome(self) -> str:
        """Why the interview ended when the line ended it: a transferred call ends for the bot
        when the PBX takes the candidate away; a hang-up the candidate did not make (timer H,
        media loss, a bridge failure) is a failure, worth another attempt."""
        if self.result.transferred:
            return "transferred"
        if self._hangup is not None and not self._hangup.by_remote:
            return "failed"
        return "caller_hangup"

    async def _end_call(self) -> None:
        self._ending = True
        await self.call.hangup()

    # conductor -------------------------------------------------------------------------

    async def _conduct(self) -> None:
        if getattr(self.call, "machine", False):  # the PBX's AMD: an answering machine
            await self._leave_voicemail()
            return
        actions = await self.policy.start(self.ctx)
        silences = 0
        while True:
            listen_after: Say | None = None
            for action in actions:
                if isinstance(action, Say):
                    await self._say(action)
                    if action.listen:
                        listen_after = action
                elif isinstance(action, RecordConsent):
                    self.result.consent = action.given
                    if self.store:
                        await self.store.set_consent(self.call_id, action.given)
                    await self._start_recording(action.given)
                elif isinstance(action, RecordAnswer):
                    self.result.answers[action.question_id] = action.text
                    if action.value:
                        self.result.values[action.question_id] = dict(action.value)
                elif isinstance(action, RecordCallback):
                    self.result.callback_at = action.when
                elif isinstance(action, RecordOptOut):
                    self.result.opted_out = True
                elif isinstance(action, Transfer):
                    if await self._transfer(action):
                        self.result.outcome = "transferred"
                        return
                    if self._hung_up.is_set():  # the line went while the transfer failed
                        self.result.outcome = self._line_outcome()
                        return
                elif isinstance(action, Hangup):
                    self.result.outcome = action.outcome
                    await self._drain_output()
                    await self._end_call()
                    return
            if self.policy.finished:
                self.result.outcome = self.result.outcome or "completed"
                return
            if listen_after is None:
                # a policy that neither listens nor hangs up would stall the call
                actions = await self.policy.on_event(Silence(silences + 1))
                continue
            heard = await self._await_answer()
            # a silence gets the same question again: speech begun before that reprompt (but
            # after the question) still answers it
            self._reasking = heard is None
            if heard is None:
                silences += 1
                actions = await self.policy.on_event(Silence(silences))
            elif isinstance(heard, str):
                actions = await self.policy.on_event(KeyPress(heard))
            else:
                silences = 0
                heard = await self._with_rest_of_answer(heard)
                self._commit(heard)
                actions = await self.policy.on_utterance(
                    Utterance(heard.transcript.text, heard.transcript.confidence)
                )

    async def _transfer(self, action: Transfer) -> bool:
        """Hand the call to a person when the transport can (ARI); otherwise say that a person
        will call back and let the policy's hang-up follow."""
        transfer = getattr(self.call, "transfer", None)
        done = False
        if transfer is not None and self.transfer_target:
            await self._drain_output()
            self._ending = True  # the PBX ends our leg when it takes the candidate away
            try:
                done = bool(await transfer(self.transfer_target))
            except Exception:
                log.exception("transfer of %s failed", self.call.call_id)
            self._ending = done
        if done:
            self.result.transferred = True
        elif action.fallback:
            await self._say(Say(action.fallback, kind="goodbye"))
        return done

    async def _leave_voicemail(self) -> None:
        """No interview with a machine: the configured message (if any), then hang up; the
        dialer retries the candidate later."""
        if self.voicemail_message:
            await self._say(Say(self.voicemail_message, kind="voicemail", interruptible=False))
            await self._drain_output()
        self.result.outcome = "voicemail"
        await self._end_call()

    async def _start_recording(self, consented: bool) -> None:
        """Record only once the candidate agreed, and only where the transport can (ARI)."""
        start = getattr(self.call, "start_recording", None)
        if not (self.record and consented) or start is None:
            return
        try:
            await start(f"voicebot-{self.call.call_id}")
        except Exception:
            log.warning("interview %s: recording did not start", self.call.call_id, exc_info=True)

    def _fresh(self, heard: HeardUtterance) -> bool:
        """Only speech begun after the awaited prompt started playing answers it; a late
        transcript of earlier speech (over the greeting, before this question) is dropped."""
        if heard.turn == self._answer_turn:
            return True
        log.debug("interview %s: dropped speech from before the prompt", self.call.call_id)
        return False

    def _answer_pending(self) -> bool:
        """Speech that may answer the awaited prompt has ended and is still being decoded."""
        return any(turn == self._answer_turn for turn in self._pending_ends.values())

    def _commit(self, heard: HeardUtterance) -> None:
        """The policy gets this answer now: what the candidate says from here until the reply
        has been playing for the grace goes on with it."""
        self._committed = (heard.turn, heard.question_id)
        self._committed_end = heard.ended_at
        self._reply_started_at = None

    def _notify(self) -> None:
        """Wake whoever waits on the state of the candidate's speech."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _while(self, busy: Callable[[], bool]) -> None:
        """Wait until `busy()` no longer holds; it is checked on every change."""
        while True:
            changed = self._changed
            if not busy():
                return
            await changed.wait()

    def _still_answering(self, turn: int) -> bool:
        """The candidate is talking again in `turn`, or what they said is being decoded."""
        talking = self._speech_active.is_set() and (self._speech_turn or (None,))[0] == turn
        return talking or any(t == turn for t in self._pending_ends.values())

    async def _with_rest_of_answer(self, heard: HeardUtterance) -> HeardUtterance:
        """The answer with whatever the candidate said after a pause longer than the hangover
        and before the policy got it (the first part's decode came late, or they went on at
        once): one answer, in one piece, for the policy."""
        parts = [heard]
        while True:
            while not self._utterances.empty():
                if (more := self._utterances.get_nowait()).turn == heard.turn:
                    parts.append(more)
            if not self._still_answering(heard.turn):
                break
            changed = self._changed
            if self._utterances.empty() and self._still_answering(heard.turn):
                await changed.wait()
        if len(parts) == 1:
            return heard
        said = [p.transcript for p in parts if p.transcript.text.strip()]
        text = " ".join(t.text.strip() for t in said)
        confidence = min((t.confidence for t in said), default=0.0)
        words = tuple(w for t in said for w in t.words)
        transcript = replace(parts[0].transcript, text=text, words=words, confidence=confidence)
        return replace(heard, transcript=transcript, ended_at=parts[-1].ended_at)

    async def _await_answer(self) -> HeardUtterance | str | None:
        """The next utterance or key press, or None after `reprompt_after_s` of silence.

        The silence clock runs only while nobody speaks and no answer is being decoded: a
        candidate thinking aloud is not silent, a slow decode is not a silence, and the clock
        starts when the bot's audio has actually played out.
        """
        while not self._utterances.empty():
            if self._fresh(heard := self._utterances.get_nowait()):
                return heard
        deadline = time.monotonic() + self.cfg.reprompt_after_s
        while True:
            if self._speech_active.is_set() or self._answer_pending() or self._continuations:
                deadline = time.monotonic() + self.cfg.reprompt_after_s
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            utter = asyncio.ensure_future(self._utterances.get())
            key = asyncio.ensure_future(self._keys.get())
            done, pending = await asyncio.wait(
                {utter, key}, timeout=min(remaining, 0.25), return_when=asyncio.FIRST_COMPLETED
            )
            for p in pending:
                p.cancel()
            if utter in done:
                if key in done:
                    self._keys.put_nowait(key.result())
                if self._fresh(heard := utter.result()):
                    return heard
                continue
            if key in done:
                digit = key.result()
                await self._log_turn("candidate", "dtmf", digit, time.time(), time.time())
                return digit

    async def _say(self, say: Say, replays: int = 3) -> None:
        """Say it once the candidate has finished going on with their answer; said again from
        the start when they went on just after it began (they cannot have heard it)."""
        for _ in range(replays + 1):
            await self._while(self._continuing)
            if not await self._play(say):
                return

    def _continuing(self) -> bool:
        """The candidate is going on with the answer the policy already has."""
        talking = self._speech_active.is_set() and self._speech_continues
        return talking or bool(self._continuations)

    async def _play(self, say: Say) -> bool:
        """Speak sentence by sentence (each cached by the TTS), paced by the transport; True
        when a continuation of the last answer cut it."""
        started = self.clock()
        latency_ms = None
        pending_since = self._last_voiced_at  # the reply latency runs from here
        if say.listen:
            self._asked_text = say.text
        self._barge_in.clear()
        self._continued = False
        self._speaking, self._interruptible = True, say.interruptible
        interrupted = False
        begun = False
        buf = b""
        try:
            for sentence in _SENTENCE.split(say.text.strip()):
                async for chunk in self.tts.stream(sentence):
                    buf += _trim_lead(chunk) if latency_ms is None and not buf else chunk
                    while len(buf) >= self._frame_bytes:
                        frame, buf = buf[: self._frame_bytes], buf[self._frame_bytes :]
                        if self._barge_in.is_set():
                            interrupted = True
                            break
                        if latency_ms is None and pending_since is not None:
                            latency_ms = (self.clock() - pending_since) * 1000
                        if not begun:
                            self._begin_turn(say)
                            begun = True
                        if self._reply_started_at is None:
                            self._reply_started_at = self.clock()
                        await self.call.send(frame)
                    if interrupted:
                        break
                if interrupted:
                    break
            if buf and not interrupted:
                if not begun:
                    self._begin_turn(say)
                    begun = True
                await self.call.send(buf.ljust(self._frame_bytes, b"\x00"))
            if not interrupted:
                await self._drain_output()
                interrupted = self._barge_in.is_set()
        finally:
            self._speaking = False
            if not begun:  # nothing played (cut at once): it still supersedes what came before
                self._begin_turn(say)
        self._last_voiced_at = None
        await self._log_turn(
            "bot",
            say.kind,
            say.text,
            started,
            self.clock(),
            question_id=say.question_id,
            latency_ms=latency_ms,
            interrupted=interrupted,
        )
        return interrupted and self._continued

    def _begin_turn(self, say: Say) -> None:
        """The prompt starts playing now: speech from here on belongs to it, and a listening
        prompt is the one answers now count for (a reprompt after a silence keeps the turn of
        the question it repeats)."""
        if say.listen and self._reasking and say.question_id == self._answer_question:
            turn = self._answer_turn
        else:
            self._turn += 1
            turn = self._turn
        self._turn_starts.append(self.clock())
        self._turn_of.append((turn, say.question_id))
        if say.listen:
            self._turn_kinds[turn] = self._kinds.get(say.question_id or "", say.kind)
        if say.listen:
            self._answer_turn, self._answer_question = turn, say.question_id
            self._reasking = False

    def _turn_at(self, t: float) -> tuple[int, str | None]:
        """The prompt that had started playing at clock time `t` (0 before the first)."""
        i = bisect.bisect_right(self._turn_starts, t)
        return self._turn_of[i - 1] if i else (0, None)

    async def _drain_output(self) -> None:
        """Wait until the queued frames have gone out (the transport's queue is small)."""
        await asyncio.sleep(FRAME_MS / 1000 * 6)

    # listener --------------------------------------------------------------------------

    def _recognizer(self, turn: int | None = None) -> Recognizer:
        """A recognizer for speech answering prompt `turn`: with the question as its context
        (speech.asr_context), or the hint its kind of answer needs (a Mandarin salary)."""
        context = self._asked_text if self._asr_context else ""
        if not context and turn is not None:
            context = recognition_hint(self._turn_kinds.get(turn), self._language)
        return self.asr.recognizer(self.call.sample_rate, context, self._language)

    async def _listen(self) -> None:
        recognizer = self._recognizer()
        preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        held: list[bytes] = []
        pause_frames = 0  # silent frames since SilenceBegan; 0 = not in a pause
        started_at = 0.0
        speech_frames = 0
        barged = False
        prompt: tuple[int, str | None] = (0, None)  # the prompt current when speech began
        async for frame in self.call.frames():
            if len(frame) != self._frame_bytes:
                continue
            event = self.vad.process(frame)
            now = self.clock()
            if isinstance(event, SpeechStarted):
                self._speech_active.set()
                started_at = now - len(preroll) * FRAME_MS / 1000
                voiced_for = self.vad.frame_index - 1 - event.at_frame
                began = now - voiced_for * FRAME_MS / 1000
                prompt = self._turn_at(began)
                continues = self._continues_answer(prompt[0], began)
                if continues and self._committed is not None:
                    prompt = self._committed
                self._speech_turn, self._speech_continues = prompt, continues
                barged = self._speaking
                if self._speaking and self._interruptible and self.cfg.barge_in:
                    self._barge_in.set()
                    self._continued = continues
                    dropped = self.call.clear_output()
                    log.debug("barge-in on %s: dropped %d frames", self.call.call_id, dropped)
                self._notify()
                recognizer = self._recognizer(prompt[0])
                for f in preroll:
                    await recognizer.feed(f)
                preroll.clear()
                held, pause_frames, speech_frames = [], 0, 0
            if not self.vad.in_speech and not isinstance(event, SpeechEnded):
                preroll.append(frame)
                continue
            if isinstance(event, SpeechEnded):
                self._spawn_end(recognizer, started_at, now - self._hangover_s, barged, prompt)
                held, pause_frames = [], 0
                continue
            speech_frames += 1
            if isinstance(event, SilenceBegan):
                recognizer.speculate()
                pause_frames = 1
            elif isinstance(event, SpeechResumed):
                for f in held:
                    await recognizer.feed(f)
                held, pause_frames = [], 0
            if not pause_frames:
                await recognizer.feed(frame)
                continue
            held.append(frame)
            pause_frames += 1
            silent_s = PAUSE_REPORTED_S + pause_frames * FRAME_MS / 1000
            if self._turn_over(recognizer, silent_s, speech_frames, prompt[0]):
                self.vad.reset()
                self._spawn_end(recognizer, started_at, now - silent_s, barged, prompt)
                held, pause_frames = [], 0

    def _continues_answer(self, turn: int, began: float) -> bool:
        """Speech begun at clock time `began` goes on with the answer the policy already has:
        no reply to it had started playing yet, or one had only just (within the grace) and
        the answer ended at most the gap before: too soon to be a reply to the new prompt."""
        if self._committed is None:
            return False
        if turn == self._committed[0]:
            return True
        reply = self._reply_started_at
        return (
            reply is not None
            and began - reply < self._grace_s
            and began - self._committed_end < self._gap_s
        )

    def _turn_over(self, recognizer: Recognizer, silent_s: float, frames: int, turn: int) -> bool:
        """This much silence ends the turn, given what the candidate has said so far and what
        they were asked (speech/turn.py): a complete short answer after complete_end_ms; a finished
        story, or an answer to an open question that reads finished, after the hangover or
        early_end_ms; one not answered yet ("I am hoping for around"), a story still missing its
        action or result, one trailing off on "and", "um", 然后… or still being decoded, only
        after trailing_end_ms."""
        if silent_s * 1000 < min(self._timing.complete_ms, self._timing.finished_ms):
            return False
        early = recognizer.early_result()
        pending = early is None and _speculating(recognizer)
        if pending and silent_s * 1000 >= self._timing.hangover_ms:
            _hurry(recognizer)  # most likely the end: the reply waits on this text
        needed = silence_needed_ms(
            self._turn_kinds.get(turn),
            early.text if early is not None else None,
            frames * FRAME_MS / 1000,
            self._timing,
            self._locale,
            pending=pending,
        )
        return silent_s * 1000 >= needed

    def _spawn_end(
        self,
        recognizer: Recognizer,
        started_at: float,
        last_voiced: float,
        barged: bool,
        prompt: tuple[int, str | None],
    ) -> None:
        """Finish the utterance in its own task: the listener keeps reading (and hearing
        barge-ins) while the recognizer decodes; the recognizer is this utterance's alone.

        The task is pending from here (synchronously, as speech stops being active) until its
        transcript is queued, so the silence timer never sees a gap in between.
        """
        self._speech_active.clear()
        continues, self._speech_continues, self._speech_turn = self._speech_continues, False, None
        heard = HeardUtterance(Transcript(""), started_at, last_voiced, barged, *prompt)
        task = asyncio.create_task(self._end_utterance(recognizer, heard, continues))
        self._pending_ends[task] = prompt[0]
        if continues:
            self._continuations.add(task)
        task.add_done_callback(self._ended)
        self._notify()

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._pending_ends.pop(task, None)
        self._continuations.discard(task)
        self._notify()

    async def _end_utterance(
        self, recognizer: Recognizer, heard: HeardUtterance, continues: bool = False
    ) -> None:
        transcript = await recognizer.finish()
        metrics.asr_decoded(transcript.decode_ms)
        if not transcript.text.strip() and (heard.barged_in or continues):
            return  # echo or a cough over the bot's voice: not a turn
        if continues:
            await self._continue_answer(heard, transcript)
            return
        # decided now, however late the decode: speech begun before the prompt now awaiting an
        # answer started playing is kept in the transcript as "stale", never as its answer
        fresh = heard.turn == self._answer_turn
        if fresh:
            self._last_voiced_at = heard.ended_at
        await self._log_turn(
            "candidate",
            "answer" if fresh else "stale",
            transcript.text,
            heard.started_at,
            heard.ended_at,
            question_id=heard.question_id,
            confidence=transcript.confidence,
        )
        if fresh:
            self._utterances.put_nowait(replace(heard, transcript=transcript))

    async def _continue_answer(self, heard: HeardUtterance, transcript: Transcript) -> None:
        """More of the answer the policy already has: stored against the same question, and
        the reply waits for (or is said again after) the end of it."""
        self._committed_end = max(self._committed_end, heard.ended_at)
        self._last_voiced_at = heard.ended_at
        self._reply_started_at = None  # the grace runs again from the reply's next start
        qid = heard.question_id
        if qid is not None and qid in self.result.answers:
            self.result.answers[qid] = f"{self.result.answers[qid]} {transcript.text.strip()}"
        await self._log_turn(
            "candidate",
            "answer",
            transcript.text,
            heard.started_at,
            heard.ended_at,
            question_id=qid,
            confidence=transcript.confidence,
        )

    async def _watch_events(self) -> None:
        async for event in self.call.events():
            if isinstance(event, Dtmf):
                self._keys.put_nowait(event.digit)
            elif isinstance(event, HungUp):
                self._hangup = event
                self._hung_up.set()
                return

    # store -----------------------------------------------------------------------------

    async def _log_turn(
        self,
        speaker: str,
        kind: str,
        text: str,
        started: float,
        ended: float,
        *,
        question_id: str | None = None,
        confidence: float | None = None,
        latency_ms: float | None = None,
        interrupted: bool = False,
    ) -> None:
        self._seq += 1
        turn = TurnRecord(
            self.call_id,
            self._seq,
            speaker,
            kind,
            text,
            started,
            ended,
            question_id,
            confidence,
            latency_ms,
            interrupted,
        )
        self.result.turns.append(turn)
        if self.store is not None:
            await self.store.add_turn(turn)
