"""Outcome analytics on constructed data whose answers are known: correlations, suggested
weights, four-fifths impact ratios, LL144 scoring-rate ratios, small groups marked."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.cli import app
from voicebot.hr.analytics import Interviewed, adverse_impact, pearson, validity
from voicebot.hr.importer import import_jobs
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord
from voicebot.store.reports import save_report


def test_pearson_matches_a_hand_computed_value() -> None:
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    assert pearson([1, 2, 3], [1, 1, 1]) is None  # no variance, no correlation
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def cohort(n: int = 60) -> list[Interviewed]:
    """Problem solving predicts performance; communication is noise."""
    rng = random.Random(5)
    rows = []
    for i in range(n):
        ps = rng.randint(1, 5)
        rows.append(
            Interviewed(
                candidate_id=f"c{i}", overall=float(ps), recommendation="yes" if ps >= 3 else "no",
                competencies={"problem_solving": ps, "communication": rng.randint(1, 5)},
                hired=ps >= 3, performance=ps + rng.uniform(-0.5, 0.5),
            )
        )  # fmt: skip
    return rows


def test_validity_finds_the_predictive_competency_and_moves_weight_to_it() -> None:
    out = validity(cohort(), {"problem_solving": 0.5, "communication": 0.5})
    by = {c["competency"]: c for c in out["competencies"]}
    ps, comm = by["problem_solving"], by["communication"]
    assert ps["r_performance"] > 0.9 and abs(comm["r_performance"]) < 0.3
    assert ps["suggested_weight"] > 0.9 and ps["note"] == "raise"
    assert comm["suggested_weight"] < 0.1 and comm["note"] == "lower"
    assert ps["suggested_weight"] + comm["suggested_weight"] == pytest.approx(1.0, abs=0.01)


def test_validity_does_not_act_on_too_few_outcomes() -> None:
    out = validity(cohort(6))
    assert all(c["suggested_weight"] is None for c in out["competencies"])


def people(group: str, n: int, selected: int, high_scores: int) -> list[Interviewed]:
    return [
        Interviewed(
            candidate_id=f"{group}{i}", overall=4.0 if i < high_scores else 2.0,
            recommendation="yes" if i < selected else "no", competencies={},
            groups={"sex": group},
        )
        for i in range(n)
    ]  # fmt: skip


def test_adverse_impact_four_fifths_and_scoring_rates_with_small_groups_marked() -> None:
    rows = (
        people("female", 50, selected=20, high_scores=20)  # 0.40
        + people("male", 50, selected=30, high_scores=30)  # 0.60
        + people("nonbinary", 3, selected=0, high_scores=0)
        + [Interviewed("x", 3.0, "no", {}, groups={})]  # did not self-report
    )
    table = {g["group"]: g for g in adverse_impact(rows)["categories"]["sex"]}
    assert table["female"]["selection_rate"] == 0.4 and table["male"]["selection_rate"] == 0.6
    assert table["female"]["impact_ratio"] == pytest.approx(0.667, abs=0.001)
    assert table["female"]["four_fifths_flag"] and not table["male"]["four_fifths_flag"]
    assert table["female"]["scoring_impact_ratio"] == pytest.approx(0.667, abs=0.001)
    assert table["nonbinary"]["too_small"] and table["nonbinary"]["impact_ratio"] is None
    assert table["unknown"]["n"] == 1 and table["unknown"]["impact_ratio"] is None


async def populate(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        await import_jobs(store, JOB_FILE)
        rows = cohort(30)
        records = [
            CandidateRecord(JOB_ID, f"+1212555{i:04d}", "UTC",
                            demographics={"sex": "female" if i % 2 else "male"})
            for i in range(len(rows))
        ]  # fmt: skip
        await db.upsert_candidates(store, records)
        for rec, row in zip(records, rows, strict=True):
            call = f"call-{rec.id}"
            await store.call_started(call, direction="outbound", bridge="sip",
                                     remote=rec.phone_e164, started_at=1.0, job_id=JOB_ID,
                                     candidate_id=rec.id)  # fmt: skip
            await store.call_ended(call, at=2.0, outcome="completed")
            await save_report(store, call, {
                "call_id": call, "job_id": JOB_ID, "candidate_id": rec.id,
                "overall": {"score": row.overall, "max": 5, "recommendation": row.recommendation},
                "competencies": [{"id": k, "name": k, "score": v, "max": 5}
                                 for k, v in row.competencies.items()],
            })  # fmt: skip
            await db.record_outcome(store, rec.id, hired=row.hired, performance=row.performance)


def test_cli_reads_reports_outcomes_and_self_reported_groups_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports saved by scoring, outcomes posted later, groups from the import: joined."""
    db_path = tmp_path / "voicebot.db"
    asyncio.run(populate(db_path))
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("VOICEBOT_STORE__PATH", str(db_path))
    runner = CliRunner()
    out = runner.invoke(app, ["analytics", "validity", "--job", JOB_ID, "--json"])
    assert out.exit_code == 0, out.output
    by = {c["competency"]: c for c in json.loads(out.output)["competencies"]}
    assert (
        by["problem_solving"]["n_performance"] == 30
        and by["problem_solving"]["r_performance"] > 0.9
    )
    out = runner.invoke(app, ["analytics", "adverse-impact", "--job", JOB_ID])
    assert out.exit_code == 0, out.output
    assert "female" in out.output and "male" in out.output and "ratio" in out.output
