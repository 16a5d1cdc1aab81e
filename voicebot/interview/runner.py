"""The process-wide interviewer: models loaded once, one `InterviewSession` per call.

`Interviewer` owns what every call shares (recognizer engine, synthesizer, prompts, store)
and records each call's life (started, answered, ended) around its session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from voicebot import metrics
from voicebot.config import Config
from voicebot.dialogue.builtin import BuiltinEngine
from voicebot.dialogue.policy import DialoguePolicy, InterviewContext
from voicebot.dialogue.prompts import Prompts
from voicebot.interview.plan import InterviewPlan, Job, Resume, build_plan
from voicebot.interview.session import InterviewSession, SessionResult
from voicebot.scoring.prosody import ProsodyTap, save_call_prosody
from voicebot.speech.asr import RecognizerEngine, load_recognizer_engine
from voicebot.speech.tts import CachedSynthesizer, PiperSynthesizer, Synthesizer
from voicebot.speech.voices import language_of, synthesizer_for, whisper_model_for
from voicebot.store import Store
from voicebot.telephony.base import Call
from voicebot.telephony.recording import RecordedCall

log = logging.getLogger(__name__)


class Interviewer:
    def __init__(
        self,
        cfg: Config,
        *,
        asr: RecognizerEngine,
        tts: Synthesizer,
        store: Store | None,
        prompts: Prompts | None = None,
        dialogue: Any = None,
        voices: dict[str, Synthesizer] | None = None,
        locale_models: bool = False,
    ) -> None:
        self.cfg = cfg
        self.asr = asr
        self.tts = tts
        # per language ("zh"): the voice and recognizer of its calls. With `locale_models`
        # (as `create()` does) they are loaded from [speech] on first use; without, calls in
        # a language not in `voices` use `tts`/`asr` (an interviewer built by hand, in tests)
        self.voices: dict[str, Synthesizer] = dict(voices or {})
        self.recognizers: dict[str, RecognizerEngine] = {}
        self._locale_models = locale_models
        self.store = store
        self.prompts = prompts or Prompts()
        # the dialogue engine: anything with .policy() -> DialoguePolicy (builtin or Rasa)
        self.dialogue = dialogue if dialogue is not None else BuiltinEngine(prompts=self.prompts)
        self._rasa_server: Any = None
        self._warned_language: set[str] = set()

    @staticmethod
    async def create_dialogue(cfg: Config) -> tuple[Any, Any]:
        """The configured engine, and the Rasa server voicebot started for it (or None).

        A Rasa server that cannot start is not fatal: the built-in engine runs the calls and
        the reason is logged once.
        """
        d = cfg.dialogue
        builtin = await asyncio.to_thread(BuiltinEngine)
        if d.engine != "rasa":
            return builtin, None
        from voicebot.dialogue.rasa import RasaEngine, RasaServer

        server = None
        url = d.rasa_url
        if not url:
            server = RasaServer(
                venv=d.rasa_venv,
                project=d.rasa_project,
                port=d.rasa_port,
                action_port=d.action_port,
                start_timeout_s=d.start_timeout_s,
            )
            try:
                await server.start()
            except (OSError, RuntimeError, TimeoutError) as e:
                log.warning("Rasa server did not start (%s); using the built-in engine", e)
                return builtin, None
            url = server.url
        engine = RasaEngine(url, turn_timeout_s=d.turn_timeout_s, fallback=builtin)
        log.info("dialogue engine: Rasa at %s (built-in engine as fallback)", url)
        return engine, server

    async def close(self) -> None:
        """Stop what the interviewer started (the Rasa processes, its HTTP session)."""
        close = getattr(self.dialogue, "close", None)
        if close is not None:
            await close()
        if self._rasa_server is not None:
            await self._rasa_server.stop()
            self._rasa_server = None

    def new_policy(self) -> DialoguePolicy:
        policy: DialoguePolicy = self.dialogue.policy()
        return policy

    @classmethod
    async def create(cls, cfg: Config, *, store: Store | None) -> Interviewer:
        """Load the models (in worker threads, so a running loop keeps its pace)."""
        sp = cfg.speech
        model = sp.vosk_model if sp.asr == "vosk" else (sp.whisper_model or None)
        asr = await asyncio.to_thread(load_recognizer_engine, sp.asr, model, workers=sp.asr_threads)
        tts = PiperSynthesizer(
            sp.tts_voice or None,
            8000,
            cache_dir=Path(sp.cache_dir) if sp.cache_dir else None,
            length_scale=sp.tts_length_scale,
        )
        await tts.warm()
        dialogue, server = await cls.create_dialogue(cfg)
        interviewer = cls(cfg, asr=asr, tts=tts, store=store, dialogue=dialogue, locale_models=True)
        interviewer._rasa_server = server
        return interviewer

    async def tts_for(self, locale: str) -> Synthesizer:
        """The voice of a call in `locale`: `speech.tts_voice_zh` for Chinese (a
        `VoiceConfigError` naming the fix when there is none; never the English voice)."""
        language = language_of(locale)
        if language in self.voices:
            return self.voices[language]
        if not self._locale_models:
            return self.tts
        voice = await asyncio.to_thread(synthesizer_for, self.cfg.speech, locale)
        if voice is None:
            return self.tts
        await voice.warm()
        self.voices[language] = voice
        return voice

    async def asr_for(self, locale: str) -> RecognizerEngine:
        """The recognizer of a call in `locale`: the main one if it hears that language,
        else `speech.whisper_model_zh` for Chinese, loaded once."""
        language = language_of(locale)
        if language in self.recognizers:
            return self.recognizers[language]
        if not self._locale_models or getattr(self.asr, "multilingual", True):
            return self.asr
        model = whisper_model_for(self.cfg.speech, locale)
        if model is None:
            return self.asr
        sp = self.cfg.speech
        engine = await asyncio.to_thread(
            load_recognizer_engine, "whisper", model, workers=sp.asr_threads
        )
        self.recognizers[language] = engine
        return engine

    async def warm_prompts(self, job: Job) -> None:
        """Load the job's voice and recognizer and render its questions ahead of the first
        call, so replies come from cache (and a zh job without a zh voice fails here)."""
        tts = await self.tts_for(job.locale or self.cfg.interview.locale)
        await self.asr_for(job.locale or self.cfg.interview.locale)
        if isinstance(tts, CachedSynthesizer):
            await tts.warm([q.text for q in job.questions])

    async def interview(
        self,
        call: Call,
        job: Job,
        *,
        bridge: str = "sip",
        candidate_id: str | None = None,
        candidate_name: str | None = None,
        timezone: str | None = None,
        resume: Resume | None = None,
        plan: InterviewPlan | None = None,
    ) -> SessionResult:
        """Run one interview. With a résumé the plan is personalised (`build_plan`); without
        one (an unknown caller) it is the job's core questions."""
        if plan is None:
            plan = build_plan(job, resume) if resume is not None else InterviewPlan.from_job(job)
        iv = self.cfg.interview
        ctx = InterviewContext(
            call_id=call.call_id,
            plan=plan,
            company=job.company or iv.company,
            bot_name=iv.bot_name,
            locale=job.locale or iv.locale,
            candidate_name=candidate_name,
            max_reprompts=iv.max_reprompts,
            timezone=timezone or self.cfg.dialogue.timezone,
            compliance=_compliance(self.cfg),
        )
        tts = await self.tts_for(ctx.locale)
        asr = await self.asr_for(ctx.locale)
        if not ctx.locale.startswith("en") and getattr(asr, "multilingual", True) is False:
            if job.id not in self._warned_language:
                self._warned_language.add(job.id)
                log.warning(
                    "job %s is in %r but the recognizer hears English only: "
                    'set speech.whisper_model = "base"',
                    job.id,
                    ctx.locale,
                )
        key = call.call_id  # the call's id in the store: unique even when a peer reuses one
        if self.store is not None:
            key = await self.store.call_started(
                call.call_id,
                direction=str(call.direction),
                bridge=bridge,
                remote=call.remote,
                started_at=time.time(),
                job_id=job.id,
                candidate_id=candidate_id,
            )
            await self.store.call_answered(key, time.time())
        # prosody only where the job opts in and the law allows it (never in "eu" mode)
        tap = ProsodyTap(asr) if job.prosody and ctx.compliance != "eu" else None
        recorded = None  # a transport that cannot record is recorded here (after consent)
        if iv.record and getattr(call, "start_recording", None) is None:
            path = Path(self.cfg.api.recordings_dir) / f"{key}.wav"
            recorded = RecordedCall(call, path)
        session = InterviewSession(
            recorded or call,  # type: ignore[arg-type]
            self.new_policy(),
            ctx,
            asr=tap or asr,
            tts=tts,
            store=self.store,
            interview=iv,
            speech=self.cfg.speech,
            transfer_target=self.cfg.dialogue.transfer_target,
            voicemail_message=_voicemail_text(self.prompts, ctx, job) if iv.leave_voicemail else "",
            record=iv.record,
            call_id=key,
        )
        metrics.call_started()
        try:
            result = await session.run()
        except Exception:
            log.exception("interview %s failed", call.call_id)
            result = session.result
            result.outcome = "failed"
        except asyncio.CancelledError:  # a shutdown cut it: the row still closes
            session.result.outcome = "interrupted"
            if self.store is not None:
                await asyncio.shield(self._record_end(key, call, session.result))
            raise
        finally:
            if recorded is not None:
                await asyncio.to_thread(recorded.finish)
        if self.store is not None and tap is not None:
            await save_call_prosody(self.store, key, result.turns, tap)
        await self._record_end(key, call, result)
        return result

    async def _record_end(self, key: str, call: Call, result: SessionResult) -> None:
        metrics.call_ended(result.outcome, (t.latency_ms for t in result.turns))
        if self.store is not None:
            stats = call.stats
            await self.store.call_ended(
                key,
                at=time.time(),
                outcome=result.outcome,
                stats={
                    "packets_in": stats.packets_in,
                    "packets_out": stats.packets_out,
                    "dropped": stats.dropped,
                    "concealed": stats.concealed,
                },
            )


def _voicemail_text(prompts: Prompts, ctx: InterviewContext, job: Job) -> str:
    context = {"bot_name": ctx.bot_name, "company": ctx.company, "job_title": job.title}
    return prompts.render("voicemail", context, locale=ctx.locale)


def _compliance(cfg: Config) -> str:
    """The compliance mode from `[compliance]` (owned by scoring); "none" when absent."""
    section = getattr(cfg, "compliance", None)
    return str(getattr(section, "mode", "none") or "none")
