"""Campaign settings: calling windows in the candidate's zone, retry rules, and config errors
that name the key."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from voicebot.campaigns.settings import RetryRule, SettingsError, parse_settings
from voicebot.config import ConfigError, load_config

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args: int) -> float:
    return dt.datetime(*args, tzinfo=BERLIN).timestamp()


def test_window_opens_next_weekday_morning_in_local_time() -> None:
    s = parse_settings({})
    assert s.local_window(at(2026, 1, 7, 12, 0), "Europe/Berlin") == (True, at(2026, 1, 7, 12, 0))
    inside, opens = s.local_window(at(2026, 1, 9, 20, 0), "Europe/Berlin")  # Friday 20:00
    assert not inside and opens == at(2026, 1, 12, 9, 0)  # Monday 09:00
    # the same instant is 14:00 in New York: inside their window
    assert s.local_window(at(2026, 1, 9, 20, 0), "America/New_York")[0]


def test_window_follows_daylight_saving_changes() -> None:
    s = parse_settings({"window_days": "sun"})
    _, opens = s.local_window(at(2026, 3, 28, 12, 0), "Europe/Berlin")  # clocks go forward
    assert dt.datetime.fromtimestamp(opens, BERLIN).hour == 9


def test_retry_rules_and_overrides() -> None:
    s = parse_settings({"retry_busy": "120,5", "retries": {"voicemail": [60, 1]}})
    assert s.retry("busy") == RetryRule(120, 5) and s.retry("voicemail") == RetryRule(60, 1)
    assert s.retry("no_answer") == RetryRule(3600, 3)  # default kept
    assert parse_settings(s.to_dict()) == s  # what a campaign stores reads back the same


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"retry_busy": "soon"}, "retry_busy: expected 'DELAY_S,MAX_TRIES'"),
        ({"window_days": "mon,funday"}, "window_days: ['fun'] are not days"),
        ({"window_start": "21:00"}, "window_end: must be after window_start"),
        ({"max_concurrent": 0}, "max_concurrent: must be at least 1"),
        ({"speed": 3}, "speed: unknown setting"),
    ],
)
def test_bad_settings_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(SettingsError) as e:
        parse_settings(data)
    assert str(e.value).startswith(message)


def test_config_errors_name_the_section_key_and_source() -> None:
    env = {"VOICEBOT_CAMPAIGNS__WINDOW_START": "9am"}
    with pytest.raises(ConfigError, match=r"^campaigns.window_start: '9am' is not HH:MM$"):
        load_config(None, env=env)
    with pytest.raises(ConfigError, match=r"^webhooks.jitter: must be in \[0, 1\)$"):
        load_config(None, env={"VOICEBOT_WEBHOOKS__JITTER": "1.5"})
    cfg = load_config(None, env={"VOICEBOT_CAMPAIGNS__MAX_CONCURRENT": "8"})
    assert cfg.campaigns.max_concurrent == 8
