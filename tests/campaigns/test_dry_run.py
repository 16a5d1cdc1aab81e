"""`voicebot campaign start ID --dry-run` as HR runs it: a scripted candidate is dialled over
real SIP through kamailio on loopback, interviewed by the real models and scored; its webhooks
reach a receiver that verifies each with `standardwebhooks`; the real store is only read (no
call in it, the campaign still a draft) and the dry run's calls are in a separate store."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest

from tests.hr.receiver import Receiver
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.hr.importer import import_candidates, import_jobs
from voicebot.hr.webhooks import new_secret
from voicebot.store import Store
from voicebot.store import hr as db

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.sip,
    pytest.mark.models,
    pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio not installed"),
    pytest.mark.timeout(900),
]


def count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def test_a_dry_run_interviews_a_scripted_candidate_and_delivers_real_webhooks(
    tmp_path: Path,
) -> None:
    real = tmp_path / "voicebot.db"
    async with await Store.open(real) as store:
        (job_id, _), *_ = await import_jobs(
            store, REPO / "examples" / "jobs" / "backend-engineer.yaml"
        )
        await import_candidates(store, REPO / "examples" / "candidates.csv", job_id, region="US")
        cid, _ = await db.create_campaign(store, name="spring", job_id=job_id, settings={})
    cfg = tmp_path / "voicebot.toml"
    cfg.write_text(
        f'[store]\npath = "{real}"\n[speech]\ncache_dir = "{REPO / "var" / "tts-cache"}"\n'
    )
    secret = new_secret()
    async with Receiver([secret]) as rx:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "voicebot.cli", "campaign", "start", cid, "--dry-run",
            "--candidates", "1", "--webhook", rx.url, "--webhook-secret", secret,
            "--report-url", "http://127.0.0.1:8081", "-c", str(cfg),
            env={k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 800)
    stdout = out.decode()
    assert proc.returncode == 0, err.decode()[-3000:]
    first = stdout.splitlines()[0]
    assert re.search(r"  \S.* +completed +\d\.\d \w+$", first), stdout
    assert "dry run camp_" in stdout and "webhooks delivered 3, pending 0, failed 0" in stdout

    types = [r.type for r in rx.got]
    assert types == ["candidate.contacted", "call.completed", "interview.completed"]
    assert rx.rejected == []  # every delivery verified by standardwebhooks
    done = rx.got[-1].data
    assert done["recommendation"] and done["score"] is not None and done["competencies"]
    assert done["campaign_id"] != cid  # the dry run's own campaign
    assert all(r.data["dry_run"] is True for r in rx.got)  # an ATS never files it as real
    link = f"http://127.0.0.1:8081/interviews/{done['call_id']}/report"
    assert done["report_url"] == link  # the API over the dry store, not the real one

    dry = tmp_path / "dry-run.db"
    assert count(dry, "SELECT COUNT(*) FROM calls WHERE outcome = 'completed'") == 1
    assert count(dry, "SELECT COUNT(*) FROM reports") == 1
    assert count(real, "SELECT COUNT(*) FROM calls") == 0  # nobody real was called
    async with await Store.open(dry) as dry_store:  # what --report-url's API would serve
        token = await db.create_token(dry_store, "ats", "hr")
        transport = httpx.ASGITransport(app=create_app(dry_store, Config()))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8081") as c:
            got = await c.get(link, headers={"Authorization": f"Bearer {token}"})
            shared = await c.get(done["share_url"])
    assert got.status_code == 200 and got.json()["call_id"] == done["call_id"]
    assert shared.status_code == 200 and "<html" in shared.text.lower()
    assert count(real, f"SELECT COUNT(*) FROM campaigns WHERE id = '{cid}' AND state = 'draft'")
