"""A real `voicebot api` (uvicorn on 127.0.0.1, a free port) over a real SQLite store seeded
with a job, candidates, a campaign and a scored interview, for the console's browser tests;
Playwright drives Debian's chromium (/usr/bin/chromium), nothing is downloaded."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from voicebot.campaigns.dialer import score_with_pipeline
from voicebot.config import (
    ApiConfig,
    ComplianceConfig,
    Config,
    InterviewConfig,
    SpeechConfig,
    StoreConfig,
)
from voicebot.hr.api import create_app
from voicebot.hr.importer import import_jobs, load_stored_job
from voicebot.store import Store, TurnRecord, accounts
from voicebot.store import hr as db

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
JOB_FILE = REPO / "examples" / "jobs" / "backend-engineer.yaml"
JOB_ID = "backend-engineer"
CALL_ID = "call-c1"


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    db_path: Path
    hr_token: str
    readonly_token: str
    readonly_id: str
    call_id: str
    shots: Path  # screenshots of every page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(store: Store) -> dict[str, Any]:
    await import_jobs(store, JOB_FILE)
    await db.upsert_candidates(
        store,
        [
            db.CandidateRecord(JOB_ID, "+12125550100", "UTC", name="Ada Lovelace",
                               consent_recording=True),
            db.CandidateRecord(JOB_ID, "+12125550101", "UTC", name="Grace Hopper"),
        ],
    )  # fmt: skip
    cands = {c["name"]: c["id"] for c in await db.list_candidates(store, JOB_ID)}
    await db.create_campaign(
        store, name="Spring backend", job_id=JOB_ID, settings={},
        candidate_ids=list(cands.values()),
    )  # fmt: skip
    await store.call_started(
        CALL_ID, direction="outbound", bridge="sip", remote="+12125550100",
        started_at=time.time() - 600, job_id=JOB_ID, candidate_id=cands["Ada Lovelace"],
    )  # fmt: skip
    await store.set_consent(CALL_ID, True)
    job = await load_stored_job(store, JOB_ID)
    q = next(q for q in job.questions if "problem_solving" in q.competencies)
    await store.add_turn(TurnRecord(CALL_ID, 0, "bot", "ask", q.text, 1.0, 8.0, q.id))
    answer = (
        "Last spring our checkout API got slow every evening. I looked at the logs and the "
        "metrics, reproduced it in staging and found the root cause, a missing index. I added "
        "the index, wrote a regression test, and latency went from two seconds to 80 ms."
    )
    await store.add_turn(TurnRecord(CALL_ID, 1, "candidate", "answer", answer, 9.0, 40.0, q.id))
    await store.call_ended(CALL_ID, at=time.time() - 300, outcome="completed")
    assert await score_with_pipeline(store, CALL_ID, job) is not None
    await db.add_endpoint(store, "http://127.0.0.1:9/ats", "whsec_" + "A" * 32)
    _, hr = await accounts.create_token(store, "Ann Recruiter", "hr")
    ro_id, ro = await accounts.create_token(store, "Auditor", "readonly", 3600)
    return {"hr": hr, "ro": ro, "ro_id": ro_id}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The API in its own thread and event loop (Playwright's sync API needs the test's
    thread free of one); stopped when the module's tests are done."""
    tmp = tmp_path_factory.mktemp("console")
    cfg = Config(  # the dry run's store goes beside this one; its voices come from the cache
        store=StoreConfig(path=str(tmp / "voicebot.db")),
        speech=SpeechConfig(cache_dir=str(REPO / "var" / "tts-cache")),
        interview=InterviewConfig(record=True),  # over SIP, voicebot records the call itself
        api=ApiConfig(recordings_dir=str(tmp / "rec")),
        compliance=ComplianceConfig(mode="eu"),
    )
    (tmp / "rec").mkdir()
    (tmp / "rec" / f"{CALL_ID}.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    port = _free_port()
    ready: dict[str, Any] = {}
    started = threading.Event()
    server: list[uvicorn.Server] = []

    async def main() -> None:
        try:
            async with await Store.open(tmp / "voicebot.db") as store:
                ready.update(await _seed(store))
                app = create_app(store, cfg)
                config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
                server.append(uvicorn.Server(config))
                serving = asyncio.create_task(server[0].serve())
                for _ in range(1000):  # uvicorn says `started` with no event to wait on
                    if server[0].started or serving.done():
                        break
                    await asyncio.sleep(0.02)
                started.set()
                await serving
        except BaseException as e:
            ready["error"] = e
            started.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(120), "the API did not start within 120 s"
    if "error" in ready:
        raise ready["error"]
    shots = tmp / "shots"
    shots.mkdir()
    try:
        yield Served(f"http://127.0.0.1:{port}", tmp / "voicebot.db", ready["hr"], ready["ro"],
                     ready["ro_id"], CALL_ID, shots)  # fmt: skip
    finally:
        server[0].should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright launches Debian's chromium, never a downloaded one."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup.sh (apt-get install chromium)")
    return {"executable_path": str(CHROMIUM), "args": ["--no-sandbox", "--disable-gpu"]}


