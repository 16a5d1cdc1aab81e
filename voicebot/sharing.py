"""Signed, expiring links to one interview's report, for people who have no API token.

A recruiter clicks the report link in the ATS; the ATS has no way to add a bearer header to
that click, so the link carries its own proof: `<call id, base64url>.<expiry>.<HMAC>`, keyed
with a key derived from the server secret (`pii.secret`). Nothing is stored: a link is valid
until it expires, and rotating the secret revokes every link at once. The link shows the report page
and, where the candidate consented, its recording; nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

from voicebot.pii import PiiKeys

DEFAULT_TTL_S = 14 * 86400.0
MAX_TTL_S = 90 * 86400.0
_TOKEN = re.compile(
    r"^(?P<call>[A-Za-z0-9_-]{1,400})\.(?P<exp>[0-9]{1,12})\.(?P<sig>[A-Za-z0-9_-]{43})$"
)
MAX_CALL_ID = 256  # bytes; a SIP Call-ID may hold any token character, so it travels encoded


class ShareError(ValueError):
    """A link that does not verify (`gone`: it did, but has expired)."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


@dataclass(frozen=True, slots=True)
class Share:
    call_id: str
    expires_at: float


def _key(keys: PiiKeys) -> bytes:
    """A key of its own, so a share signature can never stand in for a phone hash."""
    return hmac.new(keys.secret, b"voicebot share links v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _sig(keys: PiiKeys, call: str, expires: int) -> str:
    return _b64(hmac.new(_key(keys), f"{call}\n{expires}".encode(), hashlib.sha256).digest())


def sign(
    keys: PiiKeys, call_id: str, ttl_s: float = DEFAULT_TTL_S, now: float | None = None
) -> str:
    """The token of a link to `call_id`'s report, valid for `ttl_s` seconds from `now`."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ShareError(f"a share link lives between 1 s and {MAX_TTL_S / 86400:g} days")
    raw = call_id.encode()
    if not 0 < len(raw) <= MAX_CALL_ID:
        raise ShareError("an interview id of 1 to 256 bytes")
    call, expires = _b64(raw), int((time.time() if now is None else now) + ttl_s)
    return f"{call}.{expires}.{_sig(keys, call, expires)}"


def verify(keys: PiiKeys, token: str, now: float | None = None) -> Share:
    """The interview the token opens, or ShareError (one reason a person can act on)."""
    m = _TOKEN.match(token)
    if m is None or not hmac.compare_digest(m["sig"], _sig(keys, m["call"], int(m["exp"]))):
        raise ShareError("this link is not valid: ask HR for a new one")
    expires = int(m["exp"])
    if (time.time() if now is None else now) >= expires:
        raise ShareError("this link has expired: ask HR for a new one", gone=True)
    call = m["call"]
    call_id = base64.urlsafe_b64decode(call + "=" * (-len(call) % 4)).decode("utf-8", "replace")
    return Share(call_id, float(expires))


def share_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/share/{token}/report.html"


def describe(public_url: str, token: str, share: Share) -> dict[str, Any]:
    """The API's answer to a share request: the link and when it stops working (ISO 8601)."""
    from datetime import UTC, datetime

    return {
        "interview_id": share.call_id,
        "url": share_url(public_url, token),
        "expires_at": datetime.fromtimestamp(share.expires_at, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
    }
