"""RFC 4733 telephone-events: payload format, digit mapping, receiver and sender."""

from __future__ import annotations

import pytest

from voicebot.media.dtmf import (
    DtmfError,
    DtmfEvent,
    DtmfReceiver,
    digit_to_event,
    dtmf_payloads,
    event_to_digit,
    parse_dtmf,
)
from voicebot.media.rtp import RtpSender, parse_rtp


def test_payload_layout() -> None:
    event = DtmfEvent(event=5, end=True, volume=10, duration=1280)
    assert event.build() == bytes([5, 0x80 | 10, 0x05, 0x00])
    assert parse_dtmf(event.build()) == event
    assert parse_dtmf(bytes([11, 0x0A, 0x00, 0xA0])) == DtmfEvent(11, False, 10, 160)


def test_reserved_bit_is_ignored_and_extra_bytes_tolerated() -> None:
    assert parse_dtmf(bytes([1, 0xC0 | 7, 0, 1, 0xEE])) == DtmfEvent(1, True, 7, 1)


def test_any_event_code_parses_but_only_0_to_15_are_digits() -> None:
    flash = parse_dtmf(bytes([16, 0x0A, 0, 0]))
    assert flash.event == 16 and flash.digit is None
    assert parse_dtmf(bytes([255, 0, 0, 0])).event == 255
    with pytest.raises(DtmfError):
        event_to_digit(16)


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x01\x02\x03"])
def test_short_payload_is_an_error(payload: bytes) -> None:
    with pytest.raises(DtmfError, match="4 bytes"):
        parse_dtmf(payload)


def test_digit_mapping() -> None:
    digits = "0123456789*#ABCD"
    assert [digit_to_event(d) for d in digits] == list(range(16))
    assert "".join(event_to_digit(e) for e in range(16)) == digits
    assert digit_to_event("b") == 13
    for bad in ("E", "", "12", " "):
        with pytest.raises(DtmfError):
            digit_to_event(bad)


@pytest.mark.parametrize(
    "event",
    [DtmfEvent(256, False, 0, 0), DtmfEvent(1, False, 64, 0), DtmfEvent(1, False, 0, 65536)],
)
def test_build_rejects_out_of_range_fields(event: DtmfEvent) -> None:
    with pytest.raises(DtmfError):
        event.build()


def test_sender_payloads_for_one_key_press() -> None:
    packets = dtmf_payloads("7", duration_ms=160)
    events = [parse_dtmf(payload) for payload, _ in packets]
    assert [marker for _, marker in packets] == [True] + [False] * (len(packets) - 1)
    assert {e.event for e in events} == {7} and {e.volume for e in events} == {10}
    updates = [e for e in events if not e.end]
    assert [e.duration for e in updates] == [160, 320, 480, 640, 800, 960, 1120]
    assert [e.duration for e in events if e.end] == [1280] * 3
    assert events[-3:] == [events[-1]] * 3


def test_sender_payloads_short_press_and_other_clock() -> None:
    packets = dtmf_payloads("#", duration_ms=20)
    assert [parse_dtmf(p).end for p, _ in packets] == [False, True, True, True]
    assert {parse_dtmf(p).duration for p, _ in packets} == {160}
    wide = dtmf_payloads("1", duration_ms=100, clock_rate=16000, packet_ms=20)
    assert parse_dtmf(wide[-1][0]).duration == 1600
    with pytest.raises(DtmfError):
        dtmf_payloads("1", duration_ms=10_000)
    with pytest.raises(DtmfError):
        dtmf_payloads("X")


def test_sent_packets_share_one_rtp_timestamp_and_round_trip() -> None:
    sender = RtpSender(ssrc=9, sequence=65535, timestamp=4000)
    packets = [
        parse_rtp(sender.packet(payload, 101, marker=marker, samples=0))
        for payload, marker in dtmf_payloads("9")
    ]
    assert {p.timestamp for p in packets} == {4000}
    assert packets[0].marker and packets[1].sequence == 0
    receiver = DtmfReceiver()
    digits = [receiver.feed(p.timestamp, parse_dtmf(p.payload)) for p in packets]
    assert [d for d in digits if d] == ["9"]
    assert digits[-3:] == ["9", None, None]


def _press(digit: str, timestamp: int, *, end: bool = True) -> list[tuple[int, DtmfEvent]]:
    code = digit_to_event(digit)
    updates = [(timestamp, DtmfEvent(code, False, 10, 160 * k)) for k in range(1, 4)]
    ends = [(timestamp, DtmfEvent(code, True, 10, 640))] * 3 if end else []
    return updates + ends


def _feed_all(receiver: DtmfReceiver, packets: list[tuple[int, DtmfEvent]]) -> list[str]:
    return [d for d in (receiver.feed(ts, event) for ts, event in packets) if d is not None]


def test_receiver_reports_each_press_once_even_the_same_digit_twice() -> None:
    receiver = DtmfReceiver()
    packets = _press("1", 0) + _press("1", 1600) + _press("#", 3200)
    assert _feed_all(receiver, packets) == ["1", "1", "#"]


def test_receiver_reports_a_press_whose_end_was_lost_when_the_next_starts() -> None:
    receiver = DtmfReceiver()
    packets = _press("4", 0, end=False) + _press("2", 1600)
    digits = [receiver.feed(ts, event) for ts, event in packets]
    assert digits[3] == "4"  # the first packet of the next press
    assert [d for d in digits if d] == ["4", "2"]


def test_receiver_when_only_end_packets_arrive() -> None:
    receiver = DtmfReceiver()
    packets = _press("5", 0, end=False) + _press("6", 1600)[3:]
    assert _feed_all(receiver, packets) == ["5", "6"]
    only_ends = _press("7", 3200)[3:]
    assert _feed_all(receiver, only_ends) == ["7"]


def test_receiver_ignores_stragglers_of_finished_presses_and_non_digits() -> None:
    receiver = DtmfReceiver()
    first, second = _press("3", 0), _press("8", 1600)
    stragglers = [first[-1], first[0]]
    assert _feed_all(receiver, first + second[:2] + stragglers + second[2:]) == ["3", "8"]
    assert receiver.feed(4000, DtmfEvent(16, True, 10, 160)) is None


def test_flush_reports_an_unfinished_press_once() -> None:
    receiver = DtmfReceiver()
    assert receiver.flush() is None
    assert _feed_all(receiver, _press("0", 0, end=False)) == []
    assert receiver.flush() == "0"
    assert receiver.flush() is None
