"""`voicebot report ID` with no flags: the few lines a recruiter reads (name, role title, date,
overall and recommendation, one line per competency), not 13 kB of JSON; `--json -` is whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.cli_helpers import clean_environment, run  # noqa: F401  (autouse fixture)
from tests.scoring.scoring_data import JOBS, STRONG, interview_turns
from voicebot.hr.importer import import_jobs
from voicebot.interview.plan import load_job
from voicebot.store import Store, TurnRecord
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord

JOB = JOBS / "backend-engineer.yaml"


async def interviewed(db_path: Path) -> None:
    job = load_job(JOB)
    async with await Store.open(db_path) as store:
        await import_jobs(store, JOB)
        phone = "+14155550132"
        await db.upsert_candidates(
            store, [CandidateRecord(job.id, phone, "Asia/Shanghai", name="Dana Whitfield")]
        )
        cand = store.pii.candidate_id(job.id, phone)
        # 2026-03-02 09:30 in Shanghai, 4 min 5 s
        start = 1772415000.0
        await store.call_started(
            "call-s", direction="outbound", bridge="sip", remote=phone, started_at=start,
            job_id=job.id, candidate_id=cand,
        )  # fmt: skip
        await store.call_answered("call-s", start)
        await store.set_consent("call-s", True)
        for t in interview_turns(job, STRONG):
            await store.add_turn(
                TurnRecord("call-s", t["seq"], t["speaker"], t["kind"], t["text"],
                           t["started_at"], t["ended_at"], t["question_id"])
            )  # fmt: skip
        await store.call_ended("call-s", at=start + 245, outcome="completed")


def test_report_without_flags_is_a_short_summary_and_json_stays_whole(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    config = tmp_path / "voicebot.toml"
    config.write_text(f'[store]\npath = "{db_path}"\n')
    asyncio.run(interviewed(db_path))

    result = run("report", "call-s", "-c", config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Dana Whitfield, Backend Engineer"
    assert lines[1] == "interview call-s, 2026-03-02 09:30 Asia/Shanghai, 4 min 05 s"
    assert lines[2].startswith("overall ") and " / 5: " in lines[2]
    assert "{" not in result.stdout and len(result.stdout) < 2000

    whole = run("report", "call-s", "--json", "-", "-c", config)
    data = json.loads(whole.stdout)
    names = [c["name"] for c in data["competencies"]]
    for name in names:  # one line per competency, by name
        assert sum(line.startswith(f"  {name}: ") for line in lines) == 1
    overall = data["overall"]
    rec = overall["recommendation"].replace("_", " ")
    assert lines[2] == f"overall {overall['score']:.1f} / {overall['max']}: {rec}"
