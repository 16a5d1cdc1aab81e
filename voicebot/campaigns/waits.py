"""What a campaign is waiting for, in words HR reads: 'next call 09:00 Asia/Shanghai
(outside calling window)'. The time is the candidate's own, as the calling window is."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WHY = {
    "outside calling window": "calling window",
    "cool-down after another campaign's call": "cool-down after another campaign's call",
    "call-back requested": "call-back requested",
}


def describe_wait(
    next_at: float | None, reason: str | None, timezone: str | None, now: float | None = None
) -> str | None:
    """'next call 09:00 Asia/Shanghai (calling window)', or None when nothing is waited for."""
    now = time.time() if now is None else now
    if next_at is None or next_at <= now:
        return None
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone, timezone = ZoneInfo("UTC"), "UTC"
    at = dt.datetime.fromtimestamp(next_at, zone)
    today = dt.datetime.fromtimestamp(now, zone).date()
    when = at.strftime("%H:%M") if at.date() == today else at.strftime("%a %Y-%m-%d %H:%M")
    why = _WHY.get(reason or "", reason or "")
    return f"next call {when} {timezone or 'UTC'}" + (f" ({why})" if why else "")
