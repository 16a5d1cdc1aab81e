"""A campaign's dialling rules: caps, calling window, retries per outcome, cool-down.

The calling window can follow a country's public holidays (`holidays: CN`, from the
`holidays` package): no calls on a holiday, and in China calls on the 调休 Saturdays and
Sundays that are worked in exchange.

Defaults come from `[campaigns]` in the config; a campaign stores its own copy (with any
overrides) so a later config change never alters a campaign already running.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from voicebot.config import CampaignsConfig

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RETRY_OUTCOMES = ("busy", "no_answer", "failed", "voicemail", "interrupted")
# sane maxima: a typo such as max_concurrent = 10**30 is refused rather than believed
MAXIMA = {
    "max_concurrent": 1000,
    "calls_per_second": 100,
    "ring_timeout_s": 600,
    "max_attempts": 100,
    "cooldown_s": 30 * 86400,
}
MAX_DELAY_S = 30 * 86400
WINDOW_SEARCH_DAYS = 60  # a window shut longer than this is a mistake (Spring Festival: 9 days)
WEEKDAYS = DAYS[:5]
MAX_TRIES = 100


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
    holidays: str | None = None  # "CN", "US", "DE-BY": that calendar's public holidays

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
        for day in range(WINDOW_SEARCH_DAYS + 1):
            date = local.date() + dt.timedelta(days=day)
            if not self.calling_day(date):
                continue
            opens = dt.datetime.combine(date, start, tz)
            closes = dt.datetime.combine(date, end, tz)
            if day == 0 and opens <= local < closes:
                return True, now
            if opens > local:
                return False, opens.timestamp()
        raise SettingsError("window_days", f"no calling day in the next {WINDOW_SEARCH_DAYS} days")

    def calling_day(self, date: dt.date) -> bool:
        """One of the window's days and no public holiday; with a calendar, a weekend day
        worked in exchange for a holiday (调休) counts as a weekday."""
        if self.holidays is None:
            return DAYS[date.weekday()] in self.window_days
        cal = _calendar(self.holidays)
        if date in cal:  # also fills in that year's worked weekend days
            return False
        if date in cal.weekend_workdays:
            return any(d in self.window_days for d in WEEKDAYS)
        return DAYS[date.weekday()] in self.window_days


@functools.lru_cache(maxsize=16)
def _calendar(code: str) -> Any:
    """The public holidays of a country ("CN") or a subdivision ("DE-BY"), years filled in as
    they are asked for."""
    import holidays

    country, _, subdiv = code.partition("-")
    return holidays.country_holidays(country, subdiv=subdiv or None)


def _holidays(value: Any) -> str | None:
    """A calendar the `holidays` package has, as "CN" or "DE-BY"; None or "" for none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise SettingsError(
            "holidays", f"expected a country code such as CN or DE-BY, got {value!r:.60}"
        )
    import holidays

    country, _, subdiv = value.strip().upper().partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise SettingsError(
            "holidays", f"{value!r:.60} is no country with a holiday calendar; e.g. CN, US, DE"
        )
    if not subdiv:
        return country
    subdivs = {s.upper(): s for s in supported[country]}
    if subdiv not in subdivs:
        codes = [s for s in sorted(supported[country]) if s.isupper()][:6]
        hint = f"e.g. {', '.join(codes)}" if codes else "it has none"
        raise SettingsError("holidays", f"{subdiv!r:.20} is no subdivision of {country}; {hint}")
    return f"{country}-{subdivs[subdiv]}"


def _hhmm(text: str) -> dt.time:
    return dt.datetime.strptime(text, "%H:%M").time()


def _rule(key: str, value: Any) -> RetryRule:
    """`"600,3"` or `[600, 3]` -> retry after 600 s, at most 3 tries with that outcome."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        if isinstance(parts, Mapping) or len(parts) != 2:
            raise ValueError
        delay, tries = _number(key, parts[0]), _whole(key, parts[1])
        if delay < 0 or tries < 0:
            raise ValueError
    except (TypeError, ValueError, IndexError, SettingsError):
        raise SettingsError(
            key, f"expected 'DELAY_S,MAX_TRIES' such as '600,3', got {value!r:.60}"
        ) from None
    if delay > MAX_DELAY_S:
        raise SettingsError(key, f"delay at most {MAX_DELAY_S} s (30 days), got {delay:g}")
    if tries > MAX_TRIES:
        raise SettingsError(key, f"at most {MAX_TRIES} tries, got {tries}")
    return RetryRule(delay, tries)


def _whole(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise SettingsError(key, f"expected a whole number, got {value!r:.60}")


def _number(key: str, value: Any) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SettingsError(key, f"expected a number, got {value!r:.60}") from None
    if math.isnan(number):
        raise SettingsError(key, f"expected a number, got {value!r:.60}")
    return number


def _days(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(d, str) for d in items):
        raise SettingsError(
            "window_days", f"expected a list of days such as mon,tue, got {value!r:.60}"
        )
    return tuple(d.strip().lower()[:3] for d in items)


def parse_settings(
    data: Mapping[str, Any], base: CampaignSettings | None = None
) -> CampaignSettings:
    """Overrides (from the CLI, the API or the store) applied on `base`, then validated."""
    known = {f.name for f in fields(CampaignSettings)}
    unknown = sorted(set(data) - known - {f"retry_{o}" for o in RETRY_OUTCOMES})
    if unknown:
        raise SettingsError(
            f"{unknown[0]:.60}", f"unknown setting; known: {', '.join(sorted(known))}"
        )
    base = base or CampaignSettings()
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in fields(CampaignSettings)}
    retries = dict(base.retries)
    for key, value in data.items():
        if key == "retries":
            if not isinstance(value, Mapping):
                raise SettingsError(
                    key, f"expected a mapping of outcome to 'DELAY_S,MAX_TRIES', got {value!r:.60}"
                )
            retries.update({k: _rule(f"retries.{k}", v) for k, v in value.items()})
        elif key.startswith("retry_"):
            retries[key.removeprefix("retry_")] = _rule(key, value)
        else:
            values[key] = value
    for key in ("window_start", "window_end"):
        if not isinstance(values[key], str):
            raise SettingsError(key, f"{values[key]!r:.60} is not HH:MM")
    settings = CampaignSettings(
        max_concurrent=_whole("max_concurrent", values["max_concurrent"]),
        calls_per_second=_number("calls_per_second", values["calls_per_second"]),
        window_days=_days(values["window_days"]),
        window_start=values["window_start"],
        window_end=values["window_end"],
        ring_timeout_s=_number("ring_timeout_s", values["ring_timeout_s"]),
        max_attempts=_whole("max_attempts", values["max_attempts"]),
        retries=retries,
        cooldown_s=_number("cooldown_s", values["cooldown_s"]),
        holidays=_holidays(values["holidays"]),
    )
    return _validated(settings)


def _validated(s: CampaignSettings) -> CampaignSettings:
    def need(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise SettingsError(key, why)

    need(s.max_concurrent >= 1, "max_concurrent", "must be at least 1")
    need(s.calls_per_second > 0, "calls_per_second", "must be positive")
    bad = [d for d in s.window_days if d not in DAYS]
    need(not bad, "window_days", f"{bad!r:.60} are not days; use {', '.join(DAYS)}")
    need(bool(s.window_days), "window_days", "at least one day is required")
    for key in ("window_start", "window_end"):
        try:
            _hhmm(getattr(s, key))
        except ValueError:
            raise SettingsError(key, f"{getattr(s, key)!r:.60} is not HH:MM") from None
    need(_hhmm(s.window_start) < _hhmm(s.window_end), "window_end", "must be after window_start")
    need(s.ring_timeout_s > 0, "ring_timeout_s", "must be positive")
    need(s.max_attempts >= 1, "max_attempts", "must be at least 1")
    need(s.cooldown_s >= 0, "cooldown_s", "must be 0 or more")
    for key, most in MAXIMA.items():
        value = getattr(s, key)
        need(value <= most, key, f"must be at most {most}, got {value:.6g}")
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
