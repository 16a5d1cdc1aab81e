"""Measure the pyVoIP 1.6.8 defects that made voicebot carry SIP and RTP itself.

Each check runs pyVoIP's own code on input a real user agent sends and prints what happened,
as JSON. Usage: .venv/bin/python scripts/measure_pyvoip.py
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

warnings.simplefilter("ignore")

DATA = Path(__file__).resolve().parent.parent / "tests" / "telephony" / "data"


def _import_sip() -> Any:
    """pyVoIP.SIP cannot be imported first (a circular import); the package root works."""
    import pyVoIP.VoIP  # noqa: F401
    from pyVoIP import SIP

    return SIP


def _invite(extra_header: str = "") -> bytes:
    raw = (DATA / "baresip_invite.txt").read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    if extra_header:
        head += b"\r\n" + extra_header.encode()
    return head + b"\r\n\r\n" + body


def empty_header() -> dict[str, Any]:
    SIPMessage = _import_sip().SIPMessage

    try:
        SIPMessage(_invite("Supported:"))
        return {"defect": False}
    except Exception as e:  # what pyVoIP raises is the measurement
        return {"defect": True, "error": f"{type(e).__name__}: {e}"}


def ack_to_tag() -> dict[str, Any]:
    sip = _import_sip()
    SIPClient, SIPMessage = sip.SIPClient, sip.SIPMessage
    msg = SIPMessage(_invite())
    msg.headers["To"]["tag"] = "remote-tag-from-200"
    client = object.__new__(SIPClient)
    client.tagLibrary = {msg.headers["Call-ID"]: "local"}
    client.gen_tag = lambda: "freshly-generated"  # type: ignore[method-assign]
    client._gen_response_via_header = lambda req: "Via: SIP/2.0/UDP 127.0.0.1\r\n"  # type: ignore[method-assign]
    ack = SIPClient.gen_ack(client, msg)
    to_line = next(line for line in ack.split("\r\n") if line.startswith("To:"))
    return {"defect": "remote-tag-from-200" not in to_line, "ack_to_header": to_line}


def audioop_dependency() -> dict[str, Any]:
    _import_sip()

    return {
        "defect": "audioop" in sys.modules,
        "note": "pyVoIP.RTP imports audioop (removed in Python 3.13) and hands out 8-bit audio",
    }


def main() -> None:
    results = {
        "pyvoip_version": __import__("pyVoIP").__version__,
        "empty_header_invite": empty_header(),
        "ack_to_tag": ack_to_tag(),
        "audioop": audioop_dependency(),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
