"""Run the generators against the real parsers and servers on loopback and count what matters:
inputs tried, tracebacks (any log record with exc_info or at ERROR, any exception the event
loop had to handle), whether the server still answers afterwards, and how many of the
requests that deserve a response got one.

Shared by the CI tests (small, fixed seeds) and `scripts/fuzz.py` (large).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.robustness.generators import (
    SDP_SEED,
    audiosocket_inputs,
    mutate_sdp,
    rtp_inputs,
    sip_inputs,
    sip_seeds,
)
from voicebot.config import SipConfig
from voicebot.media import g711
from voicebot.media.rtp import RtpError, parse_rtp
from voicebot.telephony import sip
from voicebot.telephony.audiosocket import AudioSocketServer, Expected
from voicebot.telephony.base import Call, Direction
from voicebot.telephony.sipmsg import MediaDescription, SipParseError, parse_message, parse_sdp

MARKER = "FUZZCALLID"
_REQUEST_LINE = re.compile(rb"^([A-Za-z0-9.!%*_+`'~-]+) [^ \r\n]+ SIP/2\.0\r?$")


@dataclass
class FuzzReport:
    target: str
    inputs: int = 0
    tracebacks: int = 0
    deserving: int = 0  # requests that deserve a response
    answered: int = 0
    alive: bool = True  # the server still answers a good request afterwards
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)  # the first tracebacks, for a person

    @property
    def answered_pct(self) -> float:
        return 100.0 * self.answered / self.deserving if self.deserving else 100.0

    def line(self) -> str:
        return (
            f"{self.target:<12} inputs {self.inputs:>7}  tracebacks {self.tracebacks}  "
            f"answered {self.answered}/{self.deserving} ({self.answered_pct:.1f} %)  "
            f"alive {'yes' if self.alive else 'NO'}  {self.seconds:.1f} s"
        )


class _TracebackCounter(logging.Handler):
    def __init__(self, report: FuzzReport) -> None:
        super().__init__(logging.DEBUG)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.report.tracebacks += 1
            if len(self.report.examples) < 5:
                self.report.examples.append(record.getMessage()[:300])


@contextlib.contextmanager
def counting_tracebacks(report: FuzzReport) -> Iterator[None]:
    """Count tracebacks in the log and in the running loop's exception handler."""
    handler = _TracebackCounter(report)
    root = logging.getLogger()
    root.addHandler(handler)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def on_loop_error(_loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        report.tracebacks += 1
        if len(report.examples) < 5:
            report.examples.append(f"{context.get('message')}: {context.get('exception')!r}")

    loop.set_exception_handler(on_loop_error)
    started = time.monotonic()
    try:
        yield
    finally:
        report.seconds = time.monotonic() - started
        loop.set_exception_handler(previous)
        root.removeHandler(handler)


# parsers -----------------------------------------------------------------------------------


async def fuzz_parsers(n: int, seed: int) -> FuzzReport:
    """SIP, SDP and RTP parsers: the only exception each may raise is its own parse error."""
    report = FuzzReport("parsers")
    rng = random.Random(seed)
    seeds = sip_seeds(5060, MARKER)
    with counting_tracebacks(report):
        for data in sip_inputs(rng, seeds, n):
            report.inputs += 1
            _expect_only(report, SipParseError, parse_message, data)
            _expect_only(report, SipParseError, parse_sdp, mutate_sdp(rng, SDP_SEED))
        for packet in rtp_inputs(rng, n):
            report.inputs += 1
            _expect_only(report, RtpError, parse_rtp, packet)
    return report


def _expect_only(report: FuzzReport, allowed: type[Exception], fn: object, arg: bytes) -> None:
    try:
        fn(arg)  # type: ignore[operator]
    except allowed:
        pass
    except Exception as e:  # an escape: what the issue counted as tracebacks
        report.tracebacks += 1
        if len(report.examples) < 5:
            report.examples.append(f"{getattr(fn, '__name__', fn)}: {type(e).__name__}: {e}"[:300])


# the SIP endpoint --------------------------------------------------------------------------


def deserves_response(data: bytes, marker: bytes) -> bool:
    """A request (not an ACK) whose top Via branch and Call-ID are still this input's own:
    the sender can be told it was refused, and the answer can be matched to it."""
    first = data.partition(b"\n")[0]
    m = _REQUEST_LINE.match(first)
    if m is None or m.group(1).upper() == b"ACK" or len(data) > 65535:
        return False
    # framed as the bot frames it: the first blank line (CRLF or bare LF) ends the headers
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = [line.strip() for line in head.split(b"\n")[1:]]
    # the branch must still be this input's own: two inputs with one branch are, rightly, one
    # transaction and its retransmission (the second gets the first's response)
    vias = [line for line in lines if line.lower().startswith((b"via:", b"v:"))]
    has_via = bool(vias) and b"z9hG4bK" + marker in vias[0]
    call_ids = [line.partition(b":")[2].strip() for line in lines
                if line.lower().startswith((b"call-id:", b"i:"))]  # fmt: skip
    return has_via and call_ids == [marker]


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.responses: dict[bytes, asyncio.Event] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.startswith(b"SIP/2.0 "):
            return  # the bot's own requests (a BYE after an accepted INVITE)
        for marker, event in self.responses.items():
            if marker in data:
                event.set()


async def fuzz_sip_endpoint(n: int, seed: int, *, wait_s: float = 0.5) -> FuzzReport:
    """Datagrams at a live `SipEndpoint` (calls are taken and hung up at once)."""
    report = FuzzReport("sip")
    rng = random.Random(seed)

    async def take(call: Call) -> None:
        return None  # run_incoming hangs it up

    endpoint = sip.SipEndpoint(
        SipConfig(listen_host="127.0.0.1", listen_port=0, username="bot"), take
    )
    rate = sip.SIP_RATE_PER_S
    sip.SIP_RATE_PER_S = 1e9  # the flood guard is not what is under test here
    loop = asyncio.get_running_loop()
    receiver = _Receiver()
    with counting_tracebacks(report):
        await endpoint.start()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: receiver, local_addr=("127.0.0.1", 0)
        )
        try:
            seeds = sip_seeds(endpoint.port, MARKER)
            silent = 0  # deserving requests unanswered in a row: the endpoint may be dead
            for i, data in enumerate(sip_inputs(rng, seeds, n)):
                marker = f"fuzz{seed}x{i}".encode()
                data = data.replace(MARKER.encode(), marker)
                report.inputs += 1
                deserving = deserves_response(data, marker)
                event = receiver.responses.setdefault(marker, asyncio.Event())
                transport.sendto(data, ("127.0.0.1", endpoint.port))
                if deserving:
                    report.deserving += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), wait_s)
                    report.answered += event.is_set()
                    silent = 0 if event.is_set() else silent + 1
                    if not event.is_set() and len(report.examples) < 5:
                        report.examples.append(f"unanswered: {data[:200]!r}")
                    if silent >= 50:
                        report.examples.append(f"stopped at input {i}: 50 unanswered in a row")
                        break
                else:
                    await asyncio.sleep(0)
                receiver.responses.pop(marker, None)
            report.alive = await _answers_options(transport, receiver, endpoint.port)
        finally:
            transport.close()
            await endpoint.stop()
            sip.SIP_RATE_PER_S = rate
    return report


async def _answers_options(
    transport: asyncio.DatagramTransport, receiver: _Receiver, port: int
) -> bool:
    marker = f"alive{uuid.uuid4().hex}".encode()
    event = receiver.responses.setdefault(marker, asyncio.Event())
    options = sip_seeds(port, marker.decode())[1]
    transport.sendto(options, ("127.0.0.1", port))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), 2)
    return event.is_set()


# RTP into a live call ----------------------------------------------------------------------


async def fuzz_rtp(n: int, seed: int) -> FuzzReport:
    """Packets into a call's RTP handler, from its peer and from strangers, with playout."""
    report = FuzzReport("rtp")
    rng = random.Random(seed)
    endpoint = sip.SipEndpoint(SipConfig(listen_host="127.0.0.1", listen_port=0), None)
    call = sip.SipCall(
        endpoint,
        direction=Direction.INBOUND,
        call_id="fuzz-rtp",
        local_tag="t",
        remote_uri="sip:a@127.0.0.1",
    )
    call.apply_remote_sdp(MediaDescription("127.0.0.1", 4000, [0, 101], {}), offer=True)
    call.answered_at = time.time()
    peer, stranger = ("127.0.0.1", 4000), ("127.0.0.2", 4000)
    call._rtp_bucket = sip.TokenBucket(1e9, 1e9)
    with counting_tracebacks(report):
        for i, packet in enumerate(rtp_inputs(rng, n)):
            report.inputs += 1
            try:
                call._on_rtp(packet, peer if rng.random() < 0.9 else stranger)
                if i % 2:
                    call.jitter.pop()
            except Exception as e:
                report.tracebacks += 1
                if len(report.examples) < 5:
                    report.examples.append(f"_on_rtp: {type(e).__name__}: {e}"[:300])
        good = g711.encode(g711.Codec.PCMU, bytes(320))
        before = call.stats.packets_in
        call._on_rtp(next(rtp_inputs(random.Random(0), 1))[:12] + good, peer)
        report.alive = call.stats.packets_in == before + 1
    return report


# AudioSocket -------------------------------------------------------------------------------


async def fuzz_audiosocket(n: int, seed: int, *, close_s: float = 3.0) -> FuzzReport:
    """One connection per input: the server must end each one (EOF or refusal) promptly."""
    report = FuzzReport("audiosocket")
    rng = random.Random(seed)

    async def take(call: Call) -> None:
        async for _ in call.frames():
            pass

    server = AudioSocketServer("127.0.0.1", 0, take, max_calls=8)  # trusts no address
    with counting_tracebacks(report):
        await server.start()
        try:
            for _ in range(n):
                known = server.expect(Expected())
                data = next(audiosocket_inputs(rng, 1, known))
                report.inputs += 1
                report.deserving += 1
                report.answered += await _one_connection(server.port, data, close_s)
                server.forget(known)
            report.alive = await _one_connection(
                server.port, next(audiosocket_inputs(random.Random(1), 1, None)), close_s
            )
        finally:
            await server.stop()
    return report


async def _one_connection(port: int, data: bytes, close_s: float) -> bool:
    """Send `data` then EOF; True if the server closed its side within `close_s`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        async with asyncio.timeout(close_s):
            while await reader.read(65536):
                pass
        return True
    except (TimeoutError, ConnectionError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


TARGETS = {
    "parsers": fuzz_parsers,
    "sip": fuzz_sip_endpoint,
    "rtp": fuzz_rtp,
    "audiosocket": fuzz_audiosocket,
}
