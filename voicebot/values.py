"""Spoken values shared by the dialogue (during a call) and the scorer (after it): numbers in
English and Chinese, money, notice periods and years of experience.

One parser, so the value the bot confirms on the call is the value the report scores; the
dialogue adds date-times on top (voicebot.dialogue.entities), the scorer adds typed report
values, yes/no and choices (voicebot.scoring.values). Each parser returns None when the text
holds no such value, so callers can say "not understood" instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
# (a suffix ends at anything but a Latin letter: "30k一个月" is 30k, though 一 is a \w)
_EN_TOKEN = re.compile(
    r"(?P<num>\d+(?:[.,]\d+)*)"
    r"(?:\s*(?P<suffix>k|m|mil|million|thousand|grand|hundred)(?![a-z]))?"
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

# (?![a-z]), not \b, ends a Latin word: "一万rmb一个月" (a Chinese character is a \w too)
_CURRENCIES = (
    (r"\$|(?<![a-z])usd(?![a-z])|dollars?|bucks", "USD"),
    (r"€|(?<![a-z])eur(?![a-z])|euros?", "EUR"),
    (r"£|(?<![a-z])gbp(?![a-z])|pounds?|quid", "GBP"),
    (r"¥|(?<![a-z])(rmb|cny)(?![a-z])|yuan|人民币|元|块", "CNY"),
)
_PERIODS = (
    (r"per hour|an hour|hourly|/\s*h(ou)?r(?![a-z])|/h(?![a-z])|时薪|每小时|一小时", "hour"),
    (r"per day|a day|daily|每天|日薪", "day"),
    (r"per week|a week|weekly|每周|周薪", "week"),
    (r"per month|a month|monthly|/\s*mo(nth)?(?![a-z])|月薪|每月|每个月|一个月|一月", "month"),
    (
        r"per year|a year|per annum|annual|annually|yearly|/\s*y(ea)?r(?![a-z])|/y(?![a-z])"
        r"|年薪|每年|一年|年包",
        "year",
    ),
)
PER_YEAR = {"hour": 2080.0, "day": 260.0, "week": 52.0, "month": 12.0, "year": 1.0}
# a small count (of months): not 万/千, so "一万二一个月" keeps its amount
_ZH_COUNT = r"(?:\d+(?:\.\d+)?|[零一二两三四五六七八九十]+)"
# months of pay a year: "14薪", "十三薪", "一年14个月工资", "13th month"; a year-end bonus of
# N months on top of twelve: "年终奖两个月", "两个月年终"
_MONTHS_PAID = (
    (rf"(?P<n>{_ZH_COUNT})\s*薪", 0.0),
    (rf"(?P<n>{_ZH_COUNT})\s*个月的?(?:工资|薪水|薪资|月薪)", 0.0),
    (r"(?P<n>\d+)\s*(?:months?(?: of)? (?:pay|salary)|-month (?:pay|salary))", 0.0),
    (r"(?P<n>1[3-9])(?:th|st|nd|rd) month", 0.0),
    (rf"年终奖?(?:有|是|发)?(?P<n>{_ZH_COUNT}|半)个?月", 12.0),
    (rf"(?P<n>{_ZH_COUNT}|半)个?月的?年终", 12.0),
    (r"双薪", 13.0),
)
# words that name a period or a count of months, not an amount: masked before the amounts
# are read, so "一万二一个月" is 12000 (not 一万二一) and "14薪" is no salary of 14
_NOT_AMOUNTS = re.compile(
    rf"[一1]个?月|每个?月|[一1]年|每年|半个?月|(?<![{_ZH_CHARS}\d.])(?:{_ZH_COUNT}\s*薪|"
    rf"{_ZH_COUNT}个月)|\d+(?:th|st|nd|rd) month|\d+\s*months?"
)
_BASIS = (
    (r"税前|pre-?tax|before tax|gross", "gross"),
    (r"税后|到手|after tax|take.home|(?<![a-z])net(?![a-z])", "net"),
)
_RANGE = re.compile(r"\s*(?:到|至|-|~|～|—|–|或者?|or|to)\s*")
_RANGE_AND = re.compile(r"\s*and\s*$")
_CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_YEARLY_FROM = 100_000  # a Chinese salary said without a period: per year from 10万 up


@dataclass(frozen=True, slots=True)
class Money:
    amount: float  # the figure said; the upper end of a range
    currency: str | None  # ISO 4217, None when the candidate did not say
    period: str | None  # hour, day, week, month, year; None when not said nor conventional
    low: float | None = None  # the lower end of a range ("两万到两万五": 20000), else None
    months: float | None = None  # months of pay a year when said ("14薪": 14), else None
    basis: str | None = None  # "gross" (税前) or "net" (税后, 到手) when said
    assumed: tuple[str, ...] = ()  # fields read by convention, not said: ("period",)

    @property
    def annual(self) -> float | None:
        """The yearly amount, monthly pay times the months paid (12 unless said)."""
        if self.period is None:
            return None
        if self.period == "month" and self.months:
            return self.amount * self.months
        return self.amount * PER_YEAR[self.period]

    def to_dict(self, *, typed: bool = True) -> dict[str, Any]:
        """amount, currency, period; low, months, basis, assumed and annual only when said, so
        a plain answer keeps the plain shape."""
        out: dict[str, Any] = {"type": "money"} if typed else {}
        out.update(amount=self.amount, currency=self.currency, period=self.period)
        if self.low is not None:
            out["low"] = self.low
        if self.months is not None:
            out["months"] = self.months
            out["annual"] = self.annual
        if self.basis is not None:
            out["basis"] = self.basis
        if self.assumed:
            out["assumed"] = list(self.assumed)
        return out


def yearly(value: Money | Mapping[str, Any], default_period: str = "year") -> float:
    """The yearly amount of a Money or its dict: monthly pay × the months paid (14薪 → 14,
    else 12), other periods by PER_YEAR; `default_period` when none was said."""
    if isinstance(value, Money):
        amount, period, months = value.amount, value.period, value.months
    else:
        amount, period, months = value["amount"], value.get("period"), value.get("months")
    period = period or default_period
    if period == "month" and months:
        return float(amount) * float(months)
    return float(amount) * PER_YEAR[period]


def _months_paid(low: str) -> float | None:
    for pattern, base in _MONTHS_PAID:
        m = re.search(pattern, low)
        if not m:
            continue
        n = m.groupdict().get("n")
        count = 0.5 if n == "半" else (zh_number(n) if n else 0.0)
        if count is None:
            continue
        months = base + count
        if 12 < months <= 24:
            return months
    return None


def _scale(text: str) -> float:
    """The scale a number was said with: 1000 for "20k", 10000 for "两万", else 1."""
    if "万" in text:
        return 10_000.0
    if re.search(r"k|thousand|grand|千", text.lower()):
        return 1000.0
    return 1.0


def parse_money(text: str, *, locale: str | None = None) -> Money | None:
    """The amount named (the upper end of a range: "between 80 and 90 thousand" → 90000, low
    80000), with currency, period, months of pay a year (14薪) and gross or net. A small bare
    number ("two kids") is no salary; with a currency or a period it is ("50 an hour").

    Chinese answers (`locale` zh, or Chinese text when no locale is given) follow Chinese
    recruiting: a salary said without a period is monthly below 10万 ("一万五", "15K") and
    yearly from 10万 ("三十万"); the period is then marked as assumed."""
    low = text.lower()
    masked = _NOT_AMOUNTS.sub(lambda m: " " * len(m.group()), low)
    found = [n for n in find_numbers(masked) if n.value > 0]
    currency = next((code for pat, code in _CURRENCIES if re.search(pat, low)), None)
    period = next((p for pat, p in _PERIODS if re.search(pat, low)), None)
    big = [n for n in found if n.scaled or n.value >= 100]
    if not big and found and (currency or period):
        big = found
    if not big:
        return None
    top = max(big, key=lambda n: n.value)
    bottom = _range_low(masked, found, top)
    months = _months_paid(low)
    if months is not None and period is None:
        period = "month"  # 14薪 is said of a monthly salary
    basis = next((b for pat, b in _BASIS if re.search(pat, low)), None)
    assumed: tuple[str, ...] = ()
    chinese = locale.lower().startswith("zh") if locale else bool(_CJK.search(text))
    if period is None and chinese:
        period = "year" if top.value >= ZH_YEARLY_FROM else "month"
        assumed = ("period",)
    return Money(top.value, currency, period, bottom, months, basis, assumed)


def _range_low(text: str, found: list[Number], top: Number) -> float | None:
    """The lower end when `top` closes a range ("两万到两万五", "15到20k", "between 80 and 90
    thousand"); a bare lower end takes the upper end's scale ("15到20k" → 15000)."""
    before = [n for n in found if n.end <= top.start]
    if not before:
        return None
    first = before[-1]
    gap = text[first.end : top.start]
    between = _RANGE_AND.fullmatch(gap) and re.search(r"between\s*$", text[: first.start])
    if not (_RANGE.fullmatch(gap) or between):
        return None
    value = first.value
    if not first.scaled and value < 100 and top.value >= 1000:
        value *= _scale(text[top.start : top.end])
    return value if value < top.value else None


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
