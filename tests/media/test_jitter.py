"""JitterBuffer: reorder, duplicates, loss concealment, wraparound, resets."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.media.jitter import JitterBuffer

SILENCE = bytes(320)


def frame(n: int) -> bytes:
    """A recognisable frame: a constant level that encodes its sequence number."""
    return np.full(160, 100 * (n % 300 + 1), dtype="<i2").tobytes()


def level(pcm: bytes) -> float:
    return float(np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)).mean())


def play(buffer: JitterBuffer, arrivals: list[list[int]]) -> list[tuple[bytes, bool]]:
    """One tick per entry: push the sequence numbers that arrived, then pop once."""
    out = []
    for tick in arrivals:
        for seq in tick:
            buffer.push(seq, frame(seq))
        out.append(buffer.pop())
    return out


def test_silence_before_the_first_packet_is_not_concealment() -> None:
    buffer = JitterBuffer()
    assert buffer.pop() == (SILENCE, False)
    buffer.push(0, frame(0))
    buffer.push(1, frame(1))
    assert buffer.pop() == (SILENCE, False)  # still prefilling
    buffer.push(2, frame(2))
    assert buffer.pop() == (frame(0), False)
    assert buffer.stats.concealed == 0


def test_in_order_stream_plays_every_frame_after_prefill() -> None:
    buffer = JitterBuffer(prefill=3)
    out = play(buffer, [[0], [1], [2]] + [[n] for n in range(3, 50)] + [[]] * 2)
    assert out[:2] == [(SILENCE, False)] * 2
    assert out[2:] == [(frame(n), False) for n in range(50)]
    assert buffer.stats.received == 50
    assert buffer.stats.lost == buffer.stats.concealed == buffer.stats.reordered == 0


def test_reordered_packets_play_in_sequence() -> None:
    buffer = JitterBuffer(prefill=3)
    out = play(buffer, [[0], [2], [1], [4], [3], [5], [7], [6], []])
    # 0 and 2 already span three slots, so playback starts on the second tick.
    assert out[0] == (SILENCE, False)
    assert out[1:] == [(frame(n), False) for n in range(8)]
    assert buffer.stats.reordered == 3
    assert buffer.stats.lost == 0


def test_reordering_at_stream_start_rewinds_the_first_slot() -> None:
    buffer = JitterBuffer(prefill=3)
    for seq in (11, 10, 12):
        assert buffer.push(seq, frame(seq)) is None
    assert [buffer.pop()[0] for _ in range(3)] == [frame(10), frame(11), frame(12)]


def test_duplicates_are_dropped_and_counted() -> None:
    buffer = JitterBuffer(prefill=2)
    assert buffer.push(0, frame(0)) is None
    assert buffer.push(1, frame(1)) is None
    assert buffer.push(1, frame(1)) == "duplicate"
    assert buffer.pop() == (frame(0), False)
    assert buffer.push(0, frame(0)) == "duplicate"  # already played
    assert buffer.pop() == (frame(1), False)
    assert buffer.stats.duplicates == 2
    assert buffer.stats.received == 4


def test_single_loss_repeats_the_last_frame_at_half_level() -> None:
    buffer = JitterBuffer(prefill=3, seed=1)
    loud = np.full(160, 8000, dtype="<i2").tobytes()
    for seq in range(3):
        buffer.push(seq, loud)
    buffer.pop()
    buffer.push(4, loud)  # 3 is lost
    assert buffer.pop() == (loud, False)
    assert buffer.pop() == (loud, False)
    concealed_pcm, concealed = buffer.pop()
    assert concealed
    assert concealed_pcm != SILENCE and len(concealed_pcm) == 320
    assert 3990 <= level(concealed_pcm) <= 4010
    assert buffer.pop() == (loud, False)  # 4 plays in its own slot
    assert buffer.push(3, loud) == "late"
    stats = buffer.stats
    assert (stats.lost, stats.concealed, stats.late) == (1, 1, 1)


def test_burst_loss_fades_to_a_noise_floor_never_zero_bytes() -> None:
    buffer = JitterBuffer(prefill=1, capacity=30, seed=2)
    buffer.push(0, np.full(160, 16000, dtype="<i2").tobytes())
    buffer.push(20, frame(20))
    out = [buffer.pop() for _ in range(21)]
    assert not out[0][1] and out[-1] == (frame(20), False)
    concealed = out[1:20]
    assert all(flag for _, flag in concealed)
    levels = [level(pcm) for pcm, _ in concealed]
    assert levels[0] == pytest.approx(8000, abs=5)
    assert levels[1] == pytest.approx(4000, abs=5)
    assert levels[2] == pytest.approx(2000, abs=5)
    for pcm, _ in concealed[3:]:
        samples = np.frombuffer(pcm, dtype="<i2")
        assert np.abs(samples).max() <= 4
        assert pcm != SILENCE
    assert buffer.stats.lost == 19 and buffer.stats.concealed == 19


def test_sequence_wraparound_is_seamless() -> None:
    buffer = JitterBuffer(prefill=3)
    ticks = [[65532], [65533], [65534], [], [65535], [1, 0], [2], [3], [], []]
    out = play(buffer, ticks)
    expected = [65532, 65533, 65534, 65535, 0, 1, 2, 3]
    assert out[2:] == [(frame(s), False) for s in expected]
    assert buffer.stats.lost == 0 and buffer.stats.reordered == 1


def test_loss_across_wraparound_is_concealed_once() -> None:
    buffer = JitterBuffer(prefill=2)
    out = play(buffer, [[65534], [65535], [1], [2], [], []])
    flags = [concealed for _, concealed in out]
    assert flags == [False, False, False, True, False, False]
    assert out[4][0] == frame(1) and out[5][0] == frame(2)
    assert buffer.stats.lost == 1


def test_big_jump_confirmed_by_the_next_packet_resets() -> None:
    buffer = JitterBuffer(prefill=2)
    play(buffer, [[100], [101], [102], [103]])
    assert buffer.push(40000, frame(40000)) == "too_far"
    assert buffer.push(40001, frame(40001)) is None
    assert buffer.stats.resets == 1
    buffer.push(40002, frame(40002))
    assert buffer.pop() == (frame(40001), False)
    assert buffer.pop() == (frame(40002), False)
    assert buffer.push(104, frame(104)) == "too_far"  # the old stream is gone


def test_a_single_stray_jump_is_dropped_without_reset() -> None:
    buffer = JitterBuffer(prefill=2)
    play(buffer, [[10], [11], [12]])
    assert buffer.push(5000, frame(5000)) == "too_far"
    assert buffer.push(13, frame(13)) is None
    assert buffer.push(5001, frame(5001)) == "too_far"  # 5000 no longer on probation
    assert buffer.stats.resets == 0
    assert buffer.stats.too_far == 2


def test_explicit_reset_fades_from_the_last_frame_then_restarts() -> None:
    buffer = JitterBuffer(prefill=2)
    play(buffer, [[0], [1], [2]])
    buffer.reset()
    pcm, concealed = buffer.pop()
    assert concealed and pcm != SILENCE
    play(buffer, [[7000], [7001]])
    assert buffer.pop() == (frame(7001), False)
    assert buffer.stats.resets == 1


def test_a_pause_is_an_underrun_not_a_loss() -> None:
    buffer = JitterBuffer(prefill=2)
    out = play(buffer, [[0], [1], [2], []] + [[]] * 10 + [[3], [4], [5], []])
    assert out[:4] == [(SILENCE, False)] + [(frame(n), False) for n in range(3)]
    assert all(concealed for _, concealed in out[4:15])  # 10 silent ticks + refilling
    assert out[15:] == [(frame(n), False) for n in range(3, 6)]
    assert buffer.stats.lost == 0
    assert buffer.stats.underruns == 1
    assert buffer.stats.concealed == 11


def test_packets_far_ahead_skip_forward_to_bound_latency() -> None:
    buffer = JitterBuffer(prefill=2, capacity=10)
    play(buffer, [[0], [1], [2], [3], [4]])
    assert buffer.push(30, frame(30)) is None
    assert buffer.depth <= 10
    # The play point moves to 21 so that 30 is the last slot: 4 is discarded, 5-20 lost.
    assert buffer.stats.overflows == 1 and buffer.stats.lost == 16
    out = [buffer.pop() for _ in range(10)]
    assert out[-1] == (frame(30), False)
    assert buffer.stats.lost == 25


def test_wrong_frame_size_is_a_caller_error() -> None:
    buffer = JitterBuffer()
    with pytest.raises(ValueError, match="320 bytes"):
        buffer.push(0, bytes(160))
    with pytest.raises(ValueError, match="sequence"):
        buffer.push(70000, frame(0))


def test_other_frame_sizes() -> None:
    buffer = JitterBuffer(prefill=1, frame_bytes=640)
    buffer.push(0, bytes(640))
    assert buffer.pop() == (bytes(640), False)
    pcm, concealed = buffer.pop()
    assert concealed and len(pcm) == 640


def test_a_new_source_restarts_the_stream_even_with_lower_numbers() -> None:
    buffer = JitterBuffer(prefill=2)
    for seq in range(500, 510):
        buffer.push(seq, frame(seq), source=0xAAAA)
        buffer.pop()
    # a bridge hands over another leg's stream: a new SSRC, numbers just below the old ones
    for seq in range(490, 500):
        assert buffer.push(seq, frame(seq), source=0xBBBB) is None  # not "late"
    assert buffer.stats.late == 0 and buffer.stats.resets == 1
    assert [level(buffer.pop()[0]) for _ in range(3)] == [level(frame(s)) for s in (490, 491, 492)]
    # the same source again is one stream: no reset
    buffer.push(500, frame(500), source=0xBBBB)
    assert buffer.stats.resets == 1
