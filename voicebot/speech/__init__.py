"""Speech in and out of a call: vad (turns, barge-in), asr (whisper, vosk), tts (piper, espeak)."""
