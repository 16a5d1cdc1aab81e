"""Text that speech is measured on: every prompt the bot can say in a locale, and the labelled
Mandarin answers (tests/data/speech-zh/). Shared by scripts/bench_tts.py, scripts/bench_asr.py
and the `models` tests, so they all judge the same sentences."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

from voicebot.dialogue.prompts import PROMPTS_DIR, Prompts

REPO = PROMPTS_DIR.parent
SPEECH_ZH = REPO / "tests" / "data" / "speech-zh"
JOBS = {
    "zh": REPO / "examples/jobs/backend-engineer-zh.yaml",
    "en": REPO / "examples/jobs/backend-engineer.yaml",
}

# every branch of every template, with the values a real call would put in
_CASES: list[tuple[str, dict[str, Any]]] = [
    *[("ack", {"index": i}) for i in range(4)],
    ("callback_ask", {}),
    *[("clarify", {"kind": k}) for k in ("salary", "notice", "years", "behavioral", "yes_no", "")],
    ("consent", {"question_count": 4}),
    ("consent_given", {}),
    ("consent_repeat", {}),
    ("dont_know_ack", {}),
    *[("followup", {"missing": m}) for m in ("result", "action", "situation")],
    ("goodbye_callback", {"when": ""}),
    ("goodbye_completed", {"candidate_name": ""}),
    ("goodbye_early", {"candidate_name": ""}),
    ("goodbye_no_consent", {}),
    ("goodbye_opt_out", {}),
    ("goodbye_shutdown", {}),
    ("goodbye_silence", {}),
    ("goodbye_unclear", {}),
    ("greeting", {"candidate_name": ""}),
    ("job_info", {"topic": "company"}),
    ("job_info", {"topic": "other"}),
    ("recording_disclosure", {}),
    ("repeat", {}),
    ("repeat_unclear", {}),
    *[("reprompt", {"count": c}) for c in (1, 2)],
    ("resume_question", {}),
    ("transfer", {}),
    ("transfer_unavailable", {}),
    ("voicemail", {}),
]


def prompt_texts(locale: str) -> list[str]:
    """Each distinct sentence the bot says in `locale` (its templates' branches, and the
    example job's questions), in a fixed order."""
    from voicebot.interview.plan import load_job

    job = load_job(JOBS["zh" if locale.startswith("zh") else "en"])
    base = {
        "bot_name": "Ava",
        "company": job.company or "Acme",
        "job_title": job.title,
        "facts": {"summary": job.summary},
        "value": "",
    }
    prompts = Prompts()
    texts: list[str] = []
    for name, context in _CASES:
        texts.append(prompts.render(name, {**base, **context}, locale=locale))
    for number, q in enumerate(job.questions, 1):
        ctx = {**base, "text": q.text, "number": number, "total": len(job.questions)}
        texts.append(prompts.render("question", ctx, locale=locale))
    return list(dict.fromkeys(t for t in texts if t.strip()))


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    split: str  # "tune" or "heldout"
    text: str


def zh_answers(split: str | None = None) -> list[Answer]:
    """The labelled Mandarin answers (`split` = "tune", "heldout" or None for both)."""
    with (SPEECH_ZH / "answers.tsv").open(encoding="utf-8") as f:
        rows = [Answer(r["id"], r["split"], r["text"]) for r in csv.DictReader(f, delimiter="\t")]
    return [a for a in rows if split is None or a.split == split]


def zh_normalisation_cases() -> list[tuple[str, str]]:
    with (SPEECH_ZH / "normalize.tsv").open(encoding="utf-8") as f:
        return [(r["input"], r["expected"]) for r in csv.DictReader(f, delimiter="\t")]
