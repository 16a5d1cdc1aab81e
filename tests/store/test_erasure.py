"""Issue 16 item 10: `voicebot candidates erase` forgets one candidate (turns, reports,
recordings, contact fields) but keeps them off the phone, with an audit row that names no one;
`voicebot purge --older-than` does the same by age; `voicebot pii rotate` changes the key. Real
SQLite files, the real CLI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot import cli, pii
from voicebot.config import PiiConfig
from voicebot.hr.importer import import_jobs
from voicebot.store import Store, TurnRecord, privacy
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord
from voicebot.store.reports import get_report, save_report

PHONE, NAME = "+14155550177", "Erin Erasable"
OTHER = "+14155550178"
DAY = 86400.0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    values = {
        "VOICEBOT_STORE__PATH": str(tmp_path / "voicebot.db"),
        "VOICEBOT_PII__KEY_FILE": str(tmp_path / "pii.key"),
        "VOICEBOT_API__RECORDINGS_DIR": str(tmp_path / "recordings"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    for var in (pii.ENV_SECRET, pii.ENV_KEYS):
        monkeypatch.delenv(var, raising=False)
    pii.configure(pii_config(values))
    yield values
    pii.configure(None)
    pii.forget_cached()


def pii_config(values: dict[str, str]) -> PiiConfig:
    return PiiConfig(key_file=values.get("VOICEBOT_PII__KEY_FILE", "var/pii.key"))


async def _open(env: dict[str, str]) -> Store:
    return await Store.open(env["VOICEBOT_STORE__PATH"])


def seed(env: dict[str, str], started_at: float) -> tuple[str, str]:
    ids = asyncio.run(_seed(env, started_at))
    rec = Path(env["VOICEBOT_API__RECORDINGS_DIR"])
    rec.mkdir(parents=True, exist_ok=True)
    (rec / "call-e.wav").write_bytes(b"RIFF....")
    return ids


async def _seed(env: dict[str, str], started_at: float) -> tuple[str, str]:
    """Two candidates; the first was interviewed (turns, report, recording) at `started_at`."""
    async with await _open(env) as store:
        await import_jobs(store, JOB_FILE)
        await db.upsert_candidates(
            store,
            [
                CandidateRecord(JOB_ID, PHONE, "UTC", name=NAME, email="erin@example.com"),
                CandidateRecord(JOB_ID, OTHER, "UTC", name="Kept Person"),
            ],
        )
        cand = store.pii.candidate_id(JOB_ID, PHONE)
        other = store.pii.candidate_id(JOB_ID, OTHER)
        call = await store.call_started("call-e", direction="outbound", bridge="sip",
                                        remote=PHONE, started_at=started_at, job_id=JOB_ID,
                                        candidate_id=cand)  # fmt: skip
        for seq, text in enumerate(["What is your notice period?", "Two weeks, I'm Erin"]):
            speaker = "candidate" if seq else "bot"
            at = started_at + seq
            await store.add_turn(TurnRecord(call, seq, speaker, "say", text, at, at + 1))
        await store.call_ended(call, at=started_at + 60, outcome="completed")
        await save_report(store, call, {"call_id": call, "job_id": JOB_ID, "candidate_id": cand,
                                        "overall": {"score": 4.0}})  # fmt: skip
        await db.enqueue_event(store, "call.completed", {"candidate_id": cand, "name": NAME})
    return cand, other


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, list(args))
    return result.exit_code, result.output


def test_erase_forgets_the_candidate_keeps_them_off_the_phone_and_audits(
    env: dict[str, str],
) -> None:
    cand, other = seed(env, time.time())
    code, out = run_cli("candidates", "erase", cand)
    assert code == 0, out
    assert "1 candidate(s), 1 call(s): 2 turn(s), 1 report(s), 1 recording(s)" in out
    assert not (Path(env["VOICEBOT_API__RECORDINGS_DIR"]) / "call-e.wav").exists()

    async def check() -> None:
        async with await _open(env) as store:
            erased = await db.get_candidate(store, cand)
            assert erased is not None and erased["erased"]
            assert (erased["phone_e164"], erased["name"], erased["email"]) == ("", None, None)
            assert await store.turns("call-e") == []
            assert await get_report(store, "call-e") is None
            assert (await store.get_call("call-e") or {})["outcome"] == "completed"  # counts stay
            dnc, _ = await db.contact_check(store, store.pii.phone_hash(PHONE), "camp_x")
            assert dnc  # never rung again
            # a re-import of the same number does not bring them back
            again = [CandidateRecord(JOB_ID, PHONE, "UTC", name=NAME)]
            assert await db.upsert_candidates(store, again) == (0, 0)
            kept = await db.get_candidate(store, other)
            assert kept is not None and kept["name"] == "Kept Person"
            (row,) = await privacy.audit_rows(store, cand)
            assert (row["action"], row["subject"], row["actor"][:4]) == ("erase", cand, "cli:")
            assert row["detail"]["turns"] == 2
            async with store._db.execute("SELECT payload_json FROM webhook_events") as cur:
                payloads = [r[0] for r in await cur.fetchall()]
            assert payloads and all(NAME not in p for p in payloads)
            async with store._db.execute("SELECT * FROM audit") as cur:
                audit_text = repr([tuple(r) for r in await cur.fetchall()])
            assert PHONE not in audit_text and "Erin" not in audit_text

    asyncio.run(check())


def test_erase_of_an_unknown_candidate_is_one_line_and_exit_2(env: dict[str, str]) -> None:
    seed(env, time.time())
    code, out = run_cli("candidates", "erase", "cand_nobody")
    assert code == 2
    assert out.strip() == "voicebot: candidate 'cand_nobody' does not exist"


def test_purge_erases_only_what_is_older_than_the_age(env: dict[str, str]) -> None:
    cand, other = seed(env, time.time() - 100 * DAY)

    async def age_candidates() -> None:
        async with await _open(env) as store:
            await store._db.execute(
                "UPDATE candidates SET updated_at = ? WHERE id = ?", (time.time() - 100 * DAY, cand)
            )
            await store._db.commit()

    asyncio.run(age_candidates())
    code, out = run_cli("purge", "--older-than", "90d")
    assert code == 0, out
    assert "purged 1 candidate(s), 1 call(s): 2 turn(s), 1 report(s), 1 recording(s)" in out

    async def check() -> None:
        async with await _open(env) as store:
            assert (await db.get_candidate(store, cand) or {})["erased"]
            assert not (await db.get_candidate(store, other) or {})["erased"]  # recent: kept
            (row,) = await privacy.audit_rows(store)
            assert (row["actor"], row["action"]) == ("retention", "purge")

    asyncio.run(check())
    assert run_cli("purge", "--older-than", "soon")[0] == 2


def test_rotate_puts_every_field_under_a_new_key_file_key(env: dict[str, str]) -> None:
    cand, _ = seed(env, time.time())
    before = pii.keys().keys
    code, out = run_cli("pii", "rotate")
    assert code == 0, out
    assert "re-encrypted 2 candidate(s)" in out
    pii.forget_cached()
    after = pii.keys()
    assert len(after.keys) == 1 and after.keys[0] not in before

    async def check() -> None:
        async with await _open(env) as store:
            assert (await db.get_candidate(store, cand) or {})["name"] == NAME

    asyncio.run(check())
