"""Receive-side jitter buffer over decoded PCM frames, with loss concealment.

Owns turning arriving packets (late, reordered, duplicated, lost) into one frame every 20 ms
for the recogniser. Frames are PCM16, so b"\\x00" bytes are silence here; concealment never
emits them anyway: a lost frame is the last good one attenuated (×0.5, ×0.25, ×0.125)
plus a faint noise floor, and longer gaps are that noise floor alone.

Policy, for a consumer that calls ``pop()`` once per frame period:

* Before the first packet (or after ``reset()`` with nothing heard yet) ``pop()`` returns
  digital silence with ``concealed=False``: nothing was lost, the call has no audio yet.
* Playback starts once the buffered frames span ``prefill`` slots.
* A missing frame whose successors are already buffered is lost: concealed and skipped.
  If nothing at all is buffered it is an underrun: the buffer conceals until it has
  refilled to ``prefill``, then resumes at the oldest buffered frame. Slots that passed
  during the underrun count as lost only if a later frame proves they were sent, so
  pauses (DTX, hold) add no false losses and no extra latency.
* A packet more than ``capacity`` frames ahead skips the play point forward so latency stays
  bounded. A jump of more than ``max_jump`` frames either way is a sender restart only when
  the next packet follows it in sequence; then the buffer resets, otherwise it is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from voicebot.media.frames import FRAME_BYTES
from voicebot.media.rtp import seq_diff

DropReason = Literal["duplicate", "late", "too_far"]

_FADE_STEPS = 3  # concealed repeats (halving each time) before only the noise floor is left
_NOISE_PEAK = 4  # comfort noise amplitude in LSB, about -78 dBFS
_HISTORY = 64  # how far back a stale packet can still be told "duplicate" from "late"


@dataclass
class JitterStats:
    received: int = 0
    duplicates: int = 0
    late: int = 0  # arrived after its slot had been concealed
    too_far: int = 0  # unconfirmed jump beyond max_jump
    lost: int = 0  # slots skipped without ever receiving the frame
    concealed: int = 0  # frames pop() synthesised after audio had started
    reordered: int = 0
    underruns: int = 0
    overflows: int = 0  # buffered frames discarded to keep latency within capacity
    resets: int = 0


class JitterBuffer:
    """Reorders PCM frames by RTP sequence number and conceals the gaps."""

    def __init__(
        self,
        prefill: int = 3,
        capacity: int = 10,
        max_jump: int = 100,
        frame_bytes: int = FRAME_BYTES,
        seed: int | None = None,
    ) -> None:
        if not 1 <= prefill <= capacity <= max_jump:
            raise ValueError("need 1 <= prefill <= capacity <= max_jump")
        self.prefill = prefill
        self.capacity = capacity
        self.max_jump = max_jump
        self.frame_bytes = frame_bytes
        self.stats = JitterStats()
        self._source: int | None = None  # the RTP SSRC now heard, when the caller says
        self._rng = np.random.default_rng(seed)
        self._silence = bytes(frame_bytes)
        self._last_good: bytes | None = None
        self._lost_run = 0
        self._frames: dict[int, bytes] = {}  # extended (unwrapped) sequence -> frame
        self._next: int | None = None  # extended sequence of the next slot to play
        self._base = 0  # first extended sequence of this stream
        self._playing = False
        self._released = False  # a slot has been played or skipped since the stream began
        self._skipped: set[int] = set()
        self._probation: int | None = None  # sequence of an unconfirmed big jump

    @property
    def depth(self) -> int:
        """Frames currently buffered."""
        return len(self._frames)

    def reset(self) -> None:
        """Forget the stream (e.g. the SSRC changed); concealment fades from the last frame."""
        self.stats.resets += 1
        self._clear()

    def push(self, seq: int, pcm: bytes, source: int | None = None) -> DropReason | None:
        """Add the decoded frame of RTP packet ``seq``; returns why it was dropped, if it was.

        ``source`` is the packet's SSRC: a new one (Asterisk going native hands over the other
        leg's SSRC and numbering) restarts the stream, whose old sequence numbers say nothing
        about the new one's."""
        if source is not None and source != self._source:
            if self._source is not None:
                self.reset()
            self._source = source
        if len(pcm) != self.frame_bytes:
            raise ValueError(f"frame must be {self.frame_bytes} bytes, got {len(pcm)}")
        if not 0 <= seq <= 0xFFFF:
            raise ValueError(f"sequence must be 0..65535, got {seq}")
        self.stats.received += 1
        if self._next is None:
            self._start(seq, pcm)
            return None
        delta = seq_diff(seq, self._next & 0xFFFF)
        if abs(delta) > self.max_jump:
            return self._probe(seq, pcm)
        self._probation = None
        ext = self._next + delta
        if delta < 0:
            return self._push_old(ext, pcm)
        if ext in self._frames:
            self.stats.duplicates += 1
            return "duplicate"
        if self._frames and ext < max(self._frames):
            self.stats.reordered += 1
        if delta >= self.capacity:
            self._skip_to(ext - self.capacity + 1)
        self._frames[ext] = pcm
        return None

    def pop(self) -> tuple[bytes, bool]:
        """The next frame to play and whether it was concealed; call once per frame period."""
        if self._next is None:
            return self._fill()
        if not self._playing:
            if not self._frames or max(self._frames) - min(self._frames) + 1 < self.prefill:
                return self._fill()
            self._skip_to(min(self._frames))
            self._playing = True
        frame = self._frames.pop(self._next, None)
        if frame is not None:
            self._advance()
            self._last_good = frame
            self._lost_run = 0
            return frame, False
        if self._frames:
            self.stats.lost += 1
            self._skipped.add(self._next)
            self._advance()
            return self._conceal()
        self.stats.underruns += 1
        self._playing = False
        return self._fill()

    def _clear(self) -> None:
        self._frames = {}
        self._next = None
        self._base = 0
        self._playing = False
        self._released = False
        self._skipped = set()
        self._probation = None

    def _start(self, seq: int, pcm: bytes) -> None:
        self._next = self._base = seq
        self._frames[seq] = pcm

    def _push_old(self, ext: int, pcm: bytes) -> DropReason | None:
        assert self._next is not None
        if not self._released and max(self._frames) - ext < self.capacity:
            self.stats.reordered += 1
            self._next = self._base = ext
            self._frames[ext] = pcm
            return None
        if ext >= self._base and ext not in self._skipped and self._next - ext <= _HISTORY:
            self.stats.duplicates += 1
            return "duplicate"
        self.stats.late += 1
        return "late"

    def _probe(self, seq: int, pcm: bytes) -> DropReason | None:
        if self._probation is not None and seq == (self._probation + 1) & 0xFFFF:
            self.reset()
            self._start(seq, pcm)
            return None
        self._probation = seq
        self.stats.too_far += 1
        return "too_far"

    def _advance(self) -> None:
        assert self._next is not None
        self._next += 1
        self._released = True
        if len(self._skipped) > 2 * _HISTORY:
            self._skipped = {s for s in self._skipped if self._next - s <= _HISTORY}

    def _skip_to(self, target: int) -> None:
        assert self._next is not None
        if target <= self._next:
            return
        for ext in range(self._next, target):
            if self._frames.pop(ext, None) is not None:
                self.stats.overflows += 1
            else:
                self.stats.lost += 1
                self._skipped.add(ext)
        self._next = target
        self._released = True

    def _fill(self) -> tuple[bytes, bool]:
        if self._last_good is None:
            return self._silence, False
        return self._conceal()

    def _conceal(self) -> tuple[bytes, bool]:
        assert self._last_good is not None
        self.stats.concealed += 1
        self._lost_run += 1
        samples = self.frame_bytes // 2
        frame = self._rng.integers(-_NOISE_PEAK, _NOISE_PEAK + 1, samples, dtype=np.int16)
        if self._lost_run <= _FADE_STEPS:
            last = np.frombuffer(self._last_good, dtype="<i2")
            frame += last >> self._lost_run
        return frame.astype("<i2", copy=False).tobytes(), True
