"""Mandarin text for speech: what the bot's Chinese voice is given, and how Chinese transcripts
are compared.

A Chinese voice reads characters; digits, "15K", "15%" and English words must become the words a
person says (一万五千, 百分之十五) before grapheme-to-phoneme, or the voice skips or misreads them.
Whisper writes Traditional characters for some Mandarin audio: `to_simplified` turns them back.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any

_DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ((1000, "千"), (100, "百"), (10, "十"))
# measure words after which a lone 2 is said 两 (两个, 两年), never 二
_MEASURE = "个位年月周天次种家份本条项岁人点台行门轮场句分钟小"
_ORDINAL_BEFORE = "第初"


def _below_10000(n: int, leading: bool) -> str:
    """0 < n < 10000 in characters; `leading` = nothing bigger was said before it (十二, not
    一十二), and a leading 2 before 百/千 is the colloquial 两."""
    out = ""
    started = zero = False
    for digit, unit in zip(
        (n // 1000, n // 100 % 10, n // 10 % 10, n % 10), "千百十 ", strict=True
    ):
        unit = unit.strip()
        if digit == 0:
            zero = started
            continue
        if zero:
            out += "零"
            zero = False
        if digit == 1 and unit == "十" and leading and not started:
            out += "十"
        elif digit == 2 and unit in ("千", "百") and not started:
            out += "两" + unit
        else:
            out += _DIGITS[digit] + unit
        started = True
    return out


def number_zh(n: int) -> str:
    """An integer as it is said in Mandarin: 15000 → 一万五千, 200 → 两百, 105 → 一百零五."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + number_zh(-n)
    parts: list[str] = []
    started = zero = False
    for size, unit in ((10**8, "亿"), (10**4, "万"), (1, "")):
        group = n // size if unit == "亿" else n // size % 10000
        if group == 0:
            zero = zero or started
            continue
        if started and (zero or group < 1000):
            parts.append("零")
        zero = False
        if group == 2 and unit:
            text = "两"  # 两万, 两亿
        elif group >= 10000:
            text = number_zh(group)
        else:
            text = _below_10000(group, leading=not started)
        parts.append(text + unit)
        started = True
    return "".join(parts)


def digits_zh(digits: str) -> str:
    """Digit by digit (years, phone keys, codes): 2026 → 二零二六."""
    return "".join(_DIGITS[int(d)] for d in digits)


def _decimal(m: re.Match[str]) -> str:
    whole, frac = m.group(1), m.group(2)
    return number_zh(int(whole)) + "点" + digits_zh(frac)


def _integer(m: re.Match[str]) -> str:
    digits = m.group(0)
    before = m.string[m.start() - 1] if m.start() else ""
    after = m.string[m.end()] if m.end() < len(m.string) else ""
    code = digits.startswith("0") and len(digits) > 1
    if code or (len(digits) >= 7 and after not in ("万", "亿")):
        return digits_zh(digits)  # 010, order numbers, phone numbers
    n = int(digits)
    if n == 2 and after and after in _MEASURE and not (before and before in _ORDINAL_BEFORE):
        return "两"
    return number_zh(n)


def normalize_zh(text: str) -> str:
    """Digits, money shorthand, percentages, times and years as Mandarin words; English words,
    Chinese text and punctuation are kept as they are."""
    text = text.replace("％", "%").replace("：", ":")
    text = re.sub(
        r"(?<![\d.])(\d+)\s*[kK](?![A-Za-z])", lambda m: str(int(m.group(1)) * 1000), text
    )
    text = re.sub(r"(?<![\d.])(\d+)\s*[wW](?![A-Za-z])", lambda m: m.group(1) + "万", text)
    text = re.sub(r"(\d+)(?:\.(\d+))?\s*%", _percent, text)
    text = re.sub(r"(?<!\d)(\d{1,2}):(\d{2})(?!\d)", _clock, text)
    text = re.sub(r"(?<!\d)(\d{4})(?=\s*年)", lambda m: digits_zh(m.group(1)), text)
    text = re.sub(r"(?<=[按拨键])\s*(\d+)", lambda m: digits_zh(m.group(1)), text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 15,000
    text = re.sub(r"(\d+)\.(\d+)", _decimal, text)
    return re.sub(r"\d+", _integer, text)


def _percent(m: re.Match[str]) -> str:
    number = number_zh(int(m.group(1)))
    if m.group(2):
        number += "点" + digits_zh(m.group(2))
    return "百分之" + number


def _clock(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    said = ("两" if hour == 2 else number_zh(hour)) + "点"
    if minute == 30:
        return said + "半"
    return said + (f"{number_zh(minute)}分" if minute else "")


# --- English words, for a voice that only has Mandarin phonemes --------------------------------

# How Chinese speakers commonly say these terms; an all-Latin word not listed is spelled out.
LATIN_READINGS: dict[str, str] = {
    "python": "派森",
    "kubernetes": "库伯内提斯",
    "k8s": "开八斯",
    "java": "加瓦",
    "javascript": "加瓦斯克瑞普特",
    "typescript": "泰普斯克瑞普特",
    "docker": "道克",
    "redis": "瑞迪斯",
    "mysql": "麦艾斯丘艾欧",
    "postgresql": "泊斯特格瑞艾斯丘艾欧",
    "postgres": "泊斯特格瑞斯",
    "kafka": "卡夫卡",
    "linux": "林纳克斯",
    "git": "吉特",
    "github": "吉特哈布",
    "golang": "够浪",
    "go": "够",
    "nginx": "恩静克斯",
    "react": "瑞艾克特",
    "spring": "斯普林",
    "excel": "艾克赛尔",
    "email": "伊妹儿",
    "acme": "艾克米",
    "ava": "艾娃",
    "ok": "欧开",
    "offer": "奥佛",
    "bug": "巴格",
}
_LETTERS = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyz",
        "诶 比 西 迪 伊 艾弗 吉 艾尺 爱 杰 开 艾勒 艾姆 恩 欧 批 丘 阿尔 艾斯 提 优 维 达布溜 "
        "艾克斯 歪 贼".split(),
        strict=True,
    )
)


def _latin_word(m: re.Match[str]) -> str:
    word = m.group(0)
    reading = LATIN_READINGS.get(word.lower())
    if reading is not None:
        return reading
    return "".join(_LETTERS.get(c, "") or digits_zh(c) for c in word.lower())


def spoken_latin(text: str) -> str:
    """English words in Chinese characters that sound like them (Python → 派森), for a voice
    without English phonemes; acronyms and unknown words are spelled (AI → 诶爱)."""
    return re.sub(r"[A-Za-z][A-Za-z0-9+#]*", _latin_word, text)


# --- clauses: the unit a Chinese voice renders at a time ---------------------------------------

_CLAUSE_END = "，,、；;：:。．.！!？?…"
_SENTENCE_END = "。．.！!？?…"


def clauses(text: str) -> list[tuple[str, bool]]:
    """`text` cut after each Chinese or ASCII punctuation mark: (clause, ends a sentence)."""
    out: list[tuple[str, bool]] = []
    for part in re.findall(rf"[^{_CLAUSE_END}]+[{_CLAUSE_END}]*|[{_CLAUSE_END}]+", text):
        stripped = part.strip()
        if not stripped:
            continue
        end = stripped.rstrip("”’\"' ")[-1:]
        out.append((stripped, end in _SENTENCE_END))
    return out


# --- transcripts ------------------------------------------------------------------------------

_CONVERTER: Any = None
_CONVERTER_LOCK = threading.Lock()


def to_simplified(text: str) -> str:
    """Traditional characters as Simplified (OpenCC t2s); text already Simplified is unchanged."""
    global _CONVERTER
    if not text:
        return text
    with _CONVERTER_LOCK:
        if _CONVERTER is None:
            import opencc

            _CONVERTER = opencc.OpenCC("t2s")
    return str(_CONVERTER.convert(text))


@cache
def _cjk() -> re.Pattern[str]:
    return re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[a-z]+|[0-9]+")


def cer_tokens(text: str) -> list[str]:
    """What a character error rate counts: each Chinese character, each English word and each
    number (said as Mandarin words first, so 15000 and 一万五千 agree); punctuation and
    spaces are not counted."""
    text = normalize_zh(to_simplified(text)).lower()
    return _cjk().findall(text)
