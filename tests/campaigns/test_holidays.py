"""Calling windows with a public-holiday calendar (`holidays: CN`): no calls on a holiday,
calls on a 调休 working Saturday or Sunday, through the dialer's next-slot computation too."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.campaigns.fakes import FakeClock, ScriptedBridge, ScriptedInterviewer, fake_report
from tests.hr.helpers import JOB_ID
from voicebot.campaigns.dialer import Dialer
from voicebot.campaigns.settings import SettingsError, parse_settings, settings_from_config
from voicebot.config import load_config
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord

SHANGHAI = "Asia/Shanghai"


def at(*args: int, tz: str = SHANGHAI) -> float:
    return dt.datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()


def local(ts: float, tz: str = SHANGHAI) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(tz)).replace(tzinfo=None)


def test_national_day_week_is_skipped() -> None:
    plain, cn = parse_settings({}), parse_settings({"holidays": "CN"})
    tuesday_evening = at(2025, 9, 30, 21, 0)  # 1-8 October 2025 are public holidays
    assert local(plain.local_window(tuesday_evening, SHANGHAI)[1]) == dt.datetime(2025, 10, 1, 9)
    assert local(cn.local_window(tuesday_evening, SHANGHAI)[1]) == dt.datetime(2025, 10, 9, 9)
    assert cn.local_window(at(2025, 10, 3, 10, 0), SHANGHAI)[0] is False  # a Friday, off


def test_a_tiaoxiu_working_sunday_is_a_calling_day() -> None:
    cn = parse_settings({"holidays": "cn"})
    saturday_noon = at(2025, 9, 27, 12, 0)  # Sunday 28 September 2025 is worked (调休)
    inside, opens = cn.local_window(saturday_noon, SHANGHAI)
    assert not inside and local(opens) == dt.datetime(2025, 9, 28, 9)
    assert cn.local_window(at(2025, 9, 28, 10, 0), SHANGHAI) == (True, at(2025, 9, 28, 10, 0))
    plain = parse_settings({})
    assert local(plain.local_window(saturday_noon, SHANGHAI)[1]) == dt.datetime(2025, 9, 29, 9)


def test_the_spring_festival_holiday_longer_than_a_week() -> None:
    cn = parse_settings({"holidays": "CN"})
    # Saturday 14 February 2026 is worked, 15-23 February are off
    _, opens = cn.local_window(at(2026, 2, 13, 21, 0), SHANGHAI)
    assert local(opens) == dt.datetime(2026, 2, 14, 9)
    _, opens = cn.local_window(at(2026, 2, 14, 21, 0), SHANGHAI)
    assert local(opens) == dt.datetime(2026, 2, 24, 9)


def test_other_countries_and_subdivisions() -> None:
    ny = "America/New_York"
    us = parse_settings({"holidays": "US"})
    _, opens = us.local_window(at(2025, 12, 24, 21, 0, tz=ny), ny)
    assert local(opens, ny) == dt.datetime(2025, 12, 26, 9)  # not on Christmas Day
    berlin = "Europe/Berlin"
    bavaria, berlin_only = parse_settings({"holidays": "DE-BY"}), parse_settings({"holidays": "DE"})
    tuesday_morning = at(2026, 1, 6, 8, 0, tz=berlin)  # Epiphany: a holiday in Bavaria only
    assert local(bavaria.local_window(tuesday_morning, berlin)[1], berlin).day == 7
    assert local(berlin_only.local_window(tuesday_morning, berlin)[1], berlin).day == 6


@pytest.mark.parametrize(
    ("value", "why"),
    [("XX", "holidays: 'XX' is no country with a holiday calendar"),
     ("DE-ZZ", "holidays: 'ZZ' is no subdivision of DE; e.g. BB, BE"),
     (7, "holidays: expected a country code such as CN or DE-BY, got 7")],
)  # fmt: skip
def test_a_bad_calendar_is_one_clear_error(value: object, why: str) -> None:
    with pytest.raises(SettingsError, match=why):
        parse_settings({"holidays": value})


def test_the_setting_is_stored_with_the_campaign_and_read_from_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = parse_settings({"holidays": "cn"})
    assert s.holidays == "CN" and parse_settings(s.to_dict()) == s
    assert parse_settings({}).holidays is None
    assert parse_settings({"holidays": ""}).holidays is None
    monkeypatch.setenv("VOICEBOT_CAMPAIGNS__HOLIDAYS", "CN")
    assert settings_from_config(load_config(None).campaigns).holidays == "CN"


async def test_the_dialer_waits_out_the_holiday(store: Store) -> None:
    record = CandidateRecord(JOB_ID, "+8613812345678", SHANGHAI, name="张伟")
    await db.upsert_candidates(store, [record])
    settings = parse_settings({"holidays": "CN", "calls_per_second": 100})
    cid, _ = await db.create_campaign(store, name="t", job_id=JOB_ID, settings=settings.to_dict())
    bridge = ScriptedBridge(FakeClock(at(2025, 9, 30, 21, 0)))
    dialer = Dialer(
        store, bridge, ScriptedInterviewer(bridge), clock=bridge.clock, scorer=fake_report,
        poll_s=86400 * 7,
    )  # fmt: skip
    assert await dialer.run(cid) == "done"
    assert [local(d.at) for d in bridge.dials] == [dt.datetime(2025, 10, 9, 9)]
