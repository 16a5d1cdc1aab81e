"""The dialer over a scripted bridge on virtual time: caps, calling windows, retries,
call-backs, do-not-call and cool-down across campaigns, and claim-before-dial recovery."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import socket
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.campaigns.fakes import (
    MONDAY_10_NY,
    FakeClock,
    ScriptedBridge,
    ScriptedInterviewer,
    fake_report,
)
from tests.hr.helpers import JOB_ID
from voicebot.campaigns.dialer import Dialer
from voicebot.campaigns.settings import parse_settings
from voicebot.sharing import verify
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.db import StoreError
from voicebot.store.hr import CandidateRecord

NY = "America/New_York"
ANYTIME = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
           "window_end": "23:59", "calls_per_second": 100}  # fmt: skip


def number(i: int) -> str:
    return f"+1212555{i:04d}"


async def add_candidates(store: Store, n: int, tz: str = NY, start: int = 0) -> list[str]:
    records = [
        CandidateRecord(JOB_ID, number(start + i), tz, name=f"C{i}", external_id=f"ATS-{start + i}")
        for i in range(n)
    ]
    await db.upsert_candidates(store, records)
    return [r.id for r in records]


async def campaign(
    store: Store, settings: Mapping[str, Any], ids: Sequence[str] | None = None
) -> str:
    cid, _ = await db.create_campaign(
        store, name="t", job_id=JOB_ID, settings=parse_settings(settings).to_dict(),
        candidate_ids=ids,
    )  # fmt: skip
    return cid


def dialer(store: Store, bridge: ScriptedBridge, **kw: Any) -> Dialer:
    return Dialer(
        store, bridge, ScriptedInterviewer(bridge, callback_at=kw.pop("callback_at", None)),
        clock=bridge.clock, scorer=fake_report, poll_s=86400 * 7, **kw,
    )  # fmt: skip


async def events(store: Store) -> list[tuple[str, dict[str, Any]]]:
    conn = sqlite3.connect(store.path)
    rows = conn.execute("SELECT type, payload_json FROM webhook_events ORDER BY rowid").fetchall()
    conn.close()
    return [(t, json.loads(p)) for t, p in rows]


async def test_concurrency_and_rate_caps_hold_and_everyone_is_called_once(store: Store) -> None:
    await add_candidates(store, 12)
    cid = await campaign(store, {**ANYTIME, "max_concurrent": 3, "calls_per_second": 0.5})
    bridge = ScriptedBridge(FakeClock(), call_s=0, real_call_s=0.05)
    assert await dialer(store, bridge).run(cid) == "done"
    assert sorted(d.number for d in bridge.dials) == [number(i) for i in range(12)]
    assert bridge.max_live == 3
    times = [d.at for d in bridge.dials]
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(times))  # 0.5 calls/s
    progress = await db.campaign_progress(store, cid)
    assert progress["by_status"] == {"done": 12}
    assert progress["by_outcome"] == {"completed": 12}


async def test_calls_only_inside_each_candidates_local_window(store: Store) -> None:
    await add_candidates(store, 3, tz=NY)
    await add_candidates(store, 3, tz="Asia/Tokyo", start=100)  # 00:00 there: asleep
    cid = await campaign(store, {"calls_per_second": 100})  # weekdays 09:00-20:00
    clock = FakeClock(MONDAY_10_NY)
    bridge = ScriptedBridge(clock)
    await dialer(store, bridge).run(cid)
    assert len(bridge.dials) == 6
    for d in bridge.dials:
        tz = "Asia/Tokyo" if d.number >= number(100) else NY
        local = dt.datetime.fromtimestamp(d.at, ZoneInfo(tz))
        assert local.weekday() < 5 and 9 <= local.hour < 20, (d.number, local)
    tokyo_first = min(d.at for d in bridge.dials if d.number >= number(100))
    assert tokyo_first > MONDAY_10_NY + 8 * 3600  # waited for Tokyo's morning


async def test_retries_per_outcome_with_delays_and_a_maximum(store: Store) -> None:
    await add_candidates(store, 3)
    cid = await campaign(
        store, {**ANYTIME, "retry_busy": "600,2", "retry_no_answer": "3600,1", "max_attempts": 5}
    )
    bridge = ScriptedBridge(
        FakeClock(),
        scripts={number(0): ["busy", "busy", "completed"], number(1): ["busy"] * 9,
                 number(2): ["no_answer", "no_answer", "completed"]},
    )  # fmt: skip
    await dialer(store, bridge).run(cid)
    first, second, third = bridge.dialled(number(0))
    assert second - first >= 600 and third - second >= 600
    assert len(bridge.dialled(number(1))) == 3  # the first try and two busy retries
    assert len(bridge.dialled(number(2))) == 2  # one no-answer retry
    p = await db.campaign_progress(store, cid)
    assert p["by_outcome"] == {"completed": 1, "busy": 1, "no_answer": 1}


async def test_voicemail_is_retried_like_an_unanswered_call(store: Store) -> None:
    await add_candidates(store, 1)
    cid = await campaign(store, {**ANYTIME, "retry_voicemail": "7200,1"})
    bridge = ScriptedBridge(FakeClock(), scripts={number(0): ["voicemail", "completed"]})
    await dialer(store, bridge).run(cid)
    a, b = bridge.dialled(number(0))
    assert b - a >= 7200


async def test_callback_is_dialled_at_the_time_the_candidate_asked(store: Store) -> None:
    await add_candidates(store, 1)
    cid = await campaign(store, ANYTIME)
    bridge = ScriptedBridge(FakeClock(), scripts={number(0): ["callback", "completed"]})
    await dialer(store, bridge, callback_at="2026-01-07T15:30:00").run(cid)
    _, again = bridge.dialled(number(0))
    local = dt.datetime.fromtimestamp(again, ZoneInfo(NY))
    assert (local.date(), local.hour, local.minute) == (dt.date(2026, 1, 7), 15, 30)
    kinds = [t for t, _ in await events(store)]
    assert "candidate.callback_requested" in kinds


async def test_opt_out_puts_the_person_on_do_not_call_in_every_campaign(store: Store) -> None:
    ids = await add_candidates(store, 2)
    first = await campaign(store, ANYTIME, ids[:1])
    second = await campaign(store, ANYTIME, ids)
    bridge = ScriptedBridge(FakeClock(), scripts={number(0): ["opted_out"]})
    await dialer(store, bridge).run(first)
    await dialer(store, bridge).run(second)
    assert len(bridge.dialled(number(0))) == 1
    assert len(bridge.dialled(number(1))) == 1
    target = await db.get_target(store, second, ids[0])
    assert target is not None and (target["status"], target["reason"]) == ("skipped", "do-not-call")
    payloads = dict(await events(store))
    assert payloads["candidate.opted_out"]["candidate_id"] == ids[0]


async def test_cool_down_between_campaigns_for_the_same_person(store: Store) -> None:
    ids = await add_candidates(store, 1)
    first = await campaign(store, ANYTIME, ids)
    second = await campaign(store, {**ANYTIME, "cooldown_s": 3 * 86400}, ids)
    bridge = ScriptedBridge(FakeClock(), scripts={number(0): ["no_answer"]})
    await dialer(store, bridge).run(first)
    last_by_first = bridge.dials[-1].at
    await dialer(store, bridge).run(second)
    assert bridge.dials[-1].at - last_by_first >= 3 * 86400


async def test_completed_interview_is_scored_and_announced(store: Store) -> None:
    ids = await add_candidates(store, 1)
    cid = await campaign(store, ANYTIME)
    bridge = ScriptedBridge(FakeClock())
    await dialer(store, bridge, report_url="https://hr.example.com/api").run(cid)
    evs = await events(store)
    assert [t for t, _ in evs] == ["candidate.contacted", "call.completed", "interview.completed"]
    done = evs[-1][1]
    assert (done["candidate_id"], done["job_id"], done["recommendation"]) == (ids[0], JOB_ID, "yes")
    assert (done["score"], done["max"], done["external_id"]) == (4.0, 5, "ATS-0")
    assert done["competencies"][0]["evidence"] == ["traced it in the logs"]
    assert done["report_url"] == f"https://hr.example.com/api/interviews/{done['call_id']}/report"
    # the recruiter's link opens without a token: signed for this interview, expiring
    token = done["share_url"].removeprefix("https://hr.example.com/api/share/")
    assert verify(store.pii, token.removesuffix("/report.html")).call_id == done["call_id"]
    assert done["share_expires_at"].endswith("Z")
    assert done["human_review"] == {"required": False, "status": "not_required"}


async def test_pause_stops_new_calls_and_resume_finishes(store: Store) -> None:
    await add_candidates(store, 6)
    cid = await campaign(store, {**ANYTIME, "max_concurrent": 1})
    bridge = ScriptedBridge(FakeClock())
    d = dialer(store, bridge)
    original = d.interviewer.interview

    async def pause_after_two(*a: Any, **kw: Any) -> Any:
        if len(bridge.dials) == 2:
            await db.set_campaign_state(store, cid, "paused")
        return await original(*a, **kw)

    d.interviewer.interview = pause_after_two  # type: ignore[method-assign]
    assert await d.run(cid) == "paused"
    assert len(bridge.dials) == 2
    assert await dialer(store, bridge).run(cid) == "done"
    assert sorted(d.number for d in bridge.dials) == [number(i) for i in range(6)]


async def test_restart_releases_undialled_claims_and_never_redials_a_cut_call(
    store: Store,
) -> None:
    ids = await add_candidates(store, 3)
    cid = await campaign(store, ANYTIME)
    clock = FakeClock()
    # a previous process claimed all three, dialled the first, then died
    cut = await db.claim(store, cid, ids[0], clock.now())
    assert cut is not None
    await db.mark_dialling(store, cut, clock.now())
    for cand in ids[1:]:
        assert await db.claim(store, cid, cand, clock.now()) is not None
    bridge = ScriptedBridge(clock)
    d = dialer(store, bridge)
    await d.run(cid)
    first_redial = bridge.dialled(number(0))[0]
    assert first_redial - MONDAY_10_NY >= 3600  # retry_interrupted: after an hour, not at once
    assert len(bridge.dialled(number(1))) == 1 and len(bridge.dialled(number(2))) == 1
    conn = sqlite3.connect(store.path)
    states = conn.execute(
        "SELECT outcome FROM attempts WHERE candidate_id = ? ORDER BY seq", (ids[0],)
    ).fetchall()
    conn.close()
    assert [s[0] for s in states] == ["interrupted", "completed"]


async def test_one_campaign_is_dialled_by_one_process_at_a_time(store: Store) -> None:
    await add_candidates(store, 1)
    cid = await campaign(store, ANYTIME)
    clock = FakeClock()
    live = f"{socket.gethostname()}:{os.getpid()}:other"
    assert await db.acquire_campaign(store, cid, live, time.time()) is None  # wall clock
    d = dialer(store, ScriptedBridge(clock))
    with pytest.raises(StoreError, match=f"is being dialled by {live}"):
        await d.run(cid)
    # a runner whose process is gone (kill -9) is taken over at once, without waiting
    dead = f"{socket.gethostname()}:{2**22 + 12345}:x"  # above Linux's largest pid
    await db.release_campaign(store, cid, live)
    assert await db.acquire_campaign(store, cid, dead, time.time()) is None
    assert await d.run(cid) == "done"
