"""The store on a real SQLite file, and on PostgreSQL where it need not be a file: migrations,
a call's life, turns, and what a crash keeps."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voicebot.store import Store, TurnRecord, remote_hash
from voicebot.store.db import StoreError, migrations

REMOTE = "sip:+15551234567@pbx.example.com"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "voicebot.db"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """On SQLite and on PostgreSQL (tests/store/conftest.py)."""
    async with await Store.open(store_url) as store:
        yield store


async def start_call(store: Store, call_id: str = "call-1", started_at: float = 1000.0) -> None:
    await store.call_started(
        call_id,
        direction="inbound",
        bridge="sip",
        remote=REMOTE,
        started_at=started_at,
        job_id="backend-engineer",
        candidate_id="cand-7",
    )


def turn(seq: int, call_id: str = "call-1", **kw: object) -> TurnRecord:
    fields: dict = {
        "speaker": "bot" if seq % 2 else "candidate",
        "kind": "ask" if seq % 2 else "answer",
        "text": f"turn {seq}",
        "started_at": 1000.0 + seq,
        "ended_at": 1000.5 + seq,
    }
    fields.update(kw)
    return TurnRecord(call_id, seq, **fields)


def tables(path: Path) -> set[str]:
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def file_bytes(path: Path) -> bytes:
    """The database file and any WAL or journal beside it."""
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def applied(path: Path) -> list[tuple[int, str, float]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()


# migrations --------------------------------------------------------------------------------


async def test_open_creates_the_file_and_its_folder_at_the_newest_schema(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        assert await store.schema_version() == len(migrations())

    assert {"calls", "turns", "schema_migrations"} <= tables(db_path)


async def test_reopening_does_not_apply_migrations_again(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        await start_call(store)
    first = applied(db_path)

    async with await Store.open(db_path) as store:
        assert await store.schema_version() == len(migrations())
        assert await store.get_call("call-1") is not None  # data survived, no re-create

    assert applied(db_path) == first
    assert [v for v, _, _ in first] == [v for v, _, _ in migrations()]


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [v for v, _, _ in migrations()]

    assert versions == list(range(1, len(versions) + 1))


# a call's life -----------------------------------------------------------------------------


async def test_a_call_lifecycle_reads_back(store: Store) -> None:
    await start_call(store)
    await store.call_answered("call-1", 1001.0)
    await store.set_consent("call-1", True)
    for seq in range(1, 5):
        await store.add_turn(turn(seq, question_id="salary" if seq > 2 else None))
    await store.call_ended(
        "call-1", at=1060.0, outcome="completed", stats={"packets_in": 3000, "dropped": {}}
    )

    call = await store.get_call("call-1")
    assert call is not None
    assert call["direction"] == "inbound" and call["bridge"] == "sip"
    assert call["job_id"] == "backend-engineer" and call["candidate_id"] == "cand-7"
    assert (call["started_at"], call["answered_at"], call["ended_at"]) == (1000.0, 1001.0, 1060.0)
    assert call["consent"] == 1
    assert call["outcome"] == "completed"
    assert '"packets_in": 3000' in call["stats_json"]
    assert call["remote_hash"] == remote_hash(REMOTE)
    turns = await store.turns("call-1")
    assert [t.seq for t in turns] == [1, 2, 3, 4]
    assert turns[0] == turn(1)
    assert turns[3].question_id == "salary" and turns[3].speaker == "candidate"


async def test_consent_refused_is_stored_as_false_not_missing(store: Store) -> None:
    await start_call(store)
    assert (await store.get_call("call-1"))["consent"] is None  # type: ignore[index]

    await store.set_consent("call-1", False)

    assert (await store.get_call("call-1"))["consent"] == 0  # type: ignore[index]


async def test_an_unknown_call_reads_as_none(store: Store) -> None:
    assert await store.get_call("nope") is None
    assert await store.turns("nope") == []


async def test_calls_are_listed_newest_first(store: Store) -> None:
    for i, at in enumerate([1000.0, 3000.0, 2000.0]):
        await start_call(store, f"call-{i}", started_at=at)

    assert [c["id"] for c in await store.list_calls()] == ["call-1", "call-2", "call-0"]
    assert [c["id"] for c in await store.list_calls(limit=1)] == ["call-1"]


async def test_a_direction_outside_the_schema_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="direction"):
        await store.call_started(
            "c", direction="sideways", bridge="sip", remote=REMOTE, started_at=1.0
        )


# privacy -----------------------------------------------------------------------------------


def test_remote_hash_is_stable_and_ignores_case_and_padding() -> None:
    assert remote_hash(REMOTE) == remote_hash(f"  {REMOTE.upper()} ")
    assert remote_hash(REMOTE) != remote_hash("sip:+15551234568@pbx.example.com")
    assert "5551234567" not in remote_hash(REMOTE)


async def test_the_remote_number_is_never_written_to_the_file(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        await start_call(store)
        await store.call_ended("call-1", at=1001.0, outcome="caller_hangup")

    data = file_bytes(db_path)
    assert remote_hash(REMOTE).encode() in data
    for secret in (REMOTE, "5551234567", "pbx.example.com"):
        assert secret.encode() not in data


# turns -------------------------------------------------------------------------------------


async def test_turns_read_back_in_seq_order_whatever_the_insert_order(store: Store) -> None:
    await start_call(store)
    for seq in (3, 1, 4, 2):
        await store.add_turn(turn(seq))

    assert [t.seq for t in await store.turns("call-1")] == [1, 2, 3, 4]


async def test_turns_of_another_call_are_not_mixed_in(store: Store) -> None:
    await start_call(store, "call-1")
    await start_call(store, "call-2")
    await store.add_turn(turn(1, "call-1"))
    await store.add_turn(turn(1, "call-2", text="other"))

    assert [t.text for t in await store.turns("call-1")] == ["turn 1"]


async def test_a_turn_keeps_its_measurements(store: Store) -> None:
    await start_call(store)
    record = turn(
        2, speaker="candidate", kind="answer", confidence=0.87, latency_ms=None, interrupted=False
    )
    spoken = turn(3, kind="ask", latency_ms=612.5, interrupted=True)
    await store.add_turn(record)
    await store.add_turn(spoken)

    assert await store.turns("call-1") == [record, spoken]


async def test_a_duplicate_seq_in_one_call_is_rejected(store: Store) -> None:
    await start_call(store)
    await store.add_turn(turn(1))

    with pytest.raises(StoreError) as refused:
        await store.add_turn(turn(1, text="again"))
    assert isinstance(refused.value.__cause__, sqlite3.IntegrityError)

    assert [t.text for t in await store.turns("call-1")] == ["turn 1"]


async def test_a_turn_for_an_unknown_call_is_rejected(store: Store) -> None:
    with pytest.raises(StoreError) as refused:
        await store.add_turn(turn(1, "ghost"))
    assert isinstance(refused.value.__cause__, sqlite3.IntegrityError)


async def test_an_unknown_speaker_is_rejected(store: Store) -> None:
    await start_call(store)

    with pytest.raises(StoreError) as refused:
        await store.add_turn(turn(1, speaker="narrator"))
    assert isinstance(refused.value.__cause__, sqlite3.IntegrityError)


async def test_a_committed_turn_is_visible_to_another_connection_at_once(db_path: Path) -> None:
    """Crash safety: what `add_turn` returned from is on disk, not in a pending transaction."""
    writer = await Store.open(db_path)
    reader = await Store.open(db_path)
    try:
        await start_call(writer)
        await writer.add_turn(turn(1))
        assert [t.seq for t in await reader.turns("call-1")] == [1]

        await writer.add_turn(turn(2))
        assert [t.seq for t in await reader.turns("call-1")] == [1, 2]
        with sqlite3.connect(db_path) as conn:  # a plain reader, as a report tool would be
            assert conn.execute("SELECT COUNT(*) FROM turns").fetchone() == (2,)
    finally:
        await reader.close()
        await writer.close()
