"""SIP and SDP from a hostile peer (issue 16 items 2-4): numbers that `str.isdigit()` takes
but `int()` refuses ('²', 5000 digits), ports and payload types out of range, addresses of the
wrong family; every malformed request gets a 400 (a bad SDP a 488, and a bad re-INVITE leaves
the call's media as it was), never a traceback; a late offer's answer comes in the ACK."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.telephony.test_ari import until
from tests.telephony.test_sip_calls import HOST, RawCaller, running_bot
from tests.telephony.test_sipmsg import request
from voicebot.telephony.sipmsg import (
    SipParseError,
    parse_message,
    parse_sdp,
    parse_uri,
    via_address,
)

pytestmark = pytest.mark.timeout(45)
HUGE = "9" * 5000  # int() refuses more than 4300 digits
SUPERSCRIPT = "\u00b2"  # '²': isdigit() is True, int() raises


def sdp(
    *, port: str = "4000", pts: str = "0 101", conn: str = "IN IP4 127.0.0.1", extra: str = ""
) -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc={conn}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {pts}\r\na=rtpmap:0 PCMU/8000\r\n{extra}"
    ).encode()


def swap(message: bytes, old: str, new: str) -> bytes:
    assert old.encode() in message, old
    return message.replace(old.encode(), new.encode(), 1)


def without_sdp(invite: bytes) -> bytes:
    """The same INVITE with no offer (a late offer, RFC 3264)."""
    head = invite[: invite.index(b"\r\n\r\n")].decode()
    lines = [line for line in head.split("\r\n") if not line.startswith("Content-Type")]
    lines = ["Content-Length: 0" if line.startswith("Content-Length") else line for line in lines]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# the parser alone --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (swap(request(), "CSeq: 1 OPTIONS", f"CSeq: {SUPERSCRIPT} OPTIONS"), "bad_cseq"),
        (swap(request(), "CSeq: 1 OPTIONS", f"CSeq: {HUGE} OPTIONS"), "bad_cseq"),
        (swap(request(), "CSeq: 1 OPTIONS", "CSeq: 4294967296 OPTIONS"), "bad_cseq"),
        (request(f"Content-Length: {SUPERSCRIPT}"), "bad_content_length"),
        (request(f"Content-Length: {HUGE}"), "bad_content_length"),
        (f"SIP/2.0 {SUPERSCRIPT}00 OK\r\n\r\n".encode(), "bad_status_line"),
        (f"SIP/2.0 {HUGE} OK\r\n\r\n".encode(), "bad_status_line"),
        ("SIP/2.0 \u0662\u0660\u0660 OK\r\n\r\n".encode(), "bad_status_line"),  # Arabic 200
    ],
)
def test_numbers_int_cannot_take_are_parse_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(SipParseError) as e:
        parse_message(raw)
    assert e.value.reason == reason


@pytest.mark.parametrize(
    "body",
    [
        sdp(port="65536"),
        sdp(port="70000"),
        sdp(port=SUPERSCRIPT),
        sdp(port=HUGE),
        sdp(port="0"),  # a declined stream: nothing to talk over
        sdp(pts="128"),
        sdp(pts=f"0 {HUGE}"),
        sdp(pts=f"0 {SUPERSCRIPT}"),
        sdp(conn="IN IP4 ::1"),
        sdp(conn="IN IP6 127.0.0.1"),
        sdp(conn="IN IP4 999.1.1.1"),
        sdp(conn="IN IP4 pbx.example.com"),  # a name would need a DNS lookup on the loop
        sdp(conn="ATM NSAP 47.0091"),
        sdp(extra=f"a=rtpmap:{HUGE} PCMU/8000\r\n"),
        sdp(extra="a=rtpmap:300 PCMU/8000\r\n"),
    ],
)
def test_unusable_sdp_fields_are_parse_errors(body: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_sdp(body)


def test_sdp_fields_in_range_still_parse() -> None:
    media = parse_sdp(sdp(port="65535", pts="0 127", extra=f"a=ptime:{HUGE}\r\n"))
    assert (media.port, media.payload_types, media.ptime) == (65535, [0, 127], None)
    v6 = parse_sdp(sdp(conn="IN IP6 ::1"))
    assert v6.host == "::1"


def test_a_hold_address_means_the_peer_receives_nothing() -> None:
    assert parse_sdp(sdp(conn="IN IP4 0.0.0.0")).direction == "sendonly"


@pytest.mark.parametrize(
    "uri", [f"sip:a@h:{SUPERSCRIPT}", "sip:a@h:70000", f"sip:a@h:{HUGE}", "sip:a@h:\u0665\u0660"]
)
def test_bad_uri_ports_are_parse_errors(uri: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(uri)


@pytest.mark.parametrize(
    "via", [f"SIP/2.0/UDP h:{SUPERSCRIPT}", "SIP/2.0/UDP h:99999", f"SIP/2.0/UDP [::1]:{HUGE}"]
)
def test_bad_via_ports_are_parse_errors(via: str) -> None:
    with pytest.raises(SipParseError):
        via_address(via)


# the endpoint ------------------------------------------------------------------------------


def bad_invite(alice: RawCaller, old: bytes, new: bytes) -> bytes:
    invite = alice.invite(empty_header=False)
    assert old in invite, old
    return invite.replace(old, new, 1)


async def test_malformed_requests_get_400_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot() as (bot, _answering), RawCaller(bot.port) as alice:
        cases = [
            swap(alice.request("OPTIONS"), "CSeq: 849 OPTIONS", f"CSeq: {HUGE} OPTIONS"),
            swap(alice.request("OPTIONS"), "Content-Length: 0", f"Content-Length: {SUPERSCRIPT}"),
            swap(alice.request("OPTIONS"), "CSeq: 851 OPTIONS", "CSeq: 851 INVITE"),
            swap(alice.request("INFO", body="x"), "CSeq: 852 INFO", f"CSeq: {SUPERSCRIPT} INFO"),
        ]
        for datagram in cases:
            alice.sip.send(datagram)
            reply = await alice.sip.receive(5)
            assert reply.status == 400, reply.raw
            assert reply.header("Call-ID") == alice.call_id
        assert "Traceback" not in caplog.text
        assert not [r for r in caplog.records if r.exc_info]


async def test_an_invite_with_an_out_of_range_sdp_port_gets_488() -> None:
    async with running_bot() as (bot, _answering), RawCaller(bot.port) as alice:
        invite = alice.invite(empty_header=False)
        port = f"m=audio {alice.rtp.port} ".encode()
        body_start = invite.index(b"\r\n\r\n")
        new_body = invite[body_start:].replace(port, b"m=audio 70000 ")
        alice.sip.send(invite[:body_start] + new_body)
        _, final = await alice.final("INVITE")
        assert final.status == 488
        assert bot.active_calls == 0


async def test_a_bad_reinvite_gets_488_and_the_call_keeps_its_media() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        await alice.call()
        call = await answering.next()
        before = call.rtp_remote
        for bad in ("70000", SUPERSCRIPT, HUGE):
            body = alice.sdp(alice.rtp.port, version=2).replace(
                f"m=audio {alice.rtp.port} ", f"m=audio {bad} "
            )
            alice.sip.send(alice.request("INVITE", body=body))
            statuses, _ = await alice.final("INVITE")
            assert statuses[-1] == 488
        assert call.rtp_remote == before and not call.ended
        sent = len(alice.rtp.packets)
        await until(lambda: len(alice.rtp.packets) > sent + 10, 3)  # media still flows
        await asyncio.gather(call.hangup(), alice.answer_bye())


async def test_a_late_offer_takes_the_answer_in_the_ack() -> None:
    """RFC 3264: an INVITE without SDP gets the bot's offer in the 200, the ACK answers."""
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        alice.sip.send(without_sdp(alice.invite(empty_header=False)))
        _, ok = await alice.final("INVITE")
        assert ok.status == 200
        offer = parse_sdp(ok.body)
        assert set(offer.payload_types) >= {0, 8}
        alice.to = ok.header("To") or ""
        alice.bot_rtp = (HOST, offer.port)
        answer = alice.sdp(alice.rtp.port, version=1)
        alice.sip.send(alice.request("ACK", cseq=alice.cseq, body=answer))
        call = await answering.next()
        await until(lambda: len(alice.rtp.packets) > 10, 3)  # the bot sends to the answer's port
        assert call.codec is not None and call.rtp_remote == (HOST, alice.rtp.port)
        await asyncio.gather(call.hangup(), alice.answer_bye())


async def test_a_late_offer_whose_ack_has_no_answer_is_hung_up() -> None:
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        alice.sip.send(without_sdp(alice.invite(empty_header=False)))
        _, ok = await alice.final("INVITE")
        alice.to = ok.header("To") or ""
        alice.sip.send(alice.request("ACK", cseq=alice.cseq))  # no SDP: no media is possible
        call = await answering.next()
        await alice.answer_bye()
        assert call.ended
        assert bot.active_calls == 0


@pytest.mark.parametrize(
    "contact",
    [
        "<sip:alice@nowhere.invalid:5062>",
        "<sip:alice@[::1]:5062>",
        "<sip:alice@127.0.\x000.1:5062>",  # sendto: ValueError, which asyncio takes as fatal
        "<sip:alice@\u6c49\u5b57.example:5062>",  # a name IDNA cannot encode
    ],
)
async def test_an_unsendable_contact_does_not_close_the_sip_socket(contact: str) -> None:
    """A BYE to a name that does not resolve, or to an IPv6 peer from an IPv4 socket, once
    raised inside asyncio's sendto, which then closed the endpoint's only socket."""
    async with running_bot() as (bot, answering), RawCaller(bot.port) as alice:
        invite = alice.invite(empty_header=False)
        invite = swap(
            invite, f"Contact: <sip:alice@{HOST}:{alice.sip.port}>", f"Contact: {contact}"
        )
        alice.sip.send(invite)
        _, ok = await alice.final("INVITE")
        alice.to = ok.header("To") or ""
        alice.sip.send(alice.request("ACK", cseq=alice.cseq))
        call = await answering.next()
        await call.hangup()  # the BYE goes to the Contact
        await asyncio.sleep(0.5)
        alice.sip.send(alice.request("OPTIONS"))
        statuses, _ = await alice.final("OPTIONS")
        assert statuses == [200]
