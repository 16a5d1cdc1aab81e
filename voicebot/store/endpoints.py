"""Webhook endpoints managed by the ATS itself: remove one, send it a test event, backfill it.

A new endpoint gets the events created from then on (`voicebot.store.hr._enqueue`); an ATS
that joins late, or lost its data, asks for a backfill: the outbox's earlier events it wants,
queued for it alone, each under its original webhook-id (so a receiver that already has one
drops it as a duplicate).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from voicebot.store.db import Store, StoreError
from voicebot.store.hr import run


def _endpoint(conn: sqlite3.Connection, endpoint_id: str) -> list[str]:
    """The endpoint's wanted event types (empty: all); StoreError when it does not exist."""
    row = conn.execute(
        "SELECT event_types_json FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
    ).fetchone()
    if row is None:
        raise StoreError(f"webhook endpoint {endpoint_id!r} does not exist")
    return list(json.loads(row[0]))


async def get_endpoint(store: Store, endpoint_id: str) -> dict[str, Any] | None:
    """The endpoint without its secrets, or None."""

    def _get(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT id, url, event_types_json, enabled, disabled_reason, created_at "
            "FROM webhook_endpoints WHERE id = ?",
            (endpoint_id,),
        ).fetchone()
        if row is None:
            return None
        keys = ("id", "url", "event_types", "enabled", "disabled_reason", "created_at")
        out = dict(zip(keys, tuple(row), strict=True))
        out["event_types"], out["enabled"] = json.loads(row[2]), bool(row[3])
        return out

    return await run(store, _get)


async def remove_endpoint(store: Store, endpoint_id: str) -> int:
    """Delete the endpoint and its queued deliveries; the number of those cancelled."""

    def _remove(conn: sqlite3.Connection) -> int:
        _endpoint(conn, endpoint_id)
        pending = conn.execute(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND state = 'pending'",
            (endpoint_id,),
        ).rowcount
        conn.execute("DELETE FROM webhook_deliveries WHERE endpoint_id = ?", (endpoint_id,))
        conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
        return int(pending)

    return await run(store, _remove)


async def send_test(store: Store, endpoint_id: str, payload: Mapping[str, Any]) -> str:
    """Queue a `webhook.test` event for this endpoint only (and re-enable it: a test after a
    fix is how an ATS says the receiver works again); returns its webhook-id."""

    def _test(conn: sqlite3.Connection) -> str:
        _endpoint(conn, endpoint_id)
        now = time.time()
        event_id = "msg_" + uuid.uuid4().hex
        conn.execute(
            "INSERT INTO webhook_events (id, type, payload_json, created_at) VALUES (?,?,?,?)",
            (event_id, "webhook.test", json.dumps(dict(payload), sort_keys=True), now),
        )
        conn.execute(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, next_at) VALUES (?,?,?)",
            (event_id, endpoint_id, now),
        )
        conn.execute(
            "UPDATE webhook_endpoints SET enabled = 1, disabled_reason = NULL WHERE id = ?",
            (endpoint_id,),
        )
        return event_id

    return await run(store, _test, immediate=True)


async def backfill(
    store: Store,
    endpoint_id: str,
    *,
    since: float = 0.0,
    until: float | None = None,
    event_types: Sequence[str] = (),
) -> int:
    """Queue for this endpoint the outbox's events in [since, until) that it wants (its own
    types, narrowed by `event_types`) and has no delivery of yet; the number queued. Tests
    (`webhook.test`) are never backfilled."""

    def _backfill(conn: sqlite3.Connection) -> int:
        wanted = set(_endpoint(conn, endpoint_id))
        if event_types:
            wanted = set(event_types) & wanted if wanted else set(event_types)
            if not wanted:
                return 0
        sql = (
            "SELECT id, type FROM webhook_events e WHERE created_at >= ? AND created_at < ? "
            "AND type <> 'webhook.test' AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d "
            "WHERE d.event_id = e.id AND d.endpoint_id = ?) ORDER BY created_at, id"
        )
        end = float("inf") if until is None else until
        rows = conn.execute(sql, (since, min(end, 1e300), endpoint_id)).fetchall()
        now = time.time()
        due = [(r[0], endpoint_id, now) for r in rows if not wanted or r[1] in wanted]
        conn.executemany(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, next_at) VALUES (?,?,?)", due
        )
        return len(due)

    return await run(store, _backfill, immediate=True)
