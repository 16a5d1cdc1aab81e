import numpy as np
import pytest

from voicebot.media.resample import StreamResampler, resample

RATE_PAIRS = [(22050, 8000), (22050, 16000), (16000, 8000), (8000, 16000)]


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 10000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def middle(x: np.ndarray) -> np.ndarray:
    return x[len(x) // 4 : -len(x) // 4].astype(np.float64)


def level_db(x: np.ndarray, amplitude: float = 10000) -> float:
    rms = np.sqrt(np.mean(middle(x) ** 2))
    return 20 * np.log10(max(rms, 1e-9) / (amplitude / np.sqrt(2)))


def dominant_hz(x: np.ndarray, rate: int) -> float:
    x = middle(x)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
def test_1khz_tone_keeps_frequency_and_level(src: int, dst: int) -> None:
    y = resample(tone(1000, src), src, dst)
    assert abs(dominant_hz(y, dst) - 1000) < 5
    assert abs(level_db(y)) < 0.1


def test_3800hz_passes_16k_to_8k() -> None:
    assert level_db(resample(tone(3800, 16000), 16000, 8000)) > -3


@pytest.mark.parametrize("freq", [4500, 6000, 7000])
def test_above_nyquist_is_attenuated_40db_16k_to_8k(freq: int) -> None:
    assert level_db(resample(tone(freq, 16000), 16000, 8000)) < -40


def test_above_nyquist_is_attenuated_22050_to_8000() -> None:
    assert level_db(resample(tone(6000, 22050), 22050, 8000)) < -40
    assert level_db(resample(tone(9000, 22050), 22050, 8000)) < -40


@pytest.mark.parametrize(("src", "dst"), [*RATE_PAIRS, (8000, 8000)])
@pytest.mark.parametrize("n", [0, 1, 441, 16001, 22050])
def test_lengths(src: int, dst: int, n: int) -> None:
    x = np.zeros(n, dtype=np.int16)
    assert len(resample(x, src, dst)) == -(-n * dst // src)


def test_accepts_bytes() -> None:
    x = tone(1000, 8000)
    assert np.array_equal(resample(x.tobytes(), 8000, 16000), resample(x, 8000, 16000))


@pytest.mark.parametrize(("src", "dst"), [*RATE_PAIRS, (16000, 16000)])
def test_streaming_equals_batch(src: int, dst: int) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(src * 3 // 2) * 4000).astype(np.int16)
    stream = StreamResampler(src, dst)
    frame = src // 50
    parts = [stream.process(x[i : i + frame].tobytes()) for i in range(0, len(x), frame)]
    parts.append(stream.flush())
    streamed = np.concatenate(parts)
    batch = resample(x, src, dst)
    assert len(streamed) == len(batch)
    assert np.abs(streamed.astype(np.int32) - batch).max() <= 2


def test_stream_output_per_frame_is_steady_after_the_first() -> None:
    stream = StreamResampler(22050, 8000)
    sizes = [len(stream.process(np.zeros(441, dtype=np.int16))) for _ in range(20)]
    assert sizes[0] < 160
    assert sizes[2:] == [160] * 18


def test_tail_does_not_end_the_stream() -> None:
    x = tone(500, 8000, 0.2)
    stream = StreamResampler(8000, 16000)
    head = stream.process(x[:800])
    peek = stream.tail()
    rest = stream.process(x[800:])
    whole = np.concatenate([head, rest, stream.flush()])
    assert np.array_equal(whole, resample(x, 8000, 16000))
    assert len(head) + len(peek) == 1600


def test_rejects_non_int16_arrays() -> None:
    with pytest.raises(TypeError):
        resample(np.zeros(10, dtype=np.float32), 8000, 16000)
