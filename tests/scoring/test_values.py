"""Structured answers become typed values, in English and Chinese, as a recognizer writes them."""

import pytest

from voicebot.scoring.values import (
    parse_duration,
    parse_money,
    parse_value,
    parse_years,
    parse_yes_no,
)


@pytest.mark.parametrize(
    "text, amount, currency, period",
    [
        ("I am hoping for around ninety thousand a year.", 90000, None, "year"),
        ("$95,000 per year", 95000, "USD", "year"),
        ("about 120 thousand dollars", 120000, "USD", None),
        ("one hundred and five thousand", 105000, None, None),
        ("90k", 90000, None, None),
        ("5,000 euros a month", 5000, "EUR", "month"),
        ("somewhere between 80 and 95 thousand pounds annually", 95000, "GBP", "year"),
        ("年薪四十万", 400000, None, "year"),
        ("每月两万元", 20000, "CNY", "month"),
    ],
)
def test_money(text: str, amount: float, currency: str | None, period: str | None) -> None:
    money = parse_money(text)
    assert money is not None
    assert (money.amount, money.currency, money.period) == (amount, currency, period)


@pytest.mark.parametrize(
    "text, iso, days",
    [
        ("My notice period is four weeks.", "P4W", 28),
        ("two months", "P2M", 60),
        ("I could start immediately", "P0D", 0),
        ("a month and a half", "P45D", 45),
        ("30 days", "P30D", 30),
        ("一个月", "P1M", 30),
        ("两周", "P2W", 14),
        ("马上可以入职", "P0D", 0),
    ],
)
def test_duration(text: str, iso: str, days: float) -> None:
    d = parse_duration(text)
    assert d is not None and (d.iso, d.days) == (iso, days)


@pytest.mark.parametrize(
    "text, years",
    [
        ("I have six years of Python experience.", 6),
        ("five and a half years", 5.5),
        ("about 3 years", 3),
        ("twenty-two years", 22),
        ("六年", 6),
    ],
)
def test_years(text: str, years: float) -> None:
    assert parse_years(text) == years


@pytest.mark.parametrize(
    "text, value",
    [
        ("Yes, I can.", True),
        ("No, I need sponsorship.", False),
        ("是的", True),
        ("不需要", False),
        ("Hmm.", None),
    ],
)
def test_yes_no(text: str, value: bool | None) -> None:
    assert parse_yes_no(text) is value


def test_not_understood_is_none_not_a_guess() -> None:
    assert parse_money("I'd rather not say.") is None
    assert parse_duration("It depends on my manager.") is None
    assert parse_value("money", "no idea") == {"type": "money", "amount": None, "text": "no idea"}
    assert parse_value("choice", "Berlin please", ("Berlin", "Remote"))["value"] == "Berlin"
