"""WAV files for test peers to play, and measurements of what they recorded."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np

from .process import PeerError

TELEPHONY_RATE = 8000


async def _run(*argv: str, timeout: float = 20.0) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise PeerError(f"{argv[0]} timed out after {timeout}s") from None
    if proc.returncode != 0:
        raise PeerError(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-500:]}")


def silence_wav(path: Path, seconds: float, *, rate: int = TELEPHONY_RATE) -> Path:
    write_wav(path, np.zeros(int(seconds * rate), dtype="<i2"), rate)
    return path


def tone_wav(
    path: Path, *, freq: float = 440.0, seconds: float = 3.0, rate: int = TELEPHONY_RATE
) -> Path:
    """A mono 16-bit sine of `freq` Hz at half scale."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    write_wav(path, samples, rate)
    return path


async def speech_wav(path: Path, text: str, *, rate: int = TELEPHONY_RATE) -> Path:
    """`text` spoken by espeak-ng, as mono 16-bit at `rate`."""
    raw = path.with_suffix(".espeak.wav")
    await _run("espeak-ng", "-w", str(raw), text)
    await convert_wav(raw, path, rate=rate)
    raw.unlink(missing_ok=True)
    return path


async def convert_wav(
    src: Path, dst: Path, *, rate: int = TELEPHONY_RATE, pad_seconds: float = 0.0
) -> Path:
    """`src` as mono 16-bit PCM at `rate`, followed by `pad_seconds` of silence."""
    argv = ["sox", str(src), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed", str(dst)]
    if pad_seconds > 0:
        argv += ["pad", "0", f"{pad_seconds:g}"]
    await _run(*argv)
    return dst


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit samples (first channel) and the sample rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise PeerError(f"{path}: expected 16-bit samples, got {8 * wav.getsampwidth()}")
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return data[:: wav.getnchannels()], wav.getframerate()


def wav_seconds(path: Path) -> float:
    samples, rate = read_wav(path)
    return len(samples) / rate


def active_seconds(path: Path, *, threshold_dbfs: float = -40.0, frame_ms: int = 20) -> float:
    """How many seconds of `path` are louder than `threshold_dbfs` (RMS per frame)."""
    samples, rate = read_wav(path)
    size = rate * frame_ms // 1000
    count = len(samples) // size
    if count == 0:
        return 0.0
    frames = samples[: count * size].astype(np.float64).reshape(count, size) / 32768.0
    rms = np.sqrt(np.mean(frames**2, axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-9))
    return float(np.sum(level > threshold_dbfs)) * frame_ms / 1000


def dominant_frequency(path: Path, *, start_s: float = 0.0, end_s: float | None = None) -> float:
    """The strongest frequency in `path` between `start_s` and `end_s` (default: the end)."""
    samples, rate = read_wav(path)
    stop = len(samples) if end_s is None else int(end_s * rate)
    window = samples[int(start_s * rate) : stop].astype(np.float64)
    if len(window) == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.argmax(spectrum) * rate / len(window))


def _wav_state(path: Path) -> tuple[int, int]:
    """(file size, frames in its header); (-1, 0) while missing or not yet a WAV."""
    try:
        with wave.open(str(path), "rb") as wav:
            return path.stat().st_size, wav.getnframes()
    except (OSError, wave.Error, EOFError):
        return -1, 0


async def wait_wav_closed(path: Path, *, timeout: float = 5.0) -> Path:
    """Wait until a recorder has finished `path`: frames in the header and a stable size."""
    last = (-1, 0)
    try:
        async with asyncio.timeout(timeout):
            while True:
                state = await asyncio.to_thread(_wav_state, path)
                if state == last and state[1] > 0:
                    return path
                last = state
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise PeerError(f"{path} is not a finished WAV after {timeout}s ({last})") from None
