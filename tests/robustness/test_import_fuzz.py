"""Hostile import files through the importers and `POST /jobs`, seeded: the only exceptions are
the importers' own one-line errors, the API answers every body with < 500, and a refused file
stores nothing."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from tests.robustness.documents import documents
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.hr.importer import CandidateFileError, import_candidates, import_jobs
from voicebot.interview.plan import JobError
from voicebot.store import Store
from voicebot.store import hr as db

pytestmark = pytest.mark.timeout(300)
N = 150


async def test_hostile_files_give_one_line_errors_and_store_nothing_half(tmp_path: Path) -> None:
    kinds = {"ok": 0, "refused": 0}
    async with await Store.open(tmp_path / "voicebot.db") as store:
        await import_jobs(store, Path(__file__).parents[1] / "hr" / "data" / "job.yaml")
        for i, (suffix, data) in enumerate(documents(random.Random(1), N)):
            path = tmp_path / f"f{i}{suffix}"
            path.write_bytes(data)
            before = len(await db.list_candidates(store, "test-backend"))
            try:
                if suffix == ".yaml":
                    await import_jobs(store, path)
                else:
                    await import_candidates(store, path, "test-backend")
                kinds["ok"] += 1
            except (JobError, CandidateFileError) as e:
                kinds["refused"] += 1
                assert "\n" not in str(e) and len(str(e)) < 2000, str(e)[:300]
                assert len(await db.list_candidates(store, "test-backend")) == before
    print(f"{N} hostile files: {kinds}")
    assert kinds["refused"] > N // 3


async def test_hostile_job_bodies_never_get_a_server_error(tmp_path: Path) -> None:
    statuses: dict[int, int] = {}
    async with await Store.open(tmp_path / "voicebot.db") as store:
        token = await db.create_token(store, "fuzz", "hr")
        app = create_app(store, Config())
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            for suffix, data in documents(random.Random(2), N):
                ctype = "application/yaml" if suffix == ".yaml" else "application/json"
                sent = {**headers, "Content-Type": ctype}
                resp = await c.post("/jobs", content=data, headers=sent)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
    print(f"{N} hostile POST /jobs bodies: {statuses}")
    assert all(code < 500 for code in statuses)
