"""How much silence ends a turn: a complete short answer at once, a story or an unknown answer
after the hangover, an answer trailing off on "and", "um", 然后 only after a longer wait."""

from __future__ import annotations

import pytest

from voicebot.speech.turn import TurnTiming, complete_answer, silence_needed_ms, trails_off

T = TurnTiming(complete_ms=200, finished_ms=300, hangover_ms=700, trailing_ms=1500)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("salary", "About ninety thousand a year."),
        ("salary", "90k."),
        ("notice", "Two weeks."),
        ("notice", "One month."),
        ("years", "Six years."),
        ("years", "Five and a half."),
        ("consent", "Yes, that's fine."),
        ("consent", "No."),
        ("yes_no", "Sure."),
        ("salary", "一万五。"),
    ],
)
def test_a_complete_short_answer_ends_after_200_ms(kind: str, text: str) -> None:
    assert complete_answer(kind, text, "zh" if "万" in text else "en")
    assert silence_needed_ms(kind, text, 1.5, T, "zh" if "万" in text else "en") == 200


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("salary", "It depends on the role."),  # finished, but no sum in it
        ("years", "Quite a while."),
        ("consent", "What is this about?"),
        ("open", "I like the product."),
    ],
)
def test_a_finished_answer_without_the_value_asked_for_ends_after_300_ms(
    kind: str, text: str
) -> None:
    assert not complete_answer(kind, text)
    assert silence_needed_ms(kind, text, 1.5, T) == 300


@pytest.mark.parametrize(
    "text",
    [
        "About ninety thousand and",
        "Six years, um",
        "Um...",
        "Let me think,",
        "because",
        "So",
        "大概一万五，然后",
        "嗯",
        "我之前在一家公司做后端，就是",
    ],
)
def test_an_answer_trailing_off_waits_longer_than_the_hangover(text: str) -> None:
    assert trails_off(text)
    for kind in ("salary", "behavioral", "open", None):
        assert silence_needed_ms(kind, text, 1.0, T) == 1500


@pytest.mark.parametrize(
    "text", ["Our API went down. I rolled it back.", "Six years.", "I led the migration."]
)
def test_a_story_waits_the_hangover_even_when_it_reads_finished(text: str) -> None:
    assert not trails_off(text)
    assert silence_needed_ms("behavioral", text, 3.0, T) == 700


def test_without_a_transcript_the_turn_waits_the_hangover() -> None:
    assert silence_needed_ms("salary", None, 1.0, T) == 700


def test_a_long_answer_waits_the_hangover() -> None:
    assert silence_needed_ms("salary", "About ninety thousand a year.", 7.0, T) == 700


def test_unpunctuated_english_waits_the_hangover() -> None:
    assert silence_needed_ms("salary", "about ninety thousand", 1.0, T) == 700
