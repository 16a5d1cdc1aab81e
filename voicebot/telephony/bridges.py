"""What the PBX bridges (ARI externalMedia, AudioSocket) share: a `Call` fed by a byte stream.

`StreamCall` owns the call's queues, event stream, jitter buffer and the one paced media loop
that every 20 ms hands an inbound frame to the session and one outbound frame to the wire
(through a `send_wire` function the bridge supplies). `WireFormat` converts the session's 8 kHz
PCM16 frames to and from what the PBX carries (μ-law, slin 8 kHz, slin 16 kHz).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ClassVar, TypeVar

import numpy as np

from voicebot.media import g711
from voicebot.media.frames import FRAME_BYTES, silence_frame
from voicebot.media.jitter import JitterBuffer
from voicebot.media.pacer import Pacer
from voicebot.media.resample import StreamResampler
from voicebot.media.sender import SenderStream, shared_sender, thread_safe_set
from voicebot.pii import redact
from voicebot.telephony.base import (
    CallEvent,
    CallStats,
    Direction,
    HangupCause,
    HungUp,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_C = TypeVar("_C")

INBOUND_QUEUE_FRAMES = 50  # 1 s if the consumer stalls; the oldest frames are dropped
OUTBOUND_QUEUE_FRAMES = 5  # 100 ms: little to flush on barge-in


def same_address(a: tuple[str, int] | tuple[str, int, int, int], b: tuple[str, int]) -> bool:
    """Whether a datagram's source is the negotiated address (IPv6 tuples carry flow and
    scope; hosts compare as addresses, not as strings)."""
    if a[1] != b[1]:
        return False
    try:
        return ipaddress.ip_address(a[0]) == ipaddress.ip_address(b[0])
    except ValueError:
        return a[0] == b[0]


class RateLimitedLog:
    """At most one warning per source (an address) per `period` seconds: hostile input must
    not turn into a flood of log lines. What was held back is counted in the next one."""

    def __init__(
        self,
        logger: logging.Logger,
        period: float = 60.0,
        *,
        max_sources: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.period, self.max_sources, self.clock = logger, period, max_sources, clock
        self._seen: dict[str, tuple[float, int]] = {}  # source -> (last logged, held back)

    def warning(self, source: str, msg: str, *args: object) -> bool:
        """Log `msg % args` for `source` unless it had one within the period; True if logged."""
        now = self.clock()
        last, held = self._seen.get(source, (None, 0))
        if last is not None and now - last < self.period:
            self._seen[source] = (last, held + 1)
            return False
        if held:
            msg, args = f"{msg} (and %d more like it from there)", (*args, held)
        self._seen.pop(source, None)
        if len(self._seen) >= self.max_sources:  # forget the longest-quiet source
            del self._seen[next(iter(self._seen))]
        self._seen[source] = (now, 0)
        self.logger.warning(msg, *args)
        return True


async def until_none(queue: asyncio.Queue[_T | None]) -> AsyncIterator[_T]:
    """Items of a queue until the None a finished call puts there."""
    while (item := await queue.get()) is not None:
        yield item


class WireFormat:
    """One 20 ms frame of 8 kHz PCM16 <-> one wire payload, for a PBX media format.

    `ulaw` (RTP payload type 0, 160 bytes), `slin` (8 kHz PCM16, 320 bytes) and `slin16`
    (16 kHz PCM16, 640 bytes); `big_endian` for RTP L16 (network order), little for AudioSocket.
    """

    RATES: ClassVar[dict[str, int]] = {"ulaw": 8000, "slin": 8000, "slin16": 16000}

    def __init__(self, name: str, *, big_endian: bool = False) -> None:
        if name not in self.RATES:
            raise ValueError(f"unsupported media format {name!r}; use one of {list(self.RATES)}")
        self.name = name
        self.rate = self.RATES[name]
        self._dtype = ">i2" if big_endian else "<i2"
        self.payload_bytes = 160 if name == "ulaw" else self.rate // 50 * 2
        self._up = StreamResampler(8000, self.rate) if self.rate != 8000 else None
        self._down = StreamResampler(self.rate, 8000) if self.rate != 8000 else None
        self._up_buf = np.zeros(0, dtype=np.int16)
        self._down_buf = np.zeros(0, dtype=np.int16)

    def encode(self, pcm: bytes) -> bytes:
        if self.name == "ulaw":
            return g711.ulaw_encode(pcm)
        samples = np.frombuffer(pcm, dtype="<i2")
        if self._up is not None:
            samples = self._take(self._up, samples, "_up_buf", self.payload_bytes // 2)
        return samples.astype(self._dtype).tobytes()

    def decode(self, payload: bytes) -> bytes:
        if self.name == "ulaw":
            return g711.ulaw_decode(payload).astype("<i2").tobytes()
        samples = np.frombuffer(payload, dtype=self._dtype).astype(np.int16)
        if self._down is not None:
            samples = self._take(self._down, samples, "_down_buf", FRAME_BYTES // 2)
        return samples.astype("<i2").tobytes()

    def _take(self, rs: StreamResampler, x: np.ndarray, buf: str, n: int) -> np.ndarray:
        """Exactly `n` resampled samples per frame; the filter's start-up lag is zero-filled."""
        pending = np.concatenate([getattr(self, buf), rs.process(x)])
        if len(pending) < n:
            pending = np.concatenate([np.zeros(n - len(pending), dtype=np.int16), pending])
        setattr(self, buf, pending[n:])
        return pending[:n]


class CallQueues:
    """The queue side of the `Call` protocol, shared by every bridge's call class.

    Inbound frames and events end with the None `_close_queues` puts behind them; outbound
    frames wait in a small queue that barge-in can empty at once.
    """

    _ended: bool

    def _init_queues(self) -> None:
        self._ended = False
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=INBOUND_QUEUE_FRAMES)
        # not an asyncio.Queue: a sender blocked on a full queue must wake when the call ends
        self._outbound: deque[bytes] = deque()
        self._space = asyncio.Event()  # set whenever a frame leaves, and for good at the end
        self._drained = asyncio.Event()
        self.finished = asyncio.Event()  # set once the call has ended
        self._loop: asyncio.AbstractEventLoop | None = None  # set when the sender thread sends
        self._sender_stream: SenderStream | None = None

    def frames(self) -> AsyncIterator[bytes]:
        return until_none(self._inbound)

    async def send(self, frame: bytes) -> None:
        """Queue one frame; waits while the queue is full, returns at once once the call ended
        (the frame is dropped: nobody will hear it)."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"frame must be {FRAME_BYTES} bytes of 8 kHz PCM16, got {len(frame)}")
        while len(self._outbound) >= OUTBOUND_QUEUE_FRAMES and not self._ended:
            self._space.clear()
            await self._space.wait()
        if not self._ended:
            self._outbound.append(frame)

    @property
    def output_pending(self) -> int:
        """Frames queued for playout and not yet sent."""
        return len(self._outbound)

    async def drained(self) -> None:
        """Return once every queued frame has been sent (or the call has ended)."""
        if not self._outbound or self._ended:
            return
        self._drained.clear()
        await self._drained.wait()

    def clear_output(self) -> int:
        """Barge-in: drop every queued frame; the sender thread sends at most the one frame
        it already took."""
        dropped = len(self._outbound)
        self._outbound.clear()
        self._space.set()
        return dropped

    def events(self) -> AsyncIterator[CallEvent]:
        """Ends after `HungUp`: `_close_queues` queues the None right behind it."""
        return until_none(self._events)

    @property
    def ended(self) -> bool:
        return self._ended

    def _close_queues(self, hungup: HungUp) -> None:
        self._ended = True
        self._stop_sender()
        self.finished.set()
        self._events.put_nowait(hungup)
        self._events.put_nowait(None)
        self._outbound.clear()
        self._space.set()  # wakes every sender blocked on the full queue
        self._drained.set()
        if self._inbound.full():
            self._inbound.get_nowait()
        self._inbound.put_nowait(None)

    def _deliver(self, frame: bytes, stats: CallStats) -> None:
        """Hand one inbound frame to the session; if it stalls, the oldest frame goes."""
        if self._inbound.full():
            self._inbound.get_nowait()
            stats.drop("inbound_overflow")
        self._inbound.put_nowait(frame)

    async def _pace(
        self,
        pacer: Pacer,
        jitter: JitterBuffer,
        stats: CallStats,
        tick: Callable[[bytes], None],
        *,
        threaded: bool = False,
    ) -> None:
        """Every 20 ms: one frame from the jitter buffer to the session, and `tick(silence)`
        sends one frame to the line (queued speech, or the silence it is given). `threaded`:
        the process's sender thread calls `tick` on its own clock, so a busy loop delays only
        the inbound side; `tick` must then be thread-safe."""
        pacer.reset()
        silence = silence_frame()
        if threaded and not self._ended:
            self._loop = asyncio.get_running_loop()
            name = getattr(self, "call_id", "call")
            self._sender_stream = shared_sender().add(lambda: tick(silence), name=name)
        try:
            while not self._ended:
                await pacer.wait()
                frame, concealed = jitter.pop()
                if concealed:
                    stats.concealed += 1
                self._deliver(frame, stats)
                if self._sender_stream is None:
                    tick(silence)
        finally:
            self._stop_sender()

    def _stop_sender(self) -> None:
        """Take the call's stream out of the sender thread; no tick runs after this."""
        stream, self._sender_stream = getattr(self, "_sender_stream", None), None
        if stream is not None:
            shared_sender().remove(stream)

    def _next_outbound(self, silence: bytes) -> bytes:
        """The next frame to send, or `silence`; safe on the sender thread (deque pops are
        atomic, the loop's events are set through the loop)."""
        try:
            frame = self._outbound.popleft()
        except IndexError:
            self._set(self._drained)
            return silence
        self._set(self._space)
        return frame

    def _set(self, event: asyncio.Event) -> None:
        if self._loop is None:
            event.set()
        else:
            thread_safe_set(self._loop, event)


async def run_incoming(
    handler: Callable[[_C], Awaitable[None]], call: _C, hangup: Callable[[], Awaitable[None]]
) -> None:
    """Run an inbound call's handler; whatever it does, the call is hung up afterwards."""
    try:
        await handler(call)
    except Exception:
        log.exception("incoming call handler failed for %s", getattr(call, "call_id", "?"))
    finally:
        if not getattr(call, "ended", True):
            await hangup()


class StreamCall(CallQueues):
    """A `Call` whose audio arrives through `push_audio` and leaves through `send_wire`.

    The bridge starts the media loop with `start_media(send_wire)` once the far end can hear,
    calls `emit` for its events and `finish` when the call ends (exactly once takes effect).
    `hangup()` runs the bridge's `on_hangup` (tear down channels, close the socket).
    """

    bridge = "stream"

    def __init__(
        self,
        *,
        call_id: str,
        direction: Direction,
        remote: str,
        on_hangup: Callable[[StreamCall], Awaitable[None]] | None = None,
    ) -> None:
        self.call_id = call_id
        self.direction = direction
        self.remote = remote
        self.sample_rate = 8000
        self.stats = CallStats()
        self.variables: dict[str, str] = {}
        self.jitter = JitterBuffer()
        self.pacer = Pacer()
        self._on_hangup = on_hangup
        self._init_queues()
        self._media_task: asyncio.Task[None] | None = None
        self._seq = 0  # for streams without sequence numbers (AudioSocket)

    # Call protocol (the rest is CallQueues) ----------------------------------------------

    async def send_dtmf(self, digits: str) -> None:
        """Bridges that can play DTMF override this; a stream alone cannot."""
        log.info("call %s: DTMF sending is not supported on %s", self.call_id, self.bridge)

    async def hangup(self) -> None:
        if self._on_hangup is not None and not self._ended:
            await self._on_hangup(self)
        self.finish(HangupCause.NORMAL, by_remote=False)

    # bridge side ---------------------------------------------------------------------------

    def push_audio(self, pcm: bytes, seq: int | None = None, ssrc: int | None = None) -> None:
        """One inbound 20 ms frame of 8 kHz PCM16; `seq` and `ssrc` are the RTP packet's, if
        there is one (a new SSRC restarts the jitter buffer)."""
        if self._ended:
            return
        self.stats.packets_in += 1
        if seq is None:
            seq, self._seq = self._seq, (self._seq + 1) & 0xFFFF
        drop = self.jitter.push(seq, pcm, ssrc)
        if drop:
            self.stats.drop(drop)

    def start_media(self, send_wire: Callable[[bytes], None], *, threaded: bool = False) -> None:
        """`threaded`: `send_wire` is thread-safe and runs on the process's sender thread."""
        if self._media_task is None and not self._ended:
            self._media_task = asyncio.create_task(
                self._media_loop(send_wire, threaded), name=f"media-{self.call_id}"
            )

    def emit(self, ev: CallEvent) -> None:
        if not self._ended:
            self._events.put_nowait(ev)

    def finish(self, cause: HangupCause, by_remote: bool, detail: str = "") -> None:
        if self._ended:
            return
        self._close_queues(HungUp(cause, by_remote, detail))
        if self._media_task is not None:
            self._media_task.cancel()
        self.stats.lost = self.jitter.stats.lost
        log.info(
            "%s call %s ended: %s (%s) remote=%s in=%d out=%d dropped=%s",
            self.bridge,
            self.call_id,
            cause,
            "remote" if by_remote else "local",
            redact(self.remote),
            self.stats.packets_in,
            self.stats.packets_out,
            self.stats.dropped,
        )

    async def _media_loop(self, send_wire: Callable[[bytes], None], threaded: bool) -> None:
        def tick(silence: bytes) -> None:
            send_wire(self._next_outbound(silence))
            self.stats.packets_out += 1

        try:
            await self._pace(self.pacer, self.jitter, self.stats, tick, threaded=threaded)
        except asyncio.CancelledError:
            pass
        except Exception:  # the media loop must never take the process down
            log.exception("media loop failed on call %s", self.call_id)
            self.finish(HangupCause.FAILED, by_remote=False, detail="media loop failed")


class Backoff:
    """Reconnect delays: 0.5 s doubling to `ceiling`, back to the start after a success."""

    def __init__(self, first: float = 0.5, ceiling: float = 30.0) -> None:
        self.first, self.ceiling = first, ceiling
        self.delay = first

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.ceiling)
        return delay

    def reset(self) -> None:
        self.delay = self.first
