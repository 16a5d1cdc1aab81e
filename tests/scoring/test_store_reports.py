"""Reports in the store: saved when a call is scored from its stored turns, read back whole,
replaced on re-scoring; prosody rows per utterance."""

import pytest
from scoring_data import STRONG, stored_call

from voicebot.interview.plan import Job
from voicebot.scoring.pipeline import score_call, write_report_files
from voicebot.store import Store, StoreError
from voicebot.store.reports import get_prosody, get_report, list_reports, save_prosody, save_report


async def test_score_call_reads_turns_and_saves_the_report(backend_job: Job, tmp_path) -> None:
    store = await Store.open(tmp_path / "v.db")
    try:
        await stored_call(store, backend_job, STRONG, "call-1")
        report = (await score_call(store, "call-1", backend_job, compliance="us")).to_dict()

        assert report["call_id"] == "call-1" and report["candidate_id"] == "cand-1"
        assert report["compliance"]["consent"] is True
        assert await get_report(store, "call-1") == report
        rows = await list_reports(store, backend_job.id)
        assert [(r["call_id"], r["recommendation"]) for r in rows] == [
            ("call-1", report["overall"]["recommendation"])
        ]
        # re-scoring replaces, never duplicates
        await score_call(store, "call-1", backend_job, compliance="eu")
        again = await get_report(store, "call-1")
        assert again is not None and again["compliance"]["mode"] == "eu"
        assert len(await list_reports(store)) == 1

        json_path, html_path = await write_report_files(report, tmp_path / "reports")
        assert json_path.name == "call-1.json" and "<svg" in html_path.read_text()
    finally:
        await store.close()


async def test_unknown_call_is_a_clear_error(backend_job: Job, tmp_path) -> None:
    store = await Store.open(tmp_path / "v.db")
    try:
        with pytest.raises(StoreError, match="no call 'nope'"):
            await score_call(store, "nope", backend_job)
        with pytest.raises(StoreError, match="no call 'nope'"):
            await save_report(store, "nope", {"job_id": "x", "overall": {}})
        assert await get_report(store, "nope") is None
    finally:
        await store.close()


async def test_prosody_rows_reach_the_report_only_when_allowed(backend_job: Job, tmp_path) -> None:
    from dataclasses import replace

    job = replace(backend_job, prosody=True)
    store = await Store.open(tmp_path / "v.db")
    try:
        await stored_call(store, job, STRONG, "call-2")
        await save_prosody(store, "call-2", 2, {"energy_std_db": 7.5, "pitch_std_semitones": 2.0})
        assert await get_prosody(store, "call-2") == {
            2: {"energy_std_db": 7.5, "pitch_std_semitones": 2.0}
        }
        used = (await score_call(store, "call-2", job, save=False)).to_dict()
        assert used["delivery"]["curve"][0]["energy_std_db"] == 7.5
        eu = (await score_call(store, "call-2", job, compliance="eu", save=False)).to_dict()
        assert "energy_std_db" not in eu["delivery"]["curve"][0]
    finally:
        await store.close()
