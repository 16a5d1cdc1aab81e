"""Spoken values shared by the dialogue (during a call) and the scorer (after it): numbers in
English and Chinese, money, notice periods and years of experience.

One parser, so the value the bot confirms on the call is the value the report scores; the
dialogue adds date-times on top (voicebot.dialogue.entities), the scorer adds typed report
values, yes/no and choices (voicebot.scoring.values). Each parser returns None when the text
holds no such value, so callers can say "not understood" instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# --- numbers ---------------------------------------------------------------------------

_EN_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "couple": 2, "few": 3, "several": 3,
}  # fmt: skip
_EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
EN_NUMBER_WORDS = {**_EN_UNITS, **_EN_TENS}
_EN_SCALES = {
    "hundred": 100, "thousand": 1000, "grand": 1000, "k": 1000, "m": 1_000_000,
    "mil": 1_000_000, "million": 1_000_000,
}  # fmt: skip
_WORD_SCALES = ("hundred", "thousand", "grand", "million", "mil", "k")  # "k"/"mil" after a number
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}
_ZH_CHARS = "零〇一二两俩三四五六七八九十百千万亿"
# a Chinese numeral (digits may mix in: 1万5), "N个半" (两个半 = 2.5) or a lone 半 (0.5)
_ZH_NUM = re.compile(
    rf"(?P<n>[{_ZH_CHARS}\d.]*[{_ZH_CHARS}][{_ZH_CHARS}\d.]*|\d+)(?P<half>个半)?|半"
)
# digits are a number unless glued to Latin letters ("10x", "mp3s"); CJK may follow ("5年")
_EN_TOKEN = re.compile(
    r"(?P<num>\d+(?:[.,]\d+)*)(?:\s*(?P<suffix>k|m|mil|million|thousand|grand|hundred)\b)?"
    r"(?![a-z\d])|(?P<word>[a-z]+)"
)


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    start: int
    end: int
    scaled: bool  # carried a "thousand", "k", "万", a thousands comma: a large, deliberate amount


def _digits(text: str) -> float:
    """ "90,000" → 90000; "1.5" → 1.5; "1,5" → 1.5; "1.234.567" (dot thousands) → 1234567."""
    if "," in text and "." not in text:
        groups = text.split(",")
        if all(len(g) == 3 for g in groups[1:]):
            return float("".join(groups))
        return float(text.replace(",", "."))
    if text.count(".") > 1:
        return float(text.replace(".", ""))
    return float(text.replace(",", ""))


def zh_number(text: str) -> float | None:
    """A Chinese numeral, digits mixed in: 一万五 → 15000, 三十万 → 300000, 1万5 → 15000."""
    text = text.strip()
    if not text:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    total = section = 0.0  # section: the part below 万
    digit: float | None = None
    last_unit = 1
    i = 0
    while i < len(text):
        ch = text[i]
        m = re.match(r"\d+(\.\d+)?", text[i:])
        if m:
            digit = float(m.group())
            i += len(m.group())
            continue
        if ch in _ZH_DIGITS:
            digit = float(_ZH_DIGITS[ch])
        elif ch in _ZH_UNITS:
            unit = _ZH_UNITS[ch]
            section += (digit if digit is not None else 1) * unit
            digit, last_unit = None, unit
        elif ch in _ZH_BIG:
            unit = _ZH_BIG[ch]
            total = (total + section + (digit or 0)) * unit
            section, digit, last_unit = 0.0, None, unit
        elif ch != ".":
            return None
        i += 1
    if digit is not None:
        # colloquial: 一万五 = 15000, 三千二 = 3200 (a trailing digit is one unit lower)
        prev = text[-2] if len(text) >= 2 else ""
        if last_unit >= 10 and (prev in _ZH_UNITS or prev in _ZH_BIG):
            digit *= last_unit / 10
        section += digit
    return total + section


def find_numbers(text: str) -> list[Number]:
    """Every number in `text`, in order: digits ("90,000", "15k", "5年"), English words
    ("one hundred and twenty thousand", "five and a half") and Chinese ("一万五", "两个半")."""
    found: list[Number] = []
    for m in _ZH_NUM.finditer(text):
        if m.group("n") is None:  # a lone 半
            found.append(Number(0.5, m.start(), m.end(), False))
            continue
        if re.fullmatch(r"\d+", m.group("n")) and not m.group("half"):
            continue  # plain digits: the English pass reads them (with "k", "thousand")
        value = zh_number(m.group("n"))
        if value is not None:
            half = 0.5 if m.group("half") else 0.0
            big = bool(re.search("[万亿千]", m.group()))
            found.append(Number(value + half, m.start(), m.end(), big))
    taken = [(n.start, n.end) for n in found]
    found += [n for n in _en_numbers(text) if not any(s < n.end and n.start < e for s, e in taken)]
    return sorted(found, key=lambda n: n.start)


def _en_numbers(text: str) -> list[Number]:
    """Digits and English number words, read as one stream so "80 and 95 thousand" is two
    numbers and "5 hundred thousand" is one."""
    toks = list(_EN_TOKEN.finditer(text.lower().replace("-", " ")))
    out: list[Number] = []
    total = current = 0.0
    start = end = -1
    scaled = False

    def flush() -> None:
        nonlocal total, current, start, end, scaled
        if start >= 0:
            out.append(Number(total + current, start, end, scaled))
        total = current = 0.0
        start, end, scaled = -1, -1, False

    def word(k: int) -> str | None:
        return toks[k].group("word") if k < len(toks) else None

    for i, m in enumerate(toks):
        if m.group("num"):
            flush()
            current, start, end = _digits(m.group("num")), m.start(), m.end()
            scaled = "," in m.group("num") and "." not in m.group("num")
            suffix = m.group("suffix")
            if suffix:
                scale = _EN_SCALES[suffix.lower()]
                if scale == 100:
                    current *= 100
                else:
                    total, current = current * scale, 0.0
                scaled = True
            continue
        w, seen = m.group("word"), start >= 0
        nxt = word(i + 1)
        if w in ("a", "an"):
            if nxt in _WORD_SCALES and nxt not in ("k", "mil"):
                if not seen:
                    current, start, end = 1.0, m.start(), m.end()
                continue
            if nxt == "half" and seen:
                continue  # "five and a half"
            flush()
            continue
        if w in _EN_UNITS or w in _EN_TENS:
            value = EN_NUMBER_WORDS[w]
            joins = current % 100 == 0 or (
                w in _EN_UNITS and value < 10 and current % 10 == 0 and current % 100 >= 20
            )
            if seen and not joins:
                flush()
            if start < 0:
                start = m.start()
            current += value
            end = m.end()
        elif w in _WORD_SCALES and (seen or w not in ("k", "mil")):
            scale = _EN_SCALES[w]
            if start < 0:
                start = m.start()
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0.0
            end, scaled = m.end(), True
        elif (
            w == "and"
            and seen
            and (nxt in EN_NUMBER_WORDS or (nxt in ("a", "an") and word(i + 2) == "half"))
        ):
            continue
        elif w == "half":
            if not seen:
                start = m.start()
            current += 0.5
            end = m.end()
            if seen:
                flush()  # "five and a half" ends there
        else:
            flush()
    flush()
    return out


def numbers(text: str) -> list[float]:
    """The values of every number in English or Chinese text, in order."""
    return [n.value for n in find_numbers(text)]


# --- money -----------------------------------------------------------------------------

_CURRENCIES = (
    (r"\$|(?<![a-z])usd\b|dollars?|bucks", "USD"),
    (r"€|(?<![a-z])eur\b|euros?", "EUR"),
    (r"£|(?<![a-z])gbp\b|pounds?|quid", "GBP"),
    (r"¥|(?<![a-z])(rmb|cny)\b|yuan|人民币|元|块", "CNY"),
)
_PERIODS = (
    (r"per hour|an hour|hourly|/\s*h(ou)?r\b|/h\b|时薪|每小时|一小时", "hour"),
    (r"per day|a day|daily|每天|日薪", "day"),
    (r"per week|a week|weekly|每周|周薪", "week"),
    (r"per month|a month|monthly|/\s*mo(nth)?\b|月薪|每月|每个月|一个月|一月", "month"),
    (
        r"per year|a year|per annum|annual|annually|yearly|/\s*y(ea)?r\b|/y\b"
        r"|年薪|每年|一年|年包",
        "year",
    ),
)


@dataclass(frozen=True, slots=True)
class Money:
    amount: float
    currency: str | None  # ISO 4217, None when the candidate did not say
    period: str | None  # hour, day, week, month, year; None when not said

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "money",
            "amount": self.amount,
            "currency": self.currency,
            "period": self.period,
        }


def parse_money(text: str) -> Money | None:
    """The amount named (the upper end of a range: "between 80 and 90 thousand" → 90000), with
    currency and period. A small bare number ("two kids") is no salary; with a currency or a
    period it is ("50 an hour")."""
    low = text.lower()
    found = [n for n in find_numbers(text) if n.value > 0]
    currency = next((code for pat, code in _CURRENCIES if re.search(pat, low)), None)
    period = next((p for pat, p in _PERIODS if re.search(pat, low)), None)
    big = [n.value for n in found if n.scaled or n.value >= 100]
    if big:
        return Money(max(big), currency, period)
    if found and (currency or period):
        return Money(max(n.value for n in found), currency, period)
    return None


# --- durations and years -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Duration:
    iso: str  # ISO 8601: P4W, P2M, P0D
    days: float

    def to_dict(self) -> dict[str, Any]:
        return {"type": "duration", "iso": self.iso, "days": self.days}


_DURATION_UNITS = (
    (r"days?|天|日", "D", 1.0),
    (r"weeks?|周|星期|礼拜", "W", 7.0),
    (r"months?|个月|月", "M", 30.0),
    (r"years?|年", "Y", 365.0),
)
_NOW = re.compile(
    r"\b(immediately|right away|straight away|right now|asap|no notice)\b|马上|立刻|立即|随时"
)
_TOMORROW = re.compile(r"\btomorrow\b|明天")  # "I can start tomorrow": one day
_HALF = re.compile(r"half an? |半个?")
_ONE = re.compile(r"\b(a|an|one)\s+$|一个?$")
_AND_HALF = re.compile(r"\s*and a half|半")


def _count_before(low: str, at: int, found: list[Number]) -> float | None:
    """How many of the unit starting at `at`: the number just before it ("four weeks",
    "两周", "a couple of weeks"), "half a"/"半个", or "a"/"一个"; None when nothing counts it."""
    before = [
        n
        for n in found
        if n.end <= at and (at - n.end <= 3 or re.fullmatch(r"\s*of\s+", low[n.end : at]))
    ]
    if before:
        return before[-1].value
    if _HALF.search(low[max(0, at - 7) : at]):
        return 0.5
    if _ONE.search(low[:at]):
        return 1.0
    return None


def parse_duration(text: str) -> Duration | None:
    """A notice period: "four weeks" → P4W, "a month and a half" → P45D, "一个月后" → P1M,
    "right away" → P0D. The first unit said with a count wins."""
    low = text.lower()
    found = find_numbers(low)
    hits = []
    for pattern, code, days in _DURATION_UNITS:
        for m in re.finditer(pattern, low):
            count = _count_before(low, m.start(), found)
            if count is None or count >= 1000:  # "2024年" is a date, not a duration
                continue
            if count != 0.5 and _AND_HALF.match(low, m.end()):
                count += 0.5
            hits.append((m.start(), count, code, days))
    if hits:
        _, count, code, days = min(hits)
        if count == int(count):
            return Duration(f"P{int(count)}{code}", count * days)
        return Duration(f"P{round(count * days)}D", count * days)
    if _NOW.search(low):
        return Duration("P0D", 0.0)
    if _TOMORROW.search(low):
        return Duration("P1D", 1.0)
    return None


def parse_years(text: str, *, bare: bool = True) -> float | None:
    """Years of experience: "six years" → 6, "三年半" → 3.5, "half a year" → 0.5. With `bare`
    (the question asked for years) a number alone counts too: "five and a half" → 5.5."""
    low = text.lower()
    found = find_numbers(low)
    for m in re.finditer(r"years?|年", low):
        count = _count_before(low, m.start(), found)
        if count is None or count > 60:  # "2019年" is a date, not a career
            continue
        if count != 0.5 and _AND_HALF.match(low, m.end()):
            count += 0.5
        return count
    if not bare:
        return None
    units = "|".join(pattern for pattern, *_ in _DURATION_UNITS[:3])
    for n in found:
        if 0 <= n.value <= 60 and not re.match(rf"\s*(?:{units})", low[n.end :]):
            if n.value == int(n.value) and _AND_HALF.search(low):
                return n.value + 0.5
            return n.value
    return None
