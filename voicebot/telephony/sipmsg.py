"""SIP messages (RFC 3261), SDP (RFC 4566) and digest auth (RFC 2617), parsed strictly enough
to be safe and loosely enough to talk to real user agents.

Everything malformed raises `SipParseError` with a short reason; the transport counts and
drops it. Headers keep their order and repeats (Via, Record-Route, Route), compact forms are
expanded, empty headers (baresip's bare `Supported:`) are kept as empty values.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass, field

MAX_MESSAGE = 65535

_COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "u": "Allow-Events",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
        "Record-Route",
        "Route",
        "Supported",
        "Allow",
        "User-Agent",
        "Server",
        "WWW-Authenticate",
        "Authorization",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Expires",
        "Session-Expires",
        "Min-SE",
        "Require",
        "Event",
        "Retry-After",
        "Reason",
    )
}
_MULTI_SPLIT = {"Via", "Record-Route", "Route", "Contact", "Supported", "Allow", "Require"}
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")
MAX_CSEQ = 2**31 - 1  # RFC 3261 8.1.1.5
_URI_IN_BRACKETS = re.compile(r"<([^>]*)>")


class SipParseError(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def number(text: str, reason: str, *, top: int) -> int:
    """A decimal number of at most 10 ASCII digits and at most `top`, else `SipParseError`.

    Not `str.isdigit()` + `int()`: isdigit() accepts '²' (which int() refuses) and int()
    accepts '٣' and refuses more than 4300 digits; a peer's number is ASCII or it is garbage.
    """
    value = text.strip()
    if not _ASCII_DIGITS.fullmatch(value) or int(value) > top:
        raise SipParseError(reason, value[:40])
    return int(value)


def canonical(name: str) -> str:
    low = name.strip().lower()
    if low in _COMPACT:
        return _COMPACT[low]
    return _CANONICAL.get(low, "-".join(p.capitalize() for p in low.split("-")))


def _split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    out, buf, depth, quoted = [], [], 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        if ch == "," and not quoted and depth == 0:
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf).strip())
    return [v for v in out if v]


@dataclass
class SipMessage:
    """A request (method set) or a response (status set)."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str, default: str | None = None) -> str | None:
        name = canonical(name)
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = canonical(name)
        return [v for k, v in self.headers if k == name]

    def set(self, name: str, value: str) -> None:
        name = canonical(name)
        self.headers = [(k, v) for k, v in self.headers if k != name]
        self.headers.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical(name), value))

    def remove(self, name: str) -> None:
        name = canonical(name)
        self.headers = [(k, v) for k, v in self.headers if k != name]

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None or not value.strip():
            raise SipParseError("missing_header", name)
        return value

    @property
    def call_id(self) -> str:
        return self.require("Call-ID").strip()

    @property
    def cseq(self) -> tuple[int, str]:
        raw = self.require("CSeq").split()
        if len(raw) != 2 or not _TOKEN.match(raw[1]):
            raise SipParseError("bad_cseq", self.require("CSeq")[:40])
        return number(raw[0], "bad_cseq", top=MAX_CSEQ), raw[1].upper()

    @property
    def top_via(self) -> str:
        return self.require("Via")

    @property
    def branch(self) -> str:
        return header_param(self.top_via, "branch") or ""

    def from_tag(self) -> str:
        return header_param(self.require("From"), "tag") or ""

    def to_tag(self) -> str:
        return header_param(self.require("To"), "tag") or ""

    def content_type(self) -> str:
        return (self.get("Content-Type") or "").split(";")[0].strip().lower()

    def encode(self) -> bytes:
        if self.is_request:
            first = f"{self.method} {self.uri} SIP/2.0"
        else:
            first = f"SIP/2.0 {self.status} {self.reason}"
        lines = [first]
        lines += [f"{k}: {v}" for k, v in self.headers if k != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def parse_message(data: bytes) -> SipMessage:
    """Parse one datagram; raises `SipParseError` on anything a UA should not act on."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError("too_large")
    if not data.strip(b"\r\n"):
        raise SipParseError("keepalive")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise SipParseError("no_header_end")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("not_utf8") from None
    raw_lines = re.split(r"\r?\n", text)
    first = raw_lines[0].strip()
    msg = SipMessage()
    parts = first.split(" ", 2)
    if first.startswith("SIP/2.0 "):
        if len(parts) < 2 or not re.fullmatch(r"[1-6][0-9]{2}", parts[1]):
            raise SipParseError("bad_status_line", first[:80])
        msg.status, msg.reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    else:
        if len(parts) != 3 or parts[2] != "SIP/2.0" or not _TOKEN.match(parts[0]):
            raise SipParseError("bad_request_line", first[:80])
        if ":" not in parts[1]:
            raise SipParseError("bad_request_uri", parts[1][:80])
        msg.method, msg.uri = parts[0].upper(), parts[1]
    lines: list[str] = []
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t") and lines:  # folded continuation (RFC 3261 7.3.1)
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or not _TOKEN.match(name.strip()):
            raise SipParseError("bad_header", line[:80])
        cname = canonical(name)
        value = value.strip()
        if cname in _MULTI_SPLIT and value:
            for item in _split_commas(value):
                msg.headers.append((cname, item))
        else:
            msg.headers.append((cname, value))
    for required in ("Via", "From", "To", "Call-ID", "CSeq"):
        msg.require(required)
    _, cseq_method = msg.cseq
    if msg.is_request and cseq_method != msg.method:
        raise SipParseError("cseq_mismatch", f"{cseq_method} != {msg.method}")
    length = msg.get("Content-Length")
    if length is not None and length.strip():
        n = number(length, "bad_content_length", top=2**31)
        if n > len(body):
            raise SipParseError("truncated_body", f"{len(body)} of {n}")
        body = body[:n]
    msg.body = body
    return msg


# the URI is anything but a space: str's \S would refuse control bytes such as \x1f
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9.!%*_+`'~-]+) [^ \r\n]+ SIP/2\.0\r?$")
_ECHOED = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"}


def bad_request(data: bytes) -> bytes | None:
    """A 400 for a request `parse_message` refused, with whatever Via, From, To, Call-ID and
    CSeq it had, copied as they were: the sender learns it was refused instead of
    retransmitting into silence. None for a response, an ACK (never answered) or a datagram
    too broken to say where an answer would go (no Via). Never longer than the request."""
    head = data[:MAX_MESSAGE].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = head.decode("utf-8", "replace").split("\n")
    first = _REQUEST_LINE.match(lines[0])
    if first is None or first.group(1).upper() == "ACK":
        return None
    echoed = [
        line.rstrip("\r") for line in lines[1:] if line.partition(":")[0].strip().lower() in _ECHOED
    ]
    if not any(line.partition(":")[0].strip().lower() in ("via", "v") for line in echoed):
        return None
    return (
        "\r\n".join(["SIP/2.0 400 Bad Request", *echoed, "Content-Length: 0"]) + "\r\n\r\n"
    ).encode()


def q850_cause(msg: SipMessage) -> int | None:
    """The Q.850 cause of an RFC 3326 `Reason: Q.850;cause=21` header, or None. PBXes put
    the real cause there when the status code cannot carry it: Asterisk 22 answers a call
    the far end declined (cause 21) with `503 Service Unavailable`."""
    for header in msg.get_all("Reason"):
        for value in header.split(","):
            protocol = value.split(";", 1)[0].strip()
            cause = header_param(value, "cause")
            if protocol.upper() == "Q.850" and cause and _CAUSE.fullmatch(cause):
                return int(cause)
    return None


_CAUSE = re.compile(r"[0-9]{1,3}")


def header_param(value: str, name: str) -> str | None:
    """A `;name=value` parameter of a header (outside the <uri>), or None."""
    for part in _header_params(value).split(";")[1:]:
        key, _, val = part.partition("=")
        if key.strip().lower() == name.lower():
            return val.strip().strip('"')
    return None


def _header_params(value: str) -> str:
    """The `;...` tail after the URI; a quoted `>` (linphone's `+sip.instance="<urn:..>"`)
    does not end the name-addr."""
    quoted = False
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "<":
            end = value.find(">", i)
            return value[end + 1 :] if end >= 0 else ""
        elif ch == ";":
            return value[i:]
    return ""


def header_uri(value: str) -> str:
    """The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1`) or an addr-spec."""
    m = _URI_IN_BRACKETS.search(value)
    if m:
        return m.group(1).strip()
    return value.split(";")[0].strip()


@dataclass(frozen=True, slots=True)
class SipUri:
    user: str
    host: str
    port: int | None
    params: dict[str, str]

    @property
    def hostport(self) -> tuple[str, int]:
        return self.host, self.port or 5060


def parse_uri(uri: str) -> SipUri:
    m = re.match(
        r"^sips?:(?:([^@;]+)@)?(\[[0-9a-fA-F:.]+\]|[^:;?>]+)(?::([^;?>]*))?([^?>]*)", uri.strip()
    )
    if not m:
        raise SipParseError("bad_uri", uri[:80])
    user, host, port, rest = m.groups()
    port_number = number(port, "bad_uri", top=65535) if port else None
    params = {}
    for p in rest.split(";")[1:]:
        k, _, v = p.partition("=")
        params[k.lower()] = v
    user_part = (user or "").split(":")[0]  # drop a password in the userinfo
    return SipUri(user_part, host.strip("[]"), port_number, params)


def via_address(via: str) -> tuple[str, int]:
    """Where a response goes when rport is unusable: the sent-by of a Via."""
    sent_by = via.split(None, 1)[1].split(";")[0].strip() if " " in via else ""
    if not sent_by:
        raise SipParseError("bad_via", via[:80])
    if sent_by.startswith("["):
        host, _, port = sent_by[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = sent_by.partition(":")
    return host, number(port, "bad_via", top=65535) if port else 5060


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def response_for(
    req: SipMessage, status: int, reason: str, to_tag: str | None = None
) -> SipMessage:
    """A response with the request's Via, From, To (+tag), Call-ID, CSeq (RFC 3261 8.2.6)."""
    resp = SipMessage(status=status, reason=reason)
    for via in req.get_all("Via"):
        resp.add("Via", via)
    resp.add("From", req.require("From"))
    to = req.require("To")
    if to_tag and header_param(to, "tag") is None and status > 100:
        to = f"{to};tag={to_tag}"
    resp.add("To", to)
    resp.add("Call-ID", req.call_id)
    resp.add("CSeq", req.require("CSeq"))
    return resp


# digest -------------------------------------------------------------------------------------


def _auth_params(challenge: str) -> dict[str, str]:
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError("unsupported_auth", scheme)
    return {
        k.lower(): v
        for k, v in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', rest)
        and [(k, a or b) for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', rest)]
    }


def digest_authorization(
    challenge: str,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization value answering a WWW-/Proxy-Authenticate digest challenge.

    `cnonce` is random unless given (tests pin it to check RFC 2617's worked example).
    """
    p = _auth_params(challenge)
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    if not nonce:
        raise SipParseError("bad_challenge", "no nonce")
    algorithm = p.get("algorithm", "MD5")
    if algorithm.upper() not in ("MD5", "MD5-SESS"):
        raise SipParseError("unsupported_auth", algorithm)

    def h(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    cnonce = cnonce or secrets.token_hex(8)
    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.upper() == "MD5-SESS":
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    qops = [q.strip() for q in p.get("qop", "").split(",") if q.strip()]
    fields = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f"algorithm={algorithm}",
    ]
    if "auth" in qops:
        ncv = f"{nc:08x}"
        response = h(f"{ha1}:{nonce}:{ncv}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", f"nc={ncv}", f'cnonce="{cnonce}"']
    else:
        fields.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
    if "opaque" in p:
        fields.append(f'opaque="{p["opaque"]}"')
    return "Digest " + ", ".join(fields)


# SDP ----------------------------------------------------------------------------------------


@dataclass
class MediaDescription:
    """The audio stream of an SDP offer or answer."""

    host: str
    port: int
    payload_types: list[int]
    rtpmap: dict[int, str]  # pt -> "PCMU/8000"
    direction: str = "sendrecv"
    ptime: int | None = None

    def encoding(self, pt: int) -> str:
        if pt in self.rtpmap:
            return self.rtpmap[pt].split("/")[0].upper()
        return {0: "PCMU", 8: "PCMA", 9: "G722", 18: "G729"}.get(pt, "")

    def pt_for(self, encoding: str) -> int | None:
        for pt in self.payload_types:
            if self.encoding(pt) == encoding.upper():
                return pt
        return None


def parse_sdp(body: bytes) -> MediaDescription:
    """The first audio m-line with its connection address; raises on unusable SDP."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("bad_sdp", "not utf-8") from None
    session_host = ""
    session_dir = "sendrecv"
    media: MediaDescription | None = None
    in_audio = False
    for line in re.split(r"\r?\n", text):
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        if kind == "m":
            if media is not None:
                break  # only the first audio stream matters
            parts = value.split()
            in_audio = len(parts) >= 4 and parts[0] == "audio"
            if in_audio:
                port = _sdp_number(parts[1], "port", 65535, f"m={value}")
                if port == 0:
                    raise SipParseError("bad_sdp", "the audio stream is declined (port 0)")
                pts = [_sdp_number(p, "payload type", 127, f"m={value}") for p in parts[3:]]
                media = MediaDescription(session_host, port, pts, {}, session_dir)
        elif kind == "c":
            host = _connection_address(value)
            if media is not None and in_audio:
                media.host = host
            elif media is None:
                session_host = host
        elif kind == "a":
            attr, _, arg = value.partition(":")
            if attr in ("sendrecv", "sendonly", "recvonly", "inactive"):
                if media is not None and in_audio:
                    media.direction = attr
                elif media is None:
                    session_dir = attr
            elif media is not None and in_audio and attr == "rtpmap":
                pt, _, enc = arg.partition(" ")
                media.rtpmap[_sdp_number(pt, "payload type", 127, f"a={value}")] = enc.strip()
            elif media is not None and in_audio and attr == "ptime":
                with contextlib.suppress(SipParseError):  # only a hint: a bad one is ignored
                    media.ptime = number(arg, "bad_sdp", top=1000) or None
    if media is None:
        raise SipParseError("bad_sdp", "no audio stream")
    if not media.host:
        raise SipParseError("bad_sdp", "no connection address")
    if ipaddress.ip_address(media.host).is_unspecified:  # RFC 2543 hold: send it nothing
        media.direction = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(
            media.direction, media.direction
        )
    return media


def _sdp_number(text: str, what: str, top: int, line: str) -> int:
    try:
        return number(text, "bad_sdp", top=top)
    except SipParseError:
        raise SipParseError("bad_sdp", f"{line[:60]}: bad {what} {text[:20]!r}") from None


def _connection_address(value: str) -> str:
    """The unicast address of a `c=IN IP4|IP6 <address>` line, in the family it names; a
    host name is refused (resolving it would block the event loop), as is any other family."""
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SipParseError("bad_sdp", f"c={value[:60]}")
    text = parts[2].split("/")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise SipParseError("bad_sdp", f"c={value[:60]}: not an IP address") from None
    if (address.version == 4) != (parts[1] == "IP4"):
        raise SipParseError("bad_sdp", f"c={value[:60]}: not an {parts[1]} address")
    return str(address)


def build_sdp(
    *,
    host: str,
    port: int,
    codecs: list[tuple[int, str]],
    dtmf_pt: int | None,
    session_id: int,
    version: int,
    direction: str = "sendrecv",
) -> bytes:
    ip = "IP6" if ":" in host else "IP4"
    pts = [pt for pt, _ in codecs] + ([dtmf_pt] if dtmf_pt is not None else [])
    lines = [
        "v=0",
        f"o=voicebot {session_id} {version} IN {ip} {host}",
        "s=voicebot",
        f"c=IN {ip} {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(map(str, pts))}",
    ]
    lines += [f"a=rtpmap:{pt} {name}/8000" for pt, name in codecs]
    if dtmf_pt is not None:
        lines += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-16"]
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()
