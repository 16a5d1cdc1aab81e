"""Spoken values → numbers, ISO durations and ISO date-times, English and Chinese."""

from __future__ import annotations

from datetime import datetime

import pytest

from voicebot.dialogue.entities import (
    Money,
    extract,
    extract_datetime,
    extract_duration,
    extract_money,
    extract_years,
    zh_number,
)

NOW = datetime.fromisoformat("2026-05-01T07:30:00+00:00")  # Friday; 15:30 in Shanghai


@pytest.mark.parametrize(
    "text, value",
    [("一万五", 15000), ("三十万", 300000), ("两万五千", 25000), ("十五", 15), ("三千二", 3200),
     ("一百零五", 105), ("1万5", 15000), ("十", 10), ("二十三", 23)],
)  # fmt: skip
def test_chinese_numerals(text: str, value: float) -> None:
    assert zh_number(text) == value


@pytest.mark.parametrize(
    "text, money",
    [
        ("15k a month", Money(15000, None, "month")),
        ("fifteen thousand", Money(15000, None, None)),
        ("一万五", Money(15000, None, "month", assumed=("period",))),  # issue 14: per month
        ("I am hoping for around ninety thousand a year.", Money(90000, None, "year")),
        ("90,000 dollars per year", Money(90000, "USD", "year")),
        ("one hundred and twenty thousand euros", Money(120000, "EUR", None)),
        ("somewhere between 80 and 90 thousand", Money(90000, None, None, low=80000)),
        ("年薪三十万", Money(300000, None, "year")),
        ("每月两万五千元", Money(25000, "CNY", "month")),
        ("about 50 an hour", Money(50, None, "hour")),
    ],
)
def test_salaries(text: str, money: Money) -> None:
    assert extract_money(text) == money


def test_a_small_bare_number_is_not_a_salary() -> None:
    assert extract_money("I have two kids") is None


@pytest.mark.parametrize(
    "text, iso",
    [("two weeks", "P2W"), ("My notice period is four weeks.", "P4W"), ("one month", "P1M"),
     ("a month and a half", "P45D"), ("three months", "P3M"), ("I can start right away", "P0D"),
     ("一个月后", "P1M"), ("两周", "P2W"), ("半个月", "P15D"), ("随时可以入职", "P0D"),
     ("I like turtles", None)],
)  # fmt: skip
def test_notice_periods(text: str, iso: str | None) -> None:
    assert extract_duration(text) == iso


@pytest.mark.parametrize(
    "text, years",
    [("six years", 6), ("I have 5 years of Python experience", 5), ("三年半", 3.5),
     ("half a year", 0.5), ("a year and a half", 1.5), ("十年", 10), ("never used it", None)],
)  # fmt: skip
def test_years_of_experience(text: str, years: float | None) -> None:
    assert extract_years(text) == years


@pytest.mark.parametrize(
    "text, iso",
    [
        ("tomorrow at 10", "2026-05-02T10:00:00+08:00"),
        ("Can you call me tomorrow at ten?", "2026-05-02T10:00:00+08:00"),
        ("明天上午十点", "2026-05-02T10:00:00+08:00"),
        ("后天下午两点", "2026-05-03T14:00:00+08:00"),
        ("下午三点半", "2026-05-02T15:30:00+08:00"),  # now or earlier today: tomorrow
        ("call me back at 5pm", "2026-05-01T17:00:00+08:00"),
        ("monday at 2", "2026-05-04T14:00:00+08:00"),
        ("in two hours", "2026-05-01T17:30:00+08:00"),
        ("两个小时后", "2026-05-01T17:30:00+08:00"),
        ("tomorrow morning", "2026-05-02T09:00:00+08:00"),
        ("at 9:30 tomorrow", "2026-05-02T09:30:00+08:00"),
        ("next week", "2026-05-04T10:00:00+08:00"),
        ("I'm busy", None),
    ],
)
def test_call_back_times_in_the_candidates_zone(text: str, iso: str | None) -> None:
    assert extract_datetime(text, NOW, "Asia/Shanghai") == iso


def test_the_same_words_in_another_zone() -> None:
    new_york = extract_datetime("tomorrow at 10", NOW, "America/New_York")
    assert new_york == "2026-05-02T10:00:00-04:00"


def test_an_unknown_zone_is_named() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        extract_datetime("tomorrow", NOW, "Mars/Olympus")


def test_the_question_kind_decides_what_is_looked_for() -> None:
    said = "two weeks, or tomorrow at 10"
    assert extract(said, now=NOW, kind="notice").to_dict() == {"duration": "P2W"}
    assert "callback_at" in extract(said, now=NOW, kind="callback").to_dict()
