"""A campaign's dialling rules: caps, calling window, retries per outcome, cool-down.

Defaults come from `[campaigns]` in the config; a campaign stores its own copy (with any
overrides) so a later config change never alters a campaign already running.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from voicebot.config import CampaignsConfig

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RETRY_OUTCOMES = ("busy", "no_answer", "failed", "voicemail", "interrupted")


class SettingsError(ValueError):
    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"{key}: {why}")
        self.key, self.why = key, why


@dataclass(frozen=True, slots=True)
class RetryRule:
    delay_s: float
    max_tries: int


DEFAULT_RETRIES = {
    "busy": RetryRule(600, 3),
    "no_answer": RetryRule(3600, 3),
    "failed": RetryRule(900, 2),
    "voicemail": RetryRule(14400, 2),
    "interrupted": RetryRule(3600, 1),
}


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    max_concurrent: int = 4
    calls_per_second: float = 1.0
    window_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    window_start: str = "09:00"
    window_end: str = "20:00"
    ring_timeout_s: float = 30.0
    max_attempts: int = 6
    retries: Mapping[str, RetryRule] = field(default_factory=lambda: dict(DEFAULT_RETRIES))
    cooldown_s: float = 86400.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["window_days"] = list(self.window_days)
        d["retries"] = {k: [r.delay_s, r.max_tries] for k, r in self.retries.items()}
        return d

    def retry(self, outcome: str) -> RetryRule | None:
        return self.retries.get(outcome)

    def local_window(self, now: float, timezone: str) -> tuple[bool, float]:
        """(inside the calling window now, when it next opens) in the candidate's time zone."""
        tz = ZoneInfo(timezone)
        local = dt.datetime.fromtimestamp(now, tz)
        start, end = _hhmm(self.window_start), _hhmm(self.window_end)
        for day in range(8):
            date = local.date() + dt.timedelta(days=day)
            if DAYS[date.weekday()] not in self.window_days:
                continue
            opens = dt.datetime.combine(date, start, tz)
            closes = dt.datetime.combine(date, end, tz)
            if day == 0 and opens <= local < closes:
                return True, now
            if opens > local:
                return False, opens.timestamp()
        raise SettingsError("window_days", "no calling day in the week")


def _hhmm(text: str) -> dt.time:
    return dt.datetime.strptime(text, "%H:%M").time()


def _rule(key: str, value: Any) -> RetryRule:
    """`"600,3"` or `[600, 3]` -> retry after 600 s, at most 3 tries with that outcome."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        delay, tries = (float(parts[0]), int(parts[1]))
        if len(parts) != 2 or delay < 0 or tries < 0:
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise SettingsError(
            key, f"expected 'DELAY_S,MAX_TRIES' such as '600,3', got {value!r}"
        ) from None
    return RetryRule(delay, tries)


def parse_settings(
    data: Mapping[str, Any], base: CampaignSettings | None = None
) -> CampaignSettings:
    """Overrides (from the CLI, the API or the store) applied on `base`, then validated."""
    known = {f.name for f in fields(CampaignSettings)}
    unknown = sorted(set(data) - known - {f"retry_{o}" for o in RETRY_OUTCOMES})
    if unknown:
        raise SettingsError(unknown[0], f"unknown setting; known: {', '.join(sorted(known))}")
    base = base or CampaignSettings()
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in fields(CampaignSettings)}
    retries = dict(base.retries)
    for key, value in data.items():
        if key == "retries":
            retries.update({k: _rule(f"retries.{k}", v) for k, v in dict(value).items()})
        elif key.startswith("retry_"):
            retries[key.removeprefix("retry_")] = _rule(key, value)
        elif key == "window_days":
            values[key] = tuple(value.split(",") if isinstance(value, str) else value)
        else:
            values[key] = value
    values["retries"] = retries
    try:
        settings = CampaignSettings(
            max_concurrent=int(values["max_concurrent"]),
            calls_per_second=float(values["calls_per_second"]),
            window_days=tuple(str(d).strip().lower()[:3] for d in values["window_days"]),
            window_start=str(values["window_start"]),
            window_end=str(values["window_end"]),
            ring_timeout_s=float(values["ring_timeout_s"]),
            max_attempts=int(values["max_attempts"]),
            retries=retries,
            cooldown_s=float(values["cooldown_s"]),
        )
    except (TypeError, ValueError) as e:
        raise SettingsError("settings", str(e)) from None
    return _validated(settings)


def _validated(s: CampaignSettings) -> CampaignSettings:
    def need(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise SettingsError(key, why)

    need(s.max_concurrent >= 1, "max_concurrent", "must be at least 1")
    need(s.calls_per_second > 0, "calls_per_second", "must be positive")
    bad = [d for d in s.window_days if d not in DAYS]
    need(not bad, "window_days", f"{bad} are not days; use {', '.join(DAYS)}")
    need(bool(s.window_days), "window_days", "at least one day is required")
    for key in ("window_start", "window_end"):
        try:
            _hhmm(getattr(s, key))
        except ValueError:
            raise SettingsError(key, f"{getattr(s, key)!r} is not HH:MM") from None
    need(_hhmm(s.window_start) < _hhmm(s.window_end), "window_end", "must be after window_start")
    need(s.ring_timeout_s > 0, "ring_timeout_s", "must be positive")
    need(s.max_attempts >= 1, "max_attempts", "must be at least 1")
    need(s.cooldown_s >= 0, "cooldown_s", "must be 0 or more")
    return s


def settings_from_config(cfg: CampaignsConfig) -> CampaignSettings:
    data: dict[str, Any] = {
        f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in ("default_region",)
    }
    return parse_settings(data)


def check_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
