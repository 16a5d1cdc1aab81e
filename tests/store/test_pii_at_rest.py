"""Issue 16 item 10: candidates' numbers, names and e-mails are not plain in the database file,
look-up hashes are keyed, a plain (schema 4) database migrates without losing anyone, keys
rotate, and the wrong secret is refused in one line. All on real SQLite files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.hr.helpers import JOB_FILE, JOB_ID
from tests.store.old_schema import database_at
from voicebot import pii
from voicebot.hr.importer import import_jobs
from voicebot.store import Store, StoreError, privacy
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord

PHONE, NAME, EMAIL = "+14155550123", "Zoë Example", "zoe@example.com"
K1 = pii.from_values("s" * 32, [pii.new_key()], "test k1")


def file_bytes(path: Path) -> bytes:
    """The database as a thief who copies it gets it: the file and its write-ahead log."""
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )


async def new_store(path: Path, keys: pii.PiiKeys = K1) -> Store:
    store = await Store.open(path, keys)
    await import_jobs(store, JOB_FILE)
    return store


async def test_contact_fields_are_not_in_the_file_and_read_back_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.db"
    async with await new_store(path) as store:
        await db.upsert_candidates(
            store, [CandidateRecord(JOB_ID, PHONE, "UTC", name=NAME, email=EMAIL)]
        )
        await store.call_started("c1", direction="outbound", bridge="sip",
                                 remote=f"sip:{PHONE}@pbx", started_at=1.0)  # fmt: skip
        (cand,) = await db.list_candidates(store, JOB_ID)
        assert (cand["phone_e164"], cand["name"], cand["email"]) == (PHONE, NAME, EMAIL)
    data = file_bytes(path)
    for plain in (PHONE, PHONE[2:], NAME.encode().decode(), "Example", EMAIL):
        assert plain.encode() not in data, plain
    # no unkeyed hash an attacker could compute by enumerating numbers either
    for value in (PHONE, f"sip:{PHONE}@pbx"):
        assert pii.legacy_hash(value).encode() not in data
        assert hashlib.sha256(value.encode()).hexdigest()[:20].encode() not in data


async def test_hashes_and_ids_depend_on_the_secret(tmp_path: Path) -> None:
    k2 = pii.from_values("t" * 32, K1.keys, "test k2")
    assert K1.phone_hash(PHONE) != k2.phone_hash(PHONE)
    assert K1.phone_hash(PHONE) == K1.phone_hash(f" {PHONE} ")
    assert K1.candidate_id(JOB_ID, PHONE) != k2.candidate_id(JOB_ID, PHONE)


async def test_another_secret_or_keys_are_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.db"
    async with await new_store(path):  # made with K1
        pass
    async with await Store.open(path, K1):
        pass
    with pytest.raises(StoreError, match=r"^store .*voicebot.db: the PII secret .* not the one"):
        await Store.open(path, pii.from_values("t" * 32, K1.keys, "other secret"))
    with pytest.raises(StoreError, match=r"^store .*: the PII keys .* do not decrypt"):
        await Store.open(path, pii.from_values("s" * 32, [pii.new_key()], "other key"))


async def test_rotation_re_encrypts_with_the_newest_key(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.db"
    async with await new_store(path) as store:
        await db.upsert_candidates(store, [CandidateRecord(JOB_ID, PHONE, "UTC", name=NAME)])
    newest = pii.new_key()
    both = pii.from_values("s" * 32, [newest, *K1.keys], "k2,k1")
    async with await Store.open(path, both) as store:
        assert await privacy.rotate_keys(store, "test") == 1
    only_new = pii.from_values("s" * 32, [newest], "k2 only")
    async with await Store.open(path, only_new) as store:  # the old key can be dropped now
        (cand,) = await db.list_candidates(store, JOB_ID)
        assert (cand["phone_e164"], cand["name"]) == (PHONE, NAME)
        (row,) = await privacy.audit_rows(store)
        assert (row["action"], row["detail"]["candidates"]) == ("rotate", 1)


async def test_no_configured_keys_generate_a_private_key_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for var in (pii.ENV_SECRET, pii.ENV_KEYS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(pii.ENV_KEY_FILE, str(tmp_path / "var" / "pii.key"))
    pii.configure(None)
    pii.forget_cached()
    first = pii.keys()
    pii.forget_cached()
    again = pii.keys()
    key_file = tmp_path / "var" / "pii.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (first.secret, first.keys) == (again.secret, again.keys)
    assert sum("generated" in r.getMessage() for r in caplog.records) == 1
    assert "secret" in json.loads(key_file.read_text())
    pii.forget_cached()


# the migration of a plain database -----------------------------------------------------------


def plain_schema4_db(path: Path) -> dict[str, str]:
    """A database as schema 4 wrote it: numbers and names in plain, unkeyed sha256 ids and
    hashes, a campaign with two pending targets, one do-not-call number, a called candidate
    with a report, and an outbox event that names a candidate id."""
    conn = database_at(path, 4)
    conn.execute("INSERT INTO jobs VALUES (?, 'Backend', ?, 1, 1)", (JOB_ID, JOB_FILE.read_text()))
    people = {"+14155550101": "Ann Plain", "+14155550102": "Bob Plain", "+14155550103": "Cy"}
    ids = {}
    for phone, name in people.items():
        cid = "cand_" + hashlib.sha256(f"{JOB_ID}\n{phone}".encode()).hexdigest()[:20]
        ids[phone] = cid
        conn.execute(
            "INSERT INTO candidates (id, job_id, phone_e164, phone_hash, name, email, timezone, "
            "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (cid, JOB_ID, phone, pii.legacy_hash(phone), name, f"{name[:3]}@x.org", "UTC", 1, 1),
        )
    conn.execute(
        "INSERT INTO campaigns VALUES ('camp_1', 'c', ?, 'running', '{}', NULL, NULL, 1, 1)",
        (JOB_ID,),
    )
    for phone in ("+14155550101", "+14155550102"):
        conn.execute(
            "INSERT INTO campaign_targets (campaign_id, candidate_id, phone_hash, updated_at) "
            "VALUES ('camp_1', ?, ?, 1)",
            (ids[phone], pii.legacy_hash(phone)),
        )
    conn.execute("INSERT INTO do_not_call VALUES (?, 1, 'opted out')",
                 (pii.legacy_hash("+14155550199"),))  # fmt: skip
    called = ids["+14155550103"]
    conn.execute(
        "INSERT INTO attempts (id, campaign_id, candidate_id, phone_hash, seq, state, "
        "claimed_at, dialled_at) VALUES ('att_1', 'camp_1', ?, ?, 1, 'finished', 1, 5)",
        (called, pii.legacy_hash("+14155550103")),
    )
    conn.execute(
        "INSERT INTO calls (id, direction, bridge, remote_hash, candidate_id, started_at, "
        "ended_at, outcome) VALUES ('call_1', 'outbound', 'sip', ?, ?, 5, 9, 'completed')",
        (pii.legacy_hash("sip:+14155550103@pbx"), called),
    )
    report = {"call_id": "call_1", "job_id": JOB_ID, "candidate_id": called}
    conn.execute(
        "INSERT INTO reports VALUES ('call_1', ?, ?, 3.5, 'yes', ?, 9, 9)",
        (JOB_ID, called, json.dumps(report)),
    )
    conn.execute(
        "INSERT INTO webhook_events VALUES ('msg_1', 'call.completed', ?, 9)",
        (json.dumps({"candidate_id": called, "call_id": "call_1"}),),
    )
    conn.commit()
    conn.close()
    return ids


async def test_a_plain_database_migrates_and_still_dials_and_dedups_the_same_people(
    tmp_path: Path,
) -> None:
    path = tmp_path / "voicebot.db"
    old_ids = plain_schema4_db(path)
    async with await Store.open(path, K1) as store:
        assert await store.schema_version() >= 5
        # the dialer's view: the same two people are due, with their numbers in clear
        due = await db.due_targets(store, "camp_1", time.time(), 10)
        assert sorted(d["phone_e164"] for d in due) == ["+14155550101", "+14155550102"]
        assert sorted(d["name"] for d in due) == ["Ann Plain", "Bob Plain"]
        # do-not-call and cool-down still match the same numbers
        dnc, _ = await db.contact_check(store, K1.phone_hash("+14155550199"), "camp_2")
        assert dnc
        _, last = await db.contact_check(store, K1.phone_hash("+14155550103"), "camp_2")
        assert last == 5
        # a re-import of the same numbers updates, never duplicates
        again = [CandidateRecord(JOB_ID, p, "UTC") for p in old_ids]
        assert await db.upsert_candidates(store, again) == (0, 3)
        cands = await db.list_candidates(store, JOB_ID)
        assert len(cands) == 3
        # ids were re-keyed, and every reference followed them
        called = K1.candidate_id(JOB_ID, "+14155550103")
        assert called != old_ids["+14155550103"]
        call = await store.get_call("call_1")
        assert call is not None and call["candidate_id"] == called
        assert call["remote_hash"] == K1.phone_hash("sip:+14155550103@pbx")
        async with store._db.execute("SELECT candidate_id, report_json FROM reports") as cur:
            (rep_cand, rep_json) = await cur.fetchone()  # type: ignore[misc]
        assert rep_cand == called and json.loads(rep_json)["candidate_id"] == called
        async with store._db.execute("SELECT payload_json FROM webhook_events") as cur:
            (payload,) = await cur.fetchone()  # type: ignore[misc]
        assert json.loads(payload)["candidate_id"] == called
        (row,) = await privacy.audit_rows(store)
        assert (row["actor"], row["action"], row["detail"]) == (
            "migration", "migrate", {"candidates": 3},
        )  # fmt: skip
    async with await Store.open(path, K1) as store:  # vacuumed: no page keeps old text
        await store._db.execute("VACUUM")
    data = path.read_bytes()
    for phone, old_id in old_ids.items():
        assert phone.encode() not in data and old_id.encode() not in data
    assert b"Plain" not in data


async def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.db"
    plain_schema4_db(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE candidates SET phone_e164 = X'00' WHERE name = 'Cy'")  # breaks the step
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"migration 0005_pii\.sql failed"):
        await Store.open(path, K1)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == 4
    names = [r[0] for r in conn.execute("SELECT name FROM candidates ORDER BY name")]
    conn.close()
    assert names == ["Ann Plain", "Bob Plain", "Cy"]
    assert len(before) > 0
