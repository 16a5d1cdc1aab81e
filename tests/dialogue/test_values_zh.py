"""Mandarin salaries, notice periods and years, as a recognizer writes them: the labelled
answers of tests/data/dialogue-zh/values.yaml (both splits; written before the parser was
fixed) and the rules behind them (ranges, months of pay a year, gross or net, the period a
Chinese salary is read in when none is said)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from voicebot.values import Money, parse_duration, parse_money, parse_years, yearly

DATA = Path(__file__).resolve().parents[1] / "data" / "dialogue-zh"
VALUES = yaml.safe_load((DATA / "values.yaml").read_text(encoding="utf-8"))["items"]


def money_view(money: Money | None) -> dict[str, Any]:
    """The labelled fields of a parsed salary (`months` is `Money.months`)."""
    if money is None:
        return {}
    d = money.to_dict()
    return {
        "amount": money.amount,
        "low": money.low,
        "period": money.period,
        "months": money.months,
        "basis": money.basis,
        "currency": money.currency,
        "annual": d.get("annual"),
    }


@pytest.mark.parametrize("item", VALUES, ids=[f"{i['split']}:{i['text']}" for i in VALUES])
def test_labelled_mandarin_values(item: dict[str, Any]) -> None:
    text = item["text"]
    match item["kind"]:
        case "salary":
            got = money_view(parse_money(text, locale=item.get("locale", "zh")))
            assert got, f"no salary in {text!r}"
            assert {k: got[k] for k in item["money"]} == item["money"]
        case "notice":
            duration = parse_duration(text)
            assert (duration.iso if duration else None) == item["duration"]
        case "years":
            assert parse_years(text) == item["years"]


def test_30k_a_month_is_thirty_thousand_not_one() -> None:
    assert parse_money("30k一个月") == Money(30000, None, "month")
    assert parse_money("I'd want 30k a month") == Money(30000, None, "month")


def test_months_of_pay_make_the_yearly_amount() -> None:
    money = parse_money("税前月薪2万，14薪")
    assert money is not None and (money.months, money.basis) == (14, "gross")
    assert money.annual == yearly(money) == 280_000
    assert yearly(money.to_dict()) == 280_000
    assert parse_money("月薪2万").annual == 240_000  # twelve months when none are said


def test_a_period_read_by_convention_is_marked_assumed() -> None:
    assert parse_money("一万五") == Money(15000, None, "month", assumed=("period",))
    assert parse_money("三十万") == Money(300000, None, "year", assumed=("period",))
    assert parse_money("月薪一万五").assumed == ()
    assert parse_money("一万五").to_dict()["assumed"] == ["period"]


def test_15k_follows_the_calls_language() -> None:
    """No Chinese character in "15K": the call's locale decides."""
    assert parse_money("15K", locale="zh") == Money(15000, None, "month", assumed=("period",))
    assert parse_money("15K", locale="en") == Money(15000, None, None)
    assert parse_money("15K") == Money(15000, None, None)


def test_two_amounts_without_a_range_word_are_no_range() -> None:
    money = parse_money("我现在月薪一万八，期望两万")
    assert money is not None and (money.amount, money.low) == (20000, None)


def test_plain_answers_keep_the_plain_shape() -> None:
    """What reports and stored calls already hold does not change for a plain answer."""
    assert parse_money("about 90,000 dollars per year").to_dict() == {
        "type": "money", "amount": 90000, "currency": "USD", "period": "year",
    }  # fmt: skip
    assert parse_money("I have two kids") is None
    assert parse_money("13薪") is None  # months of pay, no amount


def test_the_scorer_counts_the_months_of_pay() -> None:
    """The report's yearly figure (knock-outs against a yearly band) is the one said on the
    call: 2万 × 14 months, not × 12."""
    from voicebot.scoring.values import money_per_year

    assert money_per_year(parse_money("税前月薪2万，14薪")) == 280_000
    assert money_per_year(parse_money("月薪2万")) == 240_000
    assert money_per_year(parse_money("90k"), "year") == 90_000


def test_the_report_reads_a_salary_in_the_jobs_language() -> None:
    from voicebot.scoring.values import parse_value

    assert parse_value("money", "15K", locale="zh")["period"] == "month"
    assert parse_value("money", "15K", locale="en")["period"] is None
