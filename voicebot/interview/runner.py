"""The process-wide interviewer: models loaded once, one `InterviewSession` per call.

`Interviewer` owns what every call shares (recognizer engine, synthesizer, prompts, store)
and records each call's life (started, answered, ended) around its session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from voicebot.config import Config
from voicebot.dialogue.builtin import BuiltinPolicy
from voicebot.dialogue.policy import InterviewContext
from voicebot.dialogue.prompts import Prompts
from voicebot.interview.plan import InterviewPlan, Job
from voicebot.interview.session import InterviewSession, SessionResult
from voicebot.speech.asr import RecognizerEngine, load_recognizer_engine
from voicebot.speech.tts import PiperSynthesizer, Synthesizer
from voicebot.store import Store
from voicebot.telephony.base import Call

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
    ) -> None:
        self.cfg = cfg
        self.asr = asr
        self.tts = tts
        self.store = store
        self.prompts = prompts or Prompts()

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
        return cls(cfg, asr=asr, tts=tts, store=store)

    async def warm_prompts(self, job: Job) -> None:
        """Render the job's questions ahead of the first call so replies come from cache."""
        if isinstance(self.tts, PiperSynthesizer):
            await self.tts.warm([q.text for q in job.questions])

    async def interview(
        self,
        call: Call,
        job: Job,
        *,
        bridge: str = "sip",
        candidate_id: str | None = None,
        candidate_name: str | None = None,
    ) -> SessionResult:
        iv = self.cfg.interview
        ctx = InterviewContext(
            call_id=call.call_id,
            plan=InterviewPlan.from_job(job),
            company=job.company or iv.company,
            bot_name=iv.bot_name,
            locale=job.locale or iv.locale,
            candidate_name=candidate_name,
            max_reprompts=iv.max_reprompts,
        )
        if self.store is not None:
            await self.store.call_started(
                call.call_id,
                direction=str(call.direction),
                bridge=bridge,
                remote=call.remote,
                started_at=time.time(),
                job_id=job.id,
                candidate_id=candidate_id,
            )
            await self.store.call_answered(call.call_id, time.time())
        session = InterviewSession(
            call,
            BuiltinPolicy(self.prompts),
            ctx,
            asr=self.asr,
            tts=self.tts,
            store=self.store,
            interview=iv,
            speech=self.cfg.speech,
        )
        try:
            result = await session.run()
        except Exception:
            log.exception("interview %s failed", call.call_id)
            result = session.result
            result.outcome = "failed"
        if self.store is not None:
            stats = call.stats
            await self.store.call_ended(
                call.call_id,
                at=time.time(),
                outcome=result.outcome,
                stats={
                    "packets_in": stats.packets_in,
                    "packets_out": stats.packets_out,
                    "dropped": stats.dropped,
                    "concealed": stats.concealed,
                },
            )
        return result
