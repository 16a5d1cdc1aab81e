"""When the candidate's turn is over: how much silence ends it, given what they have said so far
and what they were asked.

A person does not wait a fixed 700 ms: "Six years." to "how many years of Python?" is over at
once, "about ninety thousand and" is not, and a story has pauses in it. The session asks
`silence_needed_ms` on every silent frame of a pause, with the recognizer's partial transcript
once it has one; the benchmark (scripts/bench_turns.py) asks the same function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicebot.dialogue.flow import explicit_yes, is_filler
from voicebot.values import parse_duration, parse_money, parse_years

_CONTINUATIONS = frozenset(
    "and but so or because um uh er the a an to of that with my i if then like".split()
)
# a Mandarin answer trailing off on these has more to come: 然后… 因为… 就是…
_CONTINUATIONS_ZH = (
    "然后", "还有", "就是", "因为", "所以", "而且", "但是", "可是", "不过", "那个", "这个", "如果",
    "的话", "比如", "嗯", "呃", "额", "和", "跟", "或者", "还是", "以及", "首先", "其次",
)  # fmt: skip
_CJK = re.compile(r"[\u4e00-\u9fff]")
_NO = re.compile(
    r"^\W*(?:no|nope|nah|not really|not now|i don't|i do not|i'd rather not|不|没)", re.IGNORECASE
)
SHORT_KINDS = frozenset({"salary", "notice", "years", "yes_no", "consent"})


@dataclass(frozen=True, slots=True)
class TurnTiming:
    """Silence, in ms, that ends a turn in each state (speech.* in the configuration)."""

    complete_ms: int = 200  # a short answer that is complete: a salary with a number in it...
    finished_ms: int = 300  # a short answer that reads finished (speech.early_end_ms)
    hangover_ms: int = 700  # nothing better known (speech.vad_hangover_ms)
    trailing_ms: int = 1500  # trailing "and", "um", 然后, a comma: more is coming
    max_short_s: float = 6.0  # longer answers wait the hangover (speech.early_end_max_s)


def reads_finished(text: str) -> bool:
    """Whether a partial transcript already reads as a finished answer: English needs its
    final stop and no dangling "and"/"um"; Mandarin (often unpunctuated by the recognizer)
    must not end on a comma or a connective such as 然后 / 因为 / 就是."""
    text = text.strip()
    if not text or text.endswith(("...", "…")):
        return False
    if _CJK.search(text):
        if text[-1] in "，,、：:；;":
            return False
        body = text.rstrip("。？！?!. ")
        return bool(body) and not body.endswith(_CONTINUATIONS_ZH)
    if text[-1] not in ".?!":
        return False
    words = text.rstrip(".?!").split()
    return bool(words) and words[-1].lower() not in _CONTINUATIONS


def trails_off(text: str) -> bool:
    """The candidate stopped mid-thought: on "and", "so", "because", "um", 然后, 嗯, a comma
    or an ellipsis, or said nothing but a filler ("um… let me think")."""
    text = text.strip()
    if not text:
        return False
    if text.endswith(("...", "…", ",", "，", "、", "-", "—")) or is_filler(text):
        return True
    if _CJK.search(text):
        return text.rstrip("。？！?!. ").endswith(_CONTINUATIONS_ZH)
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and words[-1] in _CONTINUATIONS and text[-1] not in ".?!"


def complete_answer(kind: str | None, text: str, locale: str = "en") -> bool:
    """`text` already holds what a question of this kind asks for, said to its end: a sum for
    a salary, a duration for a notice period, a number of years, a yes or a no."""
    if kind not in SHORT_KINDS or not reads_finished(text):
        return False
    if kind == "salary":
        return parse_money(text, locale=locale) is not None
    if kind == "notice":
        return parse_duration(text) is not None
    if kind == "years":
        return parse_years(text, bare=True) is not None
    return explicit_yes(text) or bool(_NO.search(text))


def silence_needed_ms(
    kind: str | None,
    text: str | None,
    voiced_s: float,
    timing: TurnTiming,
    locale: str = "en",
) -> int:
    """How much silence ends this turn. `kind` is the question's ("salary", "behavioral",
    "consent"...; None when unknown), `text` the partial transcript (None while there is
    none) and `voiced_s` how long the candidate has spoken.

    Stories ("behavioral") never end before the hangover: their first sentence reads finished
    and more follows. Nothing ends early on a guess: without a transcript, the hangover.
    """
    if text is not None and trails_off(text):
        return max(timing.trailing_ms, timing.hangover_ms)
    if text is None or kind == "behavioral" or voiced_s > timing.max_short_s:
        return timing.hangover_ms
    if complete_answer(kind, text, locale):
        return min(timing.complete_ms, timing.finished_ms)
    if reads_finished(text):
        return timing.finished_ms
    return timing.hangover_ms
