"""Scripted interviews for the scoring tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicebot.interview.plan import Job
from voicebot.store import Store, TurnRecord

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "examples" / "jobs"

STRONG = {
    "salary": "I am hoping for around ninety thousand a year.",
    "notice": "My notice period is four weeks.",
    "python_years": "I have six years of Python experience.",
    "production_fix": (
        "Last year our checkout latency jumped from 200 milliseconds to 4 seconds after a "
        "release. I compared the dashboards, reproduced it in staging and traced the root cause "
        "to a missing index. I added the index, latency went back to 180 milliseconds, and I "
        "added a check to CI so it would not happen again."
    ),
}
WEAK = {
    "salary": "Something reasonable, I guess.",
    "notice": "My notice period is six months.",
    "python_years": "One year.",
    "production_fix": "I don't really remember. Usually I restart things or ask someone else.",
}


def interview_turns(
    job: Job, answers: dict[str, str], start: float = 1000.0
) -> list[dict[str, Any]]:
    """Bot question, candidate answer, in the order of `answers`; 2.5 words a second."""
    turns: list[dict[str, Any]] = []
    t = start
    seq = 0
    for qid, text in answers.items():
        q = job.question(qid)
        assert q is not None
        seq += 1
        turns.append(
            {
                "seq": seq,
                "speaker": "bot",
                "kind": "ask",
                "text": q.text,
                "question_id": qid,
                "started_at": t,
                "ended_at": t + 4,
            }
        )
        t += 5
        seconds = max(1.0, len(text.split()) / 2.5)
        seq += 1
        turns.append(
            {
                "seq": seq,
                "speaker": "candidate",
                "kind": "answer",
                "text": text,
                "question_id": qid,
                "started_at": t,
                "ended_at": t + seconds,
            }
        )
        t += seconds + 1
    return turns


async def stored_call(store: Store, job: Job, answers: dict[str, str], call_id: str) -> None:
    await store.call_started(
        call_id,
        direction="outbound",
        bridge="sip",
        remote="sip:+15551234567@pbx",
        started_at=1000.0,
        job_id=job.id,
        candidate_id="cand-1",
    )
    await store.set_consent(call_id, True)
    for t in interview_turns(job, answers):
        await store.add_turn(
            TurnRecord(
                call_id,
                t["seq"],
                t["speaker"],
                t["kind"],
                t["text"],
                t["started_at"],
                t["ended_at"],
                t["question_id"],
            )
        )


async def candidate_call(
    store: Store,
    job: Job,
    answers: dict[str, str],
    call_id: str,
    *,
    name: str = "Ann Lee",
    phone: str = "+15551234567",
    consent_recording: bool = True,
) -> str:
    """A call by an imported candidate of an imported job (name, time zone, consent to be
    recorded), answered at 1000 s and ended at 1754 s; returns the candidate's id."""
    import yaml

    from voicebot.store import hr

    spec = yaml.safe_load((JOBS / f"{job.id}.yaml").read_text(encoding="utf-8"))
    await hr.upsert_job(store, job.id, job.title, spec)
    record = hr.CandidateRecord(
        job_id=job.id,
        phone_e164=phone,
        timezone="Asia/Shanghai",
        name=name,
        consent_recording=consent_recording,
    )
    await hr.upsert_candidates(store, [record])
    cand = next(c for c in await hr.list_candidates(store, job.id) if c["phone_e164"] == phone)
    await store.call_started(
        call_id,
        direction="outbound",
        bridge="sip",
        remote=f"sip:{phone}@pbx",
        started_at=998.0,
        job_id=job.id,
        candidate_id=cand["id"],
    )
    await store.call_answered(call_id, 1000.0)
    await store.set_consent(call_id, True)
    for t in interview_turns(job, answers):
        await store.add_turn(
            TurnRecord(
                call_id, t["seq"], t["speaker"], t["kind"], t["text"], t["started_at"],
                t["ended_at"], t["question_id"],
            )
        )  # fmt: skip
    await store.call_ended(call_id, at=1754.0, outcome="completed")
    return str(cand["id"])
