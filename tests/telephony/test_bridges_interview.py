"""A whole interview over each PBX bridge, with real speech both ways.

The candidate's answers are piper-rendered and played into the test PBX's media leg (ARI
externalMedia RTP, AudioSocket, or the SIP leg FreeSWITCH bridges to the bot) when each
question has played out; whisper transcribes what the leg received from the bot. The checks
are the SIP end-to-end test's: the bot understood the answers and the candidate heard every
question.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.interview.conftest import (  # noqa: F401 (fixtures)
    TurnAnnouncingStore,
    backend_job,
    bot_config,
    interviewer,
    speech_models,
    turn_store,
)
from tests.interview.test_call_e2e import (  # noqa: F401 (answer_wavs is a fixture)
    INTERVIEW_LIMIT_S,
    SHORT_JOB_QUESTIONS,
    Interview,
    answer_each_question,
    answer_wavs,
    check_interview,
    transcribe_wav,
)
from tests.peers.agi_peer import AgiPeer
from tests.peers.ari_server import AriServer
from tests.peers.audio import read_wav, write_wav
from tests.peers.esl_peer import EslPeer
from tests.telephony import test_agi, test_ari, test_freeswitch
from tests.telephony.test_ari import until
from voicebot.interview.plan import Job
from voicebot.interview.runner import Interviewer
from voicebot.interview.session import SessionResult
from voicebot.telephony.agi import AgiBridge
from voicebot.telephony.ari import AriBridge
from voicebot.telephony.base import Call
from voicebot.telephony.freeswitch import FreeswitchBridge
from voicebot.telephony.sip import SipCall

pytestmark = [pytest.mark.models]


class Phone:
    """The candidate's end of a bridged call: speak a WAV, and what it has heard so far."""

    def __init__(self, speak: Callable[[bytes], None], heard: Callable[[], bytes]) -> None:
        self._speak, self.heard = speak, heard

    async def play(self, wav: Path) -> None:
        self._speak(read_wav(wav)[0].tobytes())


class SipLegPhone(Phone):
    """FreeSWITCH's SIP leg towards the bot, driven frame by frame."""

    def __init__(self, leg: SipCall) -> None:
        self.leg, self._pcm, self._heard = leg, b"", bytearray()
        super().__init__(self._set, lambda: bytes(self._heard))
        self._tasks = [asyncio.create_task(self._mouth()), asyncio.create_task(self._ear())]

    def _set(self, pcm: bytes) -> None:
        self._pcm = pcm

    async def _mouth(self) -> None:
        while not self.leg.ended:
            frame, self._pcm = self._pcm[:320], self._pcm[320:]
            await self.leg.send(frame.ljust(320, b"\0"))

    async def _ear(self) -> None:
        async for frame in self.leg.frames():
            self._heard += frame

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


async def _interview_into(
    queue: asyncio.Queue[SessionResult], bot: Interviewer, job: Job, call: Call, bridge: str
) -> None:
    queue.put_nowait(await bot.interview(call, job, bridge=bridge))


@contextlib.asynccontextmanager
async def over_ari(
    bot: Interviewer, job: Job, results: asyncio.Queue[SessionResult]
) -> AsyncIterator[Phone]:
    asterisk = AriServer(password="secret")
    await asterisk.start()
    bridge = AriBridge(
        replace(test_ari.CFG, url=asterisk.url),
        lambda call: _interview_into(results, bot, job, call, "ari"),
    )
    await bridge.start()
    try:
        await asyncio.wait_for(bridge.connected.wait(), 5)
        ch = await asterisk.ring_in()
        # the media leg is bridged only after its own (asynchronous) StasisStart
        await until(lambda: any(len(b.channels) > 1 for b in asterisk.bridges.values()), 10)
        leg = asterisk.media_leg(ch)
        yield Phone(lambda pcm: setattr(leg, "source", pcm), leg.audio)
    finally:
        await bridge.stop()
        await asterisk.stop()


@contextlib.asynccontextmanager
async def over_agi(
    bot: Interviewer, job: Job, results: asyncio.Queue[SessionResult]
) -> AsyncIterator[Phone]:
    bridge = AgiBridge(
        replace(test_agi.CFG, ami_password="", ami_username=""),
        lambda call: _interview_into(results, bot, job, call, "agi"),
    )
    await bridge.start()
    asterisk = AgiPeer(bridge.agi_port)
    session = asyncio.create_task(asterisk.run())
    try:
        await asyncio.wait_for(asterisk.audiosocket_ready.wait(), 10)
        callee = asterisk.callee
        assert callee is not None
        yield Phone(callee.play, callee.audio)
    finally:
        session.cancel()
        await bridge.stop()


@contextlib.asynccontextmanager
async def over_freeswitch(
    bot: Interviewer, job: Job, results: asyncio.Queue[SessionResult]
) -> AsyncIterator[Phone]:
    esl = EslPeer()
    await esl.start()
    bridge = FreeswitchBridge(replace(test_freeswitch.CFG, port=esl.port), test_freeswitch.BOT_SIP)
    await bridge.start()
    phone: SipLegPhone | None = None
    try:
        await asyncio.wait_for(bridge.connected.wait(), 5)
        call = await bridge.dial("+15550009999")
        await until(lambda: esl.legs, 10)
        phone = SipLegPhone(esl.legs[0])
        task = asyncio.create_task(_interview_into(results, bot, job, call, "freeswitch"))
        yield phone
        await task
    finally:
        if phone is not None:
            phone.close()
        await bridge.stop()
        await esl.stop()


@pytest.mark.parametrize(
    "over",
    [
        pytest.param(over_ari, id="ari-externalMedia"),
        pytest.param(over_agi, id="agi-audiosocket"),
        pytest.param(over_freeswitch, id="freeswitch-sip", marks=pytest.mark.sip),
    ],
)
async def test_interview_over_the_bridge_is_understood_and_heard(
    over: Callable[..., contextlib.AbstractAsyncContextManager[Phone]],
    backend_job: Job,  # noqa: F811
    interviewer: Interviewer,  # noqa: F811
    turn_store: TurnAnnouncingStore,  # noqa: F811
    answer_wavs: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    job = replace(
        backend_job, questions=[q for q in backend_job.questions if q.id in SHORT_JOB_QUESTIONS]
    )
    results: asyncio.Queue[SessionResult] = asyncio.Queue()
    played: list[str] = []
    async with over(interviewer, job, results) as phone:
        candidate = asyncio.create_task(
            answer_each_question(phone, turn_store, answer_wavs, played)  # type: ignore[arg-type]
        )
        try:
            result = await asyncio.wait_for(results.get(), INTERVIEW_LIMIT_S)
        finally:
            candidate.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await candidate
        heard_pcm = phone.heard()
    write_wav(tmp_path / "heard.wav", np.frombuffer(heard_pcm, dtype="<i2"), 8000)
    heard = await transcribe_wav(interviewer.asr, tmp_path / "heard.wav", tmp_path / "h8k.wav")
    check_interview(Interview(job, result, played, heard))
