"""Candidate import from CSV and JSON: E.164, time zones, résumé fields, bad rows reported
with their line, idempotent re-import; and the must-have pre-screen."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hr.helpers import JOB_ID
from voicebot.hr.importer import (
    CandidateFileError,
    import_candidates,
    import_jobs,
    screen_candidate,
)
from voicebot.interview.plan import JobError
from voicebot.store import Store
from voicebot.store import hr as db

HEADER = ["phone", "name", "timezone", "years_experience", "education", "skills",
          "consent_call", "consent_recording", "demographic_sex"]  # fmt: skip
BAD_KINDS = [
    ({"phone": ""}, "phone: required"),
    ({"phone": "not a number"}, "phone: not a phone number"),
    ({"phone": "+1 555"}, "phone: not a valid number"),
    ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not an IANA time zone"),
    ({"years_experience": "lots"}, "years_experience: 'lots' is not a number"),
    ({"years_experience": "-3"}, "years_experience: -3 is outside 0..70"),
    ({"consent_call": "maybe"}, "consent_call: expected yes/no"),
]


def good_row(i: int) -> dict[str, str]:
    return {
        "phone": f"+1 415 555 {i:04d}" if i < 10000 else "",
        "name": f"Candidate {i}",
        "timezone": "",
        "years_experience": str(i % 12),
        "education": random.Random(i).choice(["Bachelor's", "Master's", "PhD", ""]),
        "skills": "Python; PostgreSQL" if i % 2 else "Go",
        "consent_call": "yes",
        "consent_recording": "no" if i % 3 else "yes",
        "demographic_sex": "female" if i % 2 else "male",
    }


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=HEADER)
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def thousand_rows(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    """1 000 rows, 37 of them bad in seven different ways; {file line: expected reason}."""
    rng = random.Random(7)
    bad_at = sorted(rng.sample(range(1000), 37))
    rows, expected = [], {}
    for i in range(1000):
        row = good_row(i)
        if i in bad_at:
            change, reason = BAD_KINDS[bad_at.index(i) % len(BAD_KINDS)]
            row.update(change)
            expected[i + 2] = reason  # line 1 is the header
        rows.append(row)
    path = tmp_path / "candidates.csv"
    write_csv(path, rows)
    return path, expected


async def test_thousand_rows_37_bad_import_963_and_report_37_lines(
    store: Store, thousand_rows: tuple[Path, dict[int, str]]
) -> None:
    path, expected = thousand_rows
    report = await import_candidates(store, path, JOB_ID)
    assert report.imported == 963
    assert len(report.errors) == 37
    assert {e.line for e in report.errors} == set(expected)
    for err in report.errors:
        assert err.reason.startswith(expected[err.line]), (err, expected[err.line])
    assert len(await db.list_candidates(store, JOB_ID)) == 963


async def test_reimport_is_idempotent_and_updates(
    store: Store, thousand_rows: tuple[Path, dict[int, str]], tmp_path: Path
) -> None:
    path, _ = thousand_rows
    await import_candidates(store, path, JOB_ID)
    again = await import_candidates(store, path, JOB_ID)
    assert (again.inserted, again.updated) == (0, 963)
    assert len(await db.list_candidates(store, JOB_ID)) == 963
    # the same person written differently is the same candidate, with the new fields
    one = tmp_path / "one.csv"
    write_csv(one, [{**good_row(1), "phone": "(415) 555-0001", "years_experience": "30"}])
    report = await import_candidates(store, one, JOB_ID)
    assert (report.inserted, report.updated) == (0, 1)
    cand = next(c for c in await db.list_candidates(store, JOB_ID) if c["name"] == "Candidate 1")
    assert cand["phone_e164"] == "+14155550001"
    assert cand["years_experience"] == 30


async def test_fields_are_typed_and_time_zone_inferred(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            [
                {"phone": "+44 20 7946 0958", "name": "Priya", "skills": ["Python", "Go"],
                 "education": "Master's", "years_experience": 9, "consent_recording": True},
                {"phone": "030 901820", "timezone": "Europe/Berlin", "consent_call": "no"},
                "not an object",
            ]
        )
    )  # fmt: skip
    report = await import_candidates(store, path, JOB_ID, region="DE")
    assert report.imported == 2
    assert [str(e) for e in report.errors] == ["line 3: not a candidate record: not an object"]
    by_phone = {c["phone_e164"]: c for c in await db.list_candidates(store, JOB_ID)}
    uk, de = by_phone["+442079460958"], by_phone["+4930901820"]
    assert uk["timezone"] == "Europe/London"
    assert (uk["skills"], uk["education"], uk["years_experience"]) == (
        ["Python", "Go"],
        "master",
        9,
    )
    assert uk["consent_recording"] is True
    assert de["consent_call"] is False


async def test_same_number_twice_in_one_file_names_the_first_line(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "dup.csv"
    write_csv(path, [good_row(5), good_row(6), {**good_row(7), "phone": "+1 (415) 555-0005"}])
    report = await import_candidates(store, path, JOB_ID)
    assert report.imported == 2
    assert [str(e) for e in report.errors] == ["line 4: phone: same number as line 2"]


async def test_whole_file_problems_are_one_clear_error(store: Store, tmp_path: Path) -> None:
    bad_header = tmp_path / "h.csv"
    bad_header.write_text("fax,name\n+14155550100,A\n")
    unknown = r"h.csv: line 1: unknown column\(s\) \['fax'\].*--map 'fax=FIELD'"
    with pytest.raises(CandidateFileError, match=unknown):
        await import_candidates(store, bad_header, JOB_ID)
    with pytest.raises(CandidateFileError, match="job 'nope' is not imported"):
        await import_candidates(store, bad_header, "nope")
    with pytest.raises(CandidateFileError, match="does not exist"):
        await import_candidates(store, tmp_path / "missing.csv", JOB_ID)


async def test_jobs_import_validates_and_names_the_field(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"id": "x", "title": "T", "company": "C", "questions": [{"id": "q"}]})
    )
    with pytest.raises(JobError, match=r"bad.json:1: questions\[0\].text: required"):
        await import_jobs(store, bad)
    assert [j["id"] for j in await db.list_jobs(store)] == [JOB_ID]


async def test_a_yaml_job_error_names_its_line(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: T\ncompany: C\nquestions:\n  - id: q\n    txt: Hello?\n")

    with pytest.raises(JobError, match=r"bad.yaml:6: questions\[0\].txt: .*did you mean"):
        await import_jobs(store, bad)


@dataclass(frozen=True)
class MustHaves:
    min_years_experience: float | None = 3
    skills: tuple[str, ...] = ("Python",)
    education: tuple[str, ...] = ("bachelor",)


@dataclass(frozen=True)
class JobWithMustHaves:
    must_haves: MustHaves = MustHaves()


@pytest.mark.parametrize(
    ("resume", "eligible", "reason"),
    [
        ({"years_experience": 5, "skills": ["python"], "education": "master"}, True, "meets every"),
        ({"years_experience": 2, "skills": ["Python"], "education": "phd"}, False, "2 years"),
        ({"years_experience": None, "skills": ["Python"], "education": "phd"}, False, "unknown"),
        ({"years_experience": 4, "skills": ["Go"], "education": "bachelor"}, False, "Python"),
        ({"years_experience": 4, "skills": ["Python"], "education": "high_school"}, False, "educ"),
    ],
)
def test_screen_checks_each_must_have(resume: dict, eligible: bool, reason: str) -> None:
    ok, why = screen_candidate(JobWithMustHaves(), resume)  # type: ignore[arg-type]
    assert ok is eligible
    assert reason in "; ".join(why)
