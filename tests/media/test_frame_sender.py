"""The sender thread: absolute deadlines, flush within one frame, no stream left by an ended
call, and frames keep leaving while the event loop is blocked."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import threading
import time

import pytest

from voicebot.media.frames import FRAME_BYTES
from voicebot.media.sender import FrameSender, UdpOut, shared_sender
from voicebot.telephony.base import Direction, HangupCause
from voicebot.telephony.bridges import StreamCall

T = 0.02


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_deadlines_are_absolute_so_oversleep_does_not_drift() -> None:
    clock = FakeClock()
    sender = FrameSender(clock=clock, start=False)
    ticks: list[float] = []
    stream = sender.add(lambda: ticks.append(clock.now))
    start = clock.now
    nxt = sender.run_due(clock.now)
    for _ in range(1000):
        assert nxt is not None
        clock.now = nxt + 0.003  # every wake-up 3 ms late
        nxt = sender.run_due(clock.now)
    assert len(ticks) == 1001
    # on the grid start + n*T: never more than one oversleep behind, after 20 s of frames
    assert ticks[-1] - (start + 1000 * T) == pytest.approx(0.003)
    assert nxt == pytest.approx(start + 1001 * T)
    assert stream.stats.reanchors == 0 and stream.stats.max_lateness == pytest.approx(0.003)


def test_short_stall_catches_up_long_stall_reanchors() -> None:
    clock = FakeClock()
    sender = FrameSender(clock=clock, start=False, max_behind=5)
    ticks: list[float] = []
    stream = sender.add(lambda: ticks.append(clock.now))
    sender.run_due(clock.now)
    clock.now += 3 * T + 1e-9  # three frames overdue: all three go now
    sender.run_due(clock.now)
    assert len(ticks) == 4
    clock.now += 0.5  # 25 frames: restart the grid instead of a burst
    sender.run_due(clock.now)
    assert len(ticks) == 5 and stream.stats.reanchors == 1


def test_a_failing_stream_is_removed_and_others_go_on() -> None:
    clock = FakeClock()
    sender = FrameSender(clock=clock, start=False)
    good: list[int] = []

    def bad() -> None:
        raise RuntimeError("boom")

    sender.add(bad, "bad")
    sender.add(lambda: good.append(1), "good")
    clock.now = sender.run_due(clock.now) or 0.0
    sender.run_due(clock.now)
    assert sender.streams == 1 and good == [1, 1]


def _frame(n: int) -> bytes:
    return struct.pack("<h", n) * (FRAME_BYTES // 2)


async def test_flush_stops_speech_within_one_frame() -> None:
    clock = FakeClock()
    sender = FrameSender(clock=clock, start=False)
    call = StreamCall(call_id="c1", direction=Direction.INBOUND, remote="x")
    call._loop = asyncio.get_running_loop()  # as the threaded media loop sets it
    sent: list[bytes] = []
    silence = bytes(FRAME_BYTES)
    sender.add(lambda: sent.append(call._next_outbound(silence)))
    for n in range(1, 6):
        await call.send(_frame(n))
    clock.now = sender.run_due(clock.now) or 0.0
    clock.now = sender.run_due(clock.now) or 0.0
    assert sent == [_frame(1), _frame(2)]
    assert call.clear_output() == 3  # barge-in
    sender.run_due(clock.now)
    assert sent[2] == silence  # the very next frame is silence
    await asyncio.sleep(0)  # the thread-safe event set lands on the loop
    assert call._space.is_set()


async def test_an_ended_call_leaves_no_stream_in_the_sender() -> None:
    before = shared_sender().streams
    calls = [StreamCall(call_id=f"c{i}", direction=Direction.INBOUND, remote="x") for i in range(3)]
    wire: list[bytes] = []
    for call in calls:
        call.start_media(wire.append, threaded=True)
    for _ in range(50):
        if shared_sender().streams == before + 3:
            break
        await asyncio.sleep(0.01)
    assert shared_sender().streams == before + 3
    for call in calls:
        call.finish(HangupCause.NORMAL, by_remote=True)
    assert shared_sender().streams == before  # at once, before the media task unwinds
    count = len(wire)
    await asyncio.sleep(0.1)
    assert len(wire) == count  # nothing sent for an ended call


async def test_frames_keep_leaving_while_the_loop_is_blocked() -> None:
    """With the loop blocked for 200 ms the receiver still sees a frame every 20 ms."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    tr, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    out = UdpOut(tr)
    dest = rx.getsockname()
    seq = [0]

    def tick() -> None:
        out.sendto(struct.pack("!I", seq[0]), dest)
        seq[0] += 1

    arrivals: list[float] = []

    stop = threading.Event()
    rx.settimeout(0.05)

    def receive() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                rx.recv(64)
                arrivals.append(time.monotonic())

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    sender = FrameSender()
    try:
        stream = sender.add(tick)
        await asyncio.sleep(0.1)
        time.sleep(0.2)  # noqa: ASYNC251 - the event loop is blocked on purpose
        await asyncio.sleep(0.1)
        sender.remove(stream)
        await asyncio.sleep(0.1)
    finally:
        sender.stop()
        out.close()
        tr.close()
        stop.set()
        reader.join(timeout=3)
        rx.close()
    assert len(arrivals) == seq[0] >= 15  # ~20 frames in 0.4 s, none lost
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # the loop pacer leaves a 200 ms hole here; a generous bound for a busy CI host
    assert max(gaps) < 0.1
    assert stream.stats.reanchors == 0
