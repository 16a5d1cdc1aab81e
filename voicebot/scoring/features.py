"""Text measures shared by the scorer and the report: words, language, key-phrase matching
(the report's keyword cloud) and delivery from a turn's timing (words per minute, fillers,
response latency). Delivery is reported for HR and never moves a score; the rating itself is
`rubric.py`.

English is matched on lightly stemmed words; Chinese, which has no spaces, on characters.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from voicebot.interview.plan import KeyPhrase

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

FILLERS_EN = ("um", "uh", "er", "erm", "hmm", "uhm", "you know", "i mean", "sort of", "kind of")
FILLERS_ZH = ("嗯", "呃", "那个", "就是说", "然后呢")


def is_chinese(text: str, lang: str | None = None) -> bool:
    if lang:
        return lang.lower().startswith("zh")
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk >= len(_WORD.findall(text.lower()))


def stem(word: str) -> str:
    """A light English stemmer: enough that "traced", "tracing" and "traces" meet."""
    for suffix in ("ingly", "edly", "ing", "ied", "ies", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if suffix in ("ied", "ies"):
                word += "y"
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # "stopped" → "stopp" → "stop"
    return word.rstrip("e") if len(word) > 4 else word


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _stems(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


def phrase_in(phrase: str, text_stems: list[str], text_raw: str, chinese: bool) -> bool:
    if chinese or _CJK.search(phrase):
        return phrase.replace(" ", "") in text_raw.replace(" ", "")
    target = _stems(phrase)
    if not target:
        return False
    n = len(target)
    return any(text_stems[i : i + n] == target for i in range(len(text_stems) - n + 1))


# -- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """How an answer was delivered. Reported for HR; never part of a competency score."""

    words_per_minute: float | None
    fillers: int
    latency_s: float | None  # the bot's question ended → the candidate started


def count_fillers(text: str, chinese: bool) -> int:
    if chinese:
        return sum(text.count(f) for f in FILLERS_ZH)
    low = f" {' '.join(words(text))} "
    return sum(low.count(f" {f} ") for f in FILLERS_EN)


def delivery(
    text: str,
    started_at: float,
    ended_at: float,
    question_ended_at: float | None,
    chinese: bool,
) -> Delivery:
    size = len(_CJK.findall(text)) if chinese else len(words(text))
    seconds = ended_at - started_at
    wpm = round(size / seconds * 60.0, 1) if seconds > 0.5 else None
    latency = None
    if question_ended_at is not None:
        latency = round(max(0.0, started_at - question_ended_at), 2)
    return Delivery(wpm, count_fillers(text, chinese), latency)


def keyword_counts(texts: list[str], phrases: list[KeyPhrase], chinese: bool) -> Counter[str]:
    """How often each key phrase (any of its forms) was said over the interview."""
    counts: Counter[str] = Counter()
    for text in texts:
        low = text.lower()
        stems = _stems(low)
        for kp in phrases:
            if any(phrase_in(f.lower(), stems, low, chinese) for f in kp.forms):
                counts[kp.phrase] += 1
    return counts
