"""When a short answer's partial transcript already reads as finished, the turn ends after
300 ms instead of the full hangover; one still trailing off waits (issue 14: Mandarin too)."""

from __future__ import annotations

import pytest

from voicebot.speech.turn import reads_finished

FINISHED = [
    "Two weeks.",
    "Yes, that's fine.",
    "About fifteen thousand a month.",
    "一万五。",
    "可以",  # recognizers often leave Mandarin unpunctuated
    "两个月吧",
    "五年左右",
    "没问题！",
    "对的？",
]
TRAILING = [
    "Two weeks and",
    "Well, um...",
    "I worked there for",  # no final stop
    "I think so but.",
    "一万五，",
    "大概一万五，然后",
    "因为",
    "我之前在一家公司做后端，就是",
    "嗯……",
    "首先",
    "",
]


@pytest.mark.parametrize("text", FINISHED)
def test_a_finished_short_answer_reads_finished(text: str) -> None:
    assert reads_finished(text)


@pytest.mark.parametrize("text", TRAILING)
def test_an_answer_trailing_off_waits(text: str) -> None:
    assert not reads_finished(text)
