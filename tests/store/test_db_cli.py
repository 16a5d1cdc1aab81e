"""`voicebot db migrate`, `voicebot db copy` (an install's SQLite file moved to PostgreSQL:
every row, counts checked, a report readable there), `voicebot rasa endpoints`, and
`store.url` selecting the backend."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.cli_helpers import clean_environment, run
from voicebot import pii
from voicebot.config import ConfigError, PiiConfig, load_config
from voicebot.store import Store, TurnRecord
from voicebot.store.db import migrations
from voicebot.store.hr import CandidateRecord, list_candidates, upsert_candidates, upsert_job
from voicebot.store.reports import get_report, save_report

__all__ = ["clean_environment"]

PHONE = "+14155550123"


@pytest.fixture(autouse=True)
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One key file for the test and for the CLI it runs in-process."""
    monkeypatch.setenv("VOICEBOT_PII__KEY_FILE", str(tmp_path / "pii.key"))
    for var in (pii.ENV_SECRET, pii.ENV_KEYS):
        monkeypatch.delenv(var, raising=False)
    pii.configure(PiiConfig(key_file=str(tmp_path / "pii.key")))
    yield
    pii.configure(None)
    pii.forget_cached()


async def populated(path: Path) -> None:
    async with await Store.open(path) as store:
        await upsert_job(store, "backend", "Backend Engineer", {"id": "backend"})
        ids: list[str] = []
        await upsert_candidates(
            store, [CandidateRecord("backend", PHONE, "UTC", name="Ada Lovelace")], ids
        )
        for n in range(3):
            call = f"call-{n}"
            await store.call_started(call, direction="outbound", bridge="sip", remote=PHONE,
                                     started_at=1000.0 + n, job_id="backend",
                                     candidate_id=ids[0])  # fmt: skip
            for seq in range(4):
                await store.add_turn(TurnRecord(call, seq, "bot", "ask", f"q{seq}",
                                                1000.0 + seq, 1000.5 + seq))  # fmt: skip
            await store.call_ended(call, at=1100.0 + n, outcome="completed")
        await save_report(store, "call-0", {"job_id": "backend", "candidate_id": ids[0],
                                            "overall": {"score": 4.25,
                                                        "recommendation": "yes"}})  # fmt: skip


def pg_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()")]  # fmt: skip
        return {n: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}


def test_db_copy_moves_every_row_and_the_report_reads_back_from_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    src = tmp_path / "voicebot.db"
    asyncio.run(populated(src))
    result = run("db", "copy", "--from", f"sqlite:{src}", "--to", pg_url)
    assert result.exit_code == 0, result.output
    printed = {
        line.split()[0]: (int(line.split()[1]), int(line.split()[2]))
        for line in result.output.splitlines()[:-1]
    }
    assert printed["calls"] == (3, 3) and printed["turns"] == (12, 12)
    assert printed["candidates"] == (1, 1) and printed["report_versions"] == (1, 1)
    counts = pg_counts(pg_url)
    assert all(counts[t] == a for t, (a, _) in printed.items())
    assert "copied" in result.output.splitlines()[-1]

    asyncio.run(reads_back(pg_url))
    assert pg_counts(pg_url)["turns"] == 13


async def reads_back(pg_url: str) -> None:
    async with await Store.open(pg_url) as store:
        report = await get_report(store, "call-0")
        assert report is not None and report["overall"]["score"] == 4.25
        assert [c["name"] for c in await list_candidates(store)] == ["Ada Lovelace"]
        assert [t.text for t in await store.turns("call-2")] == ["q0", "q1", "q2", "q3"]
        # new rows after the copy get fresh ids (the identity continues past the copied ones)
        await store.call_started("call-new", direction="inbound", bridge="sip", remote=PHONE,
                                 started_at=2000.0)  # fmt: skip
        await store.add_turn(TurnRecord("call-new", 0, "bot", "say", "hi", 2000.0, 2000.5))


def test_db_copy_refuses_a_target_with_data_unless_replace(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "voicebot.db"
    asyncio.run(populated(src))
    assert run("db", "copy", "--from", f"sqlite:{src}", "--to", pg_url).exit_code == 0
    again = run("db", "copy", "--from", f"sqlite:{src}", "--to", pg_url)
    assert again.exit_code == 2
    assert "target is not empty" in again.output and "--replace" in again.output
    assert pg_counts(pg_url)["turns"] == 12  # nothing doubled, nothing lost
    replaced = run("db", "copy", "--from", f"sqlite:{src}", "--to", pg_url, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert pg_counts(pg_url)["turns"] == 12


def test_db_migrate_brings_a_new_postgres_database_to_the_newest_schema(pg_url: str) -> None:
    newest = migrations()[-1][0]
    result = run("db", "migrate", "--url", pg_url)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"schema {newest}")
    with psycopg.connect(pg_url) as conn:
        done = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert done == list(range(1, newest + 1))
    assert run("db", "migrate", "--url", pg_url).exit_code == 0  # again: nothing to do


def test_db_migrate_names_an_unreachable_database_in_one_line(pg_url: str) -> None:
    bad = pg_url.rsplit("/", 1)[0] + "/no_such_db"
    result = run("db", "migrate", "--url", bad)
    assert result.exit_code == 2
    assert result.output.startswith("voicebot: store postgresql://")
    assert "no_such_db" in result.output and len(result.output.strip().splitlines()) == 1


def test_store_url_from_the_environment_selects_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEBOT_STORE__URL", "postgresql://vb@db.internal:5433/voicebot")
    cfg = load_config(None)
    assert cfg.store.path == "postgresql://vb@db.internal:5433/voicebot"
    monkeypatch.setenv("VOICEBOT_STORE__URL", "mysql://x/y")
    with pytest.raises(ConfigError, match=r"store\.url"):
        load_config(None)


def test_rasa_endpoints_names_a_sql_tracker_store_rasa_can_read(tmp_path: Path) -> None:
    out = tmp_path / "endpoints.yml"
    url = "postgresql://rasa:s3cret@db.internal:5433/rasa_tracker"
    result = run("rasa", "endpoints", "--tracker-store", url, "--out", out)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text())
    assert data["tracker_store"] == {
        "type": "SQL", "dialect": "postgresql", "url": "db.internal", "port": 5433,
        "db": "rasa_tracker", "username": "rasa", "password": "s3cret",
    }  # fmt: skip
    assert data["action_endpoint"]["url"] == "http://127.0.0.1:5055/webhook"
    assert out.stat().st_mode & 0o077 == 0  # a password inside: owner only
    assert "s3cret" not in result.output
    plain = run("rasa", "endpoints", "--out", out)  # default: the in-memory tracker
    assert plain.exit_code == 0 and "tracker_store" not in yaml.safe_load(out.read_text())
    bad = run("rasa", "endpoints", "--tracker-store", "postgresql://host-only", "--out", out)
    assert bad.exit_code == 2 and "expected postgresql://" in bad.output
