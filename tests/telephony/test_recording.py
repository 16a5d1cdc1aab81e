"""voicebot's own call recording: both sides in one stereo WAV, on the call's clock, with the
audio a barge-in cut never in it, and nothing before consent."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from voicebot.telephony.base import CallStats
from voicebot.telephony.recording import RecordedCall, Recorder

RATE = 8000
FRAME = RATE // 50  # samples in 20 ms


def frame(value: int) -> bytes:
    return np.full(FRAME, value, dtype="<i2").tobytes()


def channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        both = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return both[0::2], both[1::2]


def per_frame(samples: np.ndarray) -> list[int]:
    return [int(samples[i]) for i in range(0, len(samples), FRAME)]


def test_a_reply_plays_after_what_was_queued_and_a_barge_in_is_cut_out(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "call.wav", RATE)
    rec.inbound(frame(1))
    rec.inbound(frame(2))
    for v in (100, 101, 102, 103):  # the bot queues a reply at once; it plays from slot 2
        rec.outbound(frame(v))
    rec.inbound(frame(3))  # the candidate barges in as 100 plays
    rec.dropped(3)  # 101..103 were still queued
    rec.inbound(frame(4))
    rec.inbound(frame(5))
    rec.outbound(frame(104))  # after a silence: plays next, not after the dropped frames
    rec.outbound(frame(105))
    rec.inbound(frame(6))  # the candidate hangs up as 104 plays: 105 never played
    path = rec.close()
    assert path == tmp_path / "call.wav" and not list(tmp_path.glob(".*.part"))
    left, right = channels(path)
    assert per_frame(left) == [1, 2, 3, 4, 5, 6]
    assert per_frame(right) == [0, 0, 100, 0, 0, 104]


def test_a_long_call_is_written_as_it_goes_and_matches_sample_for_sample(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    heard = rng.integers(-20000, 20000, FRAME * 400, dtype=np.int16)
    said = rng.integers(-20000, 20000, FRAME * 400, dtype=np.int16)
    rec = Recorder(tmp_path / "long.wav", RATE)
    for i in range(400):
        rec.outbound(said[i * FRAME : (i + 1) * FRAME].tobytes())
        rec.inbound(heard[i * FRAME : (i + 1) * FRAME].tobytes())
    left, right = channels(rec.close())  # type: ignore[arg-type]
    assert np.array_equal(left, heard) and np.array_equal(right, said)


class FakeCall:
    """The Call protocol's audio side, enough to drive RecordedCall as a session does."""

    call_id = "sip-1"
    sample_rate = RATE
    stats = CallStats()

    def __init__(self, inbound: list[bytes]) -> None:
        self.inbound = inbound
        self.sent: list[bytes] = []
        self.transfer_target = "kept"  # anything else the session asks for is the call's

    async def frames(self) -> AsyncIterator[bytes]:
        for f in self.inbound:
            await asyncio.sleep(0)
            yield f

    async def send(self, f: bytes) -> None:
        self.sent.append(f)

    def clear_output(self) -> int:
        return 0


async def test_nothing_is_recorded_before_consent_and_no_file_without_it(tmp_path: Path) -> None:
    call = FakeCall([frame(i) for i in range(1, 7)])
    wrapped = RecordedCall(call, tmp_path / "call-1.wav")  # type: ignore[arg-type]
    assert wrapped.transfer_target == "kept"
    got = []
    async for f in wrapped.frames():
        got.append(f)
        if len(got) == 3:
            await wrapped.start_recording("voicebot-sip-1")  # the candidate said yes here
            await wrapped.send(frame(50))
    assert len(got) == 6 and call.sent == [frame(50)]  # the call itself is untouched
    left, right = channels(wrapped.finish())  # type: ignore[arg-type]
    assert per_frame(left) == [4, 5, 6] and per_frame(right) == [50, 0, 0]

    never = RecordedCall(FakeCall([frame(1)]), tmp_path / "call-2.wav")  # type: ignore[arg-type]
    async for _ in never.frames():
        pass
    assert never.finish() is None and not (tmp_path / "call-2.wav").exists()
