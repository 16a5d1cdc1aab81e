"""Who may start a SIP call and whose RTP counts (issue 16 item 5): un-ACKed INVITEs from one
source cannot hold every call slot and are released at timer H; RTP is latched to the
negotiated peer address and to its SSRC, so injected packets never replace the real ones."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest

from tests.telephony.test_ari import until
from tests.telephony.test_sip_calls import (
    HOST,
    Answering,
    FrameTap,
    RawCaller,
    RtpSocket,
    bot_config,
    frame_rms,
    pcmu_packet,
    running_bot,
    stream_tone,
)
from voicebot.media.frames import FRAME_BYTES
from voicebot.telephony import sip
from voicebot.telephony.sip import SipEndpoint
from voicebot.telephony.sipmsg import SipMessage

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
        # the real stream stops and another SSRC takes over (a PBX re-bridging): kept once it
        # has sent SSRC_SWITCH_PACKETS in a row
        await asyncio.sleep(0.3)
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


@contextlib.asynccontextmanager
async def registered_bot(**overrides: object) -> AsyncIterator[SipEndpoint]:
    """A bot whose registrar (an unroutable TEST-NET address) is the only trusted PBX."""
    cfg = replace(bot_config(), registrar="192.0.2.1:5060", **overrides)  # type: ignore[arg-type]
    endpoint = SipEndpoint(cfg, Answering())
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await asyncio.wait_for(endpoint.stop(), 10)


async def test_with_a_registrar_invites_come_only_from_it_or_the_allow_list() -> None:
    """A bot registered at a PBX takes calls from that PBX (and `sip.allow_from`), not from
    whoever finds its port."""
    async with registered_bot() as bot, RawCaller(bot.port) as stranger:
        stranger.sip.send(stranger.invite(empty_header=False))
        _, final = await stranger.final("INVITE")
        assert final.status == 403
        assert bot.active_calls == 0
        assert bot.stats.dropped.get("sip_untrusted_source") == 1
    async with registered_bot(allow_from=(HOST,)) as bot, RawCaller(bot.port) as listed:
        assert (await listed.call())[-1] == 200
        listed.sip.send(listed.request("BYE"))
        assert (await listed.final("BYE"))[0] == [200]


def test_remembered_server_transactions_are_bounded_and_forgotten_oldest_first() -> None:
    """A flood of distinct requests once made every request scan every remembered one."""
    endpoint = SipEndpoint(bot_config(), None)
    response = SipMessage(status=200, reason="OK")
    for i in range(sip.MAX_SERVER_TX + 500):
        endpoint._remember((f"z9hG4bK{i}", "OPTIONS"), response)
    endpoint._gc_server_tx()
    assert len(endpoint._server_tx) == sip.MAX_SERVER_TX
    assert next(iter(endpoint._server_tx)) == ("z9hG4bK500", "OPTIONS")
