"""A call's recording made by voicebot itself, for transports that cannot record (direct SIP,
AudioSocket, FreeSWITCH here; Asterisk's ARI records on Asterisk).

One stereo WAV, left the candidate, right the bot, on the call's own clock: inbound frames
arrive one per 20 ms, and an outbound frame plays once the frames queued before it have, so
it is placed at max(next free slot, frames heard so far). Frames dropped from the queue by a
barge-in never played and are taken back out. Written as it goes through a temporary file,
renamed into place when the call ends: a crash leaves no half file under the final name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from voicebot.telephony.base import Call

log = logging.getLogger(__name__)

_FLUSH_FRAMES = 50  # write once a second of both channels is settled


class Recorder:
    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.frame = sample_rate // 50 * 2  # bytes in 20 ms of PCM16 mono
        self._tmp = path.with_name(f".{path.name}.part")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(self._tmp), "wb")  # closed in close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self._in = bytearray()  # candidate, not yet written
        self._out = bytearray()  # bot, not yet written (may run ahead: queued audio)
        self.heard = 0  # inbound frames since the recording started
        self.played_to = 0  # the slot where the next outbound frame plays

    def inbound(self, frame: bytes) -> None:
        self._in += frame[: self.frame].ljust(self.frame, b"\x00")
        self.heard += 1
        self._catch_up()
        if len(self._in) >= _FLUSH_FRAMES * self.frame:
            self._flush()

    def outbound(self, frame: bytes) -> None:
        self._catch_up()
        self._out += frame[: self.frame].ljust(self.frame, b"\x00")
        self.played_to += 1

    def _catch_up(self) -> None:
        """Slots the bot's queue left empty (it was silent) are silence on its channel."""
        if self.played_to < self.heard:
            self._out += bytes(self.frame * (self.heard - self.played_to))
            self.played_to = self.heard

    def dropped(self, frames: int) -> None:
        """A barge-in cleared `frames` queued frames: they never played."""
        unplayed = min(frames, self.played_to - self.heard, len(self._out) // self.frame)
        if unplayed > 0:
            del self._out[len(self._out) - unplayed * self.frame :]
            self.played_to -= unplayed

    def _flush(self) -> None:
        n = min(len(self._in), len(self._out)) // 2 * 2
        if n == 0:
            return
        left = memoryview(self._in)[:n]
        right = memoryview(self._out)[:n]
        both = bytearray(2 * n)
        both[0::4], both[1::4] = left[0::2], left[1::2]
        both[2::4], both[3::4] = right[0::2], right[1::2]
        self._wav.writeframes(bytes(both))
        left.release()
        right.release()
        del self._in[:n]
        del self._out[:n]

    def close(self) -> Path | None:
        """End the file at the last frame heard (queued audio never played); None if empty."""
        self._out = self._out[: len(self._in)].ljust(len(self._in), b"\x00")
        self._flush()
        frames = self._wav.getnframes()
        self._wav.close()
        if frames == 0:
            self._tmp.unlink(missing_ok=True)
            return None
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self._wav.close()
        self._tmp.unlink(missing_ok=True)


class RecordedCall:
    """`call` as the session sees it, recording both sides from `start_recording` on."""

    def __init__(self, call: Call, path: Path) -> None:
        self._call = call
        self.path = path  # <recordings_dir>/<the call's id in the store>.wav
        self.recorder: Recorder | None = None

    def __getattr__(self, name: str) -> Any:  # everything else is the call's own
        return getattr(self._call, name)

    async def start_recording(self, name: str) -> None:
        """Only after the candidate consented (the session says when)."""
        if self.recorder is None:
            self.recorder = Recorder(self.path, self._call.sample_rate)

    async def frames(self) -> AsyncIterator[bytes]:
        async for frame in self._call.frames():
            if self.recorder is not None:
                self.recorder.inbound(frame)
            yield frame

    async def send(self, frame: bytes) -> None:
        await self._call.send(frame)
        if self.recorder is not None:
            self.recorder.outbound(frame)

    def clear_output(self) -> int:
        dropped = self._call.clear_output()
        if self.recorder is not None:
            self.recorder.dropped(dropped)
        return dropped

    def finish(self) -> Path | None:
        """Close the recording (if one was started); its path, or None."""
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        try:
            return rec.close()
        except Exception:
            log.warning("call %s: the recording could not be written", self._call.call_id,
                        exc_info=True)  # fmt: skip
            rec.discard()
            return None
