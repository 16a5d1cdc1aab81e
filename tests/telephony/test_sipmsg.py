"""sipmsg on its own: real INVITEs from baresip and linphonec, the syntax corners RFC 3261
allows (compact and folded headers, comma-joined Vias, empty values), every parse error
reason, responses, SDP and digest auth against RFC 2617's worked example."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from voicebot.telephony.sipmsg import (
    MAX_MESSAGE,
    SipMessage,
    SipParseError,
    build_sdp,
    canonical,
    digest_authorization,
    header_param,
    header_uri,
    parse_message,
    parse_sdp,
    parse_uri,
    q850_cause,
    response_for,
    via_address,
)

DATA = Path(__file__).parent / "data"
BARESIP_INVITE = (DATA / "baresip_invite.txt").read_bytes()
LINPHONE_INVITE = (DATA / "linphone_invite.txt").read_bytes()

# RFC 2617 section 3.5
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_RESPONSE = "6629fae49393a05397450978507c4ef1"


def request(
    *headers: str, first: str = "OPTIONS sip:bot@127.0.0.1 SIP/2.0", body: str = ""
) -> bytes:
    """A request with the five mandatory headers, then `headers`, then `body`."""
    lines = [
        first,
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKabc;rport",
        "From: <sip:alice@127.0.0.1>;tag=a1",
        "To: <sip:bot@127.0.0.1>",
        "Call-ID: c1@127.0.0.1",
        f"CSeq: 1 {first.split()[0]}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def with_header(message: bytes, line: bytes, *, after: bytes = b"Supported: gruu\r\n") -> bytes:
    assert after in message
    return message.replace(after, after + line + b"\r\n", 1)


# real INVITEs -------------------------------------------------------------------------------


def test_parses_baresips_invite() -> None:
    msg = parse_message(BARESIP_INVITE)
    assert msg.is_request and msg.method == "INVITE"
    assert msg.uri == "sip:bot@127.0.0.1:44695"
    assert msg.call_id == "ba1c032170f6b198"
    assert msg.cseq == (848, "INVITE")
    assert msg.from_tag() == "bcc6308566a66994"
    assert msg.to_tag() == ""
    vias = msg.get_all("Via")
    assert len(vias) == 2
    assert msg.branch == "z9hG4bKa7de.c794b93b57c0304c7009a291f2c3c53c.0"
    assert via_address(vias[1]) == ("127.0.0.1", 42801)
    assert header_uri(msg.require("Contact")) == "sip:alice-0x5619d1e03e30@127.0.0.1:42801"
    assert msg.get_all("Allow")[:3] == ["INVITE", "ACK", "BYE"]
    assert msg.content_type() == "application/sdp"
    assert len(msg.body) == 345 and msg.body.startswith(b"v=0")


def test_parses_linphones_invite() -> None:
    msg = parse_message(LINPHONE_INVITE)
    assert msg.method == "INVITE"
    assert msg.call_id == "rONPgXLyLA"
    assert msg.cseq == (20, "INVITE")
    assert msg.from_tag() == "hpLhK0jWp"
    assert header_uri(msg.require("From")) == "sip:bob@127.0.0.1"
    assert header_uri(msg.require("To")) == "sip:bot@127.0.0.1"  # bare addr-spec
    assert msg.get_all("Supported") == ["replaces", "outbound", "gruu"]
    contact = msg.require("Contact")
    assert header_uri(contact) == "sip:bob@127.0.0.1:49868;transport=udp"
    assert header_param(contact, "expires") == "600"
    assert len(msg.body) == 261


def test_an_empty_header_is_kept_not_rejected() -> None:
    """pyVoIP 1.6.8 failed on baresip's bare `Supported:`; it is a legal empty value."""
    raw = with_header(BARESIP_INVITE, b"Supported:")
    raw = with_header(raw, b"X-Empty:   ", after=b"Max-Forwards: 69\r\n")
    msg = parse_message(raw)
    assert msg.get_all("Supported") == ["gruu", ""]
    assert msg.get("X-Empty") == ""
    assert msg.call_id == "ba1c032170f6b198"
    assert parse_sdp(msg.body).port == 42838


# header syntax ------------------------------------------------------------------------------


def test_compact_header_names_are_expanded() -> None:
    raw = (
        b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKc1\r\n"
        b"f: <sip:alice@127.0.0.1>;tag=x\r\n"
        b"t: <sip:bot@127.0.0.1>\r\n"
        b"i: compact@127.0.0.1\r\n"
        b"CSeq: 7 INVITE\r\n"
        b"m: <sip:alice@127.0.0.1:5062>\r\n"
        b"k: timer\r\n"
        b"c: application/sdp\r\n"
        b"l: 4\r\n"
        b"\r\n"
        b"v=0\r\nignored"
    )
    msg = parse_message(raw)
    assert msg.call_id == "compact@127.0.0.1"
    assert msg.from_tag() == "x"
    assert msg.get("Contact") == "<sip:alice@127.0.0.1:5062>"
    assert msg.get("Supported") == "timer"
    assert msg.content_type() == "application/sdp"
    assert msg.body == b"v=0\r"  # Content-Length cuts the body
    assert [name for name, _ in msg.headers][:4] == ["Via", "From", "To", "Call-ID"]


def test_canonical_names() -> None:
    assert canonical("call-id") == "Call-ID"
    assert canonical("cseq") == "CSeq"
    assert canonical("WWW-AUTHENTICATE") == "WWW-Authenticate"
    assert canonical("x-custom-thing") == "X-Custom-Thing"
    assert canonical(" i ") == "Call-ID"


def test_folded_header_lines_are_joined() -> None:
    msg = parse_message(request("Subject: a long\r\n  folded\r\n\tsubject"))
    assert msg.get("Subject") == "a long folded subject"


def test_several_vias_in_one_line_are_split_in_order() -> None:
    raw = request(
        "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK2, SIP/2.0/UDP [::1]:5070;branch=z9hG4bK3"
    )
    msg = parse_message(raw)
    vias = msg.get_all("Via")
    assert len(vias) == 3
    assert msg.branch == "z9hG4bKabc"
    assert via_address(vias[1]) == ("10.0.0.2", 5060)
    assert via_address(vias[2]) == ("::1", 5070)


def test_commas_inside_quotes_or_brackets_do_not_split() -> None:
    raw = request('Contact: "Doe, John" <sip:j@127.0.0.1;x=a,b>, <sip:k@127.0.0.1>')
    assert parse_message(raw).get_all("Contact") == [
        '"Doe, John" <sip:j@127.0.0.1;x=a,b>',
        "<sip:k@127.0.0.1>",
    ]


def test_bare_lf_line_endings_are_accepted() -> None:
    msg = parse_message(request("Content-Length: 2", body="ok").replace(b"\r\n", b"\n"))
    assert msg.method == "OPTIONS" and msg.body == b"ok"


def test_responses_parse_with_and_without_reason() -> None:
    ok = parse_message(
        b"SIP/2.0 200 OK Really\r\n"
        + request().split(b"\r\n", 1)[1].replace(b"1 OPTIONS", b"1 INVITE")
    )
    assert not ok.is_request and ok.status == 200 and ok.reason == "OK Really"
    bare = parse_message(b"SIP/2.0 180\r\n" + request().split(b"\r\n", 1)[1])
    assert bare.status == 180 and bare.reason == ""


@pytest.mark.parametrize(
    ("reasons", "cause"),
    [
        (["Q.850;cause=21"], 21),  # what Asterisk 22 sends with its 503 for a declined call
        (['SIP;cause=200;text="Call completed elsewhere"', 'Q.850 ; cause=17 ;text="busy"'], 17),
        (['SIP;cause=600, Q.850;cause=21;text="rejected"'], 21),  # one header, comma-separated
        (["q.850;CAUSE=19"], 19),
        (["SIP;cause=603"], None),  # a SIP cause is not a Q.850 one
        (["Q.850;cause=²1"], None),  # a non-ASCII digit is not a cause
        (["Q.850;cause=" + "9" * 5000], None),  # nor is a 5000-digit one
        (["Q.850"], None),
        ([], None),
    ],
)
def test_the_q850_cause_of_a_reason_header(reasons: list[str], cause: int | None) -> None:
    msg = SipMessage(status=503, reason="Service Unavailable")
    for value in reasons:
        msg.add("Reason", value)
    assert q850_cause(msg) == cause


def test_encode_round_trips_and_recomputes_content_length() -> None:
    msg = parse_message(BARESIP_INVITE)
    msg.body = b"v=0\r\n"
    again = parse_message(msg.encode())
    assert again.headers[:-1] == [h for h in msg.headers if h[0] != "Content-Length"]
    assert again.get("Content-Length") == "5"
    assert again.body == b"v=0\r\n"


# parse errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"x" * (MAX_MESSAGE + 1), "too_large"),
        (b"\r\n\r\n", "keepalive"),
        (b"OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z", "no_header_end"),
        (request("Subject: caf\xe9").replace(b"caf\xc3\xa9", b"caf\xe9"), "not_utf8"),
        (b"SIP/2.0 99 Too Low\r\n\r\n", "bad_status_line"),
        (b"SIP/2.0 OK\r\n\r\n", "bad_status_line"),
        (request(first="OPTIONS sip:bot@127.0.0.1"), "bad_request_line"),
        (request(first="OPTIONS sip:bot@127.0.0.1 SIP/3.0"), "bad_request_line"),
        (request(first="OPT(ONS sip:bot@127.0.0.1 SIP/2.0"), "bad_request_line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "bad_request_line"),
        (request(first="OPTIONS bot SIP/2.0"), "bad_request_uri"),
        (request("this line has no colon"), "bad_header"),
        (request("Bad Name: x"), "bad_header"),
        (request().replace(b"Call-ID: c1@127.0.0.1\r\n", b""), "missing_header"),
        (request().replace(b"Call-ID: c1@127.0.0.1", b"Call-ID:"), "missing_header"),
        (request().replace(b"Via: ", b"X-Via: "), "missing_header"),
        (request().replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS"), "bad_cseq"),
        (request().replace(b"CSeq: 1 OPTIONS", b"CSeq: 1"), "bad_cseq"),
        (request().replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 BYE"), "cseq_mismatch"),
        (request("Content-Length: -1"), "bad_content_length"),
        (request("Content-Length: ten"), "bad_content_length"),
        (request("Content-Length: 100", body="short"), "truncated_body"),
        (BARESIP_INVITE[:-40], "truncated_body"),
    ],
)
def test_malformed_messages_raise_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(raw)
    assert err.value.reason == reason


@pytest.mark.parametrize("uri", ["tel:+15551234", "sip:", "mailto:a@b"])
def test_bad_uris_raise(uri: str) -> None:
    with pytest.raises(SipParseError) as err:
        parse_uri(uri)
    assert err.value.reason == "bad_uri"


def test_a_via_without_sent_by_raises() -> None:
    with pytest.raises(SipParseError) as err:
        via_address("SIP/2.0/UDP")
    assert err.value.reason == "bad_via"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 5000 RTP/AVP 96\r\n", "no audio stream"),
        (b"v=0\r\nm=audio 5000 RTP/AVP 0\r\n", "no connection address"),
        (b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio port RTP/AVP 0\r\n", "m=audio port"),
        (b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP PCMU\r\n", "m=audio 5000"),
        (b"\xff\xfe", "not utf-8"),
    ],
)
def test_unusable_sdp_raises(body: bytes, detail: str) -> None:
    with pytest.raises(SipParseError, match=detail) as err:
        parse_sdp(body)
    assert err.value.reason == "bad_sdp"


# URIs and responses -------------------------------------------------------------------------


def test_parse_uri() -> None:
    uri = parse_uri("sip:alice-0x5619d1e03e30@127.0.0.1:42801")
    assert (uri.user, uri.host, uri.port) == ("alice-0x5619d1e03e30", "127.0.0.1", 42801)
    route = parse_uri("sip:127.0.0.1:42353;lr;ftag=bcc6308566a66994")
    assert route.user == "" and route.hostport == ("127.0.0.1", 42353)
    assert route.params == {"lr": "", "ftag": "bcc6308566a66994"}
    assert parse_uri("sip:bot:secret@[::1]").hostport == ("::1", 5060)
    assert parse_uri("sip:bot:secret@[::1]").user == "bot"


def test_header_param_reads_outside_the_uri_only() -> None:
    value = "<sip:bob@127.0.0.1;tag=inside>;tag=outside;expires=60"
    assert header_param(value, "tag") == "outside"
    assert header_param(value, "TAG") == "outside"
    assert header_param("<sip:bob@127.0.0.1;tag=inside>", "tag") is None
    assert header_param("sip:bot@127.0.0.1;tag=t9", "tag") == "t9"
    quoted = '"a;b>c" <sip:bob@127.0.0.1>;+sip.instance="<urn:uuid:1>";tag=after'
    assert header_param(quoted, "tag") == "after"
    assert header_param(quoted, "+sip.instance") == "<urn:uuid:1>"


def test_response_for_copies_the_transaction_and_dialog_headers() -> None:
    invite = parse_message(BARESIP_INVITE)
    ok = response_for(invite, 200, "OK", to_tag="bot-tag")
    assert (ok.status, ok.reason, ok.is_request) == (200, "OK", False)
    assert ok.get_all("Via") == invite.get_all("Via")
    assert ok.get("From") == invite.get("From")
    assert ok.get("To") == "<sip:bot@127.0.0.1:42353>;tag=bot-tag"
    assert ok.to_tag() == "bot-tag"
    assert ok.call_id == invite.call_id
    assert ok.get("CSeq") == "848 INVITE"
    again = parse_message(ok.encode())
    assert again.status == 200 and again.get_all("Via") == invite.get_all("Via")


def test_response_for_leaves_100_untagged_and_keeps_an_existing_tag() -> None:
    invite = parse_message(BARESIP_INVITE)
    assert response_for(invite, 100, "Trying", to_tag="t").to_tag() == ""
    reinvite = parse_message(
        BARESIP_INVITE.replace(
            b"To: <sip:bot@127.0.0.1:42353>", b"To: <sip:bot@127.0.0.1:42353>;tag=est"
        )
    )
    assert response_for(reinvite, 200, "OK", to_tag="other").to_tag() == "est"


def test_message_header_helpers() -> None:
    msg = SipMessage(method="BYE", uri="sip:a@b")
    msg.add("via", "SIP/2.0/UDP a;branch=1")
    msg.add("v", "SIP/2.0/UDP b;branch=2")
    msg.set("Max-Forwards", "70")
    msg.set("max-forwards", "69")
    assert msg.get_all("Via") == ["SIP/2.0/UDP a;branch=1", "SIP/2.0/UDP b;branch=2"]
    assert msg.get_all("Max-Forwards") == ["69"]
    msg.remove("VIA")
    assert msg.get("Via") is None
    assert msg.get("Route", "none") == "none"


# SDP ----------------------------------------------------------------------------------------


def test_sdp_of_baresips_offer() -> None:
    media = parse_sdp(parse_message(BARESIP_INVITE).body)
    assert (media.host, media.port) == ("127.0.0.1", 42838)
    assert media.payload_types == [0, 8, 101]
    assert media.rtpmap == {0: "PCMU/8000", 8: "PCMA/8000", 101: "telephone-event/8000"}
    assert media.direction == "sendrecv"
    assert media.ptime == 20
    assert media.pt_for("telephone-event") == 101
    assert media.pt_for("pcma") == 8


def test_sdp_of_linphones_offer_uses_static_payload_types() -> None:
    """linphonec sends no rtpmap for 0 and 8 (RFC 3551 static types) and puts DTMF at 96."""
    media = parse_sdp(parse_message(LINPHONE_INVITE).body)
    assert (media.host, media.port) == ("127.0.0.1", 49872)
    assert media.payload_types == [0, 8, 96]
    assert media.rtpmap == {96: "telephone-event/8000"}
    assert [media.encoding(pt) for pt in media.payload_types] == [
        "PCMU",
        "PCMA",
        "TELEPHONE-EVENT",
    ]
    assert media.pt_for("PCMU") == 0
    assert media.pt_for("PCMA") == 8
    assert media.pt_for("telephone-event") == 96
    assert media.pt_for("G722") is None
    assert media.ptime is None


def test_sdp_media_level_overrides_session_level() -> None:
    body = (
        b"v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\nt=0 0\r\n"
        b"m=video 4000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\n"
        b"m=audio 5000 RTP/AVP 8\r\nc=IN IP4 10.0.0.2\r\na=recvonly\r\n"
        b"m=audio 6000 RTP/AVP 0\r\n"
    )
    media = parse_sdp(body)
    assert (media.host, media.port, media.payload_types) == ("10.0.0.2", 5000, [8])
    assert media.direction == "recvonly"
    held = parse_sdp(b"v=0\nc=IN IP4 10.0.0.1\na=sendonly\nm=audio 5000 RTP/AVP 0\n")
    assert (held.host, held.direction) == ("10.0.0.1", "sendonly")


def test_build_sdp_round_trips() -> None:
    body = build_sdp(
        host="127.0.0.1",
        port=20002,
        codecs=[(8, "PCMA"), (0, "PCMU")],
        dtmf_pt=101,
        session_id=42,
        version=3,
    )
    text = body.decode()
    assert text.endswith("\r\n")
    assert "o=voicebot 42 3 IN IP4 127.0.0.1\r\n" in text
    assert "m=audio 20002 RTP/AVP 8 0 101\r\n" in text
    assert "a=fmtp:101 0-16\r\n" in text
    assert "a=ptime:20\r\n" in text
    media = parse_sdp(body)
    assert (media.host, media.port, media.payload_types) == ("127.0.0.1", 20002, [8, 0, 101])
    assert media.rtpmap == {8: "PCMA/8000", 0: "PCMU/8000", 101: "telephone-event/8000"}
    assert media.direction == "sendrecv" and media.ptime == 20


def test_build_sdp_without_dtmf_over_ipv6_on_hold() -> None:
    body = build_sdp(
        host="::1",
        port=30000,
        codecs=[(0, "PCMU")],
        dtmf_pt=None,
        session_id=1,
        version=1,
        direction="sendonly",
    )
    assert b"c=IN IP6 ::1\r\n" in body and b"telephone-event" not in body
    media = parse_sdp(body)
    assert (media.host, media.payload_types, media.direction) == ("::1", [0], "sendonly")


# digest auth --------------------------------------------------------------------------------


def _fields(authorization: str) -> dict[str, str]:
    scheme, _, rest = authorization.partition(" ")
    assert scheme == "Digest"
    pairs = (part.strip().split("=", 1) for part in rest.split(","))
    return {key: value.strip('"') for key, value in pairs}


def test_digest_matches_rfc2617s_worked_example() -> None:
    value = digest_authorization(
        RFC2617_CHALLENGE,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    fields = _fields(value)
    assert fields["response"] == RFC2617_RESPONSE
    assert fields["username"] == "Mufasa"
    assert fields["realm"] == "testrealm@host.com"
    assert fields["nonce"] == "dcd98b7102dd2f0e8b11d0f600bfb0c093"
    assert fields["uri"] == "/dir/index.html"
    assert fields["qop"] == "auth"
    assert fields["nc"] == "00000001"
    assert fields["cnonce"] == "0a4f113b"
    assert fields["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"


def test_digest_cnonce_is_random_unless_pinned() -> None:
    kwargs = {"method": "GET", "uri": "/", "username": "u", "password": "p"}
    first = _fields(digest_authorization(RFC2617_CHALLENGE, **kwargs))
    second = _fields(digest_authorization(RFC2617_CHALLENGE, **kwargs))
    assert first["cnonce"] != second["cnonce"]
    assert first["response"] != second["response"]


def test_digest_without_qop_is_rfc2069_style() -> None:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    value = digest_authorization(
        'Digest realm="127.0.0.1", nonce="abc123", algorithm=MD5',
        method="REGISTER",
        uri="sip:127.0.0.1",
        username="bot",
        password="botpw",
    )
    fields = _fields(value)
    ha1, ha2 = md5("bot:127.0.0.1:botpw"), md5("REGISTER:sip:127.0.0.1")
    assert fields["response"] == md5(f"{ha1}:abc123:{ha2}")
    assert "qop" not in fields and "cnonce" not in fields and "opaque" not in fields


@pytest.mark.parametrize(
    ("challenge", "reason"),
    [
        ('Basic realm="x"', "unsupported_auth"),
        ('Digest realm="x", nonce="n", algorithm=SHA-256', "unsupported_auth"),
        ('Digest realm="x"', "bad_challenge"),
    ],
)
def test_unusable_challenges_raise(challenge: str, reason: str) -> None:
    with pytest.raises(SipParseError) as err:
        digest_authorization(challenge, method="REGISTER", uri="sip:x", username="u", password="p")
    assert err.value.reason == reason
