"""Word error rate as the demo and benchmarks report it: what a phone transcript means, not how
the recognizer happened to spell it."""

import pytest

from voicebot.speech.metrics import normalize_words, number_words, word_error_rate


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (6, "six"),
        (15, "fifteen"),
        (20, "twenty"),
        (42, "forty two"),
        (100, "one hundred"),
        (205, "two hundred five"),
        (1000, "one thousand"),
        (90_000, "ninety thousand"),
        (120_500, "one hundred twenty thousand five hundred"),
        (2_000_001, "two million one"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert number_words(n) == words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("90,000", "ninety thousand"),
        ("$90,000 a year.", "ninety thousand a year"),
        ("6 years", "six years"),
        ("15k", "fifteen thousand"),
        ("About 90k", "about ninety thousand"),
        ("1,250,000", "one million two hundred fifty thousand"),
        ("20%", "twenty percent"),
        ("full-time", "full time"),
        ("Python, mostly!", "python mostly"),
    ],
)
def test_normalisation_of_numbers_and_punctuation(text: str, words: str) -> None:
    assert normalize_words(text) == words.split()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("I can't start", "i can not start"),
        ("I won't", "i will not"),
        ("I don't know", "i do not know"),
        ("I don’t know", "i do not know"),  # a typographic apostrophe
        ("we're", "we are"),
        ("I've", "i have"),
        ("I'll", "i will"),
        ("I'm", "i am"),
        ("I'd", "i would"),
        ("it's", "it is"),
        ("That's fine", "that is fine"),
    ],
)
def test_normalisation_expands_contractions(text: str, words: str) -> None:
    assert normalize_words(text) == words.split()


def test_a_possessive_is_not_expanded() -> None:
    assert normalize_words("Acme's API") == ["acme's", "api"]


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("About ninety thousand.", "about 90,000"),
        ("I have six years of Python.", "I have 6 years of python"),
        ("fifteen thousand", "15k"),
        ("I do not know", "I don't know"),
        ("I can not start before May.", "I can't start before May"),
    ],
)
def test_equivalent_spellings_have_no_errors(reference: str, hypothesis: str) -> None:
    assert word_error_rate(reference, hypothesis) == 0.0


@pytest.mark.parametrize(
    ("reference", "hypothesis", "wer"),
    [
        ("one two three four", "one two three four", 0.0),
        ("one two three four", "one two three", 0.25),  # a deletion
        ("one two three four", "one two three four five", 0.25),  # an insertion
        ("one two three four", "one too three four", 0.25),  # a substitution
        ("one two three four", "", 1.0),
        ("one two", "three four five six", 2.0),  # insertions can exceed 100 %
        ("one month", "two weeks", 1.0),
    ],
)
def test_word_error_rate_counts_edits_per_reference_word(
    reference: str, hypothesis: str, wer: float
) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(wer)


def test_an_empty_reference_counts_every_hypothesis_word() -> None:
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "hello there") == 2.0
