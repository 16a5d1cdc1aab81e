import pytest
from speech_samples import espeak_pcm, frames, mix, noise, scale, silence

from voicebot.speech.vad import (
    SilenceBegan,
    SpeechEnded,
    SpeechResumed,
    SpeechStarted,
    VoiceActivityDetector,
    level_dbfs,
)

ANSWER = "I have five years of experience with Python."
MORE = "Mostly billing systems."


def run(vad: VoiceActivityDetector, pcm: bytes, rate: int = 8000) -> list:
    return [event for frame in frames(pcm, rate) if (event := vad.process(frame))]


def kinds(events: list) -> list[type]:
    return [type(e) for e in events]


def ms_to_frame(ms: int) -> int:
    return ms // 20


def test_one_answer_padded_with_silence_is_one_turn() -> None:
    speech = espeak_pcm(ANSWER)
    speech_ms = len(speech) // 16
    events = run(VoiceActivityDetector(), silence(1000) + speech + silence(1500))
    assert kinds(events) == [SpeechStarted, SilenceBegan, SpeechEnded]
    started, _, ended = events
    assert abs(started.at_frame - ms_to_frame(1000)) <= 5
    assert abs(ended.at_frame - ms_to_frame(1000 + speech_ms)) <= 10
    assert abs(ended.speech_ms - speech_ms) <= 300


@pytest.mark.parametrize("noise_dbfs", [-60, -45, -40])
def test_speech_in_line_noise(noise_dbfs: int) -> None:
    pcm = silence(1000) + espeak_pcm(ANSWER) + silence(1500)
    events = run(VoiceActivityDetector(), mix(pcm, noise(len(pcm) // 16, noise_dbfs, seed=3)))
    assert kinds(events) == [SpeechStarted, SilenceBegan, SpeechEnded]


def test_noise_alone_is_not_speech() -> None:
    vad = VoiceActivityDetector()
    assert run(vad, noise(3000, -40)) == []
    assert not vad.in_speech


def test_short_pause_is_reported_but_does_not_end_the_turn() -> None:
    pcm = silence(500) + espeak_pcm(ANSWER) + silence(400) + espeak_pcm(MORE) + silence(1000)
    events = run(VoiceActivityDetector(), pcm)
    assert kinds(events) == [SpeechStarted, SilenceBegan, SpeechResumed, SilenceBegan, SpeechEnded]
    resumed = events[2]
    assert abs(resumed.at_frame - ms_to_frame(500 + len(espeak_pcm(ANSWER)) // 16 + 400)) <= 5


def test_two_answers_with_a_long_pause_are_two_turns() -> None:
    pcm = silence(500) + espeak_pcm(ANSWER) + silence(1200) + espeak_pcm(MORE) + silence(1000)
    events = run(VoiceActivityDetector(), pcm)
    assert kinds(events) == [SpeechStarted, SilenceBegan, SpeechEnded] * 2


def test_in_speech_follows_the_turn() -> None:
    vad = VoiceActivityDetector()
    states = []
    for frame in frames(silence(500) + espeak_pcm(MORE) + silence(1000)):
        vad.process(frame)
        states.append(vad.in_speech)
    assert not states[0]
    assert any(states)
    assert not states[-1]


def test_a_click_does_not_start_speech() -> None:
    pcm = silence(500) + noise(40, -6) + silence(500)
    assert run(VoiceActivityDetector(), pcm) == []


def test_quiet_line_echo_is_gated_but_the_same_voice_louder_barges_in() -> None:
    speech = espeak_pcm(ANSWER)
    loudest = max(level_dbfs(frame) for frame in frames(speech))
    echo = scale(speech, -52 - loudest)
    assert run(VoiceActivityDetector(), silence(500) + echo + silence(800)) == []
    assert SpeechStarted in kinds(run(VoiceActivityDetector(), silence(500) + speech))


def test_sixteen_khz_frames() -> None:
    pcm = silence(500, 16000) + espeak_pcm(ANSWER, rate=16000) + silence(1000, 16000)
    events = run(VoiceActivityDetector(sample_rate=16000), pcm, rate=16000)
    assert kinds(events) == [SpeechStarted, SilenceBegan, SpeechEnded]


def test_every_gap_with_pause_ms_of_one_frame() -> None:
    pcm = silence(500) + espeak_pcm(ANSWER) + silence(1000)
    events = run(VoiceActivityDetector(pause_ms=20), pcm)
    assert kinds(events).count(SilenceBegan) > 1
    assert kinds(events)[-1] is SpeechEnded


def test_wrong_frame_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="320"):
        VoiceActivityDetector().process(bytes(640))


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        VoiceActivityDetector(sample_rate=11025)
    with pytest.raises(ValueError):
        VoiceActivityDetector(aggressiveness=4)
