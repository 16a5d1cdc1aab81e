"""Candidates' numbers stay out of logs: `redact` on the forms a PBX sends, and the SIP
endpoint's own log lines for a real call over loopback."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket

import pytest

from tests.peers import RawSipUser
from voicebot.config import SipConfig
from voicebot.pii import redact
from voicebot.telephony.base import HungUp
from voicebot.telephony.sip import SipCall, SipEndpoint


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("sip:+15551234567@pbx.example.com", "sip:***67@pbx.example.com"),
        ("sips:5551234@10.0.0.1:5061", "sips:***34@10.0.0.1:5061"),
        ("sip:+15551234567@10.0.0.1:5060;user=phone", "sip:***67@10.0.0.1:5060;user=phone"),
        ("<sip:alice.smith@example.com;transport=udp>", "sip:***th@example.com;transport=udp"),
        ("tel:+15551234567", "tel:***67"),
        ("+4915112345678", "***78"),
        ("004915112345678", "***78"),
        (" +15551234567 ", "***67"),
    ],
)
def test_numbers_and_users_are_masked_and_the_host_is_kept(raw: str, shown: str) -> None:
    assert redact(raw) == shown


@pytest.mark.parametrize("raw", ["sip:bob@host", "sip:1001@pbx", "1234", "tel:911"])
def test_a_short_user_is_masked_whole(raw: str) -> None:
    shown = redact(raw)

    assert shown.replace("sip:", "").replace("tel:", "").startswith("***")
    assert not any(c.isdigit() for c in shown.split("@")[0])
    assert "bob" not in shown


@pytest.mark.parametrize(
    "raw",
    [
        "tel:+15551234567;phone-context=example.com",
        '"Alice Smith" <sip:+15551234567@host>',
        "sip:alice:secret@example.com",
        "",
    ],
)
def test_unusual_forms_never_show_the_number_or_name(raw: str) -> None:
    shown = redact(raw)

    assert "***" in shown
    for secret in ("5551234567", "+1555", "Alice", "alice", "secret"):
        assert secret not in shown


NUMBER = "+15557654321"


def _invite(user: RawSipUser, bot_port: int, rtp_port: int, call_id: str) -> bytes:
    sdp = (
        "v=0\r\n"
        f"o=- 1 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=sendrecv\r\n"
    )
    return (
        f"INVITE sip:bot@127.0.0.1:{bot_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{user.port};rport;branch=z9hG4bK{secrets.token_hex(8)}\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Jane Candidate" <sip:{NUMBER}@127.0.0.1>;tag=caller1\r\n'
        f"To: <sip:bot@127.0.0.1:{bot_port}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:{NUMBER}@127.0.0.1:{user.port}>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def _ack(user: RawSipUser, bot_port: int, call_id: str, to: str) -> bytes:
    return (
        f"ACK sip:bot@127.0.0.1:{bot_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{user.port};rport;branch=z9hG4bK{secrets.token_hex(8)}\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Jane Candidate" <sip:{NUMBER}@127.0.0.1>;tag=caller1\r\n'
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 ACK\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def test_the_sip_endpoint_never_logs_the_callers_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    handled: list[str] = []

    async def on_call(call: SipCall) -> None:
        handled.append(call.remote)
        await asyncio.sleep(0.1)
        await call.hangup()
        async for event in call.events():
            if isinstance(event, HungUp):
                break

    cfg = SipConfig(listen_port=0, rtp_port_min=40000, rtp_port_max=40999)
    rtp_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp_sink.bind(("127.0.0.1", 0))
    call_id = f"{secrets.token_hex(8)}@127.0.0.1"
    try:
        async with SipEndpoint(cfg, on_call) as endpoint:
            bot = ("127.0.0.1", endpoint.port)
            async with RawSipUser("caller", "", bot) as caller:
                caller.send(_invite(caller, endpoint.port, rtp_sink.getsockname()[1], call_id))
                async with asyncio.timeout(5):
                    while (reply := await caller.receive()).status < 200:
                        pass
                assert reply.status == 200
                caller.send(_ack(caller, endpoint.port, call_id, reply.header("To") or ""))
                bye = await caller.next_request("BYE", timeout=5)
                caller.reply(bye, 200, "OK")
                await asyncio.sleep(0.05)
    finally:
        rtp_sink.close()

    assert handled == [f"sip:{NUMBER}@127.0.0.1"]  # the handler does see who called
    messages = [r.getMessage() for r in caplog.records]
    assert any("incoming call" in m for m in messages)
    assert any(f"call {call_id} ended" in m for m in messages)
    for message in messages:
        assert NUMBER[2:] not in message, message
        assert "Jane" not in message, message
