"""Token management, console sessions and review decisions in the store (SQLite and
PostgreSQL), over the API and the CLI: expiry, the readonly role, list without secrets,
revoke, and a decision that always reaches the webhook outbox with it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import run
from tests.store.old_schema import database_at
from voicebot.config import ComplianceConfig, Config
from voicebot.hr.api import create_app
from voicebot.hr.console.tokens import parse_duration
from voicebot.store import Store, accounts
from voicebot.store import hr as db
from voicebot.store.db import StoreError
from voicebot.store.hr import run as in_tx


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with await Store.open(store_url) as store:
        yield store


async def _expire(store: Store, token_id: str) -> None:
    def _update(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE api_tokens SET expires_at = ? WHERE id = ?", (1.0, token_id))

    await in_tx(store, _update)


async def test_tokens_expire_are_listed_without_secrets_and_revoke(store: Store) -> None:
    old = await db.create_token(store, "ats", "hr")  # made the old way: keeps working
    assert await db.token_role(store, old) == "hr"
    assert (await accounts.authenticate(store, old)).role == "hr"  # type: ignore[union-attr]
    tid, token = await accounts.create_token(store, "auditor", "readonly", 30 * 86400)
    caller = await accounts.authenticate(store, token)
    assert caller is not None and (caller.token_id, caller.role) == (tid, "readonly")
    listed = {r["id"]: r for r in await accounts.list_tokens(store)}
    assert listed[tid]["state"] == "live" and listed[tid]["last_used_at"] is not None
    assert 29 * 86400 < listed[tid]["expires_at"] - listed[tid]["created_at"] <= 30 * 86400
    assert token not in json.dumps(listed) and "token_hash" not in listed[tid]
    sid, _ = await accounts.open_session(store, token)  # type: ignore[misc]
    assert await accounts.session(store, sid) is not None
    await _expire(store, tid)
    assert await accounts.authenticate(store, token) is None
    assert await accounts.session(store, sid) is None  # a session lives only as its token
    assert {r["id"]: r["state"] for r in await accounts.list_tokens(store)}[tid] == "expired"
    (hr_id,) = [r["id"] for r in await accounts.list_tokens(store) if r["name"] == "ats"]
    assert await accounts.revoke_token(store, hr_id)
    assert await accounts.authenticate(store, old) is None
    assert not await accounts.revoke_token(store, "tok_nobody")
    with pytest.raises(StoreError, match="not one of hr, system, readonly"):
        await accounts.create_token(store, "x", "admin")


async def test_a_decision_and_its_webhook_event_are_stored_together(store: Store) -> None:
    await db.add_endpoint(store, "http://127.0.0.1:9/ats", "whsec_" + "A" * 32)
    await store.call_started("call-r", direction="outbound", bridge="sip", remote="+12125550100",
                             started_at=1000.0)  # fmt: skip
    tid, _ = await accounts.create_token(store, "Ann", "hr")
    ann = accounts.Caller(tid, "Ann", "hr")
    for bad, reason, why in (("maybe", "x", "decision: must be one of"),
                             ("advance", "  ", "reason: a decision")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            await accounts.decide(store, "call-r", bad, reason, ann, "eu")
    with pytest.raises(StoreError, match="interview call-x does not exist"):
        await accounts.decide(store, "call-x", "hold", "why", ann, "eu")
    out = await accounts.decide(store, "call-r", "hold", "references pending", ann, "eu")
    assert out["final"] is False and out["decided_at"].endswith("+00:00")
    (d,) = await accounts.decisions(store, "call-r")
    assert (d["decision"], d["reason"], d["event_id"]) == ("hold", "references pending",
                                                           out["event_id"])  # fmt: skip
    (delivery,) = await db.list_deliveries(store)
    assert delivery["event_id"] == out["event_id"]
    await accounts.request_review(store, "call-r", "test")
    await accounts.request_review(store, "call-r", "test")  # asking twice is one request


def test_a_version_8_database_keeps_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.db"
    with database_at(path, 8) as conn:
        conn.execute("INSERT INTO api_tokens (id, name, role, token_hash, created_at) "
                     "VALUES ('tok_1', 'ats', 'hr', 'h', 5.0)")  # fmt: skip

    async def reopen() -> list[dict[str, object]]:
        async with await Store.open(path) as store:
            return await accounts.list_tokens(store)

    import asyncio

    (row,) = asyncio.run(reopen())
    assert (row["id"], row["role"], row["state"], row["expires_at"]) == ("tok_1", "hr", "live",
                                                                         None)  # fmt: skip


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Store, dict[str, str]]]:
    async with await Store.open(tmp_path / "voicebot.db") as store:
        tokens = {r: (await accounts.create_token(store, r, r))[1] for r in accounts.ROLES}
        app = create_app(store, Config(compliance=ComplianceConfig(mode="eu")))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as c:  # fmt: skip
            yield c, store, tokens


async def test_tokens_over_the_api(
    api: tuple[httpx.AsyncClient, Store, dict[str, str]],
) -> None:
    c, _, tokens = api

    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    body = {"role": "readonly", "label": "board", "expires_in": "12h"}
    made = await c.post("/tokens", headers=auth("hr"), json=body)
    assert made.status_code == 201, made.text
    new = made.json()
    assert new["token"].startswith("vb_") and new["expires_at"] and new["state"] == "live"
    listed = (await c.get("/tokens", headers=auth("hr"))).json()
    assert {t["label"] for t in listed} == {"hr", "system", "readonly", "board"}
    assert "token" not in listed[0] and tokens["hr"] not in json.dumps(listed)
    assert (await c.get("/tokens", headers=auth("system"))).status_code == 403
    assert (await c.get("/tokens", headers=auth("readonly"))).status_code == 403
    bad = await c.post("/tokens", headers=auth("hr"), json={"role": "hr", "expires_in": "soon"})
    assert bad.status_code == 422 and "30d" in bad.text
    ro = {"Authorization": f"Bearer {new['token']}"}
    assert (await c.get("/jobs", headers=ro)).status_code == 200
    assert (await c.post("/jobs", headers=ro, json={"id": "x"})).status_code == 403
    assert (await c.post("/outcomes", headers=ro, json={})).status_code == 403
    paths = (await c.get("/openapi.json")).json()["paths"]
    for path in ("/jobs", "/jobs/{job_id}/candidates", "/outcomes", "/tokens"):
        assert "403" in paths[path]["post"]["responses"], path  # readonly's 403 is documented
    gone = await c.delete(f"/tokens/{new['id']}", headers=auth("hr"))
    assert gone.status_code == 200 and gone.json()["state"] == "revoked"
    assert (await c.get("/jobs", headers=ro)).status_code == 401
    assert (await c.delete("/tokens/tok_nobody", headers=auth("hr"))).status_code == 404


def test_durations_read_as_people_write_them() -> None:
    assert parse_duration("30d") == 30 * 86400 and parse_duration("90m") == 5400
    assert parse_duration("3600") == 3600
    for bad in ("", "0d", "-1d", "30y", "6000d"):
        with pytest.raises(ValueError, match="like 30d"):
            parse_duration(bad)


def test_tokens_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("VOICEBOT_STORE__PATH", str(tmp_path / "voicebot.db"))
    made = run("tokens", "create", "--role", "readonly", "--expires", "30d", "--name", "board")
    assert made.exit_code == 0, made.output
    secret = made.output.strip()
    listed = run("tokens", "list")
    assert listed.exit_code == 0 and "readonly" in listed.output and "board" in listed.output
    assert secret not in listed.output and "expires never" not in listed.output
    token_id = listed.output.split()[0]
    assert run("tokens", "revoke", token_id).exit_code == 0
    assert "revoked" in run("tokens", "list").output
    nobody = run("tokens", "revoke", "tok_nobody")
    assert nobody.exit_code == 2 and "does not exist" in nobody.output
    late = run("tokens", "create", "--role", "hr", "--expires", "soon")
    assert late.exit_code == 2 and "like 30d" in late.output


async def test_the_review_queue_follows_the_privacy_mode(store: Store) -> None:
    from voicebot.store.reports import save_report

    for call_id, flagged in (("call-a", False), ("call-b", True)):
        await store.call_started(call_id, direction="outbound", bridge="sip",
                                 remote="+12125550100", started_at=1000.0)  # fmt: skip
        await save_report(store, call_id, {
            "call_id": call_id, "job_id": "j", "overall": {"score": 3.0, "recommendation": "yes"},
            "compliance": {"human_review_required": flagged},
        })  # fmt: skip

    async def queued(mode: str) -> list[str]:
        return [r["call_id"] for r in await accounts.review_queue(store, mode)]

    assert await queued("eu") == ["call-a", "call-b"]  # a person decides every one
    assert await queued("none") == ["call-b"] and await queued("pipl") == ["call-b"]  # flagged
    await accounts.request_review(store, "call-a", "candidate")
    assert await queued("pipl") == ["call-a", "call-b"]  # the candidate asked
    tid, _ = await accounts.create_token(store, "Ann", "hr")
    ann = accounts.Caller(tid, "Ann", "hr")
    await accounts.decide(store, "call-a", "hold", "more references", ann, "pipl")
    assert await queued("pipl") == ["call-a", "call-b"]  # on hold: still to decide
    await accounts.decide(store, "call-a", "reject", "no concrete outcome", ann, "pipl")
    assert await queued("pipl") == ["call-b"]
