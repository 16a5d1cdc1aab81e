"""Structured answers as typed values: money (amount, currency, period), durations (ISO 8601
and days), years, yes/no and choices, from what a recognizer writes down in English or
Chinese ("around ninety thousand a year", "$90k", "年薪四十万", "four weeks", "一个月").

Each parser returns None when the answer holds no such value, so the report can say "not
understood" instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# -- numbers -----------------------------------------------------------------------------------

_UNITS = {
    "zero": 0,
    "oh": 0,
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "couple": 2,
    "few": 3,
    "several": 3,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {
    "hundred": 100,
    "thousand": 1_000,
    "k": 1_000,
    "grand": 1_000,
    "million": 1_000_000,
    "m": 1_000_000,
    "mil": 1_000_000,
}
_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "半": 0.5,
}
_ZH_SMALL = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}

_NUM_TOKEN = re.compile(
    r"(?P<num>\d+(?:[.,]\d+)*)\s*(?P<suffix>k|m|mil|million|thousand|grand|hundred)?\b"
    r"|(?P<word>[a-z]+)",
    re.I,
)
_ZH_NUMBER = re.compile(r"[\d.]+[万千百十亿]*|[零〇一二两三四五六七八九十百千万亿半]+")


def _digits(text: str) -> float:
    """ "90,000" → 90000; "1.5" → 1.5; "1.234.567" (dot thousands) → 1234567."""
    if "," in text and "." not in text:
        groups = text.split(",")
        if all(len(g) == 3 for g in groups[1:]):
            return float("".join(groups))
        return float(text.replace(",", "."))
    if text.count(".") > 1:
        return float(text.replace(".", ""))
    return float(text.replace(",", ""))


def english_numbers(text: str) -> list[float]:
    """Every number in `text`, digits or words: "ninety thousand" → [90000.0]."""
    out: list[float] = []
    total = current = 0.0
    seen = False
    half = False

    def flush() -> None:
        nonlocal total, current, seen, half
        if seen:
            out.append(total + current + (0.5 if half else 0.0))
        total = current = 0.0
        seen = half = False

    words = list(_NUM_TOKEN.finditer(text.lower().replace("-", " ")))
    for i, m in enumerate(words):
        if m.group("num"):
            flush()
            value = _digits(m.group("num"))
            suffix = (m.group("suffix") or "").lower()
            nxt = words[i + 1].group("word") if i + 1 < len(words) else None
            if not suffix and nxt in _SCALES and nxt not in ("m", "k"):
                current, seen = value, True
                continue
            out.append(value * _SCALES.get(suffix, 1))
            continue
        word = m.group("word")
        if word in ("a", "an") and not (
            i + 1 < len(words) and words[i + 1].group("word") in (*_SCALES, "half", "couple")
        ):
            flush()
            continue
        if word in _UNITS:
            if seen and current % 10 == 0 and current >= 20 and _UNITS[word] < 10:
                current += _UNITS[word]
            else:
                if seen and current and not total:
                    flush()
                current += _UNITS[word]
            seen = True
        elif word in _TENS:
            if seen and current and current % 100:
                flush()
            current += _TENS[word]
            seen = True
        elif word in _SCALES and seen:
            scale = _SCALES[word]
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0.0
        elif word == "and" and seen:
            continue
        elif word == "half" and seen:
            half = True
        elif word == "half":
            current, seen = 0.5, True
        else:
            flush()
    flush()
    return out


def chinese_number(text: str) -> float | None:
    """ "四十万" → 400000; "3万" → 30000; "两百" → 200; "十五" → 15; "一个半" handled by caller."""
    text = text.strip()
    if not text:
        return None
    m = re.fullmatch(r"([\d.]+)([万千百十亿]*)", text)
    if m:
        value = float(m.group(1))
        for ch in m.group(2):
            value *= {**_ZH_SMALL, **_ZH_BIG}[ch]
        return value
    total = section = 0.0
    digit: float | None = None
    for ch in text:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch in _ZH_SMALL:
            section += (1 if digit is None else digit) * _ZH_SMALL[ch]
            digit = None
        elif ch in _ZH_BIG:
            total = (total + section + (digit or 0)) * _ZH_BIG[ch]
            section, digit = 0.0, None
        else:
            return None
    return total + section + (digit or 0)


def numbers(text: str) -> list[float]:
    """Numbers in English or Chinese text."""
    found = english_numbers(text)
    for m in _ZH_NUMBER.finditer(text):
        if re.search(r"[零〇一二两三四五六七八九十百千万亿半]", m.group()):
            value = chinese_number(m.group())
            if value is not None:
                found.append(value)
    return found


# -- typed values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Money:
    amount: float
    currency: str | None  # ISO 4217, None when the candidate did not say
    period: str | None  # year, month, week, day, hour; None when not said

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "money",
            "amount": self.amount,
            "currency": self.currency,
            "period": self.period,
        }


@dataclass(frozen=True, slots=True)
class Duration:
    iso: str  # ISO 8601: P4W, P2M, P0D
    days: float

    def to_dict(self) -> dict[str, Any]:
        return {"type": "duration", "iso": self.iso, "days": self.days}


_CURRENCIES = (
    (r"\$|\busd\b|dollars?|bucks", "USD"),
    (r"€|\beur\b|euros?", "EUR"),
    (r"£|\bgbp\b|pounds?|quid", "GBP"),
    (r"¥|\brmb\b|\bcny\b|yuan|人民币|元|块", "CNY"),
)
_PERIODS = (
    (r"per hour|an hour|hourly|/h\b|每小时|时薪", "hour"),
    (r"per day|a day|daily|每天|日薪", "day"),
    (r"per week|a week|weekly|每周|周薪", "week"),
    (r"per month|a month|monthly|/mo\b|每月|月薪|一个月|每个月", "month"),
    (r"per year|a year|per annum|annual|annually|yearly|/yr?\b|年薪|每年|一年", "year"),
)
PERIOD_FACTOR = {"hour": 2080.0, "day": 260.0, "week": 52.0, "month": 12.0, "year": 1.0}


def parse_money(text: str) -> Money | None:
    """The amount the candidate named (the upper end of a range), with currency and period."""
    lowered = text.lower()
    values = [v for v in numbers(text) if v >= 100]
    if not values:
        return None
    currency = next((code for pat, code in _CURRENCIES if re.search(pat, lowered)), None)
    period = next((p for pat, p in _PERIODS if re.search(pat, lowered)), None)
    return Money(max(values), currency, period)


def money_per_year(value: Money, default_period: str = "year") -> float:
    return value.amount * PERIOD_FACTOR[value.period or default_period]


_DURATION_UNITS = (
    (r"years?|年", "Y", 365.0),
    (r"months?|个月|月", "M", 30.0),
    (r"weeks?|周|星期|礼拜", "W", 7.0),
    (r"days?|天|日", "D", 1.0),
)
_NOW = re.compile(
    r"\b(immediately|right away|right now|straight away|tomorrow|asap|no notice)\b"
    r"|马上|立即|随时|立刻|明天"
)


def parse_duration(text: str) -> Duration | None:
    """ "four weeks" → P4W; "a month and a half" → P45D; "immediately" → P0D; "一个月" → P1M."""
    lowered = text.lower()
    for pattern, unit, days in _DURATION_UNITS:
        m = re.search(
            rf"([\w.,零〇一二两三四五六七八九十百半\- ]{{0,24}}?)\s*(?:{pattern})", lowered
        )
        if not m:
            continue
        head = m.group(1).replace("个", "")
        values = numbers(head) or ([1.0] if re.search(r"\b(a|an|one)\s*$|一$", head) else [])
        if not values:
            continue
        count = values[-1]
        if re.search(rf"(?:{pattern})\s*(and a half|半)", lowered):
            count += 0.5
        if count != int(count):
            return Duration(f"P{round(count * days):d}D", count * days)
        return Duration(f"P{int(count)}{unit}", count * days)
    if _NOW.search(lowered):
        return Duration("P0D", 0.0)
    return None


def parse_years(text: str) -> float | None:
    """Years of experience: "six years" → 6; "five and a half" → 5.5; "六年" → 6."""
    values = [v for v in numbers(text) if 0 <= v <= 60]
    if not values:
        return None
    value = values[0]
    if re.search(r"and a half|半", text.lower()) and value == int(value):
        value += 0.5
    return value


_YES = re.compile(
    r"\b(yes|yeah|yep|yup|sure|of course|certainly|correct|absolutely|i do|i am|i can|"
    r"that's right|definitely)\b|是的|是|对|可以|有|没问题|能"
)
_NO = re.compile(
    r"\b(no|nope|not|don't|do not|can't|cannot|need sponsorship|never)\b|不|没有|没|无"
)


def parse_yes_no(text: str) -> bool | None:
    lowered = text.lower()
    no, yes = _NO.search(lowered), _YES.search(lowered)
    if no and (not yes or no.start() <= yes.start()):
        return False
    if yes:
        return True
    return None


def parse_choice(text: str, choices: tuple[str, ...]) -> str | None:
    lowered = text.lower()
    hits = [c for c in choices if c.lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def parse_value(expects: str, text: str, choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """The typed value of a structured answer as report JSON (`value` None = not understood)."""
    out: dict[str, Any]
    match expects:
        case "money":
            money = parse_money(text)
            out = money.to_dict() if money else {"type": "money", "amount": None}
        case "duration":
            duration = parse_duration(text)
            out = duration.to_dict() if duration else {"type": "duration", "iso": None}
        case "years":
            out = {"type": "years", "years": parse_years(text)}
        case "yes_no":
            yn = parse_yes_no(text)
            out = {"type": "yes_no", "value": None if yn is None else ("yes" if yn else "no")}
        case "choice":
            out = {"type": "choice", "value": parse_choice(text, choices)}
        case _:
            raise ValueError(f"unknown value type {expects!r}")
    out["text"] = text
    return out
