"""Asterisk 22's side of an AudioSocket connection, for tests.

Like `AudioSocket()` in Asterisk 22 it connects, sends the call UUID first, then one slin
frame (0x10, 320 bytes) every 20 ms, paced from a start time; DTMF as 0x03 frames; on the
caller's hang-up it closes the socket without sending 0x00; and it drops the connection when
voicebot sends nothing for 2 s. It records what voicebot sends, with arrival times.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import numpy as np

from voicebot.telephony.audiosocket import KIND_DTMF, KIND_SLIN, KIND_UUID, encode_frame, read_frame

IDLE_DROP_S = 2.0


class AudioSocketPeer:
    def __init__(
        self, host: str, port: int, *, call_uuid: str | None = None, kind: int = KIND_SLIN
    ) -> None:
        self.host, self.port = host, port
        self.kind = kind  # 0x10 slin 8 kHz, or 0x12 slin 16 kHz (the channel's format decides)
        self.frame = 320 if kind == KIND_SLIN else 640
        self.uuid = call_uuid or str(uuid.uuid4())
        self.received: list[tuple[int, bytes]] = []  # (kind, payload) in arrival order
        self.arrivals: list[float] = []  # monotonic arrival time of each audio frame
        self.hangup_received = False
        self.dropped_idle = False
        self.closed = asyncio.Event()
        self._source = b""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self, *, send_uuid: bool = True) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        if send_uuid:
            self._writer.write(encode_frame(KIND_UUID, uuid.UUID(self.uuid).bytes))
            await self._writer.drain()
        self._last_rx = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._recv()),
            asyncio.create_task(self._watchdog()),
        ]

    def play(self, pcm: bytes) -> None:
        """Speak `pcm` (PCM16 at the socket's rate) from the next frame on; silence after it."""
        self._source = pcm

    async def send_dtmf(self, digit: str) -> None:
        assert self._writer is not None
        self._writer.write(encode_frame(KIND_DTMF, digit.encode()))
        await self._writer.drain()

    async def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def hangup(self) -> None:
        """The caller hangs up: Asterisk 22 just closes the socket (no 0x00 frame)."""
        await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self.closed.set()

    def audio(self) -> bytes:
        return b"".join(p for k, p in self.received if k == self.kind)

    def jitter_ms(self) -> list[float]:
        """|inter-arrival time - 20 ms| of each audio frame after the first, in ms."""
        gaps = np.diff(np.asarray(self.arrivals)) * 1000
        return list(np.abs(gaps - 20.0))

    async def _send_loop(self) -> None:
        assert self._writer is not None
        start, n = time.monotonic(), 0
        while not self._writer.is_closing():
            chunk, self._source = self._source[: self.frame], self._source[self.frame :]
            self._writer.write(encode_frame(self.kind, chunk.ljust(self.frame, b"\0")))
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    async def _watchdog(self) -> None:
        """Asterisk hangs up an AudioSocket that has been silent for 2 s."""
        assert self._writer is not None
        while not self._writer.is_closing():
            await asyncio.sleep(0.1)
            if time.monotonic() - self._last_rx > IDLE_DROP_S:
                self.dropped_idle = True
                self._writer.close()

    async def _recv(self) -> None:
        assert self._reader is not None
        try:
            while True:
                frame = await read_frame(self._reader)
                self._last_rx = time.monotonic()
                if frame is None:
                    break
                kind, payload = frame
                if kind == 0x00:
                    self.hangup_received = True
                    break
                if kind == self.kind:
                    self.arrivals.append(time.monotonic())
                self.received.append((kind, payload))
        except (ConnectionError, OSError):
            pass
        finally:
            if self._writer is not None:
                self._writer.close()
            self.closed.set()
