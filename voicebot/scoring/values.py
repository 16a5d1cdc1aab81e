"""Structured answers as typed values: money (amount, currency, period), durations (ISO 8601
and days), years, yes/no and choices, from what a recognizer writes down in English or
Chinese ("around ninety thousand a year", "$90k", "年薪四十万", "four weeks", "一个月").

Each parser returns None when the answer holds no such value, so the report can say "not
understood" instead of guessing. Numbers, money, durations and years come from voicebot.values,
the parser the dialogue uses during the call, so the bot and the report agree; this module adds
what only the scorer needs: yearly money, yes/no, choices and the report's typed values.
"""

from __future__ import annotations

import re
from typing import Any

from voicebot.values import (
    Duration,
    Money,
    Number,
    find_numbers,
    numbers,
    parse_duration,
    parse_money,
    parse_years,
    yearly,
    zh_number,
)

chinese_number = zh_number  # the name this module used before the parsers were shared

__all__ = [
    "PERIOD_FACTOR", "Duration", "Money", "Number", "chinese_number", "find_numbers",
    "money_per_year", "numbers", "parse_choice", "parse_duration", "parse_money", "parse_value",
    "parse_years", "parse_yes_no", "zh_number",
]  # fmt: skip

PERIOD_FACTOR = {"hour": 2080.0, "day": 260.0, "week": 52.0, "month": 12.0, "year": 1.0}


def money_per_year(value: Money, default_period: str = "year") -> float:
    """The yearly amount, so salaries said per hour or per month compare with a yearly band."""
    return yearly(value, default_period)  # monthly × months paid when said (14薪)


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


def parse_value(
    expects: str, text: str, choices: tuple[str, ...] = (), *, locale: str | None = None
) -> dict[str, Any]:
    """The typed value of a structured answer as report JSON (`value` None = not understood);
    `locale` (the job's) reads a salary the way the call did ("15K" in Chinese: per month)."""
    out: dict[str, Any]
    match expects:
        case "money":
            money = parse_money(text, locale=locale)
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
