"""Entity normalisation shared by both dialogue engines: spoken money, durations, years and
call-back times, in English and Chinese, turned into numbers, ISO 8601 durations and ISO 8601
date-times in the candidate's time zone.

Rasa finds entity spans too, but the values a dialer and a scorer can use ("15k a month" →
15000 per month, "一个月后" → P1M, "明天上午十点" → 2026-05-02T10:00:00+08:00) come from here,
so the built-in engine and the Rasa actions agree on them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# --- numbers ---------------------------------------------------------------------------

_EN_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "a": 1, "an": 1, "couple": 2, "few": 3,
}  # fmt: skip
_EN_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000, "k": 1000, "million": 1_000_000}
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}
_ZH_NUM = re.compile(r"[零〇一二两俩三四五六七八九十百千万亿\d.]+")
_DIGITS = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(k|m|grand|thousand|million|hundred)?\b", re.I)


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    start: int
    end: int
    scaled: bool  # carried a "thousand", "k", "万"...: a large, deliberate amount


def zh_number(text: str) -> float | None:
    """A Chinese numeral (or digits mixed with 万/千): 一万五 → 15000, 三十万 → 300000."""
    text = text.strip()
    if not text:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    total = 0.0
    section = 0.0  # below 万
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
        elif ch == ".":
            pass
        else:
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
    """Every number in `text`: digits ("90,000", "15k"), English words ("ninety thousand",
    "one hundred and twenty thousand") and Chinese numerals ("一万五")."""
    found: list[Number] = []
    for m in _DIGITS.finditer(text):
        value = float(m.group(1).replace(",", ""))
        scale = (m.group(2) or "").lower()
        if scale == "m":
            scale = "million"
        value *= _EN_SCALES.get(scale, 1)
        found.append(Number(value, m.start(), m.end(), bool(scale) or "," in m.group(1)))
    for m in _ZH_NUM.finditer(text):
        if re.fullmatch(r"[\d.,]+", m.group()) or not m.group().strip("."):
            continue
        value = zh_number(m.group())
        if value is not None:
            big = any(c in m.group() for c in "万亿千")
            found.append(Number(value, m.start(), m.end(), big))
    found.extend(_en_word_numbers(text))
    return sorted(found, key=lambda n: n.start)


def _en_word_numbers(text: str) -> list[Number]:
    words = [(m.group().lower(), m.start(), m.end()) for m in re.finditer(r"[A-Za-z]+", text)]
    out: list[Number] = []
    i = 0
    while i < len(words):
        word = words[i][0]
        if (word not in _EN_UNITS and word not in _EN_SCALES) or word in ("a", "an", "k"):
            # "a"/"an" count only before a scale word ("a hundred"), "k" only after digits
            if not (word in ("a", "an") and i + 1 < len(words) and words[i + 1][0] in _EN_SCALES):
                i += 1
                continue
        total, current, scaled, j = 0.0, 0.0, False, i
        while j < len(words):
            w = words[j][0]
            if w in _EN_UNITS and (w not in ("a", "an") or j == i):
                current += _EN_UNITS[w]
            elif w in _EN_SCALES and w != "k":
                scale = _EN_SCALES[w]
                scaled = True
                if scale == 100:
                    current = (current or 1) * 100
                else:
                    total += (current or 1) * scale
                    current = 0.0
            elif w == "and" and j + 1 < len(words) and words[j + 1][0] in _EN_UNITS:
                pass
            elif w == "half" and j > i:
                current += 0.5
            else:
                break
            j += 1
        if j == i:
            i += 1
            continue
        out.append(Number(total + current, words[i][1], words[j - 1][2], scaled))
        i = j
    return out


# --- money -----------------------------------------------------------------------------

_CURRENCIES = (
    (r"\$|dollars?|bucks|usd", "USD"),
    (r"€|euros?|eur\b", "EUR"),
    (r"£|pounds?|gbp", "GBP"),
    (r"¥|元|块|人民币|rmb|yuan|cny", "CNY"),
)
_PERIODS = (
    (r"an hour|per hour|hourly|/\s*h(ou)?r|时薪|每小时|一小时", "hour"),
    (r"a month|per month|monthly|/\s*mo(nth)?|月薪|每月|每个月|一个月|一月", "month"),
    (r"a year|per year|per annum|annual|annually|yearly|/\s*y(ea)?r|年薪|每年|一年|年包", "year"),
)


@dataclass(frozen=True, slots=True)
class Money:
    amount: float
    currency: str | None  # ISO 4217, None when not said
    period: str | None  # "hour" | "month" | "year", None when not said


def extract_money(text: str) -> Money | None:
    """The salary in an answer: "15k a month" → Money(15000, None, "month")."""
    numbers = [n for n in find_numbers(text) if n.value > 0]
    if not numbers:
        return None
    low = text.lower()
    currency = next((code for pat, code in _CURRENCIES if re.search(pat, low)), None)
    period = next((p for pat, p in _PERIODS if re.search(pat, low)), None)
    # the amount: the largest deliberate number ("between 80 and 90 thousand" → 90000; a
    # range's lower end said without its scale inherits it)
    best = max(numbers, key=lambda n: (n.scaled, n.value))
    if not best.scaled and best.value < 100 and currency is None and period is None:
        return None
    return Money(best.value, currency, period)


# --- durations and years -----------------------------------------------------------------

_DURATION_UNITS = (
    (r"days?|天|日", "D", 1),
    (r"weeks?|周|星期|礼拜", "W", 7),
    (r"months?|个月|月", "M", 30),
    (r"years?|年", "Y", 365),
)
_NOW = re.compile(r"immediately|right away|straight away|right now|\basap\b|马上|立刻|立即|随时")
_HALF = re.compile(r"half an? |半个?")
_ONE = re.compile(r"\b(a|an|one)\s+$|一个?$")


def extract_duration(text: str) -> str | None:
    """A notice period as ISO 8601: "two weeks" → P2W, "一个月后" → P1M, "right away" → P0D."""
    low = text.lower()
    numbers = find_numbers(low)
    for pattern, code, days in _DURATION_UNITS:
        for m in re.finditer(pattern, low):
            before = [n for n in numbers if n.end <= m.start() and m.start() - n.end <= 3]
            if before:
                value = before[-1].value
            elif _HALF.search(low[max(0, m.start() - 7) : m.start()]):
                value = 0.5
            elif _ONE.search(low[: m.start()]):
                value = 1.0
            else:
                continue
            if re.match(r"\s*and a half|半", low[m.end() : m.end() + 12]):
                value += 0.5
            return _iso_duration(value, code, days)
    if _NOW.search(low):
        return "P0D"
    return None


def _iso_duration(value: float, code: str, days: int) -> str:
    if value == int(value):
        return f"P{int(value)}{code}"
    return f"P{round(value * days)}D"


def extract_years(text: str) -> float | None:
    """Years of experience: "six years" → 6, "三年半" → 3.5, "half a year" → 0.5."""
    low = text.lower()
    for m in re.finditer(r"years?|年", low):
        numbers = [n for n in find_numbers(low) if n.end <= m.start() and m.start() - n.end <= 3]
        tail = low[m.end() : m.end() + 12]
        half = 0.5 if re.match(r"\s*and a half|半", tail) else 0.0
        if numbers:
            return numbers[-1].value + half
        if _HALF.search(low[max(0, m.start() - 7) : m.start()]):
            return 0.5
        if _ONE.search(low[: m.start()]):
            return 1.0 + half
    return None


# --- call-back date-times -----------------------------------------------------------------

_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "周一": 0, "周二": 1, "周三": 2, "周四": 3, "周五": 4, "周六": 5, "周日": 6,
    "周天": 6, "星期一": 0, "星期二": 1, "星期三": 2, "星期四": 3, "星期五": 4, "星期六": 5,
    "星期日": 6, "星期天": 6, "礼拜一": 0, "礼拜二": 1, "礼拜三": 2, "礼拜四": 3, "礼拜五": 4,
}  # fmt: skip
_DAY_WORDS = (
    (r"day after tomorrow|后天", 2),
    (r"tomorrow|明天|明早|明晚", 1),
    (r"today|tonight|this (morning|afternoon|evening)|later|今天|今晚|今早|待会|一会", 0),
)
_PARTS = (  # part of day: default hour and whether a small hour means pm
    (r"morning|上午|早上|早晨|明早|今早", 9, False),
    (r"afternoon|下午", 14, True),
    (r"evening|tonight|晚上|今晚|明晚", 18, True),
    (r"noon|中午", 12, True),
)
_CLOCK_EN = re.compile(
    r"\b(?:at|around|about|after|by)?\s*(\d{1,2}|[a-z]+)(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.|o'?clock)?",
)
_CLOCK_ZH = re.compile(
    r"([零〇一二两三四五六七八九十\d]+)\s*[点點时](半|([零〇一二三四五六七八九十\d]+)分?)?"
)
_RELATIVE = re.compile(
    r"in (an?|one|two|three|four|five|six|\d+|half an) (minutes?|hours?|days?)"
    r"|([零〇一二两三四五六七八九十\d半]+)个?(分钟|小时|钟头|天)(之?后|以后)"
)


def zone_info(name: str) -> ZoneInfo:
    """The IANA zone `name`; an unknown name is an error naming it, not a silent UTC."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name such as 'Asia/Shanghai')"
        ) from None


def extract_datetime(text: str, now: datetime, tz: str = "UTC") -> str | None:
    """A call-back time as an ISO 8601 date-time in `tz`: "tomorrow at 10" and "明天上午十点"
    → the next day, 10:00. None when the utterance names no day and no time."""
    zone = zone_info(tz)
    local = now.astimezone(zone)
    low = text.lower()
    rel = _RELATIVE.search(low)
    if rel:
        return _relative(rel, local).isoformat(timespec="seconds")
    day_offset: int | None = None
    for pattern, offset in _DAY_WORDS:
        if re.search(pattern, low):
            day_offset = offset
            break
    if day_offset is None:
        for name, wd in _WEEKDAYS.items():
            if re.search(rf"\b{name}\b" if name.isascii() else name, low):
                day_offset = (wd - local.weekday()) % 7 or 7
                break
    if day_offset is None and re.search(r"next week|下周|下个星期|下礼拜", low):
        day_offset = 7 - local.weekday()  # next Monday
    part = next(((h, pm) for pat, h, pm in _PARTS if re.search(pat, low)), None)
    clock = _clock(low, part[1] if part else None)
    if day_offset is None and clock is None and part is None:
        return None
    hour, minute = clock if clock is not None else ((part[0], 0) if part else (10, 0))
    day = local.date() + timedelta(days=day_offset or 0)
    when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    if day_offset is None and when <= local:
        when += timedelta(days=1)  # "at 3" said after 3 means tomorrow
    return when.isoformat(timespec="seconds")


def _clock(low: str, pm_hint: bool | None) -> tuple[int, int] | None:
    m = _CLOCK_ZH.search(low)
    if m:
        hour = zh_number(m.group(1))
        minute = 30 if m.group(2) == "半" else int(zh_number(m.group(3)) or 0) if m.group(3) else 0
        if hour is None:
            return None
        return _to_24h(int(hour), minute, None, pm_hint)
    for m in _CLOCK_EN.finditer(low):
        word, minutes, suffix = m.group(1), m.group(2), m.group(3)
        has_at = re.match(r"\s*(at|around|about|after|by)\b", m.group(0)) is not None
        if word.isdigit():
            hour = int(word)
        elif word in _EN_UNITS and word not in ("a", "an", "oh", "couple", "few"):
            hour = _EN_UNITS[word]
        else:
            continue
        if not (suffix or minutes or has_at) or hour > 23:
            continue
        return _to_24h(hour, int(minutes or 0), suffix, pm_hint)
    return None


def _to_24h(hour: int, minute: int, suffix: str | None, pm_hint: bool | None) -> tuple[int, int]:
    suffix = (suffix or "").replace(".", "")
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    elif not suffix.endswith("m") and hour < 12:
        if pm_hint or (pm_hint is None and 1 <= hour <= 7):
            hour += 12  # "at 3" on a phone call means the afternoon
    return hour % 24, min(minute, 59)


def _relative(m: re.Match[str], local: datetime) -> datetime:
    if m.group(1):
        amount_text, unit = m.group(1), m.group(2)
        amount = (
            0.5
            if amount_text == "half an"
            else (
                float(amount_text)
                if amount_text.isdigit()
                else float(_EN_UNITS.get(amount_text, 1))
            )
        )
    else:
        amount_text, unit = m.group(3), m.group(4)
        amount = 0.5 if amount_text == "半" else float(zh_number(amount_text) or 1)
    if unit.startswith("minute") or unit == "分钟":
        delta = timedelta(minutes=amount)
    elif unit.startswith("hour") or unit in ("小时", "钟头"):
        delta = timedelta(hours=amount)
    else:
        delta = timedelta(days=amount)
    return (local + delta).replace(second=0, microsecond=0)


# --- all at once ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entities:
    money: Money | None = None
    duration: str | None = None  # ISO 8601 duration
    years: float | None = None
    callback_at: str | None = None  # ISO 8601 date-time in the candidate's zone

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def extract(text: str, *, now: datetime, tz: str = "UTC", kind: str | None = None) -> Entities:
    """The values in one utterance; `kind` (a question kind) limits the search to what the
    question expects, so "two weeks" is a notice period, not a call-back time."""
    want = {
        "salary": {"money"},
        "notice": {"duration"},
        "years": {"years"},
        "callback": {"callback_at"},
    }.get(kind or "", {"money", "duration", "years", "callback_at"})
    return Entities(
        money=extract_money(text) if "money" in want else None,
        duration=extract_duration(text) if "duration" in want else None,
        years=extract_years(text) if "years" in want else None,
        callback_at=extract_datetime(text, now, tz) if "callback_at" in want else None,
    )
