"""Whether a `running` campaign is really being dialled, for what HR is shown.

The store's `state` says what HR asked for; the dialler's lease (`runner`, `runner_seen_at`,
heartbeat every `dialer.HEARTBEAT_S`) says whether anyone is doing it. A campaign asked to run
whose dialler was killed, crashed or never started is `stalled`: `campaign resume` (or the
API's start) takes it over.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from voicebot.store.hr import RUNNER_STALE_S, _runner_gone

STALE_S = RUNNER_STALE_S  # the silence after which `acquire_campaign` takes a runner over
START_GRACE_S = 15.0  # a campaign just set running may not have its dialler yet


def stalled_reason(campaign: Mapping[str, Any], now: float | None = None) -> str | None:
    """Why a running campaign has no live dialler, or None when it has one (or is not running)."""
    if campaign.get("state") != "running":
        return None
    now = time.time() if now is None else now
    runner, seen = campaign.get("runner"), campaign.get("runner_seen_at")
    if not runner:
        since = campaign.get("updated_at")
        if since is not None and now - since < START_GRACE_S:
            return None
        return "no dialler is running it"
    if not _runner_gone(runner, seen, now, STALE_S):
        return None
    host, _, rest = runner.partition(":")
    pid = rest.partition(":")[0]
    if seen is None or seen < now - STALE_S:
        ago = "never" if seen is None else f"{now - seen:.0f} s ago"
        return f"its dialler (pid {pid} on {host}) last reported {ago}"
    return f"its dialler (pid {pid} on {host}) is gone"


def shown_state(campaign: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """The campaign with `state` as HR should read it (`stalled` + `stalled_reason`)."""
    why = stalled_reason(campaign, now)
    out = dict(campaign)
    if why is not None:
        out["state"] = "stalled"
    out["stalled_reason"] = why
    return out
