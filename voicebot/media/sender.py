"""One sender thread per process that puts every call's outbound frames on the wire.

Pacing on the asyncio loop makes a frame late whenever the loop is busy (a decode, scoring,
sixteen calls' events). This thread wakes at absolute deadlines (``anchor + n * interval`` on
the monotonic clock, so sleep overshoot never accumulates) and calls each stream's ``tick``,
which takes the next queued frame (or silence) and sends it. The loop only fills the call's
outbound deque; a busy loop can run the queue dry (silence goes out) but cannot delay a frame.

``tick`` runs on this thread: it must only touch thread-safe state (deque pops, a socket of
its own) and hand anything for the loop over with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicebot.media.frames import FRAME_SECONDS

log = logging.getLogger(__name__)

# The thread needs the GIL at its deadline; CPython hands it over only every switch interval
# (5 ms by default) when the loop thread runs pure Python, so the sender lowers it to this.
SWITCH_INTERVAL_S = 0.0005


@dataclass
class StreamStats:
    frames: int = 0
    reanchors: int = 0
    max_lateness: float = 0.0  # seconds
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=3000))


class SenderStream:
    """One call's outbound stream: ``tick()`` is called once per frame on the sender thread."""

    def __init__(self, tick: Callable[[], None], name: str, start: float, interval: float) -> None:
        self.tick = tick
        self.name = name
        self.interval = interval
        self.stats = StreamStats()
        self._anchor = start
        self._count = 0
        self.removed = False

    @property
    def due(self) -> float:
        return self._anchor + self._count * self.interval

    def jitter_p99_ms(self) -> float:
        if not self.stats.lateness:
            return 0.0
        return float(np.percentile(np.fromiter(self.stats.lateness, dtype=float), 99)) * 1000


class FrameSender:
    """Calls every registered stream's ``tick`` at its own 20 ms grid, from one thread.

    ``add`` returns the stream (its first frame is due at once); ``remove`` returns once the
    stream's tick can no longer run, so the caller may close its socket right after. With
    ``start=False`` nothing runs by itself: tests drive ``run_due(now)`` with a fake clock.
    """

    def __init__(
        self,
        interval: float = FRAME_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_behind: int = 5,
        start: bool = True,
    ) -> None:
        if interval <= 0 or max_behind < 1:
            raise ValueError("interval must be positive and max_behind at least 1")
        self.interval = interval
        self.max_behind = max_behind
        self._clock = clock
        self._streams: list[SenderStream] = []
        self._cond = threading.Condition()
        self._tick_lock = threading.Lock()  # held while ticks run: remove() waits on it
        self._stopped = False
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="frame-sender", daemon=True)
            if sys.getswitchinterval() > SWITCH_INTERVAL_S:
                sys.setswitchinterval(SWITCH_INTERVAL_S)
            self._thread.start()

    @property
    def streams(self) -> int:
        """How many streams are registered (an ended call leaves none behind)."""
        with self._cond:
            return len(self._streams)

    def add(self, tick: Callable[[], None], name: str = "") -> SenderStream:
        stream = SenderStream(tick, name, self._clock(), self.interval)
        with self._cond:
            self._streams.append(stream)
            self._cond.notify()
        return stream

    def remove(self, stream: SenderStream) -> None:
        with self._cond:
            if stream in self._streams:
                self._streams.remove(stream)
        stream.removed = True
        if threading.current_thread() is not self._thread:
            with self._tick_lock:  # a tick in flight finishes before we return
                pass

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def run_due(self, now: float) -> float | None:
        """Tick every stream whose frame is due at `now`; returns the next deadline."""
        with self._cond:
            streams = list(self._streams)
        with self._tick_lock:
            for stream in streams:
                if stream.removed:
                    continue
                while stream.due <= now and not stream.removed:
                    self._tick(stream, now)
                    now = self._clock()
        with self._cond:
            return min((s.due for s in self._streams), default=None)

    def _tick(self, stream: SenderStream, now: float) -> None:
        lateness = now - stream.due
        if lateness > self.max_behind * self.interval:
            stream.stats.reanchors += 1  # a long stall: restart the grid rather than burst
            stream._anchor, stream._count = now, 0
            lateness = 0.0
        stream._count += 1
        try:
            stream.tick()
        except Exception:  # one call's bug must not stop every other call's audio
            log.exception("sender stream %s failed; removing it", stream.name)
            with self._cond:
                if stream in self._streams:
                    self._streams.remove(stream)
            stream.removed = True
            return
        st = stream.stats
        st.frames += 1
        st.max_lateness = max(st.max_lateness, lateness)
        st.lateness.append(lateness)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                if not self._streams:
                    self._cond.wait()
                    continue
            nxt = self.run_due(self._clock())
            if nxt is None:
                continue
            delay = nxt - self._clock()
            if delay > 0:
                with self._cond:
                    if not self._stopped:
                        self._cond.wait(timeout=delay)


_shared: FrameSender | None = None
_shared_lock = threading.Lock()


def shared_sender() -> FrameSender:
    """The process's one sender thread, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FrameSender()
        return _shared


def thread_safe_set(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set an asyncio event from the sender thread (only when it is not set already)."""
    if not event.is_set():
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass


def _libc_sendto() -> Any:
    """libc's sendto through ctypes.PyDLL, which keeps the GIL: a plain `socket.sendto` lets
    go of it, and with the loop thread busy in Python each of 16 sends then waits a switch
    interval to get it back (8 ms for 16 calls). A non-blocking UDP send takes microseconds."""
    try:
        fn = ctypes.PyDLL(None, use_errno=True).sendto
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    fn.argtypes += [ctypes.c_char_p, ctypes.c_uint32]
    fn.restype = ctypes.c_ssize_t
    return fn


_SENDTO = _libc_sendto() if sys.platform.startswith("linux") else None
_MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


def _sockaddr(addr: tuple[str, int]) -> bytes | None:
    """The C sockaddr for a numeric address (None for a name: the slow path resolves it)."""
    host, port = addr[0], addr[1]
    try:
        return (
            struct.pack("=H", socket.AF_INET)
            + struct.pack("!H", port)
            + socket.inet_aton(host)
            + bytes(8)
            if "." in host and ":" not in host
            else struct.pack("=H", socket.AF_INET6)
            + struct.pack("!HI", port, 0)
            + socket.inet_pton(socket.AF_INET6, host)
            + bytes(4)
        )
    except (OSError, ValueError):
        return None


class UdpOut:
    """A datagram socket of the sender thread's own (a dup of a transport's), so sends do not
    go through asyncio's transport, which is not thread-safe. Errors are counted, not raised."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        self._sock: socket.socket = sock.dup()
        self._sock.setblocking(False)
        self._fd = self._sock.fileno()
        self._family = self._sock.family
        self._addrs: dict[tuple[str, int], bytes | None] = {}
        self.errors = 0

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        key = (addr[0], addr[1])
        if key not in self._addrs:
            if len(self._addrs) > 8:
                self._addrs.clear()
            sa = _sockaddr(key)
            fam = socket.AF_INET6 if sa is not None and len(sa) == 28 else socket.AF_INET
            self._addrs[key] = sa if fam == self._family else None
        sa = self._addrs[key]
        if _SENDTO is not None and sa is not None and self._fd >= 0:
            if _SENDTO(self._fd, data, len(data), _MSG_DONTWAIT, sa, len(sa)) < 0:
                self.errors += 1  # a full buffer or an ICMP error: this frame is lost
            return
        try:
            self._sock.sendto(data, addr)
        except OSError:
            self.errors += 1

    def close(self) -> None:
        self._fd = -1
        self._sock.close()
