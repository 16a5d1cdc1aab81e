"""Paths and ids the HR tests share, and a campaign seeded the way they need it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
JOB_FILE = DATA / "job.yaml"
JOB_ID = "test-backend"


async def seed_campaign(
    store: Any, n: int, settings: Mapping[str, Any], name: str, tz: str = "America/New_York"
) -> str:
    """The test job, n candidates (+1212555nnnn) and a draft campaign over them; its id."""
    from voicebot.campaigns.settings import parse_settings
    from voicebot.hr.importer import import_jobs
    from voicebot.store import hr as db

    await import_jobs(store, JOB_FILE)
    await db.upsert_candidates(
        store, [db.CandidateRecord(JOB_ID, f"+1212555{i:04d}", tz) for i in range(n)]
    )
    cid, _ = await db.create_campaign(
        store, name=name, job_id=JOB_ID, settings=parse_settings(settings).to_dict()
    )
    return cid
