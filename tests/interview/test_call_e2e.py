"""A whole interview with a real softphone as the candidate's phone, both ways, over kamailio.

Debian's baresip or linphonec plays the candidate. The test listens to the bot's store: when
a question has played out, the phone's microphone switches to the scripted answer (rendered
by piper). The bot's transcripts must match the script, and what the phone heard, run
through whisper, must contain every question.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.peers import Baresip, Linphone
from tests.peers.audio import convert_wav, read_wav, wait_wav_closed, write_wav
from voicebot.config import Config
from voicebot.interview.plan import Job
from voicebot.interview.runner import Interviewer
from voicebot.interview.session import SessionResult
from voicebot.speech.asr import RecognizerEngine, WhisperEngine
from voicebot.speech.metrics import normalize_words, word_error_rate
from voicebot.speech.tts import PiperSynthesizer
from voicebot.telephony.registrar import LocalRegistrar
from voicebot.telephony.sip import SipCall, SipEndpoint

if TYPE_CHECKING:
    from tests.interview.conftest import TurnAnnouncingStore

_TOOLS = ("kamailio", "baresip", "linphonec", "sox")
_MISSING = [tool for tool in _TOOLS if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.sip,
    pytest.mark.models,
    pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {', '.join(_MISSING)}"),
]

USERS = {"bot": "bot-secret", "alice": "alice-secret"}
CONSENT = "consent"
SCRIPT = {
    CONSENT: "Yes, that is fine, go ahead.",
    "salary": "I am hoping for around ninety thousand a year.",
    "notice": "My notice period is four weeks.",
    "python_years": "I have six years of Python experience.",
    "production_fix": (
        "Last year our payment service went down during a release. I traced it to a bad "
        "database migration, rolled it back and added a check to our pipeline. We were "
        "back up in twenty minutes."
    ),
}
SHORT_JOB_QUESTIONS = ("notice", "python_years")  # linphonec runs a shorter interview
LISTENING_KINDS = {"consent", "ask", "repeat", "reprompt"}  # bot turns that await an answer
THINK_S = 0.3  # the candidate's pause between the end of a question and its answer
ANSWER_PAD_S = 60.0  # silence after each answer, so no phone loops or ends its source
INTERVIEW_LIMIT_S = 150.0
MAX_MEAN_WER = 0.15
MAX_QUESTION_WER = 0.25  # a question counts as heard at or below this WER
WINDOW_S = (10.0, 25.0)  # whisper decodes at most 30 s: cut the recording at silences
SILENT_PEAK = 300  # a window whose peak is below this holds no speech


@dataclass
class Interview:
    job: Job
    result: SessionResult
    played: list[str]  # script keys, in the order the phone played them
    heard: str  # whisper's transcript of what the phone received


# -- the candidate's side --------------------------------------------------------------------


@pytest.fixture(scope="module")
def answer_wavs(tmp_path_factory: pytest.TempPathFactory, bot_config: Config) -> dict[str, Path]:
    """Each scripted answer as an 8 kHz WAV: the answer, then a minute of silence."""
    sp = bot_config.speech
    voice = PiperSynthesizer(
        sp.tts_voice or None,
        8000,
        cache_dir=Path(sp.cache_dir) if sp.cache_dir else None,
        length_scale=1.05,
    )
    out = tmp_path_factory.mktemp("answers")

    async def render() -> dict[str, Path]:
        wavs = {}
        for key, text in SCRIPT.items():
            speech = np.frombuffer(await voice.render(text), dtype="<i2")
            pad = np.zeros(int(ANSWER_PAD_S * 8000), dtype="<i2")
            write_wav(out / f"{key}.wav", np.concatenate([speech, pad]), 8000)
            wavs[key] = out / f"{key}.wav"
        return wavs

    return asyncio.run(render())


async def answer_each_question(
    phone: Baresip | Linphone,
    store: TurnAnnouncingStore,
    answers: dict[str, Path],
    played: list[str],
) -> None:
    """Play the answer to whatever the bot just finished asking, as each question ends."""
    while True:
        turn = await store.written.get()
        if turn.speaker != "bot" or turn.kind not in LISTENING_KINDS:
            continue
        key = turn.question_id or CONSENT
        await asyncio.sleep(THINK_S)
        await phone.play(answers[key])
        played.append(key)


async def run_interview(
    phone_type: type[Baresip | Linphone],
    *,
    bot_dials: bool,
    job: Job,
    interviewer: Interviewer,
    store: TurnAnnouncingStore,
    answers: dict[str, Path],
    workdir: Path,
) -> Interview:
    played: list[str] = []
    async with LocalRegistrar(USERS, workdir=workdir / "kamailio") as reg:
        bot_cfg = replace(
            interviewer.cfg.sip,
            listen_port=0,
            username="bot",
            password=USERS["bot"],
            registrar=f"{reg.host}:{reg.port}",
        )
        taken: asyncio.Queue[SessionResult] = asyncio.Queue()

        async def take_call(call: SipCall) -> None:
            taken.put_nowait(await interviewer.interview(call, job))

        phone = phone_type(
            "alice", USERS["alice"], reg, auto_answer=bot_dials, workdir=workdir / "alice"
        )
        async with SipEndpoint(bot_cfg, None if bot_dials else take_call) as bot:
            await phone.start()
            candidate = asyncio.create_task(answer_each_question(phone, store, answers, played))
            try:
                await phone.wait_registered(timeout=5)
                await asyncio.wait_for(bot.registered.wait(), 5)
                async with asyncio.timeout(INTERVIEW_LIMIT_S):
                    if bot_dials:
                        call = await bot.call(f"sip:alice@{reg.host}:{reg.port}")
                        result = await interviewer.interview(call, job)
                    else:
                        await phone.dial(f"sip:bot@{reg.host}:{reg.port}")
                        result = await taken.get()
                await phone.wait_closed(timeout=5)
            finally:
                candidate.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await candidate
                await phone.stop()
    recorded = phone.recorded_wav()
    assert recorded is not None, f"{phone_type.__name__} recorded nothing; see {workdir}"
    heard = await transcribe_wav(
        interviewer.asr, await wait_wav_closed(recorded), workdir / "heard-8k.wav"
    )
    return Interview(job, result, played, heard)


# -- what the phone heard --------------------------------------------------------------------


async def transcribe_wav(engine: RecognizerEngine, wav: Path, scratch: Path) -> str:
    """Whisper's transcript of a long recording, decoded in windows cut at silences."""
    assert isinstance(engine, WhisperEngine), "the phone's audio is transcribed by whisper"
    samples, rate = read_wav(await convert_wav(wav, scratch))
    texts = []
    for window in split_at_silences(samples, rate):
        if np.abs(window).max(initial=0) < SILENT_PEAK:
            continue  # whisper invents words in silence
        transcript = await asyncio.to_thread(engine.transcribe, window.tobytes(), rate)
        texts.append(transcript.text)
    return " ".join(texts)


def split_at_silences(samples: np.ndarray, rate: int) -> list[np.ndarray]:
    """Windows of WINDOW_S[0]..WINDOW_S[1] seconds, each cut at its quietest half second."""
    frame = rate // 50
    count = len(samples) // frame
    energy = (samples[: count * frame].astype(np.float64).reshape(count, frame) ** 2).mean(1)
    quiet = np.convolve(energy, np.ones(25) / 25, mode="same")
    shortest, longest = (int(s * 50) for s in WINDOW_S)
    windows, start = [], 0
    while count - start > longest:
        cut = start + shortest + int(np.argmin(quiet[start + shortest : start + longest]))
        windows.append(samples[start * frame : cut * frame])
        start = cut
    windows.append(samples[start * frame :])
    return windows


def wer_within(phrase: str, transcript: str) -> float:
    """The word error rate of `phrase` against the stretch of `transcript` that fits it best."""
    ref, hyp = normalize_words(phrase), normalize_words(transcript)
    row = [0] * (len(hyp) + 1)  # the phrase may start anywhere in the transcript
    for i, word in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, got in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != got))
    return min(row) / max(1, len(ref))  # ... and end anywhere


# -- checks ----------------------------------------------------------------------------------


def dialogue(interview: Interview) -> str:
    lines = [f"  [{t.speaker:9}] {t.kind:8} {t.text}" for t in interview.result.turns]
    return (
        f"outcome {interview.result.outcome!r}; phone played {interview.played}\n"
        + "\n".join(lines)
        + f"\nthe phone heard (whisper):\n  {interview.heard}"
    )


def answer_wers(interview: Interview) -> dict[str, float]:
    """Per scripted line, the WER of everything the bot heard while awaiting that answer."""
    heard: dict[str, list[str]] = defaultdict(list)
    for turn in interview.result.turns:
        if turn.speaker == "candidate" and turn.kind == "answer":
            heard[turn.question_id or CONSENT].append(turn.text)
    keys = [CONSENT, *(q.id for q in interview.job.questions)]
    return {key: word_error_rate(SCRIPT[key], " ".join(heard[key])) for key in keys}


def check_interview(interview: Interview) -> None:
    transcript = dialogue(interview)
    result, job = interview.result, interview.job
    assert result.outcome == "completed", transcript
    assert result.consent is True, transcript
    assert list(result.answers) == [q.id for q in job.questions], transcript
    asked_again = [t.kind for t in result.turns if t.kind in ("repeat", "reprompt")]
    assert not asked_again, f"the bot did not hear an answer the first time:\n{transcript}"

    wers = answer_wers(interview)
    mean_wer = sum(wers.values()) / len(wers)
    summary = ", ".join(f"{key} {wer:.2f}" for key, wer in wers.items())
    assert mean_wer <= MAX_MEAN_WER, f"mean WER {mean_wer:.3f} ({summary}):\n{transcript}"

    question_wers = {q.id: wer_within(q.text, interview.heard) for q in job.questions}
    missed = {k: round(w, 2) for k, w in question_wers.items() if w > MAX_QUESTION_WER}
    assert not missed, f"questions the phone did not hear: {missed}\n{transcript}"
    heard = ", ".join(f"{key} {wer:.2f}" for key, wer in question_wers.items())
    print(f"\nbot ASR WER mean {mean_wer:.3f} ({summary}); questions heard: {heard}")


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone_type", "bot_dials", "question_ids"),
    [
        pytest.param(Baresip, True, None, id="bot-calls-baresip"),
        pytest.param(Baresip, False, None, id="baresip-calls-bot"),
        pytest.param(Linphone, True, SHORT_JOB_QUESTIONS, id="bot-calls-linphonec"),
        pytest.param(Linphone, False, SHORT_JOB_QUESTIONS, id="linphonec-calls-bot"),
    ],
)
async def test_softphone_candidate_is_understood_and_hears_every_question(
    phone_type: type[Baresip | Linphone],
    bot_dials: bool,
    question_ids: tuple[str, ...] | None,
    backend_job: Job,
    interviewer: Interviewer,
    turn_store: TurnAnnouncingStore,
    answer_wavs: dict[str, Path],
    tmp_path: Path,
) -> None:
    job = backend_job
    if question_ids is not None:
        job = replace(job, questions=[q for q in job.questions if q.id in question_ids])
    interview = await run_interview(
        phone_type,
        bot_dials=bot_dials,
        job=job,
        interviewer=interviewer,
        store=turn_store,
        answers=answer_wavs,
        workdir=tmp_path,
    )
    check_interview(interview)
