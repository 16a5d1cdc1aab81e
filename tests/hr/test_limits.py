"""Hostile import files (issue 16 item 8): a huge CSV cell, JSON and YAML nested 20 000 deep,
a non-UTF-8 job file, a YAML alias bomb, a duplicate YAML key. Each is one clear error naming
the file, the line and the field; good rows still go in; nothing of a refused file is stored;
no traceback."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.campaigns.settings import SettingsError, parse_settings
from voicebot.hr.importer import CandidateFileError, import_candidates, import_jobs
from voicebot.interview.plan import JobError, load_job
from voicebot.store import Store
from voicebot.store import hr as db

REPO = Path(__file__).resolve().parents[2]
DEEP = 20_000


def alias_bomb() -> str:
    """Billion laughs: nine levels of nine aliases each, 9**9 strings once expanded."""
    lines = ["title: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"k{level}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(["id: bomb", "company: C", *lines]) + "\n"


def write_csv(path: Path, names: list[str]) -> None:
    rows = [f"+1 415 555 {i:04d},{name}" for i, name in enumerate(names)]
    path.write_text("phone,name\n" + "\n".join(rows) + "\n", encoding="utf-8")


# candidates -----------------------------------------------------------------------------------


async def test_a_cell_over_128_kib_rejects_its_row_and_the_others_import(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    write_csv(path, ["Ada", "x" * 200_000, "Grace"])
    report = await import_candidates(store, path, JOB_ID)
    assert [str(e) for e in report.errors] == [
        "line 3: name: the cell holds 195 KiB, more than 128 KiB"
    ]
    names = sorted(c["name"] for c in await db.list_candidates(store, JOB_ID))
    assert names == ["Ada", "Grace"]


async def test_a_quoted_huge_cell_over_many_lines_keeps_the_line_count(
    store: Store, tmp_path: Path
) -> None:
    """The cell spans 3 000 lines: the row after it is still read as itself, on its line."""
    path = tmp_path / "c.csv"
    big = '"' + "\n".join(["y" * 60] * 3000) + '"'
    path.write_text(f"phone,name\n+1 415 555 0001,{big}\n+1 415 555 0002,Bo\n,Nobody\n")
    report = await import_candidates(store, path, JOB_ID)
    assert [str(e) for e in report.errors] == [
        "line 2: name: the cell holds 178 KiB, more than 128 KiB",
        "line 3003: phone: required",
    ]
    assert [c["name"] for c in await db.list_candidates(store, JOB_ID)] == ["Bo"]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
async def test_a_candidate_file_nested_20000_deep_is_one_error_and_stores_nothing(
    store: Store, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"c{suffix}"
    good = json.dumps({"phone": "+1 415 555 0100", "name": "Ada"})
    path.write_text(f"[{good},\n" + "[" * DEEP + "]" * DEEP + "]")
    with pytest.raises(CandidateFileError, match=rf"c\{suffix}:2: nested deeper than 64 levels"):
        await import_candidates(store, path, JOB_ID)
    assert await db.list_candidates(store, JOB_ID) == []


async def test_nested_and_non_finite_values_in_a_row_are_that_rows_error(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps([
            {"phone": "+1 415 555 0100", "name": {"first": "Ada"}},
            {"phone": "+1 415 555 0101", "skills": ["Go", ["nested"]]},
            {"phone": "+1 415 555 0102", "name": "Grace"},
        ])
    )  # fmt: skip
    report = await import_candidates(store, path, JOB_ID)
    assert [str(e) for e in report.errors] == [
        "line 1: name: expected text or a number, got dict",
        "line 2: skills: expected text or a number, got list",
    ]
    assert [c["name"] for c in await db.list_candidates(store, JOB_ID)] == ["Grace"]
    path.write_text('[{"phone": "+1 415 555 0103", "years_experience": NaN}]')
    with pytest.raises(CandidateFileError, match=r"c.json:1: NaN is not a number JSON allows"):
        await import_candidates(store, path, JOB_ID)


async def test_a_damaged_utf8_candidate_file_names_the_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    text = "phone,name\n" + "".join(f"+1 415 555 01{i:02d},李娜{i}\n" for i in range(9))
    raw = text.encode("utf-8").replace("娜8".encode(), b"\xe5\xa8" + b"8")  # a byte lost
    path.write_bytes(raw)
    with pytest.raises(CandidateFileError, match=r"c.csv: line 10: not UTF-8 text .*save the"):
        await import_candidates(store, path, JOB_ID)


# jobs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
async def test_a_job_file_nested_20000_deep_names_its_line(
    store: Store, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"id": "deep", "title": "T",\n "company": ' + "[" * DEEP + "]" * DEEP + "}")
    with pytest.raises(JobError, match=rf"deep\{suffix}:2: nested deeper than 64 levels"):
        await import_jobs(store, path)
    assert [j["id"] for j in await db.list_jobs(store)] == [JOB_ID]


async def test_a_non_utf8_job_file_names_line_and_byte(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    text = JOB_FILE.read_text(encoding="utf-8").replace("Acme Corp", "阿克米公司")
    path.write_bytes(text.replace("id: test-backend", "id: gbk").encode("gbk"))
    line = text.splitlines().index("company: 阿克米公司") + 1
    with pytest.raises(JobError, match=rf"gbk.yaml:{line}: not UTF-8 text \(.* at byte \d+\)"):
        await import_jobs(store, path)
    with pytest.raises(JobError, match=rf"gbk.yaml:{line}: not UTF-8"):
        load_job(path)  # `voicebot call --job` reads job files the same way


async def test_a_duplicate_yaml_key_names_both_lines(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    text = JOB_FILE.read_text(encoding="utf-8").replace("id: test-backend", "id: dup")
    path.write_text(text + "title: Frontend Engineer\n")
    first = text.splitlines().index("title: Backend Engineer") + 1
    last = len(text.splitlines()) + 1
    with pytest.raises(
        JobError, match=rf"dup.yaml:{last}: duplicate key 'title' \(first at line {first}\)"
    ):
        await import_jobs(store, path)
    assert [j["id"] for j in await db.list_jobs(store)] == [JOB_ID]


async def test_yaml_anchors_still_work_but_a_recursive_one_is_refused(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "anchored.yaml"
    path.write_text(
        "id: anchored\ntitle: &t Backend Engineer\ncompany: Acme\nsummary: *t\n"
        "questions:\n  - id: q1\n    text: Tell me about yourself.\n"
    )
    await import_jobs(store, path)
    assert (await db.get_job_spec(store, "anchored"))["summary"] == "Backend Engineer"
    path = tmp_path / "loop.yaml"
    path.write_text("id: loop\ntitle: &t [*t]\n")
    with pytest.raises(JobError, match=r"loop.yaml:2: an alias refers to its own anchor"):
        await import_jobs(store, path)


async def test_a_yaml_alias_bomb_is_refused_unexpanded(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    with pytest.raises(JobError, match=r"bomb.yaml: aliases \(\*name\) expand it by [\d,]+ nodes"):
        await import_jobs(store, path)


def test_jobs_import_cli_refuses_the_bomb_in_one_line_with_bounded_memory(tmp_path: Path) -> None:
    """The CLI path (it was 3 GB RSS and climbing): exit 2, one line, no traceback."""
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    (tmp_path / "voicebot.toml").write_text(f'[store]\npath = "{tmp_path / "v.db"}"\n')
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot.cli", "jobs", "import", "bomb.yaml",
         "--config", "voicebot.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    took = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"alias bomb: refused in {took:.2f} s (process start included), peak RSS {peak_mb:.0f} MB"
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("voicebot:")]
    assert error.startswith("voicebot: bomb.yaml: aliases (*name) expand it by")
    assert peak_mb < 500 or before / 1024 >= 500  # another child may have set the peak


# campaign settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "key", "why"),
    [
        ({"max_concurrent": 10**30}, "max_concurrent", "at most 1000"),
        ({"max_concurrent": "1e400"}, "max_concurrent", "expected a whole number"),
        ({"calls_per_second": "inf"}, "calls_per_second", "at most 100"),
        ({"calls_per_second": "nan"}, "calls_per_second", "expected a number"),
        ({"ring_timeout_s": 10**9}, "ring_timeout_s", "at most 600"),
        ({"max_attempts": 10**6}, "max_attempts", "at most 100"),
        ({"cooldown_s": 1e12}, "cooldown_s", "at most 2592000"),
        ({"retry_busy": "1e300,3"}, "retry_busy", "delay at most 2592000 s"),
        ({"retry_busy": "600,100000"}, "retry_busy", "at most 100 tries"),
        ({"window_days": 5}, "window_days", "expected a list of days"),
        ({"retries": "busy"}, "retries", "expected a mapping"),
        ({"max_concurrent": True}, "max_concurrent", "expected a whole number"),
    ],
)
def test_settings_out_of_range_name_the_setting(override: dict, key: str, why: str) -> None:
    with pytest.raises(SettingsError) as e:
        parse_settings(override)
    assert e.value.key == key and why in e.value.why, str(e.value)
