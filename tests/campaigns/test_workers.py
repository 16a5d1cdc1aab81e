"""Three `voicebot worker` processes share one campaign of 300 candidates over one store, and
one of them is killed with SIGKILL ten times at random points (a new one takes its place each
time): no number is dialled twice, no attempt is lost, every webhook id reaches the receiver,
the campaign ends, and the campaign's caps hold across the workers as the phones see them.

Real subprocesses on a real SQLite file and on a real PostgreSQL database; the simulated
phones (`--simulate`) log every dial and every hang-up, with the worker's pid, to one file
before the call goes on, so the phones' side is counted independently of the store."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.hr.helpers import seed_campaign
from tests.hr.receiver import Receiver
from voicebot.hr.webhooks import new_secret
from voicebot.store import Store
from voicebot.store import hr as db

N = 300
WORKERS = 3
KILLS = 10
MAX_CONCURRENT = 6
CALLS_PER_SECOND = 15.0
CALL_S = 0.4
LEASE_S = 3.0
SETTINGS = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
            "window_end": "23:59", "calls_per_second": CALLS_PER_SECOND,
            "max_concurrent": MAX_CONCURRENT}  # fmt: skip


def query(url: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as conn:
            return conn.execute(sql.replace("?", "%s"), args).fetchall()
    conn = sqlite3.connect(url, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


async def setup(tmp: Path, store_url: str, hook_url: str, secret: str) -> tuple[Path, str]:
    async with await Store.open(store_url) as store:
        cid = await seed_campaign(store, N, SETTINGS, "shared")
        await db.add_endpoint(store, hook_url, secret)
        await db.set_campaign_state(store, cid, "running")
    cfg = tmp / "voicebot.toml"
    cfg.write_text(
        f'[store]\n{"url" if "://" in store_url else "path"} = "{store_url}"\n\n'
        "[webhooks]\ntimeout_s = 2.0\nschedule = [0, 0.5, 0.5, 0.5, 60]\njitter = 0.0\n"
    )
    return cfg, cid


async def start(cfg: Path, dial_log: Path, seed: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot.cli", "worker", "-c", str(cfg), "--until-idle",
        "--lease-s", str(LEASE_S), "--simulate", "completed=1", "--seed", str(seed),
        "--call-s", str(CALL_S), "--dial-log", str(dial_log),
        env={k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")},
        stdout=asyncio.subprocess.DEVNULL, stderr=(dial_log.parent / "stderr.log").open("a"),
    )  # fmt: skip


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    live = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        live += step
        peak = max(peak, live)
    return peak


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_workers_killed_mid_campaign_lose_and_duplicate_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store_url = (
        str(tmp_path / "voicebot.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    )
    secret = new_secret()
    dial_log = tmp_path / "dials.jsonl"
    rng = random.Random(18)
    killed_at: dict[int, float] = {}
    async with Receiver([secret]) as rx:
        cfg, cid = await setup(tmp_path, store_url, rx.url, secret)
        procs = [await start(cfg, dial_log, seed) for seed in range(WORKERS)]
        try:
            for k in range(KILLS):
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                alive = [p for p in procs if p.returncode is None]
                assert alive, (tmp_path / "stderr.log").read_text()[-3000:]
                victim = rng.choice(alive)
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                killed_at[victim.pid] = time.time()
                procs.remove(victim)
                procs.append(await start(cfg, dial_log, 100 + k))
            dialled = sum(1 for line in dial_log.read_text().splitlines() if '"at"' in line)
            assert dialled < N, "the kills must land mid-campaign: make the campaign longer"
            codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 240)
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGKILL)
                    await p.wait()
        assert codes == [0] * WORKERS, (tmp_path / "stderr.log").read_text()[-3000:]

    assert query(store_url, "SELECT state FROM campaigns WHERE id = ?", cid) == [("done",)]
    lines = [json.loads(line) for line in dial_log.read_text().splitlines()]
    dials = [d for d in lines if "at" in d]
    per_number = Counter(d["number"] for d in dials)
    assert max(per_number.values()) == 1, "a number was dialled twice"

    # every candidate is accounted for: completed, or (killed mid-call) left for review
    targets = query(store_url, "SELECT status, last_outcome FROM campaign_targets")
    assert len(targets) == N
    outcomes = Counter(targets)
    assert set(outcomes) <= {("done", "completed"), ("done", "interrupted")}, outcomes
    interrupted = outcomes[("done", "interrupted")]
    assert interrupted <= KILLS * MAX_CONCURRENT
    assert len(per_number) >= N - interrupted  # a lost worker's undialled claims were dialled
    attempts = Counter(
        query(store_url, "SELECT state, outcome FROM attempts WHERE state != 'released'")
    )
    assert sum(attempts.values()) == N, attempts  # one finished attempt per candidate

    # every event reached the receiver, verified by standardwebhooks; a resend (a worker
    # killed between the receiver's 200 and its record) carries the same id and body
    event_ids = {r[0] for r in query(store_url, "SELECT id FROM webhook_events")}
    accepted = rx.accepted_ids()
    assert set(accepted) == event_ids
    assert len(event_ids) >= 2 * (N - interrupted)  # call.completed and interview.completed
    bodies: dict[str, Any] = {}
    for r in rx.got:
        assert bodies.setdefault(r.webhook_id, r.data) == r.data
    resent = len(accepted) - len(set(accepted))
    assert resent <= KILLS * 16, resent  # at most what a killed sender had in flight
    undelivered = query(store_url, "SELECT COUNT(*) FROM webhook_deliveries "
                        "WHERE state != 'delivered'")  # fmt: skip
    assert undelivered == [(0,)]

    # the caps, from the phones' side: a call lasts from its dial to its hang-up, or to the
    # kill of the worker that placed it
    ends = {(d["number"], d["pid"]): d["ended"] for d in lines if "ended" in d}
    calls = [
        (d["at"], ends.get((d["number"], d["pid"]), killed_at.get(d["pid"], d["at"] + CALL_S)))
        for d in dials
    ]
    peak = most_at_once(calls)
    print(f"{backend}: {len(dials)} dials, {interrupted} left for review, {resent} resent, "
          f"at most {peak} calls at once")  # fmt: skip
    assert peak <= MAX_CONCURRENT
    starts = sorted(d["at"] for d in dials)
    slack = 0.05  # between a claim (where the gap is kept) and its dial
    for i in range(len(starts)):
        window = [t for t in starts[i:i + 40] if t < starts[i] + 1.0]
        assert len(window) <= CALLS_PER_SECOND + 1, f"{len(window)} dials within 1 s"
        if i:
            assert starts[i] - starts[i - 1] >= 1 / CALLS_PER_SECOND - slack


async def test_a_campaign_started_on_the_api_to_workers_is_dialled_by_a_worker(
    tmp_path: Path,
) -> None:
    """`voicebot api --to-workers`: POST /campaigns/{id}/start only marks it running; a
    `voicebot worker` (another process) dials it to the end."""
    import httpx

    from voicebot.store import accounts
    from voicebot.telephony.registrar import free_udp_port

    db_path = tmp_path / "voicebot.db"
    async with await Store.open(db_path) as store:
        cid = await seed_campaign(store, 5, SETTINGS, "api", tz="UTC")
        _, token = await accounts.create_token(store, "ats", "hr")
    port = free_udp_port()
    cfg = tmp_path / "voicebot.toml"
    cfg.write_text(f'[store]\npath = "{db_path}"\n[api]\nport = {port}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    api = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot.cli", "api", "-c", str(cfg), "--to-workers", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(150):
                try:
                    if (await client.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            auth = {"Authorization": f"Bearer {token}"}
            started = await client.post(f"/campaigns/{cid}/start", headers=auth)
            assert started.status_code == 200 and started.json()["dialer"] is False
            assert query(str(db_path), "SELECT COUNT(*) FROM attempts")[0][0] == 0
            worker = await start(cfg, tmp_path / "dials.jsonl", 0)
            assert await asyncio.wait_for(worker.wait(), 120) == 0
            shown = (await client.get(f"/campaigns/{cid}", headers=auth)).json()
    finally:
        api.terminate()
        await asyncio.wait_for(api.wait(), 30)
    assert shown["state"] == "done"
    dialled = [json.loads(line)["number"] for line in (tmp_path / "dials.jsonl").open()
               if "ended" not in line]  # fmt: skip
    assert sorted(dialled) == sorted(f"+1212555{i:04d}" for i in range(5))
