"""When the candidate's turn is over: how much silence ends it, given what they have said so far
and what they were asked.

A person does not wait a fixed 700 ms: "Six years." to "how many years of Python?" is over at
once; "I am hoping for around" to the salary question is not answered yet, however Whisper
punctuates it ("I am hoping for a round."); "about ninety thousand and" is not over, nor is a
story with no action or result in it yet. The session asks `silence_needed_ms` on every silent
frame of a pause, with the recognizer's partial transcript once it has one; the benchmark
(scripts/bench_turns.py) asks the same function.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from voicebot.dialogue.flow import explicit_yes, is_filler, missing_star
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

    complete_ms: int = 400  # a short answer that is complete: a salary with a number in it...
    finished_ms: int = 300  # a short answer that reads finished (speech.early_end_ms)
    hangover_ms: int = 700  # nothing better known (speech.vad_hangover_ms)
    trailing_ms: int = 2500  # trailing "and", "um", 然后, not answered yet: more is coming
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
    return reads_finished(text) and holds_value(kind, text, locale)


@functools.lru_cache(maxsize=256)
def holds_value(kind: str | None, text: str, locale: str = "en") -> bool:
    """`text` names what a short question of this kind asks for (anywhere in it). Cached: the
    session asks on every silent frame of a pause, with the same partial transcript."""
    if kind not in SHORT_KINDS:
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
    *,
    pending: bool = False,
) -> int:
    """How much silence ends this turn. `kind` is the question's ("salary", "behavioral",
    "consent"...; None when unknown), `text` the partial transcript (None while there is
    none), `voiced_s` how long the candidate has spoken, and `pending` whether a decode that
    will give the text is running (the reply needs that text anyway: ending the turn sooner
    gains nothing, and the text may show the answer is not over).

    Stories ("behavioral") never end before the hangover, and wait longer while the story has
    no action or result in it yet. Nothing ends early on a guess.
    """
    longest = max(timing.trailing_ms, timing.hangover_ms)
    if text is None:
        return longest if pending else timing.hangover_ms
    if trails_off(text):
        return longest
    if kind == "behavioral":
        return timing.hangover_ms if missing_star(text, locale) is None else longest
    if voiced_s > timing.max_short_s:
        return timing.hangover_ms
    if kind in SHORT_KINDS:
        if text.rstrip().endswith(("?", "？")):
            return timing.finished_ms  # a question back ("what is this about?"): answer it
        if not holds_value(kind, text, locale):
            return longest  # not answered yet: "I am hoping for around", "Um, let me think."
        return timing.complete_ms if reads_finished(text) else timing.hangover_ms
    # an open answer that reads finished: no sooner than a complete short one
    finished = max(timing.finished_ms, timing.complete_ms)
    return finished if reads_finished(text) else timing.hangover_ms
