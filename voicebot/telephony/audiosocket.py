"""The AudioSocket server: Asterisk's `AudioSocket()` application connects here with a call's
audio (framing in DESIGN.md), and each connection becomes a `Call`.

Asterisk sends the call's UUID first, then 20 ms slin frames; it closes the socket without a
0x00 frame when the caller hangs up, and drops it after 2 s without traffic from us, so the
paced media loop sends silence whenever the bot is quiet. A malformed frame ends only its own
connection, logged; the server and the other calls go on.

Only a UUID voicebot issued (AMI originate, FastAGI hand-over) starts a call, or, for a
dialplan that goes straight to AudioSocket with `${UUID()}`, any UUID from a `trusted` address
(the PBX); everyone else who reaches the port is refused, and so is a call beyond `max_calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from voicebot.telephony.base import Answered, Direction, Dtmf, HangupCause
from voicebot.telephony.bridges import RateLimitedLog, StreamCall, WireFormat, run_incoming

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_SLIN = 0x10
KIND_SLIN16 = 0x12
KIND_ERROR = 0xFF
AUDIO_KINDS = {0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000, 0x15: 44100,
               0x16: 48000, 0x17: 96000, 0x18: 192000}  # fmt: skip
KNOWN_KINDS = {KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_ERROR, *AUDIO_KINDS}
MAX_PAYLOAD = 8192  # 20 ms at 192 kHz is 7680 bytes; anything longer is not AudioSocket
_HEADER = struct.Struct("!BH")


class AudioSocketError(ValueError):
    """A frame that breaks the AudioSocket framing; the connection cannot be resynchronised."""


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"AudioSocket payload of {len(payload)} bytes does not fit 16 bits")
    return _HEADER.pack(kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next (kind, payload), or None at a clean end of stream (between frames)."""
    header = await reader.read(1)
    if not header:
        return None
    try:
        header += await reader.readexactly(2)
        kind, length = _HEADER.unpack(header)
        if length > MAX_PAYLOAD:
            raise AudioSocketError(f"length field {length} exceeds {MAX_PAYLOAD} (kind {kind:#x})")
        return kind, await reader.readexactly(length)
    except asyncio.IncompleteReadError as e:
        raise AudioSocketError(f"truncated frame: stream ended after {len(e.partial)} bytes") from e


@dataclass
class Expected:
    """A call voicebot is waiting for (FastAGI handed it over, or AMI originated it)."""

    variables: dict[str, str] = field(default_factory=dict)
    remote: str = ""
    direction: Direction = Direction.INBOUND
    connected: asyncio.Future[AudioSocketCall] | None = None


class AudioSocketCall(StreamCall):
    bridge = "agi"

    def __init__(self, call_id: str, expected: Expected, writer: asyncio.StreamWriter) -> None:
        super().__init__(
            call_id=call_id,
            direction=expected.direction,
            remote=expected.remote,
            on_hangup=AudioSocketCall._send_hangup,
        )
        self.variables = dict(expected.variables)
        self.writer = writer
        self.wire = WireFormat("slin")
        self.kind_out = KIND_SLIN
        self._partial = b""
        self._wire_decoder: WireFormat | None = None

    async def _send_hangup(self) -> None:
        """Our side ends the call: a 0x00 frame, then close (Asterisk hangs up the channel)."""
        with contextlib.suppress(OSError, RuntimeError):
            self.writer.write(encode_frame(KIND_HANGUP))
            await self.writer.drain()
        self.writer.close()

    def send_wire(self, pcm: bytes) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(encode_frame(self.kind_out, self.wire.encode(pcm)))

    def on_audio(self, kind: int, payload: bytes) -> None:
        if kind not in (KIND_SLIN, KIND_SLIN16):
            self.stats.drop("unsupported_rate")
            return
        if self._wire_decoder is None or (kind == KIND_SLIN16) != (self.kind_out == KIND_SLIN16):
            # answer in the rate Asterisk speaks (its channel format decides it)
            self.kind_out = kind
            name = "slin16" if kind == KIND_SLIN16 else "slin"
            self.wire, self._wire_decoder = WireFormat(name), WireFormat(name)
        data = self._partial + payload
        size = self._wire_decoder.payload_bytes
        whole = len(data) - len(data) % size
        for i in range(0, whole, size):
            self.push_audio(self._wire_decoder.decode(data[i : i + size]))
        self._partial = data[whole:]


def _peer_host(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


IncomingCallHandler = Callable[[AudioSocketCall], Awaitable[None]]


class AudioSocketServer:
    """Accepts AudioSocket connections; a UUID it expects completes that call's future,
    any other UUID is an inbound call for `on_incoming`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        on_incoming: IncomingCallHandler | None = None,
        *,
        max_calls: int = 32,
        trusted: Collection[str] = (),
    ) -> None:
        self.host, self.port = host, port
        self.on_incoming = on_incoming
        self.max_calls = max_calls
        self.trusted = set(trusted)  # addresses whose unknown UUIDs are inbound calls
        self.calls: dict[str, AudioSocketCall] = {}
        self.malformed = 0  # connections ended by a framing error
        self.refused: dict[str, int] = {}  # connections refused, by reason
        self._connecting = 0  # connections that have not said their UUID yet
        self._warn = RateLimitedLog(log)
        self._expected: dict[str, Expected] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("AudioSocket listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            await call.hangup()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    def expect(self, expected: Expected, call_uuid: str | None = None) -> str:
        """Register a call about to connect; returns the UUID to give AudioSocket()."""
        key = call_uuid or str(uuid.uuid4())
        self._expected[key] = expected
        return key

    def forget(self, call_uuid: str) -> None:
        self._expected.pop(call_uuid, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        call: AudioSocketCall | None = None
        peer = _peer_host(writer)
        try:
            if self._connecting + len(self.calls) >= 2 * self.max_calls:
                self._refuse(peer, "too_many_connections")
                return
            self._connecting += 1
            try:
                call = await self._open(reader, writer, peer)
            finally:
                self._connecting -= 1
            if call is not None:
                await self._read_loop(call, reader)
        except AudioSocketError as e:
            self.malformed += 1
            self._warn.warning(
                peer, "AudioSocket %s from %s: %s; connection closed",
                call.call_id if call else "?", peer, e,
            )  # fmt: skip
            if call is not None:
                call.finish(HangupCause.FAILED, by_remote=True, detail=str(e))
        except (ConnectionError, OSError) as e:
            if call is not None:
                call.finish(HangupCause.NORMAL, by_remote=True, detail=f"connection lost: {e}")
        except asyncio.CancelledError:  # the server is stopping
            if call is not None:
                call.finish(HangupCause.NORMAL, by_remote=False, detail="server stopped")
        finally:
            self._tasks.discard(task)
            writer.close()
            if call is not None:
                self.calls.pop(call.call_id, None)

    def _refuse(self, peer: str, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        self._warn.warning(peer, "AudioSocket connection from %s refused: %s", peer, reason)

    async def _open(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> AudioSocketCall | None:
        try:
            async with asyncio.timeout(5.0):
                first = await read_frame(reader)
        except TimeoutError:
            raise AudioSocketError("no call UUID within 5 s of connecting") from None
        if first is None:
            return None
        kind, payload = first
        if kind != KIND_UUID or len(payload) != 16:
            raise AudioSocketError(f"expected the call UUID first, got kind {kind:#x}")
        call_id = str(uuid.UUID(bytes=payload))
        if call_id in self.calls:
            self._refuse(peer, "uuid_in_use")
            return None
        if call_id not in self._expected and peer not in self.trusted:
            self._refuse(peer, "unknown_uuid")
            return None
        if len(self.calls) >= self.max_calls:
            self._refuse(peer, "max_calls")
            return None
        expected = self._expected.pop(call_id, None)
        call = AudioSocketCall(call_id, expected or Expected(remote="audiosocket"), writer)
        self.calls[call_id] = call
        call.start_media(call.send_wire)
        call.emit(Answered())
        if expected is not None and expected.connected is not None:
            if not expected.connected.done():
                expected.connected.set_result(call)
        elif self.on_incoming is not None:
            self._spawn_handler(call)
        return call

    def _spawn_handler(self, call: AudioSocketCall) -> None:
        assert self.on_incoming is not None
        task = asyncio.create_task(
            run_incoming(self.on_incoming, call, call.hangup), name=f"audiosocket-{call.call_id}"
        )
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]

    async def _read_loop(self, call: AudioSocketCall, reader: asyncio.StreamReader) -> None:
        while not call.ended:
            frame = await read_frame(reader)
            if frame is None:  # Asterisk closes without 0x00 when the caller hangs up
                call.finish(HangupCause.NORMAL, by_remote=True, detail="socket closed")
                return
            kind, payload = frame
            if kind in AUDIO_KINDS:
                call.on_audio(kind, payload)
            elif kind == KIND_DTMF and len(payload) == 1:
                call.emit(Dtmf(payload.decode("ascii", "replace")))
            elif kind == KIND_HANGUP:
                call.finish(HangupCause.NORMAL, by_remote=True)
            elif kind == KIND_ERROR:
                code = payload[0] if payload else -1
                call.finish(HangupCause.FAILED, by_remote=True, detail=f"error frame {code:#x}")
            else:
                call.stats.drop("unknown_kind" if kind not in KNOWN_KINDS else "bad_frame")
                self._warn.warning(
                    call.call_id, "AudioSocket %s: ignored frame kind %#x", call.call_id, kind
                )
