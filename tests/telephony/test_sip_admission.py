"""Who may start a SIP call and whose RTP counts (issue 16 item 5): un-ACKed INVITEs from one
source cannot hold every call slot and are released at timer H; RTP is latched to the
negotiated peer address and to its SSRC, so injected packets never replace the real ones."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.telephony.test_ari import until
from tests.telephony.test_sip_calls import (
    HOST,
    FrameTap,
    RawCaller,
    RtpSocket,
    frame_rms,
    pcmu_packet,
    running_bot,
    stream_tone,
)
from voicebot.media.frames import FRAME_BYTES
from voicebot.telephony import sip

pytestmark = pytest.mark.timeout(45)
LOUD = (12000 * np.ones(FRAME_BYTES // 2)).astype("<i2").tobytes()  # not the tone: a square


async def test_unacked_invites_from_one_source_cannot_take_every_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sip, "T_TIMEOUT", 1.5)
    async with running_bot(max_calls=32) as (bot, _answering):
        callers = [RawCaller(bot.port) for _ in range(sip.MAX_UNCONFIRMED_PER_SOURCE + 1)]
        for caller in callers:
            await caller.__aenter__()
        try:
            finals = []
            for caller in callers:  # INVITE, never ACK
                caller.sip.send(caller.invite(empty_header=False))
                finals.append((await caller.final("INVITE"))[1].status)
            assert finals == [200] * sip.MAX_UNCONFIRMED_PER_SOURCE + [486]
            # timer H ends the un-ACKed ones and frees their slots
            await until(lambda: bot.active_calls == 0, 10)
            late = RawCaller(bot.port)
            async with late:
                assert (await late.call())[-1] == 200
        finally:
            for caller in callers:
                await caller.__aexit__(None, None, None)


async def test_rtp_from_another_address_is_dropped() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        await alice.call()
        call = await answering.next()
        tap = FrameTap(call)
        intruder = await RtpSocket().open()
        try:
            assert intruder.transport is not None
            for seq in range(100, 150):
                intruder.transport.sendto(pcmu_packet(seq, LOUD, ssrc=0x1234), alice.bot_rtp)
            await stream_tone(alice, 100, 50)
            await asyncio.sleep(0.1)
        finally:
            intruder.close()
        assert call.stats.dropped.get("foreign_source") == 50
        pcm = np.frombuffer(b"".join(tap.frames), "<i2")
        assert _square_frames(pcm) == 0
        await asyncio.gather(call.hangup(), alice.answer_bye())
        await tap.close()


async def test_an_interleaved_second_ssrc_is_dropped_a_replacement_is_adopted() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        await alice.call()
        call = await answering.next()
        tap = FrameTap(call)
        # the real stream, with a forged one (same address: a spoofed source) in between
        sender = asyncio.create_task(stream_tone(alice, 1000, 60))
        await asyncio.sleep(0.2)  # the real stream is latched
        for seq in range(5000, 5040):
            alice.send_rtp(pcmu_packet(seq, LOUD, ssrc=0xBAD))
            await asyncio.sleep(0.02)
        await sender
        assert call.stats.dropped.get("foreign_ssrc", 0) >= 35
        assert _square_frames(np.frombuffer(b"".join(tap.frames), "<i2")) == 0
        # the real peer's stream stops and another SSRC takes over (a PBX re-bridging): kept
        await asyncio.sleep(2 * sip.SSRC_SWITCH_S)
        before = len(tap.frames)
        for seq in range(7000, 7050):
            alice.send_rtp(pcmu_packet(seq, LOUD, ssrc=0x5678))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert _square_frames(np.frombuffer(b"".join(tap.frames[before:]), "<i2")) >= 30
        await asyncio.gather(call.hangup(), alice.answer_bye())
        await tap.close()


def _square_frames(pcm: np.ndarray) -> int:
    """Frames of the forged square wave (a steady 12000), told apart from the tone."""
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(np.int32)
    rms = frame_rms(frames.ravel())
    steady = np.abs(frames).min(axis=1) > 9000
    return int(np.sum(steady & (rms > 9000)))


def test_the_host_of_an_address_tuple_is_compared_canonically() -> None:
    assert sip.same_address(("127.0.0.1", 4000), (HOST, 4000))
    assert sip.same_address(("::1", 4000, 0, 0), ("0:0::1", 4000))
    assert not sip.same_address(("127.0.0.1", 4001), (HOST, 4000))
