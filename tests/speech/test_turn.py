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
        ("salary", "I am hoping for a round."),  # Whisper's stop on "I am hoping for around"
        ("salary", "It depends on the role."),
        ("years", "Quite a while."),
        ("notice", "My notice period is."),
        ("consent", "Um, let me think."),
    ],
)
def test_a_short_answer_without_what_was_asked_waits_longer_than_the_hangover(
    kind: str, text: str
) -> None:
    assert not complete_answer(kind, text)
    assert silence_needed_ms(kind, text, 1.5, T) == 1500


@pytest.mark.parametrize(
    ("kind", "text"), [("consent", "What is this about?"), ("open", "I like the product.")]
)
def test_a_question_back_or_a_finished_open_answer_ends_after_300_ms(kind: str, text: str) -> None:
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


def test_a_whole_story_waits_the_hangover_though_it_reads_finished() -> None:
    story = "Our API went down once, I rolled it back and it was fixed in minutes."
    assert silence_needed_ms("behavioral", story, 3.0, T) == 700


@pytest.mark.parametrize(
    "text", ["Last year our payment service went down during a release.", "I led the migration."]
)
def test_a_story_without_its_action_or_result_yet_waits_longer(text: str) -> None:
    assert not trails_off(text)
    assert silence_needed_ms("behavioral", text, 3.0, T) == 1500


def test_while_the_text_is_being_decoded_the_turn_waits_for_it() -> None:
    assert silence_needed_ms("salary", None, 1.0, T, pending=True) == 1500


def test_without_a_transcript_the_turn_waits_the_hangover() -> None:
    assert silence_needed_ms("salary", None, 1.0, T) == 700


def test_a_long_answer_waits_the_hangover() -> None:
    assert silence_needed_ms("salary", "About ninety thousand a year.", 7.0, T) == 700


def test_unpunctuated_english_waits_the_hangover() -> None:
    assert silence_needed_ms("salary", "about ninety thousand", 1.0, T) == 700
