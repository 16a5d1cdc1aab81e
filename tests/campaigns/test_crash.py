"""kill -9 of a voicebot process between "dialled" and "delivered": after a restart nothing is
lost and nothing is duplicated — no number is dialled twice, every candidate is accounted for,
and the receiver gets each webhook-id exactly once.

The campaign runs in a real `voicebot campaign start` subprocess on a real SQLite file, with
the simulated bridge (`--simulate`) logging every dial to a file before it "rings"."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from tests.hr.helpers import seed_campaign
from tests.hr.receiver import Receiver
from voicebot.hr.webhooks import new_secret
from voicebot.store import Store
from voicebot.store import hr as db

N = 24
SETTINGS = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
            "window_end": "23:59", "calls_per_second": 50, "max_concurrent": 4,
            "retry_interrupted": "3600,1"}  # fmt: skip


def query(path: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


async def setup(tmp: Path, url: str, secret: str) -> tuple[Path, str]:
    db_path = tmp / "voicebot.db"
    async with await Store.open(db_path) as store:
        cid = await seed_campaign(store, N, SETTINGS, "crash")
        await db.add_endpoint(store, url, secret)
    cfg = tmp / "voicebot.toml"
    cfg.write_text(
        f'[store]\npath = "{db_path}"\n\n'
        "[webhooks]\nschedule = [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 60]\njitter = 0.0\n"
    )
    return cfg, cid


async def start(cfg: Path, cid: str, dial_log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot.cli", "campaign", "start", cid, "-c", str(cfg),
        "--simulate", "completed=3,busy=1", "--call-s", "0.25", "--dial-log", str(dial_log),
        env={k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")},
        stdout=asyncio.subprocess.DEVNULL, stderr=(dial_log.parent / "stderr.log").open("a"),
    )  # fmt: skip


async def wait_for(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while not check():
        assert loop.time() < until, "timed out"
        await asyncio.sleep(0.05)


async def test_kill_between_dialled_and_delivered_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    secret = new_secret()
    healthy = False
    dial_log = tmp_path / "dials.jsonl"

    def answer(_: int) -> tuple[int, dict[str, str]]:
        return (200, {}) if healthy else (500, {})

    async with Receiver([secret], answer=answer) as rx:
        cfg, cid = await setup(tmp_path, rx.url, secret)
        db_path = tmp_path / "voicebot.db"

        def finished() -> int:
            return query(db_path, "SELECT COUNT(*) FROM attempts WHERE state = 'finished'")[0][0]

        proc = await start(cfg, cid, dial_log)
        try:
            await wait_for(lambda: finished() >= 10 and len(rx.got) >= 3)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert rx.accepted_ids() == []  # killed after dialling, before any delivery
        cut = {
            r[0]
            for r in query(db_path, "SELECT candidate_id FROM attempts WHERE state = 'dialling'")
        }

        healthy = True
        proc = await start(cfg, cid, dial_log)
        try:

            def settled() -> bool:
                pending = query(
                    db_path, "SELECT COUNT(*) FROM webhook_deliveries WHERE state != 'delivered'"
                )[0][0]
                open_targets = query(
                    db_path, "SELECT COUNT(*) FROM campaign_targets WHERE status = 'in_progress' "
                    "OR (status = 'pending' AND last_outcome IS NULL)",
                )[0][0]  # fmt: skip
                return pending == 0 and open_targets == 0

            await wait_for(settled)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.wait()

    lines = [json.loads(line) for line in dial_log.read_text().splitlines()]
    dials = Counter(d["number"] for d in lines if "ended" not in d)  # dials, not hang-ups
    assert max(dials.values()) == 1, "a number was dialled twice"
    targets = query(db_path, "SELECT candidate_id, status, last_outcome FROM campaign_targets")
    assert len(targets) == N
    for cand, status, outcome in targets:
        if cand in cut:
            assert (status, outcome) == ("pending", "interrupted")  # called back later, not now
        else:  # done, or a busy line to retry in 10 minutes
            assert (status, outcome) in (("done", "completed"), ("pending", "busy")), cand
    event_ids = [r[0] for r in query(db_path, "SELECT id FROM webhook_events")]
    accepted = rx.accepted_ids()
    assert sorted(accepted) == sorted(event_ids)
    assert len(accepted) == len(set(accepted)), "a webhook-id was accepted twice"
    finished_attempts = query(db_path, "SELECT COUNT(*) FROM attempts WHERE state = 'finished'")
    calls_completed = [r for r in rx.got if r.type == "call.completed" and r.status == 200]
    assert len(calls_completed) == finished_attempts[0][0] - len(cut)
