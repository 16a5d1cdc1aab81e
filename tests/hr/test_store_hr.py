"""The HR tables' transactions share the store's one connection with `Store`'s own methods:
a failure in one never rolls back the other's row."""

from __future__ import annotations

import sqlite3

import pytest

from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.db import StoreError


async def test_a_failed_hr_transaction_keeps_a_pending_store_write(store: Store) -> None:
    # a Store method has executed its INSERT and not yet committed when HR work runs
    await store._db.execute(
        "INSERT INTO calls (id, direction, bridge, remote_hash, started_at) "
        "VALUES ('c1', 'inbound', 'sip', 'h', 1.0)"
    )
    with pytest.raises(StoreError, match="candidate 'nobody' does not exist"):
        await db.record_outcome(store, "nobody", hired=True, performance=None)
    await db.add_do_not_call(store, "+12125550100", "test")  # succeeds inside the same tx
    await store._db.commit()
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT id FROM calls").fetchall() == [("c1",)]
    assert conn.execute("SELECT COUNT(*) FROM do_not_call").fetchone() == (1,)
    conn.close()


async def test_sql_errors_become_store_errors_naming_the_operation(store: Store) -> None:
    with pytest.raises(StoreError, match=r"^create_campaign: |job 'nope' does not exist"):
        await db.create_campaign(store, name="x", job_id="nope", settings={})
    with pytest.raises(StoreError, match="token role 'root' is not one of hr, system"):
        await db.create_token(store, "x", "root")
