"""Sample-rate conversion of mono PCM16: polyphase windowed-sinc, anti-aliased, numpy only.

`resample` converts a whole buffer; `StreamResampler` converts a stream of frames with the
same filter and state carried across frames, so streamed output equals the batch result.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from math import ceil, gcd

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_STOPBAND_DB = 80.0
_CUTOFF = 0.97  # -6 dB point, as a fraction of the lower Nyquist frequency
_TRANSITION = 0.10  # transition band width, as a fraction of the lower Nyquist frequency


@dataclass(frozen=True, slots=True)
class _Plan:
    """The polyphase filter and output-to-input index pattern for one rate pair."""

    up: int  # L
    down: int  # M
    taps: int  # T, filter taps per phase
    bank: np.ndarray  # (L, T) float64; bank[p, j] multiplies x[base - j]
    phase0: np.ndarray  # (L,) bank row for outputs n = q*L + r
    base0: np.ndarray  # (L,) newest input index for outputs n = q*L + r, before + q*M

    def out_len(self, n_in: int) -> int:
        return ceil(n_in * self.up / self.down)

    def bases(self, n: np.ndarray) -> np.ndarray:
        return (n // self.up) * self.down + self.base0[n % self.up]

    def first_out_needing(self, n_in: int) -> int:
        """Smallest output index whose newest input index is >= n_in."""
        q = np.maximum(0, -((self.base0 - n_in) // self.down))  # ceil((n_in - base0) / M)
        return int((q * self.up + np.arange(self.up)).min())


@cache
def _plan(src_rate: int, dst_rate: int) -> _Plan:
    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    nyquist = min(src_rate, dst_rate) / 2
    fs_up = src_rate * up
    width = 2 * np.pi * _TRANSITION * nyquist / fs_up
    n_total = ceil((_STOPBAND_DB - 8) / (2.285 * width))
    taps = max(2, ceil(n_total / up))
    n_total = taps * up - 1 if (taps * up) % 2 == 0 else taps * up
    delay = (n_total - 1) // 2
    fc = _CUTOFF * nyquist / fs_up
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    t = np.arange(n_total) - delay
    h = 2 * fc * np.sinc(2 * fc * t) * np.kaiser(n_total, beta)
    h *= up / h.sum()
    h = np.concatenate([h, np.zeros(taps * up - n_total)])
    bank = h.reshape(taps, up).T.copy()  # bank[p, j] = h[p + j*up]
    r = np.arange(up)
    pos = r * down + delay
    return _Plan(up, down, taps, bank, pos % up, pos // up)


def _as_float(pcm: np.ndarray | bytes) -> np.ndarray:
    if isinstance(pcm, bytes | bytearray | memoryview):
        pcm = np.frombuffer(pcm, dtype="<i2")
    if pcm.dtype != np.int16:
        raise TypeError(f"expected int16 samples, got {pcm.dtype}")
    return pcm.astype(np.float64)


def _to_int16(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def _compute(plan: _Plan, x: np.ndarray, x_start: int, n0: int, n1: int) -> np.ndarray:
    """Outputs n0..n1-1 given input samples x[i] = input[x_start + i] (zeros outside)."""
    if n1 <= n0:
        return np.zeros(0, dtype=np.float64)
    last_base = int(plan.bases(np.array([n1 - 1]))[0]) - x_start
    padded = np.concatenate([np.zeros(plan.taps), x, np.zeros(max(1, last_base + 2 - len(x)))])
    if n1 - n0 >= 4 * plan.up:
        return _by_phase(plan, padded, x_start, n0, n1)
    return _by_gather(plan, padded, x_start, n0, n1)


def _by_phase(plan: _Plan, padded: np.ndarray, x_start: int, n0: int, n1: int) -> np.ndarray:
    """Long runs: per phase, the input windows are a strided view; one matrix product each."""
    windows = sliding_window_view(padded, plan.taps)  # windows[b + 1] ends at x[b]
    reversed_bank = plan.bank[:, ::-1]
    out = np.empty(n1 - n0, dtype=np.float64)
    for r in range(plan.up):
        first = n0 + (r - n0) % plan.up
        count = len(range(first, n1, plan.up))
        if count == 0:
            continue
        b = int(plan.bases(np.array([first]))[0]) - x_start + 1
        rows = windows[b : b + (count - 1) * plan.down + 1 : plan.down]
        out[first - n0 :: plan.up] = np.einsum("ij,j->i", rows, reversed_bank[plan.phase0[r]])
    return out


def _by_gather(plan: _Plan, padded: np.ndarray, x_start: int, n0: int, n1: int) -> np.ndarray:
    """Short runs (one stream frame): gather each output's window, one row-wise product."""
    n = np.arange(n0, n1)
    idx = plan.bases(n)[:, None] - np.arange(plan.taps)[None, :] - x_start + plan.taps
    return np.einsum("ij,ij->i", plan.bank[plan.phase0[n % plan.up]], padded[idx])


def resample(pcm: np.ndarray | bytes, src_rate: int, dst_rate: int) -> np.ndarray:
    """Convert a whole PCM16 buffer from `src_rate` to `dst_rate` Hz.

    Output has ceil(len * dst / src) samples, aligned in time with the input (the filter's
    delay is compensated).
    """
    x = _as_float(pcm)
    if src_rate == dst_rate:
        return _to_int16(x)
    plan = _plan(src_rate, dst_rate)
    return _to_int16(_compute(plan, x, 0, 0, plan.out_len(len(x))))


class StreamResampler:
    """Converts consecutive chunks of one stream, keeping filter state between them.

    Output lags input by half the filter length (a few milliseconds); `flush()` returns the
    remainder at the end of the stream. The concatenation of every `process()` result and
    `flush()` equals `resample()` of the whole stream.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._plan = None if src_rate == dst_rate else _plan(src_rate, dst_rate)
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros(0, dtype=np.float64)
        self._history_start = 0  # stream index of _history[0]
        self._n_in = 0
        self._n_out = 0

    def process(self, chunk: np.ndarray | bytes) -> np.ndarray:
        x = _as_float(chunk)
        if self._plan is None:
            return _to_int16(x)
        self._history = np.concatenate([self._history, x])
        self._n_in += len(x)
        ready = self._plan.first_out_needing(self._n_in)
        y = self._run(self._n_out, ready)
        self._n_out = max(self._n_out, ready)
        self._trim()
        return y

    def tail(self) -> np.ndarray:
        """What `flush()` would return now, without ending the stream."""
        if self._plan is None:
            return np.zeros(0, dtype=np.int16)
        return self._run(self._n_out, self._plan.out_len(self._n_in))

    def flush(self) -> np.ndarray:
        """End the stream: the remaining output, computed as if zeros followed."""
        y = self.tail()
        self.reset()
        return y

    def _run(self, n0: int, n1: int) -> np.ndarray:
        if n1 <= n0:
            return np.zeros(0, dtype=np.int16)
        return _to_int16(_compute(self._plan, self._history, self._history_start, n0, n1))

    def _trim(self) -> None:
        oldest_needed = int(self._plan.bases(np.array([self._n_out]))[0]) - self._plan.taps + 1
        drop = min(len(self._history), max(0, oldest_needed - self._history_start))
        if drop:
            self._history = self._history[drop:]
            self._history_start += drop
