"""voicebot's own SIP user agent against real peers: each test pins one defect pyVoIP 1.6.8
had (empty headers, the 2xx ACK's To-tag, μ-law bytes on PCMA calls, a second sender per
re-INVITE, BYE handling, DTMF, zero-filled gaps, crashing on malformed input).

Tests marked `sip` run kamailio with baresip or linphonec; the others replay baresip's
recorded INVITE from raw UDP sockets straight at the bot, so every byte is the test's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from tests.peers import Baresip, Linphone, RawSipUser, dominant_frequency, tone_wav
from tests.peers.audio import active_seconds, read_wav, wait_wav_closed, write_wav
from tests.peers.rawsip import SipMessage as RawMessage
from voicebot.config import SipConfig
from voicebot.media import g711
from voicebot.media.frames import FRAME_BYTES, FRAME_SAMPLES
from voicebot.media.rtp import RtpPacket, parse_rtp
from voicebot.telephony.base import Answered, Dtmf, HangupCause, HungUp
from voicebot.telephony.registrar import LocalRegistrar
from voicebot.telephony.sip import SipCall, SipEndpoint
from voicebot.telephony.sipmsg import SipMessage, SipParseError, parse_message, parse_sdp

HOST = "127.0.0.1"
USERS = {"bot": "bot-secret", "alice": "alice-secret", "bob": "bob-secret"}
BARESIP_INVITE = (Path(__file__).parent / "data" / "baresip_invite.txt").read_bytes().decode()
BARESIP_FROM = "<sip:alice@127.0.0.1:42353>;tag=bcc6308566a66994"
BOT_TONE_HZ = 800.0
PEER_TONE_HZ = 1000.0
BOT_TONE_AMPLITUDE = 0.25  # of full scale

_TOOLS = ("kamailio", "baresip", "linphonec", "sox")
_MISSING = [tool for tool in _TOOLS if shutil.which(tool) is None]
needs_peers = pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {', '.join(_MISSING)}")
pytestmark = pytest.mark.timeout(45)
E = TypeVar("E", Answered, Dtmf, HungUp)


# the bot ------------------------------------------------------------------------------------


class Answering:
    """The bot's on_incoming: hands each call to the test, which decides when it ends (the
    endpoint hangs up whatever is still up when it stops)."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[SipCall] = asyncio.Queue()

    async def __call__(self, call: SipCall) -> None:
        self.calls.put_nowait(call)
        await asyncio.Event().wait()

    async def next(self, timeout: float = 5.0) -> SipCall:
        return await asyncio.wait_for(self.calls.get(), timeout)


def bot_config(registrar: LocalRegistrar | None = None, **overrides: object) -> SipConfig:
    fields: dict[str, object] = {
        "listen_host": HOST,
        "listen_port": 0,
        "username": "bot",
        "password": USERS["bot"],
        "registrar": f"{registrar.host}:{registrar.port}" if registrar else "",
        **overrides,
    }
    return SipConfig(**fields)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_bot(
    registrar: LocalRegistrar | None = None, **overrides: object
) -> AsyncIterator[tuple[SipEndpoint, Answering]]:
    answering = Answering()
    endpoint = SipEndpoint(bot_config(registrar, **overrides), answering)
    await endpoint.start()
    try:
        if registrar is not None:
            await asyncio.wait_for(endpoint.registered.wait(), 5)
        yield endpoint, answering
    finally:
        await asyncio.wait_for(endpoint.stop(), 10)


@pytest.fixture
async def registrar(tmp_path: Path) -> AsyncIterator[LocalRegistrar]:
    async with LocalRegistrar(USERS, workdir=tmp_path / "kamailio") as reg:
        yield reg


@contextlib.asynccontextmanager
async def baresip_phone(
    registrar: LocalRegistrar, tmp_path: Path, **options: object
) -> AsyncIterator[Baresip]:
    tone = tone_wav(tmp_path / "alice-tone.wav", freq=PEER_TONE_HZ, seconds=3.0)
    phone = Baresip(
        "alice",
        USERS["alice"],
        registrar,
        source_wav=tone,
        workdir=tmp_path / "alice",
        sip_trace=True,
        **options,  # type: ignore[arg-type]
    )
    await phone.start()
    try:
        await phone.wait_registered(timeout=5)
        yield phone
    finally:
        await phone.stop()


@contextlib.asynccontextmanager
async def linphone_phone(
    registrar: LocalRegistrar, tmp_path: Path, **options: object
) -> AsyncIterator[Linphone]:
    tone = tone_wav(tmp_path / "bob-tone.wav", freq=PEER_TONE_HZ, seconds=3.0)
    phone = Linphone(
        "bob",
        USERS["bob"],
        registrar,
        source_wav=tone,
        workdir=tmp_path / "bob",
        **options,  # type: ignore[arg-type]
    )
    await phone.start()
    try:
        await phone.wait_registered(timeout=5)
        yield phone
    finally:
        await phone.stop()


# audio helpers ------------------------------------------------------------------------------


def tone_frames(freq: float, seconds: float, amplitude: float = BOT_TONE_AMPLITUDE) -> list[bytes]:
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


async def play_tone(call: SipCall, seconds: float = 1.5) -> None:
    for frame in tone_frames(BOT_TONE_HZ, seconds):
        await call.send(frame)
    await asyncio.wait_for(call.drained(), 5)


class FrameTap:
    """Everything `call.frames()` delivers, read by a background task."""

    def __init__(self, call: SipCall) -> None:
        self.frames: list[bytes] = []
        self._task = asyncio.create_task(self._read(call))

    async def _read(self, call: SipCall) -> None:
        async for frame in call.frames():
            self.frames.append(frame)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def wav(self, path: Path) -> Path:
        write_wav(path, np.frombuffer(b"".join(self.frames), dtype="<i2"), 8000)
        return path


def frame_rms(samples: np.ndarray) -> np.ndarray:
    """RMS per 20 ms frame."""
    count = len(samples) // FRAME_SAMPLES
    frames = samples[: count * FRAME_SAMPLES].astype(np.float64).reshape(count, FRAME_SAMPLES)
    return np.sqrt(np.mean(frames**2, axis=1))


def tone_level(path: Path) -> float:
    """Median RMS of the frames of `path` louder than -40 dBFS."""
    samples, _ = read_wav(path)
    rms = frame_rms(samples)
    return float(np.median(rms[rms > 327.67]))


async def next_event(call: SipCall, kind: type[E], timeout: float = 5.0) -> E:
    async with asyncio.timeout(timeout):
        async for event in call.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"call events ended before a {kind.__name__}")


async def dtmf_digits(call: SipCall, count: int, timeout: float = 8.0) -> str:
    digits = ""
    async with asyncio.timeout(timeout):
        async for event in call.events():
            if isinstance(event, Dtmf):
                digits += event.digit
                if len(digits) == count:
                    return digits
    raise AssertionError(f"call ended after DTMF {digits!r}")


def trace(endpoint: SipEndpoint) -> tuple[list[SipMessage], list[SipMessage]]:
    """(sent, received): every SIP message the endpoint sends and receives from now on."""
    sent: list[SipMessage] = []
    received: list[SipMessage] = []
    send, on_datagram = endpoint._send, endpoint._on_datagram

    def recording_send(msg: SipMessage, addr: tuple[str, int]) -> None:
        sent.append(msg)
        send(msg, addr)

    def recording_receive(data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(SipParseError):
            received.append(parse_message(data))
        on_datagram(data, addr)

    endpoint._send = recording_send  # type: ignore[method-assign]
    endpoint._on_datagram = recording_receive  # type: ignore[method-assign]
    return sent, received


# a raw peer ---------------------------------------------------------------------------------


class RtpSocket(asyncio.DatagramProtocol):
    """A UDP socket on 127.0.0.1 that records each datagram with its arrival time."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def open(self) -> RtpSocket:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(HOST, 0))
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((time.monotonic(), data))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def between(self, start: float, end: float) -> list[bytes]:
        return [data for at, data in self.packets if start <= at < end]


class RawCaller:
    """baresip's recorded INVITE replayed from raw sockets straight at the bot (no proxy).

    Speaks just enough of the dialog (ACK, BYE, re-INVITE, OPTIONS) to drive a call, and
    sends or counts RTP on sockets the test owns.
    """

    def __init__(self, bot_port: int) -> None:
        self.bot = (HOST, bot_port)
        self.sip = RawSipUser("alice", "", self.bot)
        self.rtp = RtpSocket()
        self.call_id = f"{secrets.token_hex(8)}@raw"
        self.cseq = 848
        self.to = ""  # the bot's To, with its tag, once answered
        self.bot_rtp = (HOST, 0)

    async def __aenter__(self) -> RawCaller:
        await self.sip.open()
        await self.rtp.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sip.close()
        self.rtp.close()

    def _via(self) -> str:
        return f"Via: SIP/2.0/UDP {HOST}:{self.sip.port};branch=z9hG4bK{secrets.token_hex(8)};rport"

    def invite(self, *, empty_header: bool) -> bytes:
        """The recorded INVITE, re-addressed to the bot and this socket, one hop only."""
        head, _, body = BARESIP_INVITE.partition("\r\n\r\n")
        lines = []
        for line in head.split("\r\n"):
            if line.startswith(("Record-Route:", "Content-Length:")) or "z9hG4bKa7de" in line:
                continue  # kamailio's hop; the length is recomputed
            if line.startswith("INVITE "):
                line = f"INVITE sip:bot@{HOST}:{self.bot[1]} SIP/2.0"
            elif line.startswith("Via:"):
                line = self._via()
            elif line.startswith("Contact:"):
                line = f"Contact: <sip:alice@{HOST}:{self.sip.port}>"
            elif line.startswith("Call-ID:"):
                line = f"Call-ID: {self.call_id}"
            lines.append(line)
            if line == "Supported: gruu" and empty_header:
                lines.append("Supported:")
        body = self.sdp(self.rtp.port, version=1)
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def sdp(self, rtp_port: int, *, version: int) -> str:
        body = BARESIP_INVITE.partition("\r\n\r\n")[2]
        body = body.replace("m=audio 42838 ", f"m=audio {rtp_port} ")
        return body.replace(" 1729779519 IN", f" {1729779518 + version} IN")

    def request(self, method: str, *, cseq: int | None = None, body: str = "") -> bytes:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        lines = [
            f"{method} sip:bot@{HOST}:{self.bot[1]} SIP/2.0",
            self._via(),
            "Max-Forwards: 70",
            f"From: {BARESIP_FROM}",
            f"To: {self.to or '<sip:bot@127.0.0.1:42353>'}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:alice@{HOST}:{self.sip.port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    async def final(self, method: str, timeout: float = 5.0) -> tuple[list[int], RawMessage]:
        """Statuses of the responses to `method` up to its final one, and that response."""
        statuses: list[int] = []
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.sip.receive(timeout)
                if msg.is_request or not (msg.header("CSeq") or "").endswith(f" {method}"):
                    continue
                if msg.status in statuses and msg.status >= 200:
                    continue  # a retransmission
                statuses.append(msg.status)
                if msg.status >= 200:
                    return statuses, msg

    async def call(self, *, empty_header: bool = True) -> list[int]:
        """INVITE the bot, ACK its 200; the statuses it sent."""
        self.sip.send(self.invite(empty_header=empty_header))
        statuses, ok = await self.final("INVITE")
        assert ok.status == 200, ok.raw
        self.to = ok.header("To") or ""
        self.bot_rtp = (HOST, parse_sdp(ok.body).port)
        self.sip.send(self.request("ACK", cseq=self.cseq))
        return statuses

    async def answer_bye(self, timeout: float = 5.0) -> None:
        self.sip.reply(await self.sip.next_request("BYE", timeout), 200, "OK")

    def send_rtp(self, packet: bytes) -> None:
        assert self.rtp.transport is not None
        self.rtp.transport.sendto(packet, self.bot_rtp)


def pcmu_packet(seq: int, pcm: bytes, ssrc: int = 0x1234, payload_type: int = 0) -> bytes:
    return RtpPacket(
        payload_type=payload_type,
        sequence=seq & 0xFFFF,
        timestamp=(seq * FRAME_SAMPLES) & 0xFFFFFFFF,
        ssrc=ssrc,
        payload=g711.encode(g711.Codec.PCMU, pcm),
    ).build()


def never(_: int) -> bool:
    return False


async def stream_tone(
    caller: RawCaller, first_seq: int, count: int, *, skip: Callable[[int], bool] = never
) -> None:
    """`count` paced 20 ms PCMU tone packets; those whose index `skip` accepts are lost."""
    frames = tone_frames(PEER_TONE_HZ, count * 0.02, amplitude=0.5)
    start = time.monotonic()
    for i, frame in enumerate(frames):
        await asyncio.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
        if not skip(i):
            caller.send_rtp(pcmu_packet(first_seq + i, frame))


def blast(packets: list[bytes], addr: tuple[str, int]) -> None:
    """Send `packets` back to back from a thread, so the event loop reads while they arrive."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in packets:
            sock.sendto(packet, addr)


# the defects, one by one ------------------------------------------------------------


async def test_an_invite_with_an_empty_header_is_answered_and_a_bye_ends_it() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        assert await alice.call(empty_header=True) == [100, 180, 200]
        call = await answering.next()
        assert call.call_id == alice.call_id
        assert await next_event(call, Answered) == Answered()

        alice.sip.send(alice.request("BYE"))
        statuses, _ = await alice.final("BYE")
        assert statuses == [200]
        hung_up = await next_event(call, HungUp)
        assert hung_up == HungUp(HangupCause.NORMAL, by_remote=True, detail="BYE")
        assert bot.active_calls == 0
        assert not bot.stats.dropped


async def test_a_reinvite_moves_the_one_stream_and_starts_no_second_sender() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        await alice.call()
        call = await answering.next()
        await asyncio.sleep(0.3)
        assert len(alice.rtp.packets) > 5
        assert call.senders_started == 1

        moved = await RtpSocket().open()
        try:
            sdp = alice.sdp(moved.port, version=2)
            alice.sip.send(alice.request("INVITE", body=sdp))
            statuses, ok = await alice.final("INVITE")
            assert statuses[-1] == 200
            assert parse_sdp(ok.body).port == call.rtp_port
            alice.sip.send(alice.request("ACK", cseq=alice.cseq))

            await asyncio.sleep(0.2)
            start = time.monotonic()
            await asyncio.sleep(1.0)
            end = time.monotonic()
            after = moved.between(start, end)
            assert 40 <= len(after) <= 60, f"{len(after)} packets/s: expected one 50/s stream"
            assert alice.rtp.between(start, end) == []
            packets = [parse_rtp(data) for data in after]
            assert {p.ssrc for p in packets} == {call.rtp_sender.ssrc}
            seqs = [p.sequence for p in packets]
            assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
            assert call.senders_started == 1
            assert not call.ended
            await asyncio.gather(call.hangup(), alice.answer_bye())
        finally:
            moved.close()


async def test_lost_packets_are_concealed_not_zero_filled() -> None:
    """pyVoIP filled gaps with 0x00 bytes: full-scale noise in μ-law."""
    lost = range(40, 48)
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        await alice.call()
        call = await answering.next()
        tap = FrameTap(call)
        await stream_tone(alice, 1000, 100, skip=lambda i: i in lost)
        await asyncio.sleep(0.2)
        await asyncio.gather(call.hangup(), alice.answer_bye())
        await tap.close()

    assert call.jitter.stats.lost >= len(lost)
    assert call.stats.concealed >= len(lost)
    pcm = np.frombuffer(b"".join(tap.frames), dtype="<i2").astype(np.int32)
    assert np.max(np.abs(pcm)) < 0.6 * 32767, "a delivered frame is louder than the tone"
    rms = frame_rms(pcm)
    tone_rms = 0.5 * 32767 / np.sqrt(2)
    heard = np.flatnonzero(rms > 0.8 * tone_rms)
    first, last = heard[0], heard[-1]
    inside = rms[first : last + 1]
    gap = inside[inside < 0.8 * tone_rms]
    assert len(gap) >= len(lost) - 1
    assert np.all(gap > 0), "digital silence inside the call: the gap was not concealed"
    assert np.any(np.abs(gap - tone_rms / 2) < 0.15 * tone_rms), "no faded copy of the last frame"


async def test_malformed_sip_is_dropped_counted_and_the_call_goes_on() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        await alice.call()
        call = await answering.next()
        good_options = alice.request("OPTIONS")
        junk = [
            b"\x00\x01\x02garbage\xff\xfe" * 10,
            BARESIP_INVITE.encode()[:200],  # cut inside the headers
            BARESIP_INVITE.encode()[:-40],  # cut inside the body
            b"HELLO sip:bot@127.0.0.1\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n",
            good_options.replace(f"Call-ID: {alice.call_id}\r\n".encode(), b""),
            good_options.replace(b"Content-Length: 0", b"Content-Length: 99999"),
            good_options.replace(b"Max-Forwards: 70", b"Max-Forwards: \xff\xfe70"),
        ]
        for datagram in junk:
            alice.sip.send(datagram)
        await asyncio.sleep(0.2)
        assert bot.stats.dropped == {
            "sip_no_header_end": 2,
            "sip_truncated_body": 2,
            "sip_bad_request_line": 1,
            "sip_missing_header": 1,
            "sip_not_utf8": 1,
        }
        # every broken request that still says where an answer goes is refused with a 400
        refusals = []
        with contextlib.suppress(TimeoutError):
            while True:
                refusals.append((await alice.sip.receive(0.3)).status)
        assert refusals == [400] * 5

        alice.sip.send(alice.request("OPTIONS"))
        statuses, _ = await alice.final("OPTIONS")
        assert statuses == [200]
        assert not call.ended
        before = len(alice.rtp.packets)
        await asyncio.sleep(0.3)
        assert len(alice.rtp.packets) - before >= 10
        await asyncio.gather(call.hangup(), alice.answer_bye())
        assert await next_event(call, HungUp) == HungUp(HangupCause.NORMAL, False, "BYE")


async def test_malformed_rtp_and_a_flood_are_dropped_and_media_goes_on() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        await alice.call()
        call = await answering.next()
        tap = FrameTap(call)
        silence = bytes(FRAME_BYTES)
        good = pcmu_packet(1, silence)
        alice.send_rtp(bytes([0x40]) + good[1:])  # RTP version 1
        alice.send_rtp(good[:5])
        alice.send_rtp(pcmu_packet(2, silence, payload_type=99))
        flood = [pcmu_packet(seq, silence) for seq in range(3, 2003)]
        await asyncio.to_thread(blast, flood, alice.bot_rtp)
        await asyncio.sleep(0.5)  # the token bucket refills
        dropped = dict(call.stats.dropped)
        assert dropped["bad_version"] == 1
        assert dropped["short_header"] == 1
        assert dropped["unknown_payload_type"] == 1
        assert dropped["flood"] >= 100

        frames_before, sent_before = len(tap.frames), len(alice.rtp.packets)
        await stream_tone(alice, 5000, 50)
        await asyncio.sleep(0.1)
        assert not call.ended and bot.active_calls == 1
        assert len(tap.frames) - frames_before >= 40
        assert len(alice.rtp.packets) - sent_before >= 40
        rms = frame_rms(np.frombuffer(b"".join(tap.frames[frames_before:]), dtype="<i2"))
        assert np.sum(rms > 0.25 * 32767) >= 30, "the tone sent after the flood was not heard"
        assert call.stats.dropped["flood"] == dropped["flood"]

        await asyncio.gather(call.hangup(), alice.answer_bye())
        assert await next_event(call, HungUp) == HungUp(HangupCause.NORMAL, False, "BYE")
        await tap.close()


# real peers ---------------------------------------------------------------------------------


def ack_to_header(trace: str) -> str:
    """The To header of the first message in a baresip SIP trace excerpt."""
    message = trace.lstrip("\n").split("\n\n", 1)[0]
    return next(line[4:] for line in message.splitlines() if line.startswith("To: "))


class LogWatch(logging.Handler):
    """Sets `seen` once a record of `logger` contains `needle`."""

    def __init__(self, logger: str, needle: str) -> None:
        super().__init__(logging.WARNING)
        self.logger, self.needle = logging.getLogger(logger), needle
        self.seen = asyncio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if self.needle in self.messages[-1]:
            self.seen.set()

    def __enter__(self) -> LogWatch:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)


@pytest.mark.sip
@needs_peers
async def test_registration_fails_clearly_on_a_wrong_password(registrar: LocalRegistrar) -> None:
    wrong = SipEndpoint(bot_config(registrar, password="not-the-password"))
    with LogWatch(
        "voicebot.telephony.sip", "registration failed: registration refused: 403"
    ) as log:
        await wrong.start()
        try:
            await asyncio.wait_for(log.seen.wait(), 5)
            assert not wrong.registered.is_set()
        finally:
            await wrong.stop()
    async with running_bot(registrar) as (bot, _):
        assert bot.registered.is_set()


@pytest.mark.sip
@needs_peers
@pytest.mark.parametrize("codecs", [("PCMU", "PCMA"), ("PCMA",)], ids=["default", "pcma"])
async def test_bot_calls_baresip_its_ack_confirms_and_audio_flows_both_ways(
    registrar: LocalRegistrar, tmp_path: Path, codecs: tuple[str, ...]
) -> None:
    """The ACK carries the 2xx's To-tag; on a PCMA call the bot sends A-law, not μ-law."""
    async with (
        baresip_phone(registrar, tmp_path, auto_answer=True) as alice,
        running_bot(registrar, codecs=codecs) as (bot, _),
    ):
        sent, received = trace(bot)
        call = await bot.call(f"sip:alice@{registrar.host}:{registrar.port}", ring_timeout=10)
        tap = FrameTap(call)
        assert call.codec is not None and call.codec.codec == g711.Codec[codecs[0]]
        await alice.wait_established(timeout=5)
        await play_tone(call, 2.0)
        await asyncio.sleep(0.3)
        assert not call.ended
        await call.hangup()
        await alice.wait_closed(timeout=5)
        await tap.close()

    ok = next(m for m in received if m.status == 200 and m.cseq[1] == "INVITE")
    acks = [m for m in sent if m.method == "ACK"]
    assert acks, "the bot sent no ACK"
    assert ok.to_tag() and {ack.to_tag() for ack in acks} == {ok.to_tag()}
    assert {ack.cseq for ack in acks} == {(ok.cseq[0], "ACK")}
    baresip_log = alice.log_path.read_text(errors="replace")
    ack_at = baresip_log.find("\nACK sip:")
    assert ack_at > 0, "baresip's SIP trace shows no ACK"
    assert ack_to_header(baresip_log[ack_at:]) == ok.require("To")
    assert "Call established" in baresip_log[ack_at:]

    heard_by_alice = await wait_wav_closed(alice.recorded_wav() or tmp_path / "none.wav")
    assert active_seconds(heard_by_alice) > 1.5
    assert dominant_frequency(heard_by_alice) == pytest.approx(BOT_TONE_HZ, abs=5)
    sent_level = BOT_TONE_AMPLITUDE * 32767 / np.sqrt(2)
    assert tone_level(heard_by_alice) == pytest.approx(sent_level, rel=0.15)

    heard_by_bot = tap.wav(tmp_path / "heard-by-bot.wav")
    assert active_seconds(heard_by_bot) > 1.5
    assert dominant_frequency(heard_by_bot) == pytest.approx(PEER_TONE_HZ, abs=5)


@pytest.mark.sip
@needs_peers
async def test_dtmf_both_ways_with_baresip_whose_bye_ends_the_call(
    registrar: LocalRegistrar, tmp_path: Path
) -> None:
    async with (
        baresip_phone(registrar, tmp_path, auto_answer=True) as alice,
        running_bot(registrar) as (bot, _),
    ):
        call = await bot.call(f"sip:alice@{registrar.host}:{registrar.port}", ring_timeout=10)
        await alice.wait_established(timeout=5)
        await asyncio.sleep(0.3)

        await alice.send_dtmf("159*")
        assert await dtmf_digits(call, 4) == "159*"

        await asyncio.wait_for(call.send_dtmf("12#"), 5)
        assert [await alice.wait_dtmf(timeout=3) for _ in range(3)] == ["1", "2", "#"]

        await alice.hangup()
        hung_up = await next_event(call, HungUp)
        assert hung_up == HungUp(HangupCause.NORMAL, by_remote=True, detail="BYE")
        await alice.wait_closed(timeout=5)
        assert bot.active_calls == 0


@pytest.mark.sip
@needs_peers
async def test_linphone_calls_the_bot_audio_flows_and_the_bots_bye_closes_it(
    registrar: LocalRegistrar, tmp_path: Path
) -> None:
    async with (
        linphone_phone(registrar, tmp_path) as bob,
        running_bot(registrar) as (_, answering),
    ):
        await bob.dial(bob.uri_of("bot"))
        call = await answering.next(timeout=5)
        tap = FrameTap(call)
        await bob.wait_established(timeout=5)
        await play_tone(call, 2.0)
        await asyncio.sleep(0.3)

        await call.hangup()
        assert "ended" in await bob.wait_closed(timeout=5)
        assert await next_event(call, HungUp) == HungUp(HangupCause.NORMAL, False, "BYE")
        await tap.close()

    heard_by_bob = await wait_wav_closed(bob.record_path)
    assert active_seconds(heard_by_bob) > 1.5
    assert dominant_frequency(heard_by_bob) == pytest.approx(BOT_TONE_HZ, abs=5)
    heard_by_bot = tap.wav(tmp_path / "heard-by-bot.wav")
    assert active_seconds(heard_by_bot) > 1.5
    assert dominant_frequency(heard_by_bot) == pytest.approx(PEER_TONE_HZ, abs=5)


@pytest.mark.sip
@needs_peers
async def test_linphones_bye_ends_a_call_the_bot_placed(
    registrar: LocalRegistrar, tmp_path: Path
) -> None:
    async with (
        linphone_phone(registrar, tmp_path, auto_answer=True) as bob,
        # linphonec prints `Call 1 with "voicebot" <sip:..> ended`, which its driver's
        # wait_closed() does not match; without a display name it prints the bare URI
        running_bot(registrar, display_name="") as (bot, _),
    ):
        call = await bot.call(f"sip:bob@{registrar.host}:{registrar.port}", ring_timeout=10)
        await bob.wait_established(timeout=5)
        await asyncio.sleep(0.5)
        assert not call.ended

        await bob.hangup()
        hung_up = await next_event(call, HungUp)
        assert hung_up == HungUp(HangupCause.NORMAL, by_remote=True, detail="BYE")
        await bob.wait_closed(timeout=5)
        assert bot.active_calls == 0
