"""Mandarin text for the voice (numbers, English terms) and for CER (Traditional, digits)."""

import pytest

from voicebot.speech.corpus import zh_normalisation_cases
from voicebot.speech.metrics import character_error_rate
from voicebot.speech.tts_zh import prepare_zh
from voicebot.speech.zh_text import (
    cer_tokens,
    clauses,
    normalize_zh,
    number_zh,
    spoken_latin,
    to_simplified,
)


@pytest.mark.parametrize(("text", "expected"), zh_normalisation_cases())
def test_the_labelled_normalisation_cases(text: str, expected: str) -> None:
    assert normalize_zh(text) == expected


@pytest.mark.parametrize(
    ("n", "said"),
    [
        (0, "零"),
        (10, "十"),
        (12, "十二"),
        (105, "一百零五"),
        (1010, "一千零一十"),
        (2200, "两千二百"),
        (20000, "两万"),
        (105000, "十万五千"),
        (100500, "十万零五百"),
        (250000, "二十五万"),
        (100000500, "一亿零五百"),
    ],
)
def test_integers_are_said_as_a_mandarin_speaker_says_them(n: int, said: str) -> None:
    assert number_zh(n) == said


def test_codes_and_phone_numbers_are_read_digit_by_digit() -> None:
    assert normalize_zh("订单号12345678") == "订单号一二三四五六七八"
    assert normalize_zh("区号010") == "区号零一零"


def test_english_terms_become_characters_that_sound_like_them() -> None:
    assert spoken_latin("我们用Python和Kubernetes") == "我们用派森和库伯内提斯"
    assert spoken_latin("AI助手") == "诶爱助手"  # acronyms are spelled
    # what a Mandarin-only voice is given: numbers and English both said, nothing dropped
    assert prepare_zh("期望15K，会用Java") == "期望一万五千，会用加瓦"


def test_text_is_cut_into_clauses_at_chinese_and_ascii_punctuation() -> None:
    assert clauses("您好，我是Ava。请按1！好") == [
        ("您好，", False),
        ("我是Ava。", True),
        ("请按1！", True),
        ("好", False),
    ]


def test_traditional_characters_are_made_simplified() -> None:
    assert to_simplified("請問您現在方便嗎") == "请问您现在方便吗"
    assert to_simplified("请问您现在方便吗") == "请问您现在方便吗"


def test_cer_counts_characters_words_and_numbers_as_units() -> None:
    assert cer_tokens("我用 Python，月薪15000。") == [
        "我",
        "用",
        "python",
        *"月薪一万五千",
    ]
    assert character_error_rate("請問您現在方便嗎", "请问您现在方便吗") == 0.0
    assert character_error_rate("月薪一万五千", "月薪15000") == 0.0
    assert character_error_rate("我会Python", "我会派森") == pytest.approx(2 / 3)
    assert character_error_rate("您好", "") == 1.0
