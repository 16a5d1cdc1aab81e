"""Every way a SIP interview can end closes the session and its `calls` row promptly.

Issue 16 item 1: a call the bot hung up itself while talking (timer H: the peer never ACKed the
200) left the session blocked forever in `Call.send()` on a full outbound queue, and a hang-up
while the bot listened ended as `silence` a reprompt timer later. Each test runs a real
`Interviewer` (built-in policy, real store, real SIP endpoint on loopback) with stand-in speech
engines: a TTS that talks for a long time and a recognizer that hears nothing, with a reprompt
timer of a minute, so nothing but the end path itself can end the interview inside the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.telephony.test_ari import until
from tests.telephony.test_sip_calls import HOST, RawCaller, bot_config, stream_tone
from voicebot.config import Config
from voicebot.interview.plan import Job, load_job
from voicebot.interview.runner import Interviewer
from voicebot.interview.session import SessionResult
from voicebot.speech.asr import Transcript
from voicebot.store import Store
from voicebot.telephony import sip
from voicebot.telephony.sip import SipCall, SipEndpoint

JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"
END_BOUND_S = 3.0  # the issue asks for 1 s; the bound only has to tell "ends" from "hangs"
pytestmark = pytest.mark.timeout(40)


class DeafRecognizer:
    """Hears nothing, ever: no answer can end the interview."""

    sample_rate = 8000

    async def feed(self, pcm: bytes) -> str | None:
        return None

    def speculate(self) -> None:
        pass

    async def finish(self) -> Transcript:
        return Transcript("")

    def reset(self) -> None:
        pass

    def early_result(self) -> Transcript | None:
        return None


class DeafEngine:
    name = "deaf"
    multilingual = True

    def recognizer(
        self, sample_rate: int = 8000, context: str = "", language: str = ""
    ) -> DeafRecognizer:
        return DeafRecognizer()

    def close(self) -> None:
        pass


class ToneTts:
    """Every text is `seconds` of a 440 Hz tone: the bot is still talking when the call ends."""

    sample_rate = 8000

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        n = int(self.seconds * 8000)
        yield (8000 * np.sin(2 * math.pi * 440 * np.arange(n) / 8000)).astype("<i2").tobytes()


class Bot:
    """A SIP endpoint whose inbound calls are interviews; results land in `results`."""

    def __init__(self, store: Store, tts_seconds: float) -> None:
        base = Config()
        cfg = replace(base, interview=replace(base.interview, reprompt_after_s=60.0))
        self.job: Job = load_job(JOB)
        self.interviewer = Interviewer(cfg, asr=DeafEngine(), tts=ToneTts(tts_seconds), store=store)
        self.results: asyncio.Queue[tuple[float, SessionResult]] = asyncio.Queue()
        self.calls: asyncio.Queue[SipCall] = asyncio.Queue()
        self.endpoint = SipEndpoint(bot_config(), self._incoming)

    async def _incoming(self, call: SipCall) -> None:
        self.calls.put_nowait(call)
        result = await self.interviewer.interview(call, self.job)  # type: ignore[arg-type]
        self.results.put_nowait((time.monotonic(), result))

    async def result(self) -> tuple[float, SessionResult]:
        return await asyncio.wait_for(self.results.get(), 10)


@contextlib.asynccontextmanager
async def interviewing_bot(
    tmp_path: Path, *, tts_seconds: float = 30.0
) -> AsyncIterator[tuple[Bot, Store]]:
    store = await Store.open(tmp_path / "voicebot.db")
    bot = Bot(store, tts_seconds)
    await bot.endpoint.start()
    try:
        yield bot, store
    finally:
        await asyncio.wait_for(bot.endpoint.stop(), 10)
        await store.close()


async def speaking(call: SipCall) -> None:
    """Until the bot has queued enough speech to fill the outbound queue (it is talking)."""
    await until(lambda: call.output_pending >= 5, 5)


def ended_within(seconds: float) -> None:
    """The bound, and the figure for the README (pytest -s shows it)."""
    print(f"\n  interview ended {seconds * 1000:.0f} ms after the end began")
    assert seconds < END_BOUND_S


async def listening(store: Store, call_id: str) -> None:
    """Until the consent question has played out (its turn is stored): the bot listens."""
    async with asyncio.timeout(10):
        while not any(t.kind == "consent" for t in await store.turns(call_id)):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def stored_calls(store: Store, count: int) -> list[dict[str, object]]:
    """The `calls` rows, newest first, once there are `count` of them."""
    async with asyncio.timeout(5):
        while len(rows := await store.list_calls()) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return rows


async def closed_row(store: Store, call_id: str) -> dict[str, object]:
    row = await store.get_call(call_id)
    assert row is not None
    assert row["ended_at"] is not None and row["outcome"] is not None, row
    return row


@pytest.mark.parametrize("moment", ["speaking", "listening"])
@pytest.mark.parametrize(
    ("ender", "outcome"),
    [
        ("candidate", "caller_hangup"),
        ("bot", "failed"),  # not the candidate's doing, and worth a retry
    ],
)
async def test_a_hang_up_ends_the_interview_and_closes_its_row(
    tmp_path: Path, moment: str, ender: str, outcome: str
) -> None:
    """While the bot speaks (its outbound queue full) or listens (never a `silence` 28 s
    later), whoever hangs up."""
    tts_seconds = 30.0 if moment == "speaking" else 0.2
    async with (
        interviewing_bot(tmp_path, tts_seconds=tts_seconds) as (bot, store),
        RawCaller(bot.endpoint.port) as alice,
    ):
        await alice.call()
        call = await asyncio.wait_for(bot.calls.get(), 5)
        if moment == "speaking":
            await speaking(call)
        else:
            await listening(store, call.call_id)
        began = time.monotonic()
        if ender == "candidate":
            alice.sip.send(alice.request("BYE"))
        else:
            await asyncio.gather(call.hangup(), alice.answer_bye())
        ended_at, result = await bot.result()
        ended_within(ended_at - began)
        assert result.outcome == outcome
        assert (await closed_row(store, call.call_id))["outcome"] == outcome


async def test_timer_h_a_peer_that_never_acks_ends_the_interview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sip, "T_TIMEOUT", 1.5)  # 64*T1 = 32 s on a real line
    async with interviewing_bot(tmp_path) as (bot, store), RawCaller(bot.endpoint.port) as alice:
        alice.sip.send(alice.invite(empty_header=False))
        _, ok = await alice.final("INVITE")
        assert ok.status == 200  # ... and no ACK, ever
        call = await asyncio.wait_for(bot.calls.get(), 5)
        await alice.answer_bye(timeout=10)  # timer H fired: the bot says goodbye
        bye_at = time.monotonic()
        ended_at, result = await bot.result()
        ended_within(ended_at - bye_at)
        assert result.outcome == "failed"
        assert (await closed_row(store, call.call_id))["outcome"] == "failed"
        assert bot.endpoint.active_calls == 0


async def test_media_loss_ends_the_call_and_the_interview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sip, "MEDIA_TIMEOUT_S", 1.0)
    async with interviewing_bot(tmp_path) as (bot, store), RawCaller(bot.endpoint.port) as alice:
        await alice.call()
        call = await asyncio.wait_for(bot.calls.get(), 5)
        await stream_tone(alice, 100, 25)  # half a second of the candidate's line, then nothing
        await alice.answer_bye(timeout=10)
        bye_at = time.monotonic()
        ended_at, result = await bot.result()
        ended_within(ended_at - bye_at)
        assert result.outcome == "failed"
        row = await closed_row(store, call.call_id)
        assert row["outcome"] == "failed"
        assert call.stats.packets_in >= 20  # it was the loss, not a call that never had media


async def test_a_line_on_hold_is_not_media_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that put the call on hold (a=recvonly / inactive) sends nothing, by design."""
    monkeypatch.setattr(sip, "MEDIA_TIMEOUT_S", 0.3)
    endpoint = SipEndpoint(bot_config(), None)
    call = SipCall(
        endpoint,
        direction=sip.Direction.INBOUND,
        call_id="hold@test",
        local_tag="t",
        remote_uri=f"sip:alice@{HOST}",
    )
    call.answered_at = time.time()
    call._last_media = time.monotonic() - 10
    from voicebot.telephony.sipmsg import MediaDescription

    call.remote_media = MediaDescription(HOST, 4000, [0], {}, "inactive")
    assert not call.media_lost(time.monotonic())
    call.remote_media = replace(call.remote_media, direction="sendrecv")
    assert call.media_lost(time.monotonic())


async def test_a_reused_call_id_is_a_new_call_with_its_own_row(tmp_path: Path) -> None:
    """Issue 16 item 6: a peer reusing a SIP Call-ID ended the new call with IntegrityError."""
    async with (
        interviewing_bot(tmp_path, tts_seconds=0.2) as (bot, store),
        RawCaller(bot.endpoint.port) as alice,
    ):
        ids = []
        for _ in range(2):
            alice.to, alice.cseq = "", 848
            await alice.call()
            await asyncio.wait_for(bot.calls.get(), 5)
            rows = await stored_calls(store, len(ids) + 1)
            await listening(store, str(rows[0]["id"]))  # the newest
            alice.sip.send(alice.request("BYE"))
            _, result = await bot.result()
            assert result.outcome == "caller_hangup"
            ids.append(result.call_id)
        assert ids[0] == alice.call_id and ids[1] != ids[0] and ids[1].startswith(alice.call_id)
        for call_id in ids:
            row = await closed_row(store, call_id)
            assert row["outcome"] == "caller_hangup"
            assert [t.kind for t in await store.turns(call_id)][:1] == ["greeting"]


async def test_a_second_invite_for_a_live_call_id_is_refused_not_taken_over(
    tmp_path: Path,
) -> None:
    async with (
        interviewing_bot(tmp_path, tts_seconds=0.2) as (bot, _store),
        RawCaller(bot.endpoint.port) as alice,
    ):
        await alice.call()
        call = await asyncio.wait_for(bot.calls.get(), 5)
        alice.sip.send(alice.invite(empty_header=False))  # same Call-ID, new branch, no To-tag
        statuses, _ = await alice.final("INVITE")
        assert statuses[-1] == 482
        assert bot.endpoint._calls[call.call_id] is call and not call.ended
        alice.sip.send(alice.request("BYE"))
        await bot.result()
