"""RTP header parsing and building (RFC 3550), the sender's clocks and seq_diff."""

from __future__ import annotations

import struct

import pytest

from voicebot.media.rtp import RtpError, RtpPacket, RtpSender, parse_rtp, seq_diff


def test_minimal_packet_round_trip() -> None:
    packet = RtpPacket(
        payload_type=0,
        sequence=1234,
        timestamp=160_000,
        ssrc=0xDEADBEEF,
        payload=b"\xff" * 160,
        marker=True,
    )
    data = packet.build()
    assert len(data) == 12 + 160
    assert data[:2] == b"\x80\x80"
    assert parse_rtp(data) == packet


def test_known_header_bytes() -> None:
    data = bytes.fromhex("8008 0001 00000140 11223344") + b"\xd5\xd5"
    packet = parse_rtp(data)
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (
        8,
        1,
        320,
        0x11223344,
    )
    assert packet.payload == b"\xd5\xd5" and not packet.marker
    assert packet.csrcs == () and packet.extension is None


def test_csrc_list_round_trip() -> None:
    packet = RtpPacket(0, 7, 8, 9, b"abc", csrcs=(1, 2, 0xFFFFFFFF))
    data = packet.build()
    assert data[0] & 0x0F == 3 and len(data) == 12 + 12 + 3
    assert parse_rtp(data) == packet


def test_header_extension_round_trip() -> None:
    packet = RtpPacket(96, 7, 8, 9, b"payload", extension=(0xBEDE, b"\x10\xaa\x00\x00"))
    data = packet.build()
    assert data[0] & 0x10
    assert data[12:16] == b"\xbe\xde\x00\x01"
    assert parse_rtp(data) == packet


def test_csrc_and_extension_together() -> None:
    packet = RtpPacket(0, 1, 2, 3, b"x", marker=True, csrcs=(5,), extension=(1, bytes(8)))
    assert parse_rtp(packet.build()) == packet


def test_padding_is_stripped() -> None:
    packet = RtpPacket(0, 1, 2, 3, b"\x01\x02\x03")
    data = packet.build(padding=5)
    assert data[0] & 0x20 and data[-1] == 5 and len(data) == 12 + 3 + 5
    assert parse_rtp(data) == packet


def test_padding_only_packet_has_empty_payload() -> None:
    data = RtpPacket(0, 1, 2, 3, b"").build(padding=4)
    assert parse_rtp(data).payload == b""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "short_header"),
        (bytes.fromhex("80000001000000000000"), "short_header"),
        (bytes.fromhex("40000001 00000000 00000001"), "bad_version"),
        (bytes.fromhex("c0000001 00000000 00000001"), "bad_version"),
        (bytes.fromhex("82000001 00000000 00000001 00000002"), "bad_csrc"),
        (bytes.fromhex("90000001 00000000 00000001 bede"), "bad_extension"),
        (bytes.fromhex("90000001 00000000 00000001 bede0002 00000000"), "bad_extension"),
        (bytes.fromhex("a0000001 00000000 00000001 aabb00"), "bad_padding"),
        (bytes.fromhex("a0000001 00000000 00000001 aabb09"), "bad_padding"),
        (bytes.fromhex("a0000001 00000000 00000001"), "bad_padding"),
        # Padding that eats into the CSRC list or the extension is caught there.
        (bytes.fromhex("a1000001 00000000 00000001 00000004"), "bad_csrc"),
        (bytes.fromhex("b0000001 00000000 00000001 bede0001 00000004"), "bad_extension"),
    ],
)
def test_parse_errors_carry_a_machine_reason(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError) as caught:
        parse_rtp(data)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(128, 0, 0, 0, b""),
        RtpPacket(0, 65536, 0, 0, b""),
        RtpPacket(0, 0, 1 << 32, 0, b""),
        RtpPacket(0, 0, 0, -1, b""),
        RtpPacket(0, 0, 0, 0, b"", csrcs=tuple(range(16))),
        RtpPacket(0, 0, 0, 0, b"", extension=(1, b"abc")),
    ],
)
def test_build_rejects_fields_that_do_not_fit(packet: RtpPacket) -> None:
    with pytest.raises(ValueError):
        packet.build()


def test_seq_diff_wraps() -> None:
    assert seq_diff(5, 3) == 2
    assert seq_diff(3, 5) == -2
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_diff(10, 65530) == 16
    assert seq_diff(32767, 0) == 32767
    assert seq_diff(32768, 0) == -32768


def test_sender_advances_and_wraps() -> None:
    sender = RtpSender(ssrc=42, sequence=65534, timestamp=0xFFFFFF00)
    packets = [parse_rtp(sender.packet(b"\xff" * 160, 0)) for _ in range(4)]
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [0xFFFFFF00, 0xFFFFFFA0, 0x40, 0xE0]
    assert {p.ssrc for p in packets} == {42}
    assert (sender.sequence, sender.timestamp) == (2, 0x180)


def test_sender_marker_and_samples() -> None:
    sender = RtpSender(ssrc=1, sequence=0, timestamp=0)
    first = parse_rtp(sender.packet(b"x" * 240, 8, marker=True, samples=240))
    second = parse_rtp(sender.packet(b"x" * 240, 8, samples=240))
    assert first.marker and not second.marker
    assert first.payload_type == second.payload_type == 8
    assert second.timestamp - first.timestamp == 240


def test_sender_event_packets_share_a_timestamp() -> None:
    sender = RtpSender(ssrc=1, sequence=100, timestamp=1000)
    sender.packet(b"\xff" * 160, 0)
    event = [parse_rtp(sender.packet(b"\x05\x0a\x00\xa0", 101, samples=0)) for _ in range(5)]
    assert {p.timestamp for p in event} == {1160}
    assert [p.sequence for p in event] == [101, 102, 103, 104, 105]
    sender.advance(800)
    assert parse_rtp(sender.packet(b"\xff" * 160, 0)).timestamp == 1960


def test_sender_randomises_its_identity() -> None:
    senders = [RtpSender() for _ in range(8)]
    assert len({s.ssrc for s in senders}) > 1
    assert len({(s.sequence, s.timestamp) for s in senders}) > 1
    for sender in senders:
        assert 0 <= sender.sequence <= 0xFFFF and 0 <= sender.timestamp <= 0xFFFFFFFF


def test_header_layout_matches_rfc3550() -> None:
    data = RtpPacket(101, 0xABCD, 0x01020304, 0x0A0B0C0D, b"", marker=True).build()
    first, second, seq, ts, ssrc = struct.unpack("!BBHII", data)
    assert (first, second, seq, ts, ssrc) == (0x80, 0x80 | 101, 0xABCD, 0x01020304, 0x0A0B0C0D)
