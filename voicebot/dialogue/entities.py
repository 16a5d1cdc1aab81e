"""Entity normalisation shared by both dialogue engines: spoken money, durations, years and
call-back times, in English and Chinese, turned into numbers, ISO 8601 durations and ISO 8601
date-times in the candidate's time zone.

Rasa finds entity spans too, but the values a dialer and a scorer can use ("15k a month" →
15000 per month, "一个月后" → P1M, "明天上午十点" → 2026-05-02T10:00:00+08:00) come from here,
so the built-in engine and the Rasa actions agree on them. Numbers, money, durations and years
come from voicebot.values, the parser the scorer uses too; date-times are the dialogue's own.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicebot.values import (
    EN_NUMBER_WORDS,
    Money,
    Number,
    find_numbers,
    parse_duration,
    parse_money,
    parse_years,
    zh_number,
)

__all__ = [
    "Entities", "Money", "Number", "extract", "extract_datetime", "extract_duration",
    "extract_money", "extract_years", "find_numbers", "zh_number", "zone_info",
]  # fmt: skip

# --- money, durations, years: the shared parser, in the shapes the dialogue records ---------


def extract_money(text: str, *, locale: str | None = None) -> Money | None:
    """The salary in an answer: "15k a month" → Money(15000, None, "month"); in a Chinese
    call "一万五" → 15000 a month (assumed), "税前月薪2万，14薪" → 20000 a month, 14 months."""
    return parse_money(text, locale=locale)


def extract_duration(text: str) -> str | None:
    """A notice period as ISO 8601: "two weeks" → P2W, "一个月后" → P1M, "right away" → P0D."""
    duration = parse_duration(text)
    return duration.iso if duration else None


def extract_years(text: str, *, bare: bool = False) -> float | None:
    """Years of experience: "six years" → 6, "三年半" → 3.5. A bare number ("six") counts only
    when `bare` (the question asked for years), else "two weeks" would be two years."""
    return parse_years(text, bare=bare)


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
        elif word in EN_NUMBER_WORDS and word not in ("oh", "couple", "few", "several"):
            hour = EN_NUMBER_WORDS[word]
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
                else float(EN_NUMBER_WORDS.get(amount_text, 1))
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
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.money is not None:
            out["money"] = self.money.to_dict(typed=False)
        return out


def extract(
    text: str,
    *,
    now: datetime,
    tz: str = "UTC",
    kind: str | None = None,
    locale: str | None = None,
) -> Entities:
    """The values in one utterance; `kind` (a question kind) limits the search to what the
    question expects, so "two weeks" is a notice period, not a call-back time; `locale` (the
    call's) decides the conventions of a salary said without a period ("15K" in a Chinese call
    is per month)."""
    want = {
        "salary": {"money"},
        "notice": {"duration"},
        "years": {"years"},
        "callback": {"callback_at"},
    }.get(kind or "", {"money", "duration", "years", "callback_at"})
    return Entities(
        money=extract_money(text, locale=locale) if "money" in want else None,
        duration=extract_duration(text) if "duration" in want else None,
        years=extract_years(text, bare=kind == "years") if "years" in want else None,
        callback_at=extract_datetime(text, now, tz) if "callback_at" in want else None,
    )
