"""What HR is shown about a campaign that is asked to run: `stalled` once its dialler process is
killed (in `campaign list/status/watch` and the API, and `resume` takes it over), and `watch`
without a terminal prints one plain line per change with what it waits for ("next call 09:00
Asia/Shanghai (calling window)"). Real `voicebot campaign start --simulate` processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from typer.testing import Result

from tests.cli_helpers import clean_environment, run  # noqa: F401  (autouse fixture)
from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.campaigns.liveness import shown_state, stalled_reason
from voicebot.campaigns.settings import parse_settings
from voicebot.campaigns.waits import describe_wait
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.hr.importer import import_jobs
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord

ALWAYS = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
          "window_end": "23:59", "calls_per_second": 50, "retry_interrupted": "0,1"}  # fmt: skip
ENV = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}


async def cli(*args: str | Path) -> Result:
    """The CLI from an async test (it runs its own event loop)."""
    return await asyncio.to_thread(run, *args)


def query(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def setup(tmp: Path, settings: dict[str, object], zone: str) -> tuple[Path, str]:
    db_path = tmp / "voicebot.db"
    async with await Store.open(db_path) as store:
        await import_jobs(store, JOB_FILE)
        await db.upsert_candidates(
            store, [CandidateRecord(JOB_ID, "+8613800138000", zone, name="Li Wei")]
        )
        cid, _ = await db.create_campaign(
            store, name="spring", job_id=JOB_ID, settings=parse_settings(settings).to_dict()
        )
    cfg = tmp / "voicebot.toml"
    cfg.write_text(f'[store]\npath = "{db_path}"\n')
    return cfg, cid


async def dialler(cfg: Path, cid: str, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot.cli", "campaign", "start", cid, "-c", str(cfg),
        "--simulate", "completed=1", *extra, env=ENV,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def wait_for(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    until = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < until, "timed out"
        await asyncio.sleep(0.05)


async def test_a_killed_dialler_shows_as_stalled_and_resume_takes_it_over(tmp_path: Path) -> None:
    cfg, cid = await setup(tmp_path, ALWAYS, "Asia/Shanghai")
    db_path = tmp_path / "voicebot.db"
    proc = await dialler(cfg, cid, "--call-s", "60")
    try:
        await wait_for(lambda: query(db_path, "SELECT COUNT(*) FROM calls")[0][0] == 1)
        assert f"{cid}  running" in (await cli("campaign", "list", "-c", cfg)).output
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    listed = (await cli("campaign", "list", "-c", cfg)).output
    assert f"{cid}  stalled" in listed
    status = (await cli("campaign", "status", cid, "-c", cfg)).output
    assert "): stalled\n" in status
    assert f"its dialler (pid {proc.pid} on {socket.gethostname()}) is gone" in status
    assert "Li Wei" in status  # the candidate by name
    watched = await cli("campaign", "watch", cid, "-c", cfg)
    assert watched.exit_code == 1 and f"campaign {cid}: stalled" in watched.stdout

    async with await Store.open(db_path) as store:
        token = await db.create_token(store, "ats", "system")
        api = create_app(store, Config())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api), base_url="http://api",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:  # fmt: skip
            one = (await client.get(f"/campaigns/{cid}")).json()
            assert one["state"] == "stalled" and "is gone" in one["stalled_reason"]
            assert [c["state"] for c in (await client.get("/campaigns")).json()] == ["stalled"]

    resumed = await dialler(cfg, cid)
    assert await asyncio.wait_for(resumed.wait(), 60) == 0
    assert f"{cid}  done" in (await cli("campaign", "list", "-c", cfg)).output


def test_a_heartbeat_silent_for_a_minute_is_stalled_even_on_another_host() -> None:
    now = 10_000.0
    base = {"state": "running", "runner": "elsewhere:123:abc", "updated_at": now - 3600}
    assert stalled_reason({**base, "runner_seen_at": now - 5}, now) is None
    why = stalled_reason({**base, "runner_seen_at": now - 90}, now)
    assert why == "its dialler (pid 123 on elsewhere) last reported 90 s ago"
    # just started, the dialler not there yet: not stalled; an hour later it is
    fresh = {"state": "running", "runner": None, "runner_seen_at": None, "updated_at": now - 2}
    assert shown_state(fresh, now)["state"] == "running"
    assert shown_state({**fresh, "updated_at": now - 3600}, now)["state"] == "stalled"
    assert shown_state({**base, "state": "paused"}, now)["state"] == "paused"


def test_waits_read_in_the_candidates_zone() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    now = dt.datetime(2026, 3, 2, 7, 15, tzinfo=zone).timestamp()
    nine = dt.datetime(2026, 3, 2, 9, 0, tzinfo=zone).timestamp()
    assert describe_wait(nine, "outside calling window", "Asia/Shanghai", now) == (
        "next call 09:00 Asia/Shanghai (calling window)"
    )
    assert describe_wait(nine + 86400, "retry after busy", "Asia/Shanghai", now) == (
        "next call Tue 2026-03-03 09:00 Asia/Shanghai (retry after busy)"
    )
    assert describe_wait(now - 1, "outside calling window", "Asia/Shanghai", now) is None


async def test_watch_without_a_terminal_prints_a_line_per_change_with_the_wait(
    tmp_path: Path,
) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    local = dt.datetime.now(zone)
    hour = (local.hour + 2) % 24
    window = {**ALWAYS, "window_start": f"{hour:02d}:00", "window_end": f"{hour:02d}:59"}
    cfg, cid = await setup(tmp_path, window, "Asia/Shanghai")
    opens = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if opens < local:
        opens += dt.timedelta(days=1)
    when = opens.strftime("%H:%M") if opens.date() == local.date() else (
        opens.strftime("%a %Y-%m-%d %H:%M"))  # fmt: skip
    expected = f"next call {when} Asia/Shanghai (calling window)"

    proc = await dialler(cfg, cid)
    db_path = tmp_path / "voicebot.db"
    await wait_for(lambda: query(db_path, "SELECT state FROM campaigns") == [("running",)])
    watch = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot.cli", "campaign", "watch", cid, "-c", str(cfg),
        "--interval", "0.1", env=ENV, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        lines: list[str] = []
        while expected not in (lines[-1] if lines else ""):
            line = await asyncio.wait_for(watch.stdout.readline(), 30)
            assert line, f"watch ended before the wait was shown: {lines}"
            lines.append(line.decode().rstrip("\n"))
        assert (await cli("campaign", "pause", cid, "-c", cfg)).exit_code == 0
        rest = (await asyncio.wait_for(watch.stdout.read(), 30)).decode().splitlines()
        assert await asyncio.wait_for(watch.wait(), 30) == 0
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        for p in (watch, proc):
            if p.returncode is None:
                p.kill()
                await p.wait()
    printed = lines + rest
    assert "\x1b" not in "".join(printed)  # no terminal control codes
    assert rest[-1] == f"campaign {cid}: paused"
    changes = [line[10:] for line in printed[:-1]]  # without the HH:MM:SS
    assert all(a != b for a, b in itertools.pairwise(changes)), changes
    assert changes[-1].startswith("spring [paused] 0/1 done")
