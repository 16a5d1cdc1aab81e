"""Frame geometry shared by the media layer: 20 ms of mono PCM16 little-endian at 8 kHz.

One place for these numbers so the codec, jitter buffer and pacer agree on what a frame is.
"""

from __future__ import annotations

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # 320 bytes of PCM16LE
FRAME_SECONDS = FRAME_MS / 1000


def silence_frame(samples: int = FRAME_SAMPLES) -> bytes:
    """PCM16 digital silence. Zero bytes are silent only as PCM; encode before sending."""
    return bytes(samples * 2)
