"""Issue 17 part 2: reports are versioned. A rescore adds a version instead of overwriting the
report the ATS already has, the newest is served, earlier ones stay readable, and a changed
rescore puts `report.updated` in the webhook outbox; a store from before keeps its reports as
version 1."""

from __future__ import annotations

import json
from pathlib import Path

from scoring_data import STRONG, candidate_call

from tests.store.old_schema import database_at
from voicebot.interview.plan import Job
from voicebot.scoring.pipeline import score_call
from voicebot.store import Store, hr
from voicebot.store.reports import get_report, list_reports, report_versions


async def outbox(store: Store) -> list[tuple[str, dict]]:
    async with store._db.execute(
        "SELECT type, payload_json FROM webhook_events ORDER BY created_at"
    ) as cur:
        return [(r[0], json.loads(r[1])) for r in await cur.fetchall()]


async def test_rescore_adds_a_version_and_queues_report_updated(
    backend_job: Job, tmp_path: Path
) -> None:
    store = await Store.open(tmp_path / "v.db")
    try:
        cand = await candidate_call(store, backend_job, STRONG, "call-1")
        endpoint = await hr.add_endpoint(store, "http://127.0.0.1:9/hook", "whsec_" + "A" * 32)
        first = (await score_call(store, "call-1", backend_job, compliance="us")).to_dict()
        assert await outbox(store) == []  # a first report is announced by interview.completed

        # the same scoring again changes nothing: no version, no event
        await score_call(store, "call-1", backend_job, compliance="us")
        assert [v["version"] for v in await report_versions(store, "call-1")] == [1]

        second = (
            await score_call(
                store, "call-1", backend_job, compliance="eu", report_url="https://hr.example/"
            )
        ).to_dict()
        assert [v["version"] for v in await report_versions(store, "call-1")] == [1, 2]
        assert await get_report(store, "call-1") == second  # the newest is served
        assert await get_report(store, "call-1", 1) == first  # the one the ATS had is kept
        assert await get_report(store, "call-1", 3) is None
        (row,) = await list_reports(store)
        assert row["version"] == 2 and row["call_id"] == "call-1"

        ((kind, payload),) = await outbox(store)
        assert kind == "report.updated"
        assert payload["interview_id"] == "call-1" and payload["candidate_id"] == cand
        assert (payload["version"], payload["previous_version"]) == (2, 1)
        assert payload["previous"]["recommendation"] == first["overall"]["recommendation"]
        assert payload["report_url"] == "https://hr.example/interviews/call-1/report"
        assert "Ann Lee" not in json.dumps(payload)  # an ATS gets ids, never the name
        deliveries = await hr.list_deliveries(store)
        assert [d["endpoint_id"] for d in deliveries] == [endpoint]
    finally:
        await store.close()


async def test_reports_from_before_versions_become_version_1(tmp_path: Path) -> None:
    """A store at schema 4 with a report: opening it keeps the report, as version 1."""
    path = tmp_path / "old.db"
    conn = database_at(path, 4)
    conn.execute(
        "INSERT INTO calls (id, direction, bridge, remote_hash, started_at) "
        "VALUES ('call-old', 'outbound', 'sip', 'x', 1)"
    )
    report = {"call_id": "call-old", "job_id": "j", "overall": {"score": 3.5}}
    conn.execute(
        "INSERT INTO reports VALUES ('call-old', 'j', NULL, 3.5, 'yes', ?, 5, 5)",
        (json.dumps(report),),
    )
    conn.commit()
    conn.close()

    store = await Store.open(path)
    try:
        assert await get_report(store, "call-old") == report
        (v1,) = await report_versions(store, "call-old")
        assert (v1["version"], v1["recommendation"], v1["created_at"]) == (1, "yes", 5)
        assert await get_report(store, "call-old", 1) == report
    finally:
        await store.close()
