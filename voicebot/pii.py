"""Keep candidates' numbers and names out of logs: log `redact(uri)`, never the raw value."""

from __future__ import annotations

import re

_USER = re.compile(r"^(?P<scheme>sips?:|tel:)?(?P<user>[^@;>]+)(?P<rest>@.*)?$")


def redact(value: str) -> str:
    """`sip:+15551234567@pbx` -> `sip:***67@pbx`; a bare number keeps only its last 2 digits."""
    value = value.strip().strip("<>")
    m = _USER.match(value)
    if not m:
        return "***"
    user = m.group("user")
    tail = user[-2:] if len(user) > 4 else ""
    return f"{m.group('scheme') or ''}***{tail}{m.group('rest') or ''}"
