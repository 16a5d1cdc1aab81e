"""AudioSocket server against a peer that behaves like Asterisk 22's AudioSocket()."""

from __future__ import annotations

import asyncio
import logging
import struct
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.peers.audiosocket_peer import AudioSocketPeer
from voicebot.telephony.audiosocket import (
    KIND_SLIN16,
    KIND_UUID,
    AudioSocketCall,
    AudioSocketServer,
    Expected,
    encode_frame,
)
from voicebot.telephony.base import Answered, Call, Dtmf, HangupCause, HungUp


def tone(freq: float, seconds: float, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def dominant_hz(pcm: bytes, rate: int = 8000) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


class Bot:
    """An AudioSocket server whose calls are kept for the test to drive."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[AudioSocketCall] = asyncio.Queue()
        # the test's Asterisk connects from loopback: its fresh UUIDs are inbound calls
        self.server = AudioSocketServer("127.0.0.1", 0, self._take, trusted={"127.0.0.1"})
        self.done: dict[str, asyncio.Event] = {}

    async def _take(self, call: AudioSocketCall) -> None:
        self.done[call.call_id] = asyncio.Event()
        self.calls.put_nowait(call)
        await self.done[call.call_id].wait()

    def release(self, call: AudioSocketCall) -> None:
        self.done[call.call_id].set()


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    b = Bot()
    await b.server.start()
    try:
        yield b
    finally:
        await b.server.stop()


async def connect(bot: Bot) -> tuple[AudioSocketPeer, AudioSocketCall]:
    peer = AudioSocketPeer("127.0.0.1", bot.server.port)
    await peer.connect()
    call = await asyncio.wait_for(bot.calls.get(), 5)
    return peer, call


async def read_pcm(call: Call, seconds: float) -> bytes:
    frames = []
    async for frame in call.frames():
        frames.append(frame)
        if len(frames) * 0.02 >= seconds:
            break
    return b"".join(frames)


async def events_until(call: AudioSocketCall, kind: type) -> list[object]:
    seen = []
    async with asyncio.timeout(10):
        async for ev in call.events():
            seen.append(ev)
            if isinstance(ev, kind):
                break
    return seen


async def test_call_uuid_audio_both_ways_and_dtmf(bot: Bot) -> None:
    peer, call = await connect(bot)
    assert call.call_id == peer.uuid
    peer.play(tone(700, 3.0))
    heard = await read_pcm(call, 2.5)
    assert abs(dominant_hz(heard[8000:]) - 700) < 20  # the caller's tone reached the session

    for frame in np.frombuffer(tone(440, 1.0), dtype="<i2").reshape(-1, 160):
        await call.send(frame.tobytes())
    await call.drained()
    await peer.send_dtmf("7")
    seen = await events_until(call, Dtmf)
    assert seen[0] == Answered() and seen[-1] == Dtmf("7")
    sent = peer.audio()
    assert abs(dominant_hz(sent) - 440) < 20  # Asterisk received the bot's tone
    bot.release(call)
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert peer.hangup_received  # our hang-up is an explicit 0x00 frame


async def test_silent_close_is_the_callers_hangup(bot: Bot) -> None:
    peer, call = await connect(bot)
    await peer.hangup()
    seen = await events_until(call, HungUp)
    assert seen[-1] == HungUp(HangupCause.NORMAL, by_remote=True, detail="socket closed")
    await asyncio.wait_for(read_pcm(call, 60.0), 5)  # frames() ends instead of hanging
    bot.release(call)


async def test_quiet_bot_keeps_the_socket_alive(bot: Bot) -> None:
    """Asterisk drops a socket after 2 s without traffic; a bot that says nothing sends silence."""
    peer, call = await connect(bot)
    await asyncio.sleep(3.0)
    assert not peer.dropped_idle and not call.ended
    assert set(peer.audio()) == {0}  # what it sent was digital silence
    bot.release(call)


@pytest.mark.parametrize(
    ("garbage", "what"),
    [
        (struct.pack("!BH", 0x10, 40000), "oversized length"),
        (struct.pack("!BH", 0x10, 320) + b"\x01" * 100, "truncated frame"),
    ],
)
async def test_broken_framing_ends_only_that_call(bot: Bot, garbage: bytes, what: str) -> None:
    good_peer, good = await connect(bot)
    _, writer = await asyncio.open_connection("127.0.0.1", bot.server.port)
    writer.write(encode_frame(KIND_UUID, uuid.uuid4().bytes) + garbage)
    await writer.drain()
    writer.write_eof()
    third = await asyncio.wait_for(bot.calls.get(), 5)
    seen = await events_until(third, HungUp)
    assert isinstance(seen[-1], HungUp) and seen[-1].cause == HangupCause.FAILED, what
    assert bot.server.malformed == 1
    good_peer.play(tone(500, 2.0))
    assert abs(dominant_hz((await read_pcm(good, 1.5))[4000:]) - 500) < 20  # still carried
    assert not good.ended
    writer.close()
    for call in (good, third):
        bot.release(call)


async def test_unknown_kind_and_garbage_first_frame_are_survived(bot: Bot) -> None:
    peer, call = await connect(bot)
    await peer.send_raw(encode_frame(0x42, b"xyz"))  # unknown kind: logged, skipped
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.server.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")  # not AudioSocket at all
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without a call
    peer.play(tone(600, 2.0))
    assert abs(dominant_hz((await read_pcm(call, 1.5))[4000:]) - 600) < 20
    assert call.stats.dropped.get("unknown_kind") == 1
    assert bot.calls.empty()
    writer.close()
    bot.release(call)


async def test_expected_uuid_completes_its_future_not_the_inbound_handler(bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    expected = Expected(variables={"CANDIDATE_ID": "c-1"}, connected=loop.create_future())
    key = bot.server.expect(expected)
    peer = AudioSocketPeer("127.0.0.1", bot.server.port, call_uuid=key)
    await peer.connect()
    call = await asyncio.wait_for(expected.connected, 5)
    assert call.variables == {"CANDIDATE_ID": "c-1"}
    assert bot.calls.empty()
    await call.hangup()
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert peer.hangup_received


async def test_ten_concurrent_calls_each_get_paced_audio(bot: Bot) -> None:
    peers, calls = [], []
    for _ in range(10):
        peer, call = await connect(bot)
        peers.append(peer)
        calls.append(call)

    async def speak(call: AudioSocketCall, freq: float) -> None:
        for frame in np.frombuffer(tone(freq, 2.0), dtype="<i2").reshape(-1, 160):
            await call.send(frame.tobytes())
        await call.drained()

    await asyncio.gather(*(speak(c, 300 + 50 * i) for i, c in enumerate(calls)))
    jitter = []
    for i, peer in enumerate(peers):
        assert abs(dominant_hz(peer.audio()) - (300 + 50 * i)) < 20  # its own call's audio
        assert not peer.dropped_idle
        jitter += peer.jitter_ms()
    print(f"\nAudioSocket x10: send jitter p99 {np.percentile(jitter, 99):.2f} ms")
    for call in calls:
        bot.release(call)


async def test_16khz_socket_is_answered_at_16khz(bot: Bot) -> None:
    """A wideband channel sends 0x12 frames; the bot answers in kind, resampled both ways."""
    peer = AudioSocketPeer("127.0.0.1", bot.server.port, kind=KIND_SLIN16)
    await peer.connect()
    call = await asyncio.wait_for(bot.calls.get(), 5)
    peer.play(tone(900, 2.0, rate=16000))
    assert abs(dominant_hz((await read_pcm(call, 1.5))[4000:]) - 900) < 20
    for i in range(0, 16000, 320):
        await call.send(tone(400, 1.0)[i : i + 320])
    await call.drained()
    assert len(peer.received[-1][1]) == 640  # 20 ms at 16 kHz
    assert abs(dominant_hz(peer.audio(), rate=16000) - 400) < 20
    bot.release(call)


# who may connect (issue 16 item 5) ---------------------------------------------------------


async def test_an_unknown_uuid_from_an_untrusted_address_is_refused() -> None:
    server = AudioSocketServer("127.0.0.1", 0, Bot()._take)  # trusts no address
    await server.start()
    try:
        loop = asyncio.get_running_loop()
        expected = Expected(connected=loop.create_future())
        key = server.expect(expected)
        stranger = AudioSocketPeer("127.0.0.1", server.port)  # a UUID nobody issued
        await stranger.connect()
        await asyncio.wait_for(stranger.closed.wait(), 5)
        assert server.refused == {"unknown_uuid": 1} and not server.calls
        invited = AudioSocketPeer("127.0.0.1", server.port, call_uuid=key)
        await invited.connect()
        call = await asyncio.wait_for(expected.connected, 5)  # the issued one is taken
        await call.hangup()
    finally:
        await server.stop()


async def test_calls_beyond_max_calls_are_refused() -> None:
    bot = Bot()
    bot.server = AudioSocketServer("127.0.0.1", 0, bot._take, max_calls=2, trusted={"127.0.0.1"})
    await bot.server.start()
    try:
        first, a = await connect(bot)
        second, b = await connect(bot)
        third = AudioSocketPeer("127.0.0.1", bot.server.port)
        await third.connect()
        await asyncio.wait_for(third.closed.wait(), 5)
        assert bot.server.refused == {"max_calls": 1}
        assert set(bot.server.calls) == {first.uuid, second.uuid}
        for call in (a, b):
            bot.release(call)
    finally:
        await bot.server.stop()


async def test_a_flood_of_unknown_frames_logs_one_warning(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    peer, call = await connect(bot)
    with caplog.at_level(logging.WARNING, logger="voicebot.telephony.audiosocket"):
        for _ in range(46):
            await peer.send_raw(encode_frame(0x42, b"xyz"))
        async with asyncio.timeout(5):
            while call.stats.dropped.get("unknown_kind") != 46:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    assert len([r for r in caplog.records if "ignored frame kind" in r.getMessage()]) == 1
    bot.release(call)
