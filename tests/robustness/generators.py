"""Seeded generators of hostile input for the fuzz suite: SIP datagrams, SDP bodies, RTP packets
and AudioSocket byte streams, each a mutation of a well-formed seed.

Every generator takes a `random.Random`, so a seed reproduces a run exactly; the mutations are
the ones issue 16 found to break things (numbers `int()` refuses, ports and payload types out
of range, wrong address families, cut and duplicated lines, NUL and non-UTF-8 bytes) plus
plain byte noise.
"""

from __future__ import annotations

import random
import struct
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "telephony" / "data"

HOSTILE_NUMBERS = [
    "\u00b2",  # superscript two: isdigit() True, int() raises
    "\u0663",  # Arabic-Indic three: int() takes it
    "9" * 5000,  # int() refuses > 4300 digits
    "-1",
    "4294967296",
    "65536",
    "70000",
    "128",
    "0",
    "",
    "1e3",
    "0x10",
    " 12 ",
    "1" * 12,
]
HOSTILE_ADDRESSES = [
    "IN IP4 ::1",
    "IN IP6 127.0.0.1",
    "IN IP4 999.1.1.1",
    "IN IP4 pbx.example.com",
    "ATM NSAP 47.0091",
    "IN IP4 0.0.0.0",
    "IN IP4",
    "IN IP4 127.0.0.1/127/3",
]


def sip_seeds(bot_port: int, call_id: str) -> list[bytes]:
    """Well-formed requests and responses aimed at a bot on 127.0.0.1:`bot_port`."""
    invite = (DATA / "baresip_invite.txt").read_bytes().decode()
    # a branch per input, or the bot rightly takes each as a retransmission of the first
    invite = invite.replace("z9hG4bKa7de.c794b93b57c0304c7009a291f2c3c53c.0", f"z9hG4bK{call_id}")
    invite = invite.replace("z9hG4bK92f3a977eaf8bbf7", f"z9hG4bK2{call_id}")  # the second Via
    head, _, body = invite.partition("\r\n\r\n")
    lines = [
        (
            f"Call-ID: {call_id}"
            if line.startswith("Call-ID:")
            else f"INVITE sip:bot@127.0.0.1:{bot_port} SIP/2.0"
            if line.startswith("INVITE ")
            else line
        )
        for line in head.split("\r\n")
        if not line.startswith("Content-Length:")
    ]
    lines.append(f"Content-Length: {len(body.encode())}")
    seeds = [("\r\n".join(lines) + "\r\n\r\n" + body).encode()]
    for method in ("OPTIONS", "BYE", "INFO", "CANCEL", "MESSAGE"):
        seeds.append(_request(method, bot_port, call_id))
    seeds.append(
        (
            f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: {call_id}\r\n"
            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    return seeds


def _request(method: str, bot_port: int, call_id: str) -> bytes:
    return (
        f"{method} sip:bot@127.0.0.1:{bot_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK{call_id};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n"
        f"To: <sip:bot@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 7 {method}\r\n"
        "Contact: <sip:alice@127.0.0.1:5062>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


# mutations ---------------------------------------------------------------------------------


def _lines(data: bytes) -> tuple[list[bytes], bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body if sep else b""


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _number_in_header(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    targets = [i for i, line in enumerate(lines) if line.split(b":")[0].lower() in (
        b"cseq", b"content-length", b"max-forwards", b"expires", b"via", b"contact"
    ) or i == 0]  # fmt: skip
    i = rng.choice(targets)
    digits = [j for j, ch in enumerate(lines[i]) if chr(ch).isdigit()]
    if not digits:
        return data
    j = rng.choice(digits)
    k = j
    while k < len(lines[i]) and chr(lines[i][k]).isdigit():
        k += 1
    lines[i] = lines[i][:j] + rng.choice(HOSTILE_NUMBERS).encode() + lines[i][k:]
    return _join(lines, body)


def _sdp_field(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    if not body:
        return data
    return _join(lines, mutate_sdp(rng, body))


def _drop_line(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    if len(lines) > 1:
        del lines[rng.randrange(1, len(lines))]
    return _join(lines, body)


def _duplicate_line(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i] * rng.choice([1, 1, 50]))
    return _join(lines, body)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8) if out else 0):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _insert_junk(rng: random.Random, data: bytes) -> bytes:
    junk = rng.choice([b"\x00", b"\xff\xfe", "\u00b2".encode(), b"\r", b"\n", b":", b";", b"<",
                       b'"', b",", b" " * 1000, "汉字".encode()])  # fmt: skip
    i = rng.randrange(len(data) + 1)
    return data[:i] + junk * rng.randint(1, 4) + data[i:]


def _line_endings(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n", b""]))


def _method(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    method = rng.choice([b"ACK", b"PRACK", b"UPDATE", b"REFER", b"X" * 300, b"inv\xc3\xa9te"])
    lines[0] = method + b" " + lines[0].partition(b" ")[2]
    return _join(lines, body)


SIP_MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _number_in_header, _number_in_header, _sdp_field, _sdp_field, _drop_line, _duplicate_line,
    _truncate, _flip_bytes, _insert_junk, _line_endings, _method,
]  # fmt: skip


def mutate_sip(rng: random.Random, seed: bytes) -> bytes:
    data = seed
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        data = rng.choice(SIP_MUTATIONS)(rng, data) or seed
    return data


def sip_inputs(rng: random.Random, seeds: list[bytes], n: int) -> Iterator[bytes]:
    for _ in range(n):
        yield mutate_sip(rng, rng.choice(seeds))


# SDP ---------------------------------------------------------------------------------------

SDP_SEED = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n"
)


def mutate_sdp(rng: random.Random, body: bytes = SDP_SEED) -> bytes:
    lines = body.split(b"\r\n")
    choice = rng.randrange(6)
    m = next((i for i, line in enumerate(lines) if line.startswith(b"m=")), None)
    c = next((i for i, line in enumerate(lines) if line.startswith(b"c=")), None)
    number = rng.choice(HOSTILE_NUMBERS).encode()
    if choice == 0 and m is not None and len(lines[m].split(b" ")) > 1:  # the port
        parts = lines[m].split(b" ")
        parts[1] = number
        lines[m] = b" ".join(parts)
    elif choice == 1 and m is not None and len(lines[m].split(b" ")) > 3:  # a payload type
        parts = lines[m].split(b" ")
        parts[rng.randrange(3, len(parts))] = number
        lines[m] = b" ".join(parts)
    elif choice == 2 and c is not None:
        lines[c] = b"c=" + rng.choice(HOSTILE_ADDRESSES).encode()
    elif choice == 3:
        lines.insert(rng.randrange(len(lines)), b"a=rtpmap:" + number + b" PCMU/8000")
    elif choice == 4:
        lines.insert(rng.randrange(len(lines)), b"a=ptime:" + number)
    else:
        return _flip_bytes(rng, body)
    return b"\r\n".join(lines)


# RTP ---------------------------------------------------------------------------------------


def rtp_inputs(rng: random.Random, n: int, *, ssrc: int = 0x1234) -> Iterator[bytes]:
    """Mostly well-formed PCMU packets with hostile headers, padding, CSRCs and extensions."""
    for i in range(n):
        first = 0x80
        if rng.random() < 0.2:
            first |= rng.choice([0x20, 0x10, 0x0F, 0x40, 0x00, 0xC0])
        pt = rng.choice([0, 0, 8, 101, 13, 127, rng.randrange(128)])
        header = struct.pack(
            "!BBHII",
            first,
            pt | (0x80 if rng.random() < 0.05 else 0),
            rng.choice([i & 0xFFFF, rng.randrange(65536)]),
            rng.randrange(2**32),
            rng.choice([ssrc, ssrc, rng.randrange(2**32)]),
        )
        size = rng.choice([160, 160, 0, 1, 159, 161, 320, 1400])
        payload = bytes(rng.randrange(256) for _ in range(min(size, 32))) * (size // 32 + 1)
        packet = header + payload[:size]
        if rng.random() < 0.1:
            packet = packet[: rng.randrange(len(packet) + 1)]
        yield packet


# AudioSocket -------------------------------------------------------------------------------


def audiosocket_inputs(
    rng: random.Random, n: int, known_uuid: str | None = None
) -> Iterator[bytes]:
    """Byte streams for one connection each: a UUID (known, random or broken), then frames."""
    for _ in range(n):
        out = bytearray()
        which = rng.random()
        if which < 0.6 and known_uuid:
            out += struct.pack("!BH", 0x01, 16) + uuid.UUID(known_uuid).bytes
        elif which < 0.8:
            out += struct.pack("!BH", 0x01, 16) + uuid.uuid4().bytes
        else:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        for _ in range(rng.randrange(0, 30)):
            kind = rng.choice([0x10, 0x10, 0x12, 0x03, 0x00, 0xFF, rng.randrange(256)])
            length = rng.choice([320, 640, 1, 0, 3, rng.randrange(65536)])
            body = bytes(min(length, 9000))
            frame = struct.pack("!BH", kind, length) + body
            if rng.random() < 0.1:
                frame = frame[: rng.randrange(len(frame) + 1)]
            out += frame
        yield bytes(out)
